package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	authhttp "github.com/authd/authd/internal/http"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/password/policy"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/token"
	"github.com/authd/authd/internal/totp"
	"github.com/authd/authd/internal/webhook"
	"github.com/authd/authd/sql/schema"
)

// purgeEvery is how often each replica deletes long-dead sessions.
const purgeEvery = 10 * time.Minute

// baseProcs is GOMAXPROCS as the process started with it.
var baseProcs = sync.OnceValue(func() int { return runtime.GOMAXPROCS(0) })

// app is the service: its handlers and what must run and stop with them.
type app struct {
	api      front        // the API port's handler
	metrics  http.Handler // nil: no metrics listener
	m        *metrics.Metrics
	signer   *token.Signer
	hasher   *password.Hasher
	mfaKeys  *totp.Keys       // nil: MFA_ENCRYPTION_KEYS unset
	sessions *session.Service // nil until connect
	sender   *mail.Sender     // nil until connect, or with mail off
	webhooks webhook.Config   // WEBHOOKS_FILE
	hooks    *webhook.Sender  // nil until connect, or without endpoints
	pool     *pgxpool.Pool    // nil until connect
	draining atomic.Bool
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return reqlog.Logger(slog.New(slog.NewTextHandler(w, opts)))
	}
	return reqlog.Logger(slog.New(slog.NewJSONHandler(w, opts)))
}

// prepare builds what needs no database: keys, the password hasher and the
// metrics. What fails here is configuration, and stops the start at once.
func prepare(cfg config.Config) (*app, error) {
	m := metrics.New()
	signer, err := newSigner(cfg, m.Signed)
	if err != nil {
		return nil, err
	}
	hashOpts := password.Options{
		Cost: cfg.BcryptCost, Concurrency: cfg.HashConcurrency, Queue: cfg.HashQueue, Wait: cfg.HashWait, Reserved: cfg.ReservedHashSlots(),
		RequestTimeout: cfg.RequestTimeout, Nice: cfg.HashNice, OnWait: m.HashWait,
	}
	hasher, err := password.New(hashOpts)
	if err != nil {
		return nil, err
	}
	if extra := password.ExtraProcs(hashOpts); extra > 0 {
		// From the process's own setting (GOMAXPROCS, else the usable
		// CPUs), so that building twice in one process adds it once.
		runtime.GOMAXPROCS(baseProcs() + extra)
	}
	mfaKeys, err := newMFAKeys(cfg)
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.Load(cfg.WebhooksFile)
	if err != nil {
		return nil, err
	}
	a := &app{m: m, signer: signer, hasher: hasher, mfaKeys: mfaKeys, webhooks: hooks}
	if cfg.Metrics() == config.MetricsListener {
		a.metrics = metricsMux(m, cfg.Pprof)
	}
	return a, nil
}

// connect waits for the database (migrating it first if asked), then builds
// the sessions and the HTTP handlers on the pool and puts them behind a.api.
// The caller closes a.pool once connect has succeeded.
func (a *app) connect(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) error {
	pool, err := awaitDatabase(ctx, cfg, log, migrate)
	if err != nil {
		return err
	}
	a.pool = pool
	poolGauges(a.m, pool)
	a.sessions = session.New(session.Deps{
		DB: pool, DBTimeout: cfg.DBTimeout,
		Tokens: a.signer, Hasher: a.hasher, Log: log, Metrics: a.m, MFAKeys: a.mfaKeys,
		Webhooks: webhooksOf(a.webhooks),
	}, sessionOptions(cfg))
	if len(a.webhooks.Endpoints) > 0 {
		a.hooks, err = webhook.NewSender(pool, a.webhooks, webhook.Options{
			Timeout: cfg.WebhookTimeout, PollInterval: cfg.WebhookPollInterval, DBTimeout: cfg.DBTimeout,
			Listen: true, Log: log, Metrics: a.m,
		})
		if err != nil {
			pool.Close()
			a.pool = nil
			return err
		}
	}
	if cfg.MailOn() {
		// Built even without MAIL_WORKER, so that a broken template
		// directory stops the start.
		if a.sender, err = newSender(cfg, pool, log, a.m); err != nil {
			pool.Close()
			a.pool = nil
			return err
		}
	}
	a.api.serve(authhttp.NewServer(authhttp.Deps{
		Log:           log,
		Sessions:      a.sessions,
		JWKS:          a.signer.JWKS(),
		Metrics:       a.m,
		LoginLimit:    ratelimit.New(cfg.IPLoginPerMinute, cfg.IPLoginBurst, nil),
		RegisterLimit: ratelimit.New(cfg.IPRegisterPerMinute, cfg.IPRegisterBurst, nil),
		RefreshLimit:  ratelimit.New(cfg.IPRefreshPerMinute, cfg.IPRefreshBurst, nil),
		MailLimit:     ratelimit.New(cfg.IPMailPerMinute, cfg.IPMailBurst, nil),
		LinkLimit:     ratelimit.New(cfg.IPMailPerMinute, cfg.IPMailBurst, nil),
		CodeLimit:     ratelimit.New(cfg.IPLoginPerMinute, cfg.IPLoginBurst, nil),
		Ready:         readiness(pool, &a.draining),
	}, authhttp.Options{
		AccessMaxAge:      cfg.AccessMaxAge,
		RefreshMaxAge:     cfg.RefreshMaxAge,
		CookieSecure:      cfg.CookieSecure,
		CookieDomain:      cfg.CookieDomain,
		ClientOrigins:     cfg.ClientOrigins,
		TrustedProxies:    cfg.TrustedProxies,
		IPv6Prefix:        cfg.IPv6Prefix,
		IPv6SitePrefix:    cfg.IPv6SitePrefix,
		RequestTimeout:    cfg.RequestTimeout,
		RefusalDelay:      cfg.RefusalDelay,
		MetricsOnMainPort: cfg.Metrics() == config.MetricsMainPort,
		Mail:              cfg.MailOn(),
		AccountSelfDelete: cfg.AccountSelfDelete,
	}))
	return nil
}

