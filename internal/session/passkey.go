package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn). Every ceremony has
// two steps: its options carry a challenge that is an authd one-time
// secret (onetime.Passkey*: its hash stored, bound to the ceremony and the
// user, taken once), and its finish takes that challenge back from the
// browser's clientDataJSON before anything else is checked. Nothing of a
// ceremony is held by the client but the challenge itself. User
// verification is required in every ceremony, so a passkey login is
// aal 2 with amr [hwk|swk, user].
//
// A user's first passkey turns two-factor authentication on
// (users.mfa_enabled), as an activated TOTP factor does: a password login
// then needs a second factor (a TOTP code, a recovery code or a passkey),
// and the passkey's registration hands out the recovery codes. Such an
// account must keep a factor: deleting its last passkey while it has no
// active TOTP factor is ErrLastFactor (turn two-factor off instead).

// Errors of the passkey operations, for errors.Is.
var (
	// ErrPasskeysUnavailable: no relying party configured (WEBAUTHN_RP_ID).
	ErrPasskeysUnavailable = errors.New("passkeys are not configured")
	// ErrPasskeyMalformed: a finish whose credential is not a WebAuthn
	// response at all.
	ErrPasskeyMalformed = errors.New("malformed passkey response")
	// ErrPasskeyRefused: a ceremony that did not verify (unknown or
	// foreign credential, bad signature, no user verification, an origin
	// or RP ID not allowed, a dead challenge, a cloned authenticator); all
	// alike to the client.
	ErrPasskeyRefused = errors.New("passkey not accepted")
	// ErrPasskeyChallenge: the challenge is unknown, expired, used, or of
	// another ceremony or user. It wraps ErrPasskeyRefused.
	ErrPasskeyChallenge = fmt.Errorf("%w: challenge unknown, expired or used", ErrPasskeyRefused)
	// ErrPasskeyCloned: the signature counter did not go up and
	// PasskeyOptions.RefuseCounterRegression is set. It wraps
	// ErrPasskeyRefused.
	ErrPasskeyCloned = fmt.Errorf("%w: signature counter went back", ErrPasskeyRefused)
	// ErrPasskeyExists: the credential is registered already.
	ErrPasskeyExists = errors.New("passkey already registered")
	// ErrPasskeyNotFound: no such passkey of this user.
	ErrPasskeyNotFound = errors.New("passkey not found")
	// ErrLastFactor: the passkey is the last second factor of an account
	// with two-factor authentication on.
	ErrLastFactor = errors.New("the last second factor cannot be removed")
	// ErrPasskeyName: a name that is empty once trimmed, or too long.
	ErrPasskeyName = errors.New("passkey name must be 1 to 64 characters")
)

// The RFC 8176 methods of a passkey: a hardware-bound key (not backup
// eligible), a synced one (backup eligible: its private key leaves the
// device), and the user verification every ceremony requires.
const (
	AMRHardwareKey = "hwk"
	AMRSoftwareKey = "swk"
	AMRUser        = "user"
)

// DefaultPasskeyChallengeTTL is how long a ceremony's challenge lives.
const DefaultPasskeyChallengeTTL = 5 * time.Minute

// PasskeyOptions configure the WebAuthn relying party.
type PasskeyOptions struct {
	RPID    string   // WEBAUTHN_RP_ID; "": passkeys off (ErrPasskeysUnavailable)
	RPName  string   // WEBAUTHN_RP_NAME, shown by the browser
	Origins []string // WEBAUTHN_ORIGINS: exact origins a ceremony may come from
	// RefuseCounterRegression refuses an assertion whose signature
	// counter did not go up (ErrPasskeyCloned); off, it is only recorded.
	// Either way passkeys.counter_regressions counts it and an event is
	// written.
	RefuseCounterRegression bool
	ChallengeTTL            time.Duration // 0: DefaultPasskeyChallengeTTL
}

func (o PasskeyOptions) challengeTTL() time.Duration {
	if o.ChallengeTTL > 0 {
		return o.ChallengeTTL
	}
	return DefaultPasskeyChallengeTTL
}

