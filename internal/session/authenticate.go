package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/token"
)

// Authenticate admits a valid access token whose session is still active,
// loading its user and the session's assurance (aal, amr, auth_time as
// they are now, after any Reauthenticate) in the same query. A bad token
// or a dead session is ErrInvalid.
func (s *Service) Authenticate(ctx context.Context, access string) (Auth, error) {
	claims, err := s.tokens.Verify(token.Access, access)
	if err != nil {
		return Auth{}, ErrInvalid
	}
	row, err := s.q.GetSessionAuth(ctx, db.GetSessionAuthParams{
		SessionID: claims.Session, UserID: claims.Subject, Now: s.now(),
	})
	if errors.Is(err, db.ErrNotFound) {
		return Auth{}, ErrInvalid
	}
	if err != nil {
		return Auth{}, fmt.Errorf("authenticate: %w", err)
	}
	return Auth{User: row.User, Session: claims.Session, AAL: int(row.Aal), AMR: row.Amr, AuthTime: row.AuthTime}, nil
}