// sessionOptions are the session service's settings, the same for serve
// and the operator's commands.
func sessionOptions(cfg config.Config) session.Options {
	return session.Options{
		RefreshTTL:            cfg.RefreshTTL,
		SessionLifetime:       cfg.SessionLifetime,
		ReuseGrace:            cfg.ReuseGrace,
		LoginFailureThreshold: cfg.LoginFailureThreshold,
		LoginLockBase:         cfg.LoginLockBase,
		LoginLockMax:          cfg.LoginLockMax,
		Mail:                  cfg.MailOn(),
		Verification:          session.Verification(cfg.EmailVerification),
		MailCooldown:          cfg.MailCooldown,
		MailMaxPerHour:        cfg.MailMaxPerHour,
		HideExisting:          cfg.RegisterHideExisting,
		Passwords:             passwordPolicy(cfg),
		MFAIssuer:             cfg.MFAIssuer,
		EventRetention:        cfg.EventRetention,
		NewDeviceMail:         cfg.NewDeviceMail,
		RoleClaim:             cfg.AccessTokenRoleClaim,
		Passkeys: session.PasskeyOptions{
			RPID: cfg.WebAuthnRPID, RPName: cfg.WebAuthnRPName, Origins: cfg.WebAuthnOrigins,
			RefuseCounterRegression: cfg.WebAuthnCounterRegression == "refuse",
		},
	}
}

// passwordPolicy is the policy of new passwords (PASSWORD_*).
func passwordPolicy(cfg config.Config) *policy.Policy {
	o := policy.Options{MinLen: cfg.PasswordMinLength, Blocklist: cfg.PasswordBlocklist}
	if cfg.PasswordBreachCheck {
		o.Ranges = policy.NewRanges(cfg.PasswordBreachURL, cfg.PasswordBreachTimeout)
	}
	return policy.New(o)
}

// newMFAKeys parses MFA_ENCRYPTION_KEYS; nil when unset (no TOTP).
func newMFAKeys(cfg config.Config) (*totp.Keys, error) {
	if cfg.MFAEncryptionKeys == "" {
		return nil, nil
	}
	k, err := totp.ParseKeys(cfg.MFAEncryptionKeys)
	if err != nil {
		return nil, fmt.Errorf("MFA_ENCRYPTION_KEYS: %w", err)
	}
	return k, nil
}

// Back-off between start-up tries to reach the database: doubling from
// the first to the longest, each randomised to between half and all of it
// so that replicas started together do not knock in step.
const (
	firstRetry   = 200 * time.Millisecond
	longestRetry = 5 * time.Second
)