// newRelyingParty is the WebAuthn relying party of o; nil with no RP ID.
func newRelyingParty(o PasskeyOptions) (*webauthn.WebAuthn, error) {
	if o.RPID == "" {
		return nil, nil
	}
	name := o.RPName
	if name == "" {
		name = o.RPID
	}
	return webauthn.New(&webauthn.Config{
		RPID: o.RPID, RPDisplayName: name, RPOrigins: o.Origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationRequired,
		},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Timeout: o.challengeTTL(), TimeoutUVD: o.challengeTTL()},
			Registration: webauthn.TimeoutConfig{Timeout: o.challengeTTL(), TimeoutUVD: o.challengeTTL()},
		},
	})
}

// rp is the relying party, or ErrPasskeysUnavailable.
func (s *Service) rp() (*webauthn.WebAuthn, error) {
	if s.wa == nil {
		if s.waErr != nil {
			return nil, fmt.Errorf("%w: %w", ErrPasskeysUnavailable, s.waErr)
		}
		return nil, ErrPasskeysUnavailable
	}
	return s.wa, nil
}

// Passkey is a registered passkey as its owner sees it.
type Passkey struct {
	ID                 uuid.UUID
	Name               string
	CreatedAt          time.Time
	LastUsedAt         *time.Time
	BackupEligible     bool // a synced passkey
	BackupState        bool // backed up now
	Transports         []string
	CounterRegressions int // assertions whose counter did not go up
}

func newPasskey(p db.Passkey) Passkey {
	return Passkey{ID: p.ID, Name: p.Name, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt, BackupEligible: p.BackupEligible,
		BackupState: p.BackupState, Transports: p.Transports, CounterRegressions: int(p.CounterRegressions)}
}

// waUser is a user as the library sees it: the user handle is the user's
// id (16 random bytes, no personal data), the credentials its passkeys.
type waUser struct {
	u     db.User
	creds []webauthn.Credential
}

func (w waUser) WebAuthnID() []byte                         { return w.u.ID[:] }
func (w waUser) WebAuthnName() string                       { return w.u.Email }
func (w waUser) WebAuthnDisplayName() string                { return w.u.Name }
func (w waUser) WebAuthnCredentials() []webauthn.Credential { return w.creds }

