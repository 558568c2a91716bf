package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
)

// SenderOptions configure a Sender. The caller passes every setting:
// the defaults live in authd's settings table, not here.
type SenderOptions struct {
	From     string // EMAIL_FROM
	FromName string // EMAIL_FROM_NAME; also .Product in templates

	LinkBase   string // EMAIL_LINK_BASE: scheme://host[:port]
	VerifyPath string // EMAIL_VERIFY_PATH, with {token} once
	ResetPath  string // PASSWORD_RESET_PATH, with {token} once
	ChangePath string // EMAIL_CHANGE_PATH, with {token} once
	// ForgotPath is FORGOT_PASSWORD_PATH: the frontend's forgot-password
	// page after LinkBase, which new_device mails link to; "" links to
	// LinkBase itself.
	ForgotPath string

	// Tokens mints the links' tokens, each valid for its purpose's
	// lifetime there; it needs one for every token kind.
	Tokens *onetime.Store

	TemplatesDir string // MAIL_TEMPLATES_DIR: overrides, parsed by NewSender

	PollInterval time.Duration // MAIL_POLL_INTERVAL
	MaxAttempts  int           // MAIL_MAX_ATTEMPTS
	Retention    time.Duration // MAIL_RETENTION: sent mails; failed ones stay 30 days
	SendTimeout  time.Duration // SMTP_TIMEOUT: the lease is twice this plus twice DBTimeout
	DBTimeout    time.Duration // DB_TIMEOUT, per statement

	// Listen turns on LISTEN authd_mail on one connection of the pool
	// (which must then be a *pgxpool.Pool). Polling runs either way.
	Listen bool

	Log     *slog.Logger     // nil: discard
	Metrics *metrics.Metrics // may be nil
	Now     func() time.Time // nil: time.Now; tests move it to expire leases and backoffs
}

// Sender sends the outbox's mails. Several senders, in one process or
// many, may share a database: each mail is claimed by one at a time.
type Sender struct {
	pool   db.Pool
	q      *db.Queries
	t      Transport
	tpl    *Templates
	tokens *onetime.Store
	o      SenderOptions
	log    *slog.Logger
	now    func() time.Time

	lease  time.Duration
	domain string // of From, for Message-IDs
}

// NewSender checks o, parses the templates and returns a sender that
// delivers through t. It starts nothing: call Run.
func NewSender(pool db.Pool, t Transport, o SenderOptions) (*Sender, error) {
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
	if o.FromName == "" {
		return nil, errors.New("mail sender: no from name")
	}
	if o.LinkBase == "" {
		return nil, errors.New("mail sender: no link base")
	}
	for _, p := range []string{o.VerifyPath, o.ResetPath, o.ChangePath} {
		if strings.Count(p, "{token}") != 1 {
			return nil, fmt.Errorf("mail sender: link path %q must contain {token} once", p)
		}
	}
	if o.ForgotPath != "" && (!strings.HasPrefix(o.ForgotPath, "/") || strings.Contains(o.ForgotPath, "{token}")) {
		return nil, fmt.Errorf("mail sender: forgot-password path %q must start with / and hold no {token}", o.ForgotPath)
	}
	if o.Tokens == nil {
		return nil, errors.New("mail sender: no token store")
	}
	for _, k := range Kinds() {
		if IsTokenKind(k) && o.Tokens.Lifetime(onetime.Purpose(k)) <= 0 {
			return nil, fmt.Errorf("mail sender: no token lifetime for %s", k)
		}
	}
	if o.PollInterval <= 0 || o.MaxAttempts <= 0 || o.Retention <= 0 || o.SendTimeout <= 0 || o.DBTimeout <= 0 {
		return nil, fmt.Errorf("mail sender: poll interval %s, max attempts %d, retention %s, send timeout %s and database timeout %s must all be positive",
			o.PollInterval, o.MaxAttempts, o.Retention, o.SendTimeout, o.DBTimeout)
	}
	if o.Listen {
		if !db.CanListen(pool) {
			return nil, errors.New("mail sender: Listen needs a *pgxpool.Pool")
		}
	}
	tpl, err := LoadTemplates(o.TemplatesDir)
	if err != nil {
		return nil, err
	}
	return &Sender{
		pool: pool, q: db.New(db.Bound(pool, o.DBTimeout)), t: t, tpl: tpl, tokens: o.Tokens, o: o, log: o.Log, now: o.Now,
		lease:  2*o.SendTimeout + 2*o.DBTimeout,
		domain: strings.ToLower(o.From[at+1:]),
	}, nil
}