// awaitDatabase migrates the database (if asked) and opens the pool. While
// the database is unavailable (db.ErrUnavailable: unreachable, starting,
// out of connections, another migrator holding the lock too long) it tries
// again with back-off for DB_STARTUP_WAIT, logging each failure at warn; any
// other error (a refused password, an unknown database, a failed or dirty
// migration, a transaction pooler as the migration URL) is returned at once,
// as retrying cannot mend it. Errors name the host, user and database, never
// the password.
func awaitDatabase(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*pgxpool.Pool, error) {
	start := time.Now()
	delay := firstRetry
	for try := 1; ; try++ {
		pool, err := connectOnce(ctx, cfg, log, migrate)
		if err == nil {
			if try > 1 {
				log.Info("database reachable", "tries", try, "waited", time.Since(start).Round(time.Millisecond).String())
			}
			return pool, nil
		}
		if ctx.Err() != nil || !errors.Is(err, db.ErrUnavailable) {
			return nil, err
		}
		left := cfg.DBStartupWait - time.Since(start)
		if left <= 0 {
			return nil, fmt.Errorf("database not reachable within DB_STARTUP_WAIT (%s, %d tries): %w", cfg.DBStartupWait, try, err)
		}
		wait := min(delay/2+rand.N(delay/2+1), left)
		log.Warn("database not reachable; trying again", "try", try, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		delay = min(2*delay, longestRetry)
	}
}

// connectOnce is one try of awaitDatabase.
func connectOnce(ctx context.Context, cfg config.Config, log *slog.Logger, migrate bool) (*pgxpool.Pool, error) {
	if migrate {
		mctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		err := db.MigrateUpAdopting(mctx, migrationURL(cfg), adoption(cfg, logAdoption(log)))
		cancel()
		if err != nil {
			return nil, explainPooled(cfg, err)
		}
	}
	return db.Connect(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: cfg.DBMaxConns, Timeout: cfg.DBTimeout})
}

// migrationURL is where migrations run: MIGRATE_DATABASE_URL, else DATABASE_URL.
func migrationURL(cfg config.Config) string {
	if cfg.MigrateDatabaseURL != "" {
		return cfg.MigrateDatabaseURL
	}
	return cfg.DatabaseURL
}

// explainPooled says what to do about a db.ErrPooled; other errors pass.
func explainPooled(cfg config.Config, err error) error {
	if !errors.Is(err, db.ErrPooled) {
		return err
	}
	name := "DATABASE_URL"
	if cfg.MigrateDatabaseURL != "" {
		name = "MIGRATE_DATABASE_URL"
	}
	return fmt.Errorf("%s cannot be used to migrate: %w\n"+
		"set MIGRATE_DATABASE_URL to a direct connection to PostgreSQL or a session-mode pool "+
		"(docs/operations.md, Behind PgBouncer)", name, err)
}

// front is the API port's handler. Until connect puts the service behind
// it, the process is live but not ready and internal/http's Starting
// answers. The service is built only once its pool exists, so no request
// can reach a handler without a database.
type front struct{ svc atomic.Pointer[http.Handler] }

func (f *front) serve(h http.Handler) { f.svc.Store(&h) }

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := f.svc.Load(); h != nil {
		(*h).ServeHTTP(w, r)
		return
	}
	authhttp.Starting().ServeHTTP(w, r) // only while starting: cheap enough
}

// purgeMail deletes old outbox rows, with mail on.
func (a *app) purgeMail(ctx context.Context) {
	if a.sender != nil {
		a.sender.Purge(ctx)
	}
}

// purgeWebhooks deletes old delivery rows, with webhooks on.
func (a *app) purgeWebhooks(ctx context.Context) {
	if a.hooks != nil {
		a.hooks.Purge(ctx)
	}
}

// webhooksOf is session.Deps.Webhooks for c: nil without endpoints.
func webhooksOf(c webhook.Config) func(string) []string {
	if len(c.Endpoints) == 0 {
		return nil
	}
	return c.Wants
}

// errMailOff is newMailTransport's error with MAIL_TRANSPORT=off.
var errMailOff = errors.New("MAIL_TRANSPORT is off")

// newMailTransport is the transport of MAIL_TRANSPORT, the same for serve
// and the operator's commands: SMTP, or the log (written to log).
func newMailTransport(cfg config.Config, log *slog.Logger) (mail.Transport, error) {
	if !cfg.MailOn() {
		return nil, errMailOff
	}
	switch cfg.MailTransport {
	case "smtp":
		return mail.NewSMTP(mail.SMTPOptions{Host: cfg.SMTPHost, Port: cfg.SMTPPort, Username: cfg.SMTPUser,
			Password: cfg.SMTPPass, TLS: cfg.SMTPTLS, Timeout: cfg.SMTPTimeout})
	case "log":
		return mail.NewLog(log), nil
	}
	return nil, fmt.Errorf("MAIL_TRANSPORT %q", cfg.MailTransport)
}

// tokenTTLs are the one-time token lifetimes by purpose: the variable
// that sets each (for messages) and its field of Config.
var tokenTTLs = map[onetime.Purpose]struct {
	name string
	of   func(config.Config) time.Duration
}{
	onetime.VerifyEmail:   {"VERIFY_TOKEN_TTL", func(c config.Config) time.Duration { return c.VerifyTokenTTL }},
	onetime.ResetPassword: {"RESET_TOKEN_TTL", func(c config.Config) time.Duration { return c.ResetTokenTTL }},
	onetime.ChangeEmail:   {"EMAIL_CHANGE_TOKEN_TTL", func(c config.Config) time.Duration { return c.EmailChangeTokenTTL }},
}