// credential is p as the library checks an assertion against it.
func credential(p db.Passkey) webauthn.Credential {
	ts := make([]protocol.AuthenticatorTransport, len(p.Transports))
	for i, t := range p.Transports {
		ts[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{
		ID: p.CredentialID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, Transport: ts,
		Flags:         webauthn.CredentialFlags{UserPresent: true, UserVerified: true, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		Authenticator: webauthn.Authenticator{AAGUID: p.Aaguid, SignCount: uint32(min(max(p.SignCount, 0), 1<<32-1))},
	}
}

// method is the amr value of p.
func method(p db.Passkey) string {
	if p.BackupEligible {
		return AMRSoftwareKey
	}
	return AMRHardwareKey
}

// challengeOption puts c into a ceremony's options in place of the
// library's own random challenge.
func creationChallenge(c onetime.Challenge) webauthn.RegistrationOption {
	return func(o *protocol.PublicKeyCredentialCreationOptions) error {
		o.Challenge = c.Bytes
		return nil
	}
}

// passkeysOf lists user's passkeys.
func (s *Service) passkeysOf(ctx context.Context, q *db.Queries, user uuid.UUID) ([]db.Passkey, error) {
	ps, err := q.ListUserPasskeys(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	return ps, nil
}

// PasskeyRegistrationOptions starts adding a passkey for a's user: the
// options for navigator.credentials.create (JSON: {"publicKey": ...}),
// with a fresh challenge, the user's passkeys excluded, a resident key
// preferred, user verification required and attestation "none". It needs
// a recent authentication (ErrReauthRequired).
func (s *Service) PasskeyRegistrationOptions(ctx context.Context, a Auth) (json.RawMessage, error) {
	wa, err := s.rp()
	if err != nil {
		return nil, err
	}
	if !s.recent(a) {
		return nil, ErrReauthRequired
	}
	ps, err := s.passkeysOf(ctx, s.q, a.User.ID)
	if err != nil {
		return nil, err
	}
	exclude := make([]protocol.CredentialDescriptor, len(ps))
	for i, p := range ps {
		c := credential(p)
		exclude[i] = c.Descriptor()
	}
	c, err := s.secrets.MintChallenge(ctx, s.q, onetime.PasskeyRegister, a.User.ID, s.opts.Passkeys.challengeTTL())
	if errors.Is(err, onetime.ErrNoUser) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	creation, _, err := wa.BeginRegistration(waUser{u: a.User}, webauthn.WithExclusions(exclude), creationChallenge(c))
	if err != nil {
		return nil, fmt.Errorf("begin registration: %w", err)
	}
	return json.Marshal(creation)
}

// PasskeyAdded is what RegisterPasskey made: the passkey and, when it
// turned two-factor authentication on, the account's new recovery codes
// (shown once).
type PasskeyAdded struct {
	Passkey       Passkey
	RecoveryCodes []string
}

// RegisterPasskey finishes adding a passkey: response is the JSON of the
// PublicKeyCredential navigator.credentials.create returned for
// PasskeyRegistrationOptions, name what the user calls it. The challenge
// is taken first (ErrPasskeyChallenge once used); the attestation must
// verify with user verification from an allowed origin
// (ErrPasskeyRefused). A credential registered already is
// ErrPasskeyExists. The passkey is stored with its flags, an event
// written and a notice mailed, in one transaction; if it is the user's
// first factor, two-factor authentication turns on as with ActivateTOTP.
func (s *Service) RegisterPasskey(ctx context.Context, a Auth, name string, response []byte) (PasskeyAdded, error) {
	wa, err := s.rp()
	if err != nil {
		return PasskeyAdded{}, err
	}
	if name, err = passkeyName(name); err != nil {
		return PasskeyAdded{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return PasskeyAdded{}, ErrPasskeyMalformed
	}
	if !s.recent(a) {
		return PasskeyAdded{}, ErrReauthRequired
	}
	raw := parsed.Response.CollectedClientData.Challenge
	if err := s.takeChallenge(ctx, onetime.PasskeyRegister, a.User.ID, raw); err != nil {
		return PasskeyAdded{}, err
	}
	sd := webauthn.SessionData{Challenge: raw, RelyingPartyID: s.opts.Passkeys.RPID, UserID: a.User.ID[:],
		UserVerification: protocol.VerificationRequired, CredParams: webauthn.CredentialParametersDefault()}
	cred, err := wa.CreateCredential(waUser{u: a.User}, sd, parsed)
	if err != nil {
		s.refused(ctx, "registration", a.User.ID, err)
		return PasskeyAdded{}, ErrPasskeyRefused
	}
	// What the library accepts but the table does not (a credential id
	// under 16 bytes, passkeys_credential_id_size) is refused here, not
	// left to fail the INSERT (a 500); transports are the client's text,
	// so only the ones WebAuthn defines are kept.
	if n := len(cred.ID); n < minCredentialID || n > maxCredentialID {
		s.refused(ctx, "registration", a.User.ID, fmt.Errorf("credential id of %d bytes", n))
		return PasskeyAdded{}, ErrPasskeyRefused
	}
	ts := transports(cred.Transport)
	var (
		added   PasskeyAdded
		revoked int64
	)
	err = s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		p, err := q.CreatePasskey(ctx, db.CreatePasskeyParams{
			UserID: user.ID, CredentialID: cred.ID, PublicKey: cred.PublicKey, AttestationType: cred.AttestationType,
			Aaguid: cred.Authenticator.AAGUID, SignCount: int64(cred.Authenticator.SignCount), Transports: ts,
			BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState, Name: name, Now: s.now(),
		})
		switch err := db.Classify(err); {
		case errors.Is(err, db.ErrConflict):
			return ErrPasskeyExists
		case err != nil:
			return fmt.Errorf("create passkey: %w", err)
		}
		added.Passkey = newPasskey(p)
		if err := s.record(ctx, q, event{name: reqlog.PasskeyAdded, user: user.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"passkey_id": p.ID.String(), "backup_eligible": p.BackupEligible}}); err != nil {
			return err
		}
		if err := s.queue(ctx, q, to(mail.KindPasskeyAdded, user)); err != nil {
			return err
		}
		if user.MfaEnabled {
			return nil
		}
		// The first factor: two-factor authentication turns on, as when a
		// TOTP factor is activated.
		if err := q.SetUserMFA(ctx, db.SetUserMFAParams{ID: user.ID, MfaEnabled: true, Now: s.now()}); err != nil {
			return fmt.Errorf("set mfa: %w", err)
		}
		if added.RecoveryCodes, err = s.newRecoveryCodes(ctx, q, user.ID); err != nil {
			return err
		}
		if revoked, err = s.endSessions(ctx, q, user.ID, a.Session, ReasonMFAEnabled); err != nil {
			return err
		}
		if _, err := q.ReauthenticateSession(ctx, db.ReauthenticateSessionParams{
			ID: a.Session, UserID: user.ID, Now: s.now(), Aal: 2, Amr: []string{method(p), AMRUser},
		}); err != nil {
			return fmt.Errorf("raise session: %w", err)
		}
		return s.record(ctx, q, event{name: reqlog.MFAEnabled, user: user.ID, data: map[string]any{"factor": "passkey"}})
	})
	if err != nil {
		return PasskeyAdded{}, err
	}
	if added.RecoveryCodes != nil {
		s.metrics.SessionsRevoked(string(ReasonMFAEnabled), revoked)
		s.metrics.MFA(metrics.MFAEnabled)
	}
	s.metrics.Passkey(metrics.PasskeyAdded)
	s.log.LogAttrs(ctx, slog.LevelInfo, "passkey added", reqlog.PasskeyAdded.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.String("passkey_id", added.Passkey.ID.String()))
	return added, nil
}

// The credential id sizes passkeys_credential_id_size allows.
const (
	minCredentialID = 16
	maxCredentialID = 1023
)

// transports keeps the transports of ts that WebAuthn defines, once each.
func transports(ts []protocol.AuthenticatorTransport) []string {
	out := []string{}
	for _, t := range ts {
		switch t {
		case protocol.USB, protocol.NFC, protocol.BLE, protocol.SmartCard, protocol.Hybrid, protocol.Internal:
			if !slices.Contains(out, string(t)) {
				out = append(out, string(t))
			}
		}
	}
	return out
}

// passkeyName is name trimmed, "Passkey" if empty; ErrPasskeyName if
// too long or not text.
func passkeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "Passkey", nil
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, isControl):
		return "", ErrPasskeyName
	}
	return name, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// takeChallenge uses up raw, the challenge a finish echoes, as one of p
