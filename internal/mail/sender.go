package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
)

// SenderOptions configure a Sender. Zero durations and counts take the
// defaults in brackets.
type SenderOptions struct {
	From     string // EMAIL_FROM, required
	FromName string // EMAIL_FROM_NAME [authd]; also .Product in templates

	LinkBase   string // EMAIL_LINK_BASE: scheme://host[:port], required
	VerifyPath string // EMAIL_VERIFY_PATH [/verifyemail/{token}]
	ResetPath  string // PASSWORD_RESET_PATH [/forgotPassword/{token}]
	ChangePath string // EMAIL_CHANGE_PATH [/confirm-email/{token}]

	VerifyTTL time.Duration // VERIFY_TOKEN_TTL [24h]
	ResetTTL  time.Duration // RESET_TOKEN_TTL [15m]
	ChangeTTL time.Duration // EMAIL_CHANGE_TOKEN_TTL [1h]

	TemplatesDir string // MAIL_TEMPLATES_DIR: overrides, parsed by NewSender

	PollInterval time.Duration // MAIL_POLL_INTERVAL [5s]
	MaxAttempts  int           // MAIL_MAX_ATTEMPTS [8]
	Retention    time.Duration // MAIL_RETENTION [168h]: sent mails; failed ones stay 30 days
	SendTimeout  time.Duration // SMTP_TIMEOUT [10s]: the lease is twice this plus twice DBTimeout
	DBTimeout    time.Duration // DB_TIMEOUT [3s], per statement

	// Listen turns on LISTEN authd_mail on one connection of the pool
	// (which must then be a *pgxpool.Pool). Polling runs either way.
	Listen bool

	Log     *slog.Logger     // [discard]
	Metrics *metrics.Metrics // may be nil
	Now     func() time.Time // [time.Now]; tests move it to expire leases and backoffs
}

// Sender sends the outbox's mails. Several senders, in one process or
// many, may share a database: each mail is claimed by one at a time.
type Sender struct {
	pool db.Pool
	q    *db.Queries
	t    Transport
	tpl  *Templates
	o    SenderOptions
	log  *slog.Logger
	now  func() time.Time

	lease  time.Duration
	domain string // of From, for Message-IDs
}

// failedRetention is how long failed mails stay for an operator to see.
const failedRetention = 30 * 24 * time.Hour

// maxLastError bounds last_error, in bytes.
const maxLastError = 500

// NewSender checks o, parses the templates and returns a sender that
// delivers through t. It starts nothing: call Run.
func NewSender(pool db.Pool, t Transport, o SenderOptions) (*Sender, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defs := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	defs(&o.FromName, "authd")
	defs(&o.VerifyPath, "/verifyemail/{token}")
	defs(&o.ResetPath, "/forgotPassword/{token}")
	defs(&o.ChangePath, "/confirm-email/{token}")
	def(&o.VerifyTTL, 24*time.Hour)
	def(&o.ResetTTL, 15*time.Minute)
	def(&o.ChangeTTL, time.Hour)
	def(&o.PollInterval, 5*time.Second)
	def(&o.Retention, 168*time.Hour)
	def(&o.SendTimeout, 10*time.Second)
	def(&o.DBTimeout, 3*time.Second)
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	at := strings.LastIndexByte(o.From, '@')
	if at < 1 || at == len(o.From)-1 {
		return nil, fmt.Errorf("mail sender: from address %q has no domain", o.From)
	}
	if o.LinkBase == "" {
		return nil, errors.New("mail sender: no link base")
	}
	for _, p := range []string{o.VerifyPath, o.ResetPath, o.ChangePath} {
		if strings.Count(p, "{token}") != 1 {
			return nil, fmt.Errorf("mail sender: link path %q must contain {token} once", p)
		}
	}
	if o.Listen {
		if _, ok := pool.(acquirer); !ok {
			return nil, errors.New("mail sender: Listen needs a *pgxpool.Pool")
		}
	}
	tpl, err := LoadTemplates(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	return &Sender{
		pool: pool, q: db.New(db.Bound(pool, o.DBTimeout)), t: t, tpl: tpl, o: o, log: o.Log, now: o.Now,
		lease:  2*o.SendTimeout + 2*o.DBTimeout,
		domain: strings.ToLower(o.From[at+1:]),
	}, nil
}

// acquirer is a pool that lends a connection for LISTEN.
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

// Run sends due mails until ctx ends: at once, then whenever a
// notification on authd_mail arrives (with Listen) and every
// PollInterval. A mail being sent when ctx ends is finished and recorded
// first, so Run returns within about SMTP_TIMEOUT + 2 × DB_TIMEOUT; stop
// it before closing the pool.
func (s *Sender) Run(ctx context.Context) {
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	if s.o.Listen {
		go func() { defer close(done); s.listen(ctx, wake) }()
	} else {
		close(done)
	}
	defer func() { <-done }()
	tick := time.NewTicker(s.o.PollInterval)
	defer tick.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("mail sender", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

// listen holds one connection LISTENing on Channel and signals wake on
// each notification, and once after each (re)connect, since mails may
// have been queued while it was away. It retries every PollInterval.
func (s *Sender) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, signal)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("mail sender: LISTEN failed; polling only until it works again",
			"error", err.Error(), "retry_in", s.o.PollInterval.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.PollInterval):
		}
	}
}

