package session

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// List returns user's live sessions, most recently used first (at most 100).
func (s *Service) List(ctx context.Context, user uuid.UUID) ([]Info, error) {
	rows, err := s.q.ListUserSessions(ctx, db.ListUserSessionsParams{UserID: user, Now: s.now()})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	out := make([]Info, 0, len(rows))
	for _, r := range rows {
		end := r.ExpiresAt
		if r.IdleExpiresAt.Before(end) {
			end = r.IdleExpiresAt
		}
		out = append(out, Info{
			ID: r.ID, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, ExpiresAt: end,
			UserAgent: r.UserAgent, ClientAddr: r.ClientAddr,
		})
	}
	return out, nil
}