// for user (uuid.Nil: a passwordless login's); ErrPasskeyChallenge if it
// is not one now.
func (s *Service) takeChallenge(ctx context.Context, p onetime.Purpose, user uuid.UUID, raw string) error {
	err := s.secrets.TakeChallenge(ctx, s.q, p, user, raw)
	if errors.Is(err, onetime.ErrInvalid) {
		s.metrics.Passkey(metrics.PasskeyRefused)
		s.log.LogAttrs(ctx, slog.LevelInfo, "passkey refused", reqlog.PasskeyFailed.Attr(), slog.String("reason", "challenge unknown, expired or used"),
			slog.String("ceremony", string(p)))
		return ErrPasskeyChallenge
	}
	return err
}

// refused logs why the library refused a ceremony; the client only
// hears ErrPasskeyRefused.
func (s *Service) refused(ctx context.Context, ceremony string, user uuid.UUID, err error) {
	s.metrics.Passkey(metrics.PasskeyRefused)
	reason := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) {
		reason = pe.Details + " " + pe.DevInfo
	}
	attrs := []slog.Attr{reqlog.PasskeyFailed.Attr(), slog.String("ceremony", ceremony), slog.String("reason", storable(reason, 256))}
	if user != uuid.Nil {
		attrs = append(attrs, slog.String("user_id", user.String()))
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "passkey refused", attrs...)
}

// Passkeys lists user's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, user uuid.UUID) ([]Passkey, error) {
	ps, err := s.passkeysOf(ctx, s.q, user)
	if err != nil {
		return nil, err
	}
	out := make([]Passkey, len(ps))
	for i, p := range ps {
		out[i] = newPasskey(p)
	}
	return out, nil
}