// tokenLifetimes are the one-time token lifetimes of cfg, by purpose:
// the sender's and the outbox's.
func tokenLifetimes(cfg config.Config) onetime.Lifetimes {
	l := make(onetime.Lifetimes, len(tokenTTLs))
	for p, t := range tokenTTLs {
		l[p] = t.of(cfg)
	}
	return l
}

// newSender builds the mail transport and the outbox sender.
func newSender(cfg config.Config, pool *pgxpool.Pool, log *slog.Logger, m *metrics.Metrics) (*mail.Sender, error) {
	tr, err := newMailTransport(cfg, log)
	if err != nil {
		return nil, err
	}
	return mail.NewSender(pool, tr, mail.SenderOptions{
		From: cfg.EmailFrom, FromName: cfg.EmailFromName,
		LinkBase: cfg.EmailLinkBase, VerifyPath: cfg.EmailVerifyPath, ResetPath: cfg.PasswordResetPath,
		ChangePath: cfg.EmailChangePath, ForgotPath: cfg.ForgotPasswordPath, Tokens: onetime.New(onetime.Options{Lifetimes: tokenLifetimes(cfg)}),
		TemplatesDir: cfg.MailTemplatesDir, PollInterval: cfg.MailPollInterval, MaxAttempts: cfg.MailMaxAttempts,
		Retention: cfg.MailRetention, SendTimeout: cfg.SMTPTimeout, DBTimeout: cfg.DBTimeout,
		Listen: true, Log: log, Metrics: m,
	})
}

func newSigner(cfg config.Config, onSign func()) (*token.Signer, error) {
	access, err := token.ParseKeySet(cfg.AccessPrivateKey, cfg.AccessPublicKey, cfg.AccessVerifyKeys)
	if err != nil {
		return nil, fmt.Errorf("access token keys: %w", err)
	}
	refresh, err := token.ParseKeySet(cfg.RefreshPrivateKey, cfg.RefreshPublicKey, cfg.RefreshVerifyKeys)
	if err != nil {
		return nil, fmt.Errorf("refresh token keys: %w", err)
	}
	if err := refresh.Retire(cfg.RefreshRetiredKeys); err != nil {
		return nil, fmt.Errorf("refresh token keys: %w", err)
	}
	s, err := token.New(token.Options{
		Access: access, Refresh: refresh, Issuer: cfg.Issuer, Audience: cfg.Audience,
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL, Leeway: cfg.Leeway,
		RefreshJWT: cfg.RefreshFormat == "jwt", OnSign: onSign,
	})
	if errors.Is(err, token.ErrSameKeys) {
		return nil, errors.New("invalid configuration:\nREFRESH_TOKEN_PRIVATE_KEY: must be a different key from ACCESS_TOKEN_PRIVATE_KEY")
	}
	return s, err
}

// poolGauges publishes the connection pool's figures at each scrape.
func poolGauges(m *metrics.Metrics, pool *pgxpool.Pool) {
	stat := func(f func(*pgxpool.Stat) float64) func() float64 {
		return func() float64 { return f(pool.Stat()) }
	}
	m.Gauge("authd_db_pool_acquired_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }))
	m.Gauge("authd_db_pool_idle_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }))
	m.Gauge("authd_db_pool_total_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }))
	m.Gauge("authd_db_pool_max_conns", stat(func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }))
	m.Gauge("authd_db_pool_acquires", stat(func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }))
	m.Gauge("authd_db_pool_empty_acquires", stat(func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }))
	m.Gauge("authd_db_pool_acquire_wait_seconds", stat(func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }))
}

// readiness: not draining, database answering, schema at least this build's version.
func readiness(pool *pgxpool.Pool, draining *atomic.Bool) func(context.Context) error {
	return func(ctx context.Context) error {
		if draining.Load() {
			return errors.New("shutting down")
		}
		v, dirty, err := db.SchemaVersion(ctx, pool)
		if err != nil {
			return err
		}
		// A newer schema is fine: migrations are additive (expand, then
		// contract a release later), so old replicas keep serving during a
		// rolling upgrade.
		if dirty || v < schema.Version {
			return fmt.Errorf("schema version %d (dirty %v), want at least %d", v, dirty, schema.Version)
		}
		return nil
	}
}

// metricsMux is the private listener's handler: /metrics and, with pprof,
// Go's profiles. A CPU profile or trace runs for its ?seconds=, longer
// than the listener's write timeout, so those get up to two minutes.
func metricsMux(m *metrics.Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", authhttp.MetricsHandler(m))
	if withPprof {
		long := func(h http.HandlerFunc) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(2 * time.Minute))
				h(w, r)
			}
		}
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", long(pprof.Profile))
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", long(pprof.Trace))
	}
	return mux
}
