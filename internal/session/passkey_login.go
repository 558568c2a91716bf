package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/reqlog"
)

// The assertion ceremonies: a passwordless login, a passkey as second
// factor after a password (the login ticket), and a passkey as step-up.

// assertionOptions mints a challenge of p for user (uuid.Nil: a
// passwordless login, no credentials listed) and returns the options for
// navigator.credentials.get (JSON: {"publicKey": ...}), user verification
// required.
func (s *Service) assertionOptions(ctx context.Context, p onetime.Purpose, user uuid.UUID) (json.RawMessage, error) {
	wa, err := s.rp()
	if err != nil {
		return nil, err
	}
	var creds []webauthn.Credential
	if user != uuid.Nil {
		ps, err := s.passkeysOf(ctx, s.q, user)
		if err != nil {
			return nil, err
		}
		if len(ps) == 0 {
			return nil, ErrNoFactor
		}
		for _, p := range ps {
			creds = append(creds, credential(p))
		}
	}
	c, err := s.secrets.MintChallenge(ctx, s.q, p, user, s.opts.Passkeys.challengeTTL())
	if errors.Is(err, onetime.ErrNoUser) {
		return nil, ErrInvalid
	}
	if err != nil {
		return nil, err
	}
	opts := []webauthn.LoginOption{webauthn.WithChallenge(c.Bytes), webauthn.WithUserVerification(protocol.VerificationRequired)}
	var assertion *protocol.CredentialAssertion
	if user == uuid.Nil {
		assertion, _, err = wa.BeginDiscoverableLogin(opts...)
	} else {
		assertion, _, err = wa.BeginLogin(waUser{u: db.User{ID: user}, creds: creds}, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("begin login: %w", err)
	}
	return json.Marshal(assertion)
}

// asserted is an assertion that verified: the passkey as stored, the
// counter and backup state it carried, its user.
type asserted struct {
	passkey     db.Passkey
	user        db.User
	counter     uint32
	backupState bool
}

// amr is the methods an assertion proves: the key and the user
// verification every ceremony requires.
func (a asserted) amr() []string { return []string{method(a.passkey), AMRUser} }

// assert checks response, an assertion of ceremony p, in this order: its
// challenge is taken (one use, whatever follows: ErrPasskeyChallenge);
// its credential must be a passkey of user (uuid.Nil: of anyone, named by
// the user handle too); the account's MFA throttle counts it
// (*MFALockedError); the library then checks signature, RP ID, origin,
// user presence and verification (ErrPasskeyRefused), and a counter that
// did not go up is recorded and, as configured, refused
// (ErrPasskeyCloned).
func (s *Service) assert(ctx context.Context, p onetime.Purpose, user uuid.UUID, response []byte) (asserted, error) {
	wa, err := s.rp()
	if err != nil {
		return asserted{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return asserted{}, ErrPasskeyMalformed
	}
	raw := parsed.Response.CollectedClientData.Challenge
	if err := s.takeChallenge(ctx, p, user, raw); err != nil {
		return asserted{}, err
	}
	pk, err := s.q.GetPasskeyByCredential(ctx, parsed.RawID)
	switch {
	case errors.Is(err, db.ErrNotFound):
		s.refused(ctx, string(p), user, errors.New("unknown credential"))
		return asserted{}, ErrPasskeyRefused
	case err != nil:
		return asserted{}, fmt.Errorf("get passkey: %w", err)
	case user != uuid.Nil && pk.UserID != user:
		s.refused(ctx, string(p), user, errors.New("a credential of another user"))
		return asserted{}, ErrPasskeyRefused
	case user == uuid.Nil && !bytes.Equal(parsed.Response.UserHandle, pk.UserID[:]):
		s.refused(ctx, string(p), user, errors.New("user handle is not the credential's user"))
		return asserted{}, ErrPasskeyRefused
	}
	if err := s.reserveMFA(ctx, pk.UserID); err != nil {
		return asserted{}, err
	}
	u, err := s.q.GetUserByID(ctx, pk.UserID)
	if err != nil {
		return asserted{}, fmt.Errorf("get user: %w", err)
	}
	wu := waUser{u: u, creds: []webauthn.Credential{credential(pk)}}
	sd := webauthn.SessionData{Challenge: raw, RelyingPartyID: s.opts.Passkeys.RPID, UserVerification: protocol.VerificationRequired}
	var cred *webauthn.Credential
	if user == uuid.Nil {
		handler := func(rawID, userHandle []byte) (webauthn.User, error) { return wu, nil }
		_, cred, err = wa.ValidatePasskeyLogin(handler, sd, parsed)
	} else {
		sd.UserID = u.ID[:]
		cred, err = wa.ValidateLogin(wu, sd, parsed)
	}
	if err != nil {
		s.refused(ctx, string(p), u.ID, err)
		if rerr := s.recordNow(ctx, event{name: reqlog.PasskeyFailed, user: u.ID,
			data: map[string]any{"passkey_id": pk.ID.String(), "at": ceremony(p)}}); rerr != nil {
			return asserted{}, rerr
		}
		return asserted{}, ErrPasskeyRefused
	}
	got := parsed.Response.AuthenticatorData.Counter
	if cred.Authenticator.CloneWarning {
		if err := s.counterWentBack(ctx, pk, got); err != nil {
			return asserted{}, err
		}
	}
	return asserted{passkey: pk, user: u, counter: got, backupState: parsed.Response.AuthenticatorData.Flags.HasBackupState()}, nil
}

// ceremony names p in events.
func ceremony(p onetime.Purpose) string {
	switch p {
	case onetime.PasskeyLogin:
		return "login"
	case onetime.PasskeyMFA:
		return "second_factor"
	case onetime.PasskeyReauth:
		return "reauthentication"
	}
	return string(p)
}

// counterWentBack records that pk signed with counter got, not above
// the stored one (a cloned authenticator, or one restored from a backup),
// and refuses the assertion if so configured.
func (s *Service) counterWentBack(ctx context.Context, pk db.Passkey, got uint32) error {
	s.metrics.Passkey(metrics.PasskeyCountBack)
	refuse := s.opts.Passkeys.RefuseCounterRegression
	s.log.LogAttrs(ctx, slog.LevelWarn, "passkey counter went back", reqlog.PasskeyCounterBack.Attr(), slog.String("user_id", pk.UserID.String()),
		slog.String("passkey_id", pk.ID.String()), slog.Int64("stored", pk.SignCount), slog.Int64("got", int64(got)), slog.Bool("refused", refuse))
	err := s.tx(ctx, func(q *db.Queries) error {
		if _, err := q.RecordPasskeyRegression(ctx, pk.ID); err != nil {
			return fmt.Errorf("record regression: %w", err)
		}
		return s.record(ctx, q, event{name: reqlog.PasskeyCounterBack, user: pk.UserID, data: map[string]any{
			"passkey_id": pk.ID.String(), "stored": pk.SignCount, "got": got, "refused": refuse}})
	})
	if err != nil {
		return err
	}
	if refuse {
		return ErrPasskeyCloned
	}
	return nil
}

// used records an accepted assertion in q's transaction, with the user
// locked: the counter (never lowered) and backup state, the event, the
// MFA throttle cleared.
func (s *Service) used(ctx context.Context, q *db.Queries, a asserted, session uuid.UUID, at string) error {
	n, err := q.UsePasskey(ctx, db.UsePasskeyParams{ID: a.passkey.ID, UserID: a.user.ID, SignCount: int64(a.counter),
		BackupState: a.backupState, Now: s.now()})
	switch {
	case err != nil:
		return fmt.Errorf("use passkey: %w", err)
	case n == 0: // deleted since the check
		return ErrPasskeyRefused
	}
	if err := q.ClearMFAFailures(ctx, a.user.ID); err != nil {
		return fmt.Errorf("clear mfa failures: %w", err)
	}
	return s.record(ctx, q, event{name: reqlog.PasskeyUsed, user: a.user.ID, sessions: []uuid.UUID{session},
		data: map[string]any{"passkey_id": a.passkey.ID.String(), "at": at}})
}

// PasskeyLoginOptions starts a passwordless, usernameless login: options
// for navigator.credentials.get with no credentials listed (a
// discoverable credential answers), user verification required.
func (s *Service) PasskeyLoginOptions(ctx context.Context) (json.RawMessage, error) {
	return s.assertionOptions(ctx, onetime.PasskeyLogin, uuid.Nil)
}

// LoginPasskey finishes a passwordless login with response, the JSON of
// the PublicKeyCredential navigator.credentials.get returned. It answers
// as Login does: a new session and its tokens, the session at aal 2 with
// amr [hwk|swk, user] (user verification is required, so a passkey is
// never a single factor here) and auth_time now. Refusals are as assert
// says; with EMAIL_VERIFICATION=required an unverified account is
// ErrEmailNotVerified.
func (s *Service) LoginPasskey(ctx context.Context, response []byte, c Client) (Tokens, db.User, error) {
	a, err := s.assert(ctx, onetime.PasskeyLogin, uuid.Nil, response)
	if err != nil {
		s.loginOutcome(err)
		return Tokens{}, db.User{}, err
	}
	if s.opts.Verification == VerificationRequired && !a.user.Verified {
		s.metrics.Login(metrics.LoginUnverified)
		return Tokens{}, db.User{}, ErrEmailNotVerified
	}
	return s.passkeySession(ctx, a, c, a.amr(), nil)
}

// loginOutcome counts a refused passkey login.
func (s *Service) loginOutcome(err error) {
	switch {
	case errors.Is(err, ErrPasskeyRefused), errors.Is(err, ErrPasskeyMalformed):
		s.metrics.Login(metrics.LoginBadCredentials)
	case errors.As(err, new(*MFALockedError)):
		s.metrics.Login(metrics.LoginThrottled)
	}
}

// passkeySession starts the session of an accepted assertion: in one
// transaction with the user locked, the passkey's use, the session (aal
// 2, amr), and, with ticket set, the login ticket spent.
func (s *Service) passkeySession(ctx context.Context, a asserted, c Client, amr []string, ticket *string) (Tokens, db.User, error) {
	gen, err := newGenerationID()
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	var sess db.Session
	err = s.tx(ctx, func(q *db.Queries) error {
		if ticket != nil {
			sp, err := s.secrets.Spend(ctx, q, onetime.LoginTicket, *ticket)
			if errors.Is(err, onetime.ErrInvalid) {
				return ErrTicketInvalid
			}
			if err != nil {
				return err
			}
			if sp.User.ID != a.user.ID {
				return ErrTicketInvalid
			}
		} else if _, err := q.LockUser(ctx, a.user.ID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		now := s.now()
		o := s.opts
		sess, err = q.CreateMFASession(ctx, db.CreateMFASessionParams{
			UserID: a.user.ID, CurrentHash: hashID(gen), Now: now,
			IdleExpiresAt: now.Add(min(o.RefreshTTL, o.SessionLifetime)), ExpiresAt: now.Add(o.SessionLifetime),
			UserAgent: storable(c.UserAgent, maxUserAgent), ClientAddr: storable(c.Addr, maxUserAgent), Amr: amr,
		})
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		if err := s.recordCreated(ctx, q, sess); err != nil {
			return err
		}
		at := "login"
		if ticket != nil {
			at = "second_factor"
		}
		return s.used(ctx, q, a, sess.ID, at)
	})
	if err != nil {
		if errors.Is(err, ErrTicketInvalid) {
			s.metrics.Login(loginMFABadTicket)
		}
		return Tokens{}, db.User{}, err
	}
	toks, err := s.issue(ctx, sess, gen, a.user.Role)
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	if toks.Device, err = s.deviceLogin(ctx, a.user, c); err != nil {
		return Tokens{}, db.User{}, err
	}
	s.metrics.Login(metrics.LoginSuccess)
	s.metrics.Passkey(metrics.PasskeyUsed)
	s.log.LogAttrs(ctx, slog.LevelInfo, "login", reqlog.SessionCreated.Attr(), slog.String("user_id", a.user.ID.String()),
		slog.String("session_id", sess.ID.String()), slog.String("with", "passkey"))
	return toks, a.user, nil
}

// PasskeyMFAOptions starts a passkey as the second factor of a login:
// ticket is the login ticket of the right password (*MFARequired); the
// options list the user's passkeys. The ticket is neither spent nor
// counted (ErrTicketInvalid if dead); a user without passkeys is
// ErrNoFactor.
func (s *Service) PasskeyMFAOptions(ctx context.Context, ticket string) (json.RawMessage, error) {
	user, err := s.TicketUser(ctx, ticket)
	if err != nil {
		return nil, err
	}
	return s.assertionOptions(ctx, onetime.PasskeyMFA, user)
}

// LoginPasskeyMFA is LoginMFA with a passkey: the ticket and the
// assertion of PasskeyMFAOptions give a session at aal 2 with amr
// [pwd, hwk|swk, user]. Each call counts an attempt on the ticket
// (ErrTicketInvalid when dead) and on the account's MFA throttle; a
// refused assertion leaves the ticket for another try (with a new
// challenge).
func (s *Service) LoginPasskeyMFA(ctx context.Context, ticket string, response []byte, c Client) (Tokens, db.User, error) {
	if _, err := s.rp(); err != nil {
		return Tokens{}, db.User{}, err
	}
	user, err := s.secrets.Attempt(ctx, s.q, onetime.LoginTicket, ticket, s.opts.ticketAttempts())
	if errors.Is(err, onetime.ErrInvalid) {
		s.metrics.Login(loginMFABadTicket)
		return Tokens{}, db.User{}, ErrTicketInvalid
	}
	if err != nil {
		return Tokens{}, db.User{}, err
	}
	a, err := s.assert(ctx, onetime.PasskeyMFA, user, response)
	if err != nil {
		if errors.Is(err, ErrPasskeyRefused) {
			s.metrics.Login(loginMFABadCode)
		}
		return Tokens{}, db.User{}, err
	}
	return s.passkeySession(ctx, a, c, append([]string{AMRPassword}, a.amr()...), &ticket)
}

// PasskeyReauthOptions starts a step-up with a passkey for a's user.
func (s *Service) PasskeyReauthOptions(ctx context.Context, a Auth) (json.RawMessage, error) {
	return s.assertionOptions(ctx, onetime.PasskeyReauth, a.User.ID)
}

// ReauthenticatePasskey is Reauthenticate with a passkey: the assertion of
// PasskeyReauthOptions refreshes the auth_time of a's session and raises
// it to aal 2, its amr gaining [hwk|swk, user]. Refusals are as assert
// says; a session that ended meanwhile is ErrInvalid.
func (s *Service) ReauthenticatePasskey(ctx context.Context, a Auth, response []byte) error {
	as, err := s.assert(ctx, onetime.PasskeyReauth, a.User.ID, response)
	if err != nil {
		return err
	}
	err = s.tx(ctx, func(q *db.Queries) error {
		if _, err := q.LockUser(ctx, a.User.ID); err != nil {
			return fmt.Errorf("lock user: %w", err)
		}
		n, err := q.ReauthenticateSession(ctx, db.ReauthenticateSessionParams{
			ID: a.Session, UserID: a.User.ID, Now: s.now(), Aal: 2, Amr: as.amr(),
		})
		switch {
		case err != nil:
			return fmt.Errorf("reauthenticate session: %w", err)
		case n == 0:
			return ErrInvalid
		}
		if err := s.record(ctx, q, event{name: reqlog.SessionReauthenticated, user: a.User.ID, sessions: []uuid.UUID{a.Session},
			data: map[string]any{"with": "passkey"}}); err != nil {
			return err
		}
		return s.used(ctx, q, as, a.Session, "reauthentication")
	})
	if err != nil {
		return err
	}
	s.metrics.Passkey(metrics.PasskeyUsed)
	s.log.LogAttrs(ctx, slog.LevelInfo, "reauthenticated", reqlog.SessionReauthenticated.Attr(), slog.String("user_id", a.User.ID.String()),
		slog.String("session_id", a.Session.String()), slog.String("with", "passkey"))
	return nil
}
