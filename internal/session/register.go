package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/reqlog"
)

// Registration is a sign-up, as the client sent it.
type Registration struct {
	Name, Email, Password, PasswordConfirm, Photo string
}

// Signup is what a registration did, as the answer shows it.
type Signup struct {
	User  db.User // the new account; zero for a taken address (Hidden)
	Email string  // the address as registered (normalised), Hidden or not
	// VerifyMail: the answer says a verification mail went out (with
	// Verification on; for a hidden taken address, the owner got a notice
	// instead).
	VerifyMail bool
	// Hidden: HideExisting is in force, so the answer shows no user, new
	// address or taken alike.
	Hidden bool
}

// Register creates an account. Its fields must pass validRegistration
// (an *InvalidError otherwise), checked before anything else. An email
// that is taken is ErrEmailTaken before any hashing, so that answer
// costs no bcrypt; the unique index still decides a race.
//
// With Verification on, the user and a verification mail are written in
// one transaction. With HideExisting as well, a taken address is answered
// like a new one after the same hashing, and its owner is mailed a
// "someone tried to sign up" notice (within the address's allowance).
func (s *Service) Register(ctx context.Context, r Registration) (Signup, error) {
	r, err := s.validRegistration(ctx, r)
	if err != nil {
		return Signup{}, err
	}
	email := r.Email
	verify := s.opts.Verification.on()
	hide := verify && s.opts.HideExisting
	owner, err := s.q.GetUserByEmail(ctx, email)
	switch {
	case err == nil && !hide:
		return Signup{}, ErrEmailTaken
	case err != nil && !errors.Is(err, db.ErrNotFound):
		return Signup{}, fmt.Errorf("get user: %w", err)
	}
	taken := err == nil
	hash, err := s.hasher.Hash(ctx, r.Password)
	if err != nil {
		return Signup{}, err
	}
	if taken {
		return Signup{Email: email, VerifyMail: true, Hidden: true}, s.tx(ctx, func(q *db.Queries) error {
			return s.signupAttempt(ctx, q, owner)
		})
	}
	params := db.CreateUserParams{
		Name: r.Name, Email: email, PasswordHash: hash,
		Photo: r.Photo, Now: s.now(),
	}
	var user db.User
	err = s.tx(ctx, func(q *db.Queries) error {
		var err error
		if user, err = q.CreateUser(ctx, params); err != nil {
			return err
		}
		if err := s.record(ctx, q, event{name: reqlog.UserRegistered, user: user.ID}); err != nil {
			return err
		}
		if verify {
			// Counted, so that a resend right after waits its turn; sent
			// within the registrations' own allowance (see
			// purposeRegistration). Without the mail the answer is the same.
			if _, err := s.allow(ctx, q, email, mail.KindVerifyEmail); err != nil {
				return err
			}
			ok, err := s.allow(ctx, q, email, purposeRegistration)
			if err != nil || !ok {
				return err
			}
			return s.queue(ctx, q, to(mail.KindVerifyEmail, user))
		}
		return nil
	})
	switch {
	case errors.Is(err, db.ErrConflict) && hide:
		return Signup{Email: email, VerifyMail: true, Hidden: true}, nil // lost a race to another sign-up
	case errors.Is(err, db.ErrConflict):
		return Signup{}, ErrEmailTaken
	case err != nil:
		return Signup{}, fmt.Errorf("create user: %w", err)
	}
	s.metrics.Registration()
	s.log.LogAttrs(ctx, slog.LevelInfo, "user registered", reqlog.UserRegistered.Attr(), slog.String("user_id", user.ID.String()))
	return Signup{User: user, Email: email, VerifyMail: verify, Hidden: hide}, nil
}

// signupAttempt mails the owner of a taken address that someone tried to
// register it, within the address's allowance.
func (s *Service) signupAttempt(ctx context.Context, q *db.Queries, owner db.User) error {
	ok, err := s.allow(ctx, q, owner.Email, mail.KindSignupAttempt)
	if err != nil || !ok {
		return err
	}
	return s.queue(ctx, q, to(mail.KindSignupAttempt, owner))
}
