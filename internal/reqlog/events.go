package reqlog

import "log/slog"

// Event names a security-relevant log line: its "event" attribute, stable
// across releases, for a SIEM to match on. The line's message is for
// people and may change; the event may not. The vocabulary is this list.
type Event string

// KeyEvent is the attribute key of an Event.
const KeyEvent = "event"

// The events. A line with one carries user_id when the account is known,
// and, in a request, request_id, client_addr and trace_id (Logger). None
// carries a password, a token, a code, a cookie or an email address.
const (
	UserRegistered         Event = "user.registered"
	UserDeleted            Event = "user.deleted"
	EmailVerified          Event = "email.verified"
	LoginFailed            Event = "login.failed"       // reason: wrong password, unknown email, ...
	LoginRefused           Event = "login.refused"      // the right password, refused (email not verified)
	LoginLocked            Event = "login.locked"       // the email's failed logins lock it
	LoginMFARequired       Event = "login.mfa_required" // the right password; a second factor is due
	SessionCreated         Event = "session.created"
	SessionRevoked         Event = "session.revoked"
	SessionReauthenticated Event = "session.reauthenticated" // a password or second factor confirmed again
	RefreshReuse           Event = "refresh.reuse_detected"
	PasswordCheckFailed    Event = "password.check_failed" // a signed-in user's current password was wrong
	PasswordChanged        Event = "password.changed"
	PasswordReset          Event = "password.reset"
	PasswordResetFailed    Event = "password.reset_failed"
	EmailChangeRequested   Event = "email.change_requested"
	EmailChanged           Event = "email.changed"
	MFAEnrolmentStarted    Event = "mfa.enrolment_started"
	MFAEnabled             Event = "mfa.enabled"
	MFADisabled            Event = "mfa.disabled"
	MFAFailed              Event = "mfa.failed" // a wrong second-factor code, at login or reauthentication
	MFALocked              Event = "mfa.locked"
	RequestThrottled       Event = "request.throttled" // a per-address rate limit refused the request
	OperatorCommand        Event = "operator.command"  // the audit line of an "authd user" or "authd mail" command
	UserRoleChanged        Event = "user.role_changed"
	PasswordResetIssued    Event = "password.reset_issued" // an operator minted a reset token (authd user reset-token)
	MFARecoveryCodeUsed    Event = "mfa.recovery_code_used"
	MFARecoveryCodesNew    Event = "mfa.recovery_codes_regenerated"
	DeviceNew              Event = "device.new" // a sign-in from a device new for an account that had others
	PasskeyAdded           Event = "passkey.added"
	PasskeyRenamed         Event = "passkey.renamed"
	PasskeyRemoved         Event = "passkey.removed"
	PasskeyUsed            Event = "passkey.used"               // an accepted assertion: login, second factor or step-up
	PasskeyFailed          Event = "passkey.failed"             // an assertion of a known passkey refused
	PasskeyCounterBack     Event = "passkey.counter_regression" // a signature counter that did not go up: a cloned authenticator?
)

// Events lists every Event, for tests and docs.
func Events() []Event {
	return []Event{
		UserRegistered, UserDeleted, EmailVerified,
		LoginFailed, LoginRefused, LoginLocked, LoginMFARequired,
		SessionCreated, SessionRevoked, SessionReauthenticated, RefreshReuse,
		PasswordCheckFailed, PasswordChanged, PasswordReset, PasswordResetFailed,
		EmailChangeRequested, EmailChanged,
		MFAEnrolmentStarted, MFAEnabled, MFADisabled, MFAFailed, MFALocked,
		RequestThrottled, OperatorCommand,
		UserRoleChanged, PasswordResetIssued, MFARecoveryCodeUsed, MFARecoveryCodesNew, DeviceNew,
		PasskeyAdded, PasskeyRenamed, PasskeyRemoved, PasskeyUsed, PasskeyFailed, PasskeyCounterBack,
	}
}

// Attr is e as the "event" attribute.
func (e Event) Attr() slog.Attr { return slog.String(KeyEvent, string(e)) }
