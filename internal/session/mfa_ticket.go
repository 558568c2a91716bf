package session

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/onetime"
)

// TicketUser is the user of a live login ticket, neither spent nor
// counted: for a caller that must check whose ticket it holds before
// LoginMFA (the tutorial's otp/validate names its user). An unknown,
// expired or used ticket is ErrTicketInvalid.
func (s *Service) TicketUser(ctx context.Context, ticket string) (uuid.UUID, error) {
	id, err := s.secrets.Peek(ctx, s.q, onetime.LoginTicket, ticket)
	if errors.Is(err, onetime.ErrInvalid) {
		return uuid.Nil, ErrTicketInvalid
	}
	return id, err
}