func (s *Sender) listenOnce(ctx context.Context, signal func()) error {
	actx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	conn, err := s.pool.(acquirer).Acquire(actx)
	cancel()
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer func() {
		// Still listening, or in an unknown state after an error: the
		// connection must not go back to the pool for others to use.
		cctx, cancel := context.WithTimeout(context.Background(), s.o.DBTimeout)
		conn.Conn().Close(cctx)
		cancel()
		conn.Release()
	}()
	lctx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	_, err = conn.Exec(lctx, "LISTEN "+Channel)
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	signal()
	for {
		_, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait: %w", err)
		}
		signal()
	}
}

// Once sends every mail that is due, one at a time, and returns how many
// it handled (sent, put back or failed). It stops at the first database
// error.
func (s *Sender) Once(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		ok, err := s.one(ctx)
		if err != nil {
			return n, err
		}
		if !ok {
			return n, nil
		}
		n++
	}
	return n, nil
}

// one claims and handles one due mail; ok is false when none is due.
func (s *Sender) one(ctx context.Context) (ok bool, err error) {
	now := s.now()
	rows, err := s.q.ClaimMail(ctx, db.ClaimMailParams{Now: now, LeaseUntil: now.Add(s.lease), BatchSize: 1})
	if err != nil {
		return false, fmt.Errorf("claim mail: %w", err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	// What was claimed is finished even if ctx ends now: the result is
	// recorded, or the lease runs out and another sender takes over.
	ctx = context.WithoutCancel(ctx)
	return true, s.handle(ctx, rows[0])
}

// outcome of one attempt, for the log and metrics.
const (
	outcomeSent    = metrics.MailSent
	outcomeRetried = metrics.MailRetried
	outcomeFailed  = metrics.MailFailed
)

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
	now := s.now()
	v := view{FirstName: firstName(d.Name), Email: shown(m.ToAddr, maxShown), NewEmail: shown(d.NewEmail, maxShown), Product: s.o.FromName}
	sv := subjectView{Product: s.o.FromName}
	var raw string
	var hash []byte
	if IsTokenKind(m.Kind) {
		ttl, path := s.purpose(m.Kind)
		if now.Sub(m.CreatedAt) > ttl {
			return fail(fmt.Sprintf("not sent within the token lifetime (%s)", ttl))
		}
		if !m.UserID.Valid {
			return fail("token mail without a user")
		}
		raw, hash = NewToken()
		err := s.q.CreateOneTimeToken(ctx, db.CreateOneTimeTokenParams{TokenHash: hash, Purpose: m.Kind,
			UserID: m.UserID.UUID, Email: m.ToAddr, Now: now, ExpiresAt: now.Add(ttl)})
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
			return fail("the user no longer exists")
		}
		if err != nil {
			return s.retry(ctx, log, m, lease, kind, fmt.Errorf("mint token: %w", err), "")
		}
		v.URL = s.o.LinkBase + strings.Replace(path, "{token}", raw, 1)
		v.ValidFor = validFor(ttl)
		sv.ValidFor, sv.ValidMinutes = v.ValidFor, int(ttl/time.Minute)
	}
	r, err := s.tpl.render(m.Kind, v, sv)
	if err != nil {
		return fail(redact(err.Error(), raw))
	}
	msg := Message{
		MessageID: fmt.Sprintf("%d.%d@%s", m.ID, m.CreatedAt.UnixMicro(), s.domain),
		From:      s.o.From, FromName: s.o.FromName, To: m.ToAddr,
		Subject: r.Subject, Text: r.Text, HTML: r.HTML,
	}
	err = s.t.Send(ctx, msg)
	if err != nil && raw != "" && errors.Is(err, ErrNotSent) {
		// Never mailed: drop the token rather than leave it to expire.
		_, derr := s.q.ConsumeOneTimeToken(ctx, db.ConsumeOneTimeTokenParams{TokenHash: hash, Purpose: m.Kind, Now: s.now()})
		if derr != nil && !errors.Is(derr, db.ErrNotFound) {
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

// retry puts m back for later, after min(1h, 10s·2^(attempts-1)): 10s
// after the first attempt, 20s after the second, ... an hour from the
// ninth on.
func (s *Sender) retry(ctx context.Context, log *slog.Logger, m db.MailOutbox, lease time.Time, kind string, cause error, raw string) error {
	if int(m.Attempts) >= s.o.MaxAttempts {
		n, err := s.q.FailMail(ctx, db.FailMailParams{ID: m.ID, LeaseUntil: lease,
			LastError: truncate(redact(fmt.Sprintf("gave up after %d attempts: %s", m.Attempts, cause.Error()), raw))})
		if err == nil && n == 1 {
			s.o.Metrics.Mail(kind, outcomeFailed)
			log.Warn("mail failed", "reason", "too many attempts")
		}
		return err
	}
	next := s.now().Add(Backoff(int(m.Attempts)))
	reason := truncate(redact(cause.Error(), raw))
	n, err := s.q.RetryMail(ctx, db.RetryMailParams{ID: m.ID, LeaseUntil: lease, NextAttemptAt: next, LastError: reason})
	if err != nil {
		return fmt.Errorf("record mail %d for retry: %w", m.ID, err)
	}
	if n == 0 {
		log.Warn("mail sender: lease lost before recording the retry")
		return nil
	}
	s.o.Metrics.Mail(kind, outcomeRetried)
	log.Warn("mail not sent; will retry", "error", noAddress(reason, m.ToAddr), "next_attempt_at", next.UTC().Format(time.RFC3339))
	return nil
}

// Backoff is the wait after a failed attempt number attempts (1, 2, ...):
// min(1h, 10s·2^(attempts-1)).
func Backoff(attempts int) time.Duration {
	d := 10 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

func (s *Sender) purpose(kind string) (ttl time.Duration, path string) {
	switch kind {
	case KindVerifyEmail:
		return s.o.VerifyTTL, s.o.VerifyPath
	case KindResetPassword:
		return s.o.ResetTTL, s.o.ResetPath
	default:
		return s.o.ChangeTTL, s.o.ChangePath
	}
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

// purgeBatch is how many rows one statement of Purge deletes at most.
const purgeBatch = 1000

// Purge deletes sent mails older than Retention and failed ones older
// than 30 days (session.Service.Purge deletes expired one-time tokens and
// idle mail_throttle rows), in batches of 1000 (SKIP LOCKED, so replicas may run it at once).
// Failures are logged and left for the next pass. Call it from the
// periodic purge loop.
func (s *Sender) Purge(ctx context.Context) {
	now := s.now()
	jobs := []struct {
		what string
		del  func(context.Context) (int64, error)
		once bool
	}{
		{"sent mails", func(ctx context.Context) (int64, error) {
			return s.q.DeleteOldMailWithStatus(ctx, db.DeleteOldMailWithStatusParams{Status: "sent", Cutoff: now.Add(-s.o.Retention), BatchSize: purgeBatch})
		}, false},
		{"failed mails", func(ctx context.Context) (int64, error) {
			return s.q.DeleteOldMailWithStatus(ctx, db.DeleteOldMailWithStatusParams{Status: "failed", Cutoff: now.Add(-failedRetention), BatchSize: purgeBatch})
		}, false},
	}
	for _, j := range jobs {
		total := int64(0)
		for ctx.Err() == nil {
			n, err := j.del(ctx)
			if err != nil {
				s.log.Warn("mail purge failed", "what", j.what, "error", err.Error())
				break
			}
			total += n
			if j.once || n < purgeBatch {
				break
			}
		}
		if total > 0 {
			s.log.Info("purged "+j.what, "count", total)
		}
	}
}
