package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
)

// maxTokenLen is the longest token looked up; the sender's are 43
// characters (32 random bytes, base64url without padding).
const maxTokenLen = 512

// tokenUser is the user of raw if it is an unexpired token of purpose,
// without using it up; ok is false otherwise.
func (s *Service) tokenUser(ctx context.Context, q *db.Queries, raw, purpose string) (user uuid.UUID, ok bool, err error) {
	if raw == "" || len(raw) > maxTokenLen {
		return uuid.Nil, false, nil
	}
	user, err = q.GetOneTimeTokenUser(ctx, db.GetOneTimeTokenUserParams{TokenHash: mail.HashToken(raw), Purpose: purpose, Now: s.now()})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return uuid.Nil, false, nil
	case err != nil:
		return uuid.Nil, false, fmt.Errorf("look up token: %w", err)
	}
	return user, true, nil
}

// spent is a token used up in a transaction, and its user, locked.
type spent struct {
	email string // the address the token was sent to
	user  db.User
}

// spend uses raw up as a token of purpose in q's transaction, with its
// user locked first (the lock order of every flow: user, then tokens). Of
// any number of concurrent callers exactly one gets it. ok is false for
// an unknown, expired, used or wrong-purpose token. The caller checks the
// token's address against the user's (a token sent to an address the user
// no longer has is stale) and commits even then, so a stale token is gone.
func (s *Service) spend(ctx context.Context, q *db.Queries, raw, purpose string) (spent, bool, error) {
	id, ok, err := s.tokenUser(ctx, q, raw, purpose)
	if !ok || err != nil {
		return spent{}, false, err
	}
	user, err := q.LockUser(ctx, id)
	switch {
	case errors.Is(err, db.ErrNotFound): // deleted meanwhile; its tokens went with it
		return spent{}, false, nil
	case err != nil:
		return spent{}, false, fmt.Errorf("lock user: %w", err)
	}
	tok, err := q.ConsumeOneTimeToken(ctx, db.ConsumeOneTimeTokenParams{TokenHash: mail.HashToken(raw), Purpose: purpose, Now: s.now()})
	switch {
	case errors.Is(err, db.ErrNotFound): // used by someone else first
		return spent{}, false, nil
	case err != nil:
		return spent{}, false, fmt.Errorf("consume token: %w", err)
	}
	if tok.UserID != user.ID { // cannot happen: the hash is the key
		return spent{}, false, nil
	}
	return spent{email: tok.Email, user: user}, true, nil
}