// RenamePasskey renames a's passkey id; ErrPasskeyNotFound if the user has
// none of that id.
func (s *Service) RenamePasskey(ctx context.Context, a Auth, id uuid.UUID, name string) error {
	name, err := passkeyName(name)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(q *db.Queries) error {
		n, err := q.RenamePasskey(ctx, db.RenamePasskeyParams{ID: id, UserID: a.User.ID, Name: name})
		switch {
		case err != nil:
			return fmt.Errorf("rename passkey: %w", err)
		case n == 0:
			return ErrPasskeyNotFound
		}
		return s.record(ctx, q, event{name: reqlog.PasskeyRenamed, user: a.User.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"passkey_id": id.String()}})
	})
}

// DeletePasskey removes a's passkey id. It needs a recent authentication
// (ErrReauthRequired) and, on an account with two-factor authentication
// on, a session at aal 2 (ErrAAL2Required); the last second factor of
// such an account (its only passkey, no active TOTP factor) is
// ErrLastFactor. An event is written and a notice mailed.
func (s *Service) DeletePasskey(ctx context.Context, a Auth, id uuid.UUID) error {
	if !s.recent(a) {
		return ErrReauthRequired
	}
	var revoked int64
	err := s.tx(ctx, func(q *db.Queries) error {
		user, err := q.LockUser(ctx, a.User.ID)
		if err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		if user.MfaEnabled {
			if a.AAL < 2 {
				return ErrAAL2Required
			}
			last, err := s.lastFactor(ctx, q, user.ID)
			if err != nil {
				return err
			}
			if last {
				if _, err := q.GetPasskeyOf(ctx, db.GetPasskeyOfParams{ID: id, UserID: user.ID}); err == nil {
					return ErrLastFactor
				}
			}
		}
		n, err := q.DeletePasskey(ctx, db.DeletePasskeyParams{ID: id, UserID: user.ID})
		switch {
		case err != nil:
			return fmt.Errorf("delete passkey: %w", err)
		case n == 0:
			return ErrPasskeyNotFound
		}
		if err := s.record(ctx, q, event{name: reqlog.PasskeyRemoved, user: user.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"passkey_id": id.String()}}); err != nil {
			return err
		}
		// A removed passkey may be a stolen one: the sessions it started,
		// like every other but the caller's, end with it (as when a
		// factor is turned off).
		if revoked, err = s.endSessions(ctx, q, user.ID, a.Session, ReasonPasskeyGone); err != nil {
			return err
		}
		return s.queue(ctx, q, to(mail.KindPasskeyRemoved, user))
	})
	if err != nil {
		return err
	}
	s.metrics.SessionsRevoked(string(ReasonPasskeyGone), revoked)
	s.metrics.Passkey(metrics.PasskeyRemoved)
	s.log.LogAttrs(ctx, slog.LevelInfo, "passkey removed", reqlog.PasskeyRemoved.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.String("passkey_id", id.String()))
	return nil
}

// lastFactor reports whether user has exactly one passkey and no active
// TOTP factor: that passkey is the account's last second factor.
func (s *Service) lastFactor(ctx context.Context, q *db.Queries, user uuid.UUID) (bool, error) {
	n, err := q.CountUserPasskeys(ctx, user)
	if err != nil {
		return false, fmt.Errorf("count passkeys: %w", err)
	}
	if n != 1 {
		return false, nil
	}
	f, err := q.GetUserFactor(ctx, db.GetUserFactorParams{UserID: user, Kind: kindTOTP})
	switch {
	case errors.Is(err, db.ErrNotFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get factor: %w", err)
	}
	return f.Status != "active", nil
}

// dropPasskeys deletes every passkey of user in q's transaction (the
// second factor turned off, by the user or the operator), with an event
// for each.
func (s *Service) dropPasskeys(ctx context.Context, q *db.Queries, user uuid.UUID) error {
	ids, err := q.DeleteUserPasskeys(ctx, user)
	if err != nil {
		return fmt.Errorf("delete passkeys: %w", err)
	}
	for _, id := range ids {
		if err := s.record(ctx, q, event{name: reqlog.PasskeyRemoved, user: user, data: map[string]any{"passkey_id": id.String()}}); err != nil {
			return err
		}
	}
	return nil
}
