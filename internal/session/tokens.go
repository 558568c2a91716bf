package session

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/onetime"
)

// tokenUser is the user of raw if it is an unexpired token of purpose,
// without using it up; ok is false otherwise.
func (s *Service) tokenUser(ctx context.Context, q *db.Queries, raw string, p onetime.Purpose) (user uuid.UUID, ok bool, err error) {
	user, err = s.secrets.Peek(ctx, q, p, raw)
	switch {
	case errors.Is(err, onetime.ErrInvalid):
		return uuid.Nil, false, nil
	case err != nil:
		return uuid.Nil, false, err
	}
	return user, true, nil
}

// spent is a token used up in a transaction, and its user, locked.
type spent struct {
	email string // the address the token was sent to
	user  db.User
	was   onetime.Spent // as the store spent it (onetime.Store.Restore)
}

// spend uses raw up as a token of purpose in q's transaction (see
// onetime.Store.Spend); ok is false for an unknown, expired, used or
// wrong-purpose token. The caller checks the token's address against the
// user's (a token sent to an address the user no longer has is stale) and
// commits even then, so a stale token is gone.
func (s *Service) spend(ctx context.Context, q *db.Queries, raw string, p onetime.Purpose) (spent, bool, error) {
	sp, err := s.secrets.Spend(ctx, q, p, raw)
	switch {
	case errors.Is(err, onetime.ErrInvalid):
		return spent{}, false, nil
	case err != nil:
		return spent{}, false, err
	}
	return spent{email: sp.Email, user: sp.User, was: sp}, true, nil
}
