package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/onetime"
)

// Kinds of mail, as stored in mail_outbox.kind. A token kind is named
// after the onetime purpose of the token its link carries.
const (
	// Token mails: the sender mints a one-time token of this purpose.
	KindVerifyEmail   = string(onetime.VerifyEmail)   // prove an address (registration, resend)
	KindResetPassword = string(onetime.ResetPassword) // forgot password
	KindChangeEmail   = string(onetime.ChangeEmail)   // confirm a new address; sent to the new address

	// Notices: no token.
	KindPasswordChanged   = "password_changed"    // the password was changed or reset
	KindEmailChangeNotice = "email_change_notice" // to the old address: a change to NewEmail was asked for
	KindEmailTakenNotice  = "email_taken_notice"  // to a new address that already has an account
	KindSignupAttempt     = "signup_attempt"      // someone tried to register with this address
	KindAccountDeleted    = "account_deleted"     // the account was deleted
	KindMFAEnabled        = "mfa_enabled"         // a second factor was turned on
	KindMFADisabled       = "mfa_disabled"        // the second factor was turned off (by the user or the operator)
	KindRecoveryCodeUsed  = "recovery_code_used"  // a recovery code was used to log in
	KindRecoveryCodesLow  = "recovery_codes_low"  // two or fewer recovery codes are left
	KindNewDevice         = "new_device"          // a sign-in from a device new for the account (Data.Device, Addr, At)
	KindPasskeyAdded      = "passkey_added"       // a passkey was added to the account
	KindPasskeyRemoved    = "passkey_removed"     // a passkey was removed from the account
)

// Kinds lists every kind, token kinds first.
func Kinds() []string {
	return []string{
		KindVerifyEmail, KindResetPassword, KindChangeEmail,
		KindPasswordChanged, KindEmailChangeNotice, KindEmailTakenNotice,
		KindSignupAttempt, KindAccountDeleted,
		KindMFAEnabled, KindMFADisabled, KindRecoveryCodeUsed, KindRecoveryCodesLow,
		KindNewDevice,
		KindPasskeyAdded, KindPasskeyRemoved,
	}
}

// IsTokenKind reports whether mails of kind carry a one-time token.
func IsTokenKind(kind string) bool {
	switch kind {
	case KindVerifyEmail, KindResetPassword, KindChangeEmail:
		return true
	}
	return false
}

func knownKind(kind string) bool {
	for _, k := range Kinds() {
		if k == kind {
			return true
		}
	}
	return false
}

// Data is what a mail's templates show besides its link, stored as the
// outbox row's data. Name must be the account holder's name as stored,
// never one typed by whoever caused the mail (for signup_attempt and
// email_taken_notice: the existing account's name), since the mail goes to
// that account's address, and only for an address the account has proven
// (whoever registers an address chooses the name); empty, the mail greets
// without one. Only the first word of Name is shown, and never in a
// verify_email or change_email mail, which go to unproven addresses.
type Data struct {
	Name     string `json:"name,omitempty"`
	NewEmail string `json:"new_email,omitempty"` // email_change_notice: the address asked for
	// new_device: the sign-in's browser summary (a few fixed words such as
	// "Firefox on Linux", never the raw User-Agent), client address and
	// time (as shown, e.g. "2 Jan 2026 15:04 UTC").
	Device string `json:"device,omitempty"`
	Addr   string `json:"addr,omitempty"`
	At     string `json:"at,omitempty"`
}

// JSON returns d as the outbox row's data.
func (d Data) JSON() []byte {
	b, _ := json.Marshal(d) // strings cannot fail
	return b
}

// Mail is one mail to queue.
type Mail struct {
	Kind   string        // a Kind constant
	To     string        // the recipient's address
	UserID uuid.NullUUID // required for token kinds: the token's user
	Data   Data
}

// Enqueue queues m with q, which should be the transaction of the change
// that causes the mail (inside db.InTx), and asks the senders to wake when
// that transaction commits. It returns the outbox id.
//
// It is db.EnqueueMail followed by db.NotifyMail (SELECT
// pg_notify('authd_mail', ”)).
func Enqueue(ctx context.Context, q *db.Queries, m Mail, now time.Time) (int64, error) {
	if !knownKind(m.Kind) {
		return 0, fmt.Errorf("enqueue mail: unknown kind %q", m.Kind)
	}
	if IsTokenKind(m.Kind) && !m.UserID.Valid {
		return 0, fmt.Errorf("enqueue mail: a %s mail needs a user id", m.Kind)
	}
	id, err := q.EnqueueMail(ctx, db.EnqueueMailParams{Kind: m.Kind, ToAddr: m.To, UserID: m.UserID, Data: string(m.Data.JSON()), Now: now})
	if err != nil {
		return 0, fmt.Errorf("enqueue mail: %w", err)
	}
	if err := q.NotifyMail(ctx); err != nil {
		return 0, fmt.Errorf("notify mail senders: %w", err)
	}
	return id, nil
}

// Channel is the PostgreSQL notification channel the senders LISTEN on.
const Channel = "authd_mail"
