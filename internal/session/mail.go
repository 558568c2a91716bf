package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
)

// Mail kinds: mail_outbox.kind, the contract with the sender
// (internal/mail). For the token kinds the sender mints the token when it
// sends, bound to the kind (as its purpose), the user and the address it
// goes to; this package never sees a raw token until one is presented.
const (
	mailVerifyEmail   = "verify_email"   // token: verify the address
	mailResetPassword = "reset_password" // token: set a new password
	mailChangeEmail   = "change_email"   // token, to the new address: confirm the change

	mailPasswordChanged   = "password_changed"    // notice: the password was reset or changed
	mailEmailChangeNotice = "email_change_notice" // notice, to the old address: a change was asked for
	mailEmailTakenNotice  = "email_taken_notice"  // notice, to a new address that has an account
	mailSignupAttempt     = "signup_attempt"      // notice: someone registered an address that has an account
	mailAccountDeleted    = "account_deleted"     // notice: the account is gone
)

// mailWindow is the window of Options.MailMaxPerHour.
const mailWindow = time.Hour

// mailData is what a mail's templates show (mail_outbox.data): never a
// token, never a password.
type mailData struct {
	Name     string `json:"name"`
	NewEmail string `json:"new_email,omitempty"`
}

// mail is one mail to queue.
type mail struct {
	kind string
	to   string
	user uuid.UUID // uuid.Nil: none
	data mailData
}

// queue puts mails in the outbox in q's transaction and wakes the senders
// (at commit). With mail off it does nothing.
func (s *Service) queue(ctx context.Context, q *db.Queries, mails ...mail) error {
	if !s.opts.Mail || len(mails) == 0 {
		return nil
	}
	now := s.now()
	for _, m := range mails {
		data, err := json.Marshal(m.data)
		if err != nil {
			return fmt.Errorf("encode %s mail: %w", m.kind, err)
		}
		_, err = q.EnqueueMail(ctx, db.EnqueueMailParams{
			Kind: m.kind, ToAddr: m.to, UserID: nullUUID(m.user),
			Data: data, Now: now,
		})
		if err != nil {
			return fmt.Errorf("queue %s mail: %w", m.kind, err)
		}
	}
	if err := q.NotifyMailQueued(ctx); err != nil {
		return fmt.Errorf("notify mail senders: %w", err)
	}
	return nil
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
