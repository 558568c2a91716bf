package session_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// testPassword is the password of every user a fixture registers.
const testPassword = sessiontest.Password

// countingDB counts the statements sent through it, those of its
// transactions included (BEGIN and COMMIT are not statements here).
type countingDB struct {
	db.Pool
	calls atomic.Int64
}

func (c *countingDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.calls.Add(1)
	return c.Pool.Exec(ctx, sql, args...)
}

func (c *countingDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.calls.Add(1)
	return c.Pool.Query(ctx, sql, args...)
}

func (c *countingDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.calls.Add(1)
	return c.Pool.QueryRow(ctx, sql, args...)
}

func (c *countingDB) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := c.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, calls: &c.calls}, nil
}

// countingTx counts the statements of one transaction in its countingDB.
type countingTx struct {
	pgx.Tx
	calls *atomic.Int64
}

func (c countingTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c.calls.Add(1)
	return c.Tx.Exec(ctx, sql, args...)
}

func (c countingTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.calls.Add(1)
	return c.Tx.Query(ctx, sql, args...)
}

func (c countingTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c.calls.Add(1)
	return c.Tx.QueryRow(ctx, sql, args...)
}

// config is what a fixture is built from; a test may edit it.
type config struct {
	Options   session.Options
	Hasher    password.Options
	AccessTTL time.Duration
	Leeway    time.Duration
	DBTimeout time.Duration
	Pool      *pgxpool.Pool  // nil: a fresh database from dbtest.New
	Clock     *testenv.Clock // nil: a new one at the current second
	foreign   bool           // sign with the spare keys
}

func defaultConfig() config {
	d := sessiontest.Defaults()
	return config{Options: d.Session, Hasher: sessiontest.HasherOptions(), AccessTTL: d.AccessTTL, Leeway: d.Leeway,
		DBTimeout: d.DBTimeout}
}

// fixture is a Service over a real database, with its parts at hand (those
// of kit under the names these tests use).
type fixture struct {
	kit    *sessiontest.Fixture
	t      *testing.T
	pool   *pgxpool.Pool
	q      *db.Queries // the tests' own look-ups, bound like the service's
	stmts  *countingDB // every statement the service sends
	clock  *testenv.Clock
	tokens *token.Signer
	hasher *password.Hasher
	svc    *session.Service
	cfg    config
}

func newFixture(t *testing.T, edit ...func(*config)) *fixture {
	t.Helper()
	cfg := defaultConfig()
	for _, e := range edit {
		e(&cfg)
	}
	pool := cfg.Pool
	if pool == nil {
		pool = dbtest.New(t)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = testenv.NewClock()
	}
	stmts := &countingDB{Pool: pool}
	k := sessiontest.New(t, func(o *sessiontest.Options) {
		o.Session, o.DBTimeout = cfg.Options, cfg.DBTimeout
		o.Pool, o.DB, o.Clock = pool, stmts, clk
		o.Signer = newSigner(t, cfg, clk)
		o.Hasher = sessiontest.NewHasher(t, cfg.Hasher)
		o.Log = slog.New(slog.DiscardHandler) // no test here reads it
	})
	return &fixture{kit: k, t: t, pool: k.Pool, q: k.Queries, stmts: stmts, clock: k.Clock, tokens: k.Signer,
		hasher: k.Hasher, svc: k.Service, cfg: cfg}
}

// newSigner is a signer by cfg's token settings on clk.
func newSigner(t *testing.T, cfg config, clk *testenv.Clock) *token.Signer {
	t.Helper()
	o := token.Options{AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.Options.RefreshTTL, Leeway: cfg.Leeway, Now: clk.Now}
	if cfg.foreign {
		o.Access, o.Refresh = sessiontest.ForeignKeys(t)
	}
	return sessiontest.NewSigner(t, o)
}

// user registers an account with testPassword.
func (f *fixture) user(email string) db.User { f.t.Helper(); return f.kit.User(f.t, email) }

// start starts a session of user without a password.
func (f *fixture) start(user uuid.UUID) session.Tokens {
	f.t.Helper()
	toks, err := f.svc.Start(f.t.Context(), user, session.Client{UserAgent: "test", Addr: "192.0.2.1"})
	if err != nil {
		f.t.Fatalf("start: %v", err)
	}
	return toks
}

// rotate rotates refresh and fails the test on error.
func (f *fixture) rotate(refresh string) session.Tokens {
	f.t.Helper()
	toks, err := f.svc.Rotate(f.t.Context(), refresh)
	if err != nil {
		f.t.Fatalf("rotate: %v", err)
	}
	return toks
}

// claims verifies a refresh token.
func (f *fixture) claims(refresh string) token.Claims {
	f.t.Helper()
	c, err := f.tokens.Verify(token.Refresh, refresh)
	if err != nil {
		f.t.Fatalf("verify refresh token: %v", err)
	}
	return c
}

// sid is the session of a valid refresh token.
func (f *fixture) sid(refresh string) uuid.UUID {
	f.t.Helper()
	return f.claims(refresh).Session
}

// session reads the row of session id.
func (f *fixture) session(id uuid.UUID) db.Session {
	f.t.Helper()
	s, err := f.q.GetSession(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("get session: %v", err)
	}
	return s
}

// reason reads sessions.revoked_reason of id: "" while it is NULL.
func (f *fixture) reason(id uuid.UUID) string {
	f.t.Helper()
	var r *string
	if err := f.pool.QueryRow(f.t.Context(), "SELECT revoked_reason FROM sessions WHERE id = $1", id).Scan(&r); err != nil {
		f.t.Fatalf("revoked_reason of %s: %v", id, err)
	}
	if r == nil {
		return ""
	}
	return *r
}

// alive reports whether Authenticate admits access.
func (f *fixture) alive(access string) bool {
	f.t.Helper()
	_, err := f.svc.Authenticate(f.t.Context(), access)
	if err != nil && !errors.Is(err, session.ErrInvalid) {
		f.t.Fatalf("authenticate: %v", err)
	}
	return err == nil
}

// mailOn turns mail on with the defaults of MAIL_COOLDOWN and
// MAIL_MAX_PER_HOUR.
func mailOn(c *config) {
	c.Options.Mail = true
	c.Options.MailCooldown = time.Minute
	c.Options.MailMaxPerHour = 5
}

// mintToken stands in for the mail sender: it stores a token of purpose
// for user, sent to email and valid for ttl, and returns the raw token.
func (f *fixture) mintToken(purpose string, user uuid.UUID, email string, ttl time.Duration) string {
	f.t.Helper()
	return f.kit.Mint(f.t, onetime.Purpose(purpose), user, email, ttl)
}

// tokenExists reports whether raw is still stored.
func (f *fixture) tokenExists(raw string) bool { f.t.Helper(); return f.kit.TokenExists(f.t, raw) }

// mails lists the outbox, newest first, of kind (all kinds if "") to
// address to (all addresses if "").
func (f *fixture) mails(kind, to string) []db.MailOutbox {
	f.t.Helper()
	return f.kit.Mails(f.t, kind, to)
}

// link is the sender at work on the newest mail of kind to address to:
// it mints that mail's token (15 minutes) and returns it.
func (f *fixture) link(kind, to string) string {
	f.t.Helper()
	return f.kit.Link(f.t, kind, to, 15*time.Minute)
}

// userByID reads a user.
func (f *fixture) userByID(id uuid.UUID) db.User {
	f.t.Helper()
	u, err := f.q.GetUserByID(f.t.Context(), id)
	if err != nil {
		f.t.Fatalf("get user: %v", err)
	}
	return u
}
