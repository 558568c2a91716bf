package session_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// testPassword is the password of every user a fixture registers.
const testPassword = "correct horse"

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

// keyPair is a PEM private and public key.
type keyPair struct{ private, public string }

// testKeys are an access and a refresh key pair, made once per binary
// (index 0 and 1) and a spare pair for a foreign signer (index 2 and 3).
var testKeys = sync.OnceValues(func() ([4]keyPair, error) {
	var out [4]keyPair
	for i := range out {
		priv, pub, err := token.GenerateKey("ES256")
		if err != nil {
			return out, err
		}
		out[i] = keyPair{string(priv), string(pub)}
	}
	return out, nil
})

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
	return config{
		Options: session.Options{
			RefreshTTL:      time.Hour,
			SessionLifetime: 7 * 24 * time.Hour,
			ReuseGrace:      10 * time.Second,
		},
		Hasher:    password.Options{Cost: 4, Concurrency: 4, Queue: 64, Wait: 5 * time.Second},
		AccessTTL: 15 * time.Minute,
		// The default of TOKEN_LEEWAY: a token just past its expiry still
		// verifies, so the session's own checks in the database are what
		// refuse it.
		Leeway:    5 * time.Second,
		DBTimeout: 3 * time.Second,
	}
}

// fixture is a Service over a real database, with its parts at hand.
type fixture struct {
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
	signer := newSigner(t, cfg, clk)
	hasher, err := password.New(cfg.Hasher)
	if err != nil {
		t.Fatal(err)
	}
	stmts := &countingDB{Pool: pool}
	svc := session.New(session.Deps{
		DB: stmts, DBTimeout: cfg.DBTimeout, Tokens: signer, Hasher: hasher,
		Log: slog.New(slog.DiscardHandler), Now: clk.Now,
	}, cfg.Options)
	return &fixture{t: t, pool: pool, q: db.New(db.Bound(pool, cfg.DBTimeout)), stmts: stmts, clock: clk, tokens: signer,
		hasher: hasher, svc: svc, cfg: cfg}
}

func newSigner(t *testing.T, cfg config, clk *testenv.Clock) *token.Signer {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.foreign {
		keys[0], keys[1] = keys[2], keys[3]
	}
	access, err := token.ParseKeySet(keys[0].private, keys[0].public, nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := token.ParseKeySet(keys[1].private, keys[1].public, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := token.New(token.Options{
		Access: access, Refresh: refresh, Issuer: "authd-test", Audience: "authd-test",
		AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.Options.RefreshTTL, Leeway: cfg.Leeway, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// user registers an account with testPassword.
func (f *fixture) user(email string) db.User {
	f.t.Helper()
	su, err := f.svc.Register(f.t.Context(), session.Registration{Name: "Test User", Email: email, Password: testPassword, PasswordConfirm: testPassword})
	if err != nil {
		f.t.Fatalf("register %s: %v", email, err)
	}
	return su.User
}

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
// for user, sent to email and valid for ttl, as the sender does (SHA-256
// of 32 random bytes in base64url), and returns the raw token.
func (f *fixture) mintToken(purpose string, user uuid.UUID, email string, ttl time.Duration) string {
	f.t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	raw := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(raw))
	now := f.clock.Now()
	if err := f.q.CreateOneTimeToken(f.t.Context(), db.CreateOneTimeTokenParams{
		TokenHash: h[:], Purpose: purpose, UserID: user, Email: email, Now: now, ExpiresAt: now.Add(ttl),
	}); err != nil {
		f.t.Fatalf("create token: %v", err)
	}
	return raw
}

// tokenExists reports whether raw is still stored.
func (f *fixture) tokenExists(raw string) bool {
	f.t.Helper()
	h := sha256.Sum256([]byte(raw))
	var n int
	if err := f.pool.QueryRow(f.t.Context(), "SELECT count(*) FROM one_time_tokens WHERE token_hash = $1", h[:]).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n > 0
}

// mails lists the outbox, newest first, of kind (all kinds if "") to
// address to (all addresses if "").
func (f *fixture) mails(kind, to string) []db.MailOutbox {
	f.t.Helper()
	all, err := f.q.ListMail(f.t.Context(), db.ListMailParams{MaxRows: 10000})
	if err != nil {
		f.t.Fatalf("list mail: %v", err)
	}
	var out []db.MailOutbox
	for _, m := range all {
		if (kind == "" || m.Kind == kind) && (to == "" || m.ToAddr == to) {
			out = append(out, m)
		}
	}
	return out
}

// link is the sender at work on the newest mail of kind to address to:
// it mints that mail's token (15 minutes) and returns it.
func (f *fixture) link(kind, to string) string {
	f.t.Helper()
	ms := f.mails(kind, to)
	if len(ms) == 0 {
		f.t.Fatalf("no %s mail to %s in the outbox", kind, to)
	}
	return f.mintToken(kind, ms[0].UserID.UUID, ms[0].ToAddr, 15*time.Minute)
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
