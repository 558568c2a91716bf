package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
)

// maxLastError bounds last_error, in bytes.
const maxLastError = 500

// outcome of one attempt, for the log and metrics.
const (
	outcomeSent    = metrics.MailSent
	outcomeRetried = metrics.MailRetried
	outcomeFailed  = metrics.MailFailed
)

// handle delivers one claimed mail: it renders the mail (with a fresh
// token for a token kind), sends it and records the outcome, as long as
// it still holds the lease.
func (s *Sender) handle(ctx context.Context, m db.MailOutbox) error {
	lease := *m.LockedUntil // as stored: MarkMailSent and co. compare it exactly
	log := s.log.With("mail_id", m.ID, "kind", m.Kind, "attempt", m.Attempts)
	kind := m.Kind
	if !knownKind(kind) {
		kind = "other"
	}

	fail := func(reason string) error {
		reason = truncate(reason)
		n, err := s.q.FailMail(ctx, db.FailMailParams{ID: m.ID, LeaseUntil: lease, LastError: reason})
		if err != nil {
			return fmt.Errorf("record failed mail %d: %w", m.ID, err)
		}
		if n == 0 {
			log.Warn("mail sender: lease lost before recording the failure")
			return nil
		}
		s.o.Metrics.Mail(kind, outcomeFailed)
		log.Warn("mail failed", "reason", noAddress(reason, m.ToAddr))
		return nil
	}

	switch {
	case !knownKind(m.Kind):
		return fail("unknown kind")
	case int(m.Attempts) > s.o.MaxAttempts:
		// Only reached through leases that ran out (senders that died).
		return fail(fmt.Sprintf("gave up after %d attempts", s.o.MaxAttempts))
	}
	var d Data
	if err := json.Unmarshal(m.Data, &d); err != nil {
		return fail("data is not valid JSON")
	}
	if m.Kind == KindVerifyEmail || m.Kind == KindChangeEmail {
		d.Name = "" // to an address not proven yet: no text its registrant chose
	}
	v := view{FirstName: firstName(d.Name), Email: shown(m.ToAddr, maxShown), NewEmail: shown(d.NewEmail, maxShown), Product: s.o.FromName}
	sv := subjectView{Product: s.o.FromName}
	if m.Kind == KindNewDevice {
		v.URL = s.o.LinkBase + s.o.ForgotPath
		v.Device, v.Addr, v.At = shown(d.Device, 64), shown(d.Addr, 64), shown(d.At, 64)
	}
	var raw string
	if IsTokenKind(m.Kind) {
		tok, reason, err := s.mint(ctx, m, lease)
		switch {
		case errors.Is(err, onetime.ErrNotHeld):
			// Superseded by a change to the account, or taken over by
			// another sender: not this sender's to send or record.
			log.Info("mail sender: the mail was superseded or taken over before its link was minted; not sent")
			return nil
		case reason != "":
			return fail(reason)
		case err != nil:
			return s.retry(ctx, log, m, lease, kind, err, "")
		}
		raw = tok.Raw
		ttl := s.tokens.Lifetime(onetime.Purpose(m.Kind))
		v.URL = s.o.LinkBase + strings.Replace(s.linkPath(m.Kind), "{token}", raw, 1)
		v.ValidFor = validFor(ttl)
		sv.ValidFor, sv.ValidMinutes = v.ValidFor, int(ttl/time.Minute)
	}
	r, err := s.tpl.render(m.Kind, v, sv)
	if err != nil {
		return fail(redact(err.Error(), raw))
	}
	msg := Message{
		// Random, kept across attempts: no header shows the outbox id or
		// when the mail was queued (they would count other people's mails).
		MessageID: m.MessageID + "@" + s.domain,
		From:      s.o.From, FromName: s.o.FromName, To: m.ToAddr,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML,
	}
	err = s.t.Send(ctx, msg)
	if err != nil && raw != "" && errors.Is(err, ErrNotSent) {
		// Never mailed: drop the token rather than leave it to expire.
		if derr := s.tokens.Drop(ctx, s.q, onetime.Purpose(m.Kind), raw); derr != nil {
			log.Warn("mail sender: could not drop the token of an unsent mail; it will expire", "error", derr.Error())
		}
	}
	switch {
	case err == nil:
		n, err := s.q.MarkMailSent(ctx, db.MarkMailSentParams{ID: m.ID, Now: s.now(), LeaseUntil: lease})
		if err != nil {
			return fmt.Errorf("record sent mail %d: %w", m.ID, err)
		}
		if n == 0 {
			log.Warn("mail sender: lease lost before recording the delivery; the mail may go out twice")
			return nil
		}
		s.o.Metrics.Mail(kind, outcomeSent)
		log.Info("mail sent")
		return nil
	case errors.Is(err, ErrRejected):
		return fail(redact(err.Error(), raw))
	}
	return s.retry(ctx, log, m, lease, kind, err, raw)
}

// mint mints the token of a token mail, only while the lease is held
// (onetime.ErrNotHeld otherwise). A reason fails the mail for good; any
// other error is worth a retry.
func (s *Sender) mint(ctx context.Context, m db.MailOutbox, lease time.Time) (tok onetime.Token, reason string, err error) {
	p := onetime.Purpose(m.Kind)
	if ttl := s.tokens.Lifetime(p); s.now().Sub(m.CreatedAt) > ttl {
		return onetime.Token{}, fmt.Sprintf("not sent within the token lifetime (%s)", ttl), nil
	}
	if !m.UserID.Valid {
		return onetime.Token{}, "token mail without a user", nil
	}
	tok, err = s.tokens.MintForMail(ctx, s.q, p, m.UserID.UUID, m.ToAddr, m.ID, lease)
	if errors.Is(err, onetime.ErrNoUser) {
		return onetime.Token{}, "the user no longer exists", nil
	}
	return tok, "", err
}

// linkPath is the link path of a token kind.
func (s *Sender) linkPath(kind string) string {
	switch kind {
	case KindVerifyEmail:
		return s.o.VerifyPath
	case KindResetPassword:
		return s.o.ResetPath
	}
	return s.o.ChangePath
}

// redact removes the raw token from an error text, should a server have
// echoed it.
func redact(s, raw string) string {
	if raw == "" {
		return s
	}
	return strings.ReplaceAll(s, raw, "[token]")
}

// noAddress removes the recipient's address from a text to log (go-mail
// names the recipients in its errors; authd logs no addresses).
func noAddress(s, addr string) string {
	if addr == "" {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, addr, "[to]"), strings.ToLower(addr), "[to]")
}

// truncate cuts s to maxLastError bytes on a character boundary.
func truncate(s string) string {
	if len(s) <= maxLastError {
		return s
	}
	s = s[:maxLastError]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
