package session

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
)

// mailWindow is the window of Options.MailMaxPerHour.
const mailWindow = time.Hour

// purposeRegistration is the allowance of registrations' verification
// mails: its own, so that resends asked for before the address had an
// account cannot withhold its first mail, while registering, deleting and
// registering again cannot mail an address past its cap.
const purposeRegistration = "registration"

// queue puts mails in the outbox in q's transaction and wakes the senders
// (at commit): see mail.Enqueue. With mail off it does nothing.
func (s *Service) queue(ctx context.Context, q *db.Queries, mails ...mail.Mail) error {
	if !s.opts.Mail || len(mails) == 0 {
		return nil
	}
	now := s.now()
	for _, m := range mails {
		if _, err := mail.Enqueue(ctx, q, m, now); err != nil {
			return fmt.Errorf("queue %s mail: %w", m.Kind, err)
		}
	}
	return nil
}

// to is a mail of kind for user's current address. It greets by name only
// an address the user has proven: whoever registers an address chooses the
// name, and need not own the address.
func to(kind string, user db.User) mail.Mail {
	m := mail.Mail{Kind: kind, To: user.Email, UserID: uuid.NullUUID{UUID: user.ID, Valid: true}}
	if proven(user) {
		m.Data.Name = user.Name
	}
	return m
}

// proven reports whether user has proven its current address.
func proven(user db.User) bool { return user.Verified && user.EmailVerifiedAt != nil }

// notice is m if its recipient's allowance for its kind lets it go, else
// none: a notice never rides on a change past the address's cap (the
// allowance is taken either way, so the statements are the same).
func (s *Service) notice(ctx context.Context, q *db.Queries, m mail.Mail) ([]mail.Mail, error) {
	if !s.opts.Mail {
		return nil, nil
	}
	ok, err := s.allow(ctx, q, m.To, m.Kind)
	if err != nil || !ok {
		return nil, err
	}
	return []mail.Mail{m}, nil
}

// allow counts a request for a mail of purpose to email, registered or
// not, and reports whether the mail may go: not within MailCooldown of
// the last one allowed, and at most MailMaxPerHour in the hour.
func (s *Service) allow(ctx context.Context, q *db.Queries, email, purpose string) (bool, error) {
	maxPer := s.opts.MailMaxPerHour
	if maxPer <= 0 || maxPer > math.MaxInt32 {
		maxPer = math.MaxInt32
	}
	_, err := q.TakeMailAllowance(ctx, db.TakeMailAllowanceParams{
		Email: email, Purpose: purpose, Now: s.now(),
		WindowSecs: mailWindow.Seconds(), CooldownSecs: max(s.opts.MailCooldown, 0).Seconds(),
		MaxPerWindow: int32(maxPer),
	})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("take mail allowance: %w", err)
	}
	return true, nil
}
