package http

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var testKeys = sync.OnceValues(func() ([4]string, error) {
	var out [4]string
	for i := 0; i < 4; i += 2 {
		priv, pub, err := token.GenerateKey("ES256")
		if err != nil {
			return out, err
		}
		out[i], out[i+1] = base64.StdEncoding.EncodeToString(priv), base64.StdEncoding.EncodeToString(pub)
	}
	return out, nil
})

type fixture struct {
	t      *testing.T
	srv    *httptest.Server
	pool   *pgxpool.Pool
	q      *db.Queries
	clock  *testenv.Clock
	tokens *token.Signer
	logs   *testenv.Buffer
	deps   testDeps
}

// testDeps are the parts and settings a fixture builds its server from;
// a test may edit them before the server is built.
type testDeps struct {
	Log     *slog.Logger
	Queries *db.Queries
	Tokens  *token.Signer
	Hasher  *password.Hasher
	Metrics *metrics.Metrics
	Ready   func(context.Context) error
	Now     func() time.Time

	LoginLimit, RegisterLimit, RefreshLimit *ratelimit.Limiter
	MailLimit                               *ratelimit.Limiter
	Options                                 testOptions

	dbPool *pgxpool.Pool
}

// testOptions are the HTTP and session options in one place.
type testOptions struct {
	AccessMaxAge, RefreshMaxAge time.Duration
	RefreshTTL, SessionLifetime time.Duration
	ReuseGrace                  time.Duration
	CookieSecure                bool
	CookieDomain                string
	ClientOrigins               []string
	TrustedProxies              []netip.Prefix
	IPv6Prefix                  int
	DBTimeout, RequestTimeout   time.Duration
	RefusalDelay                time.Duration
	MetricsOnMainPort           bool

	LoginFailureThreshold       int
	LoginLockBase, LoginLockMax time.Duration

	// The account flows (session.Options and Options).
	Mail              bool
	Verification      session.Verification
	MailCooldown      time.Duration
	MailMaxPerHour    int
	HideExisting      bool
	AccountSelfDelete bool
}

// server builds the API from d, as cmd/authd does.
func (d testDeps) server() http.Handler {
	o := d.Options
	sessions := session.New(session.Deps{
		DB: d.dbPool, DBTimeout: o.DBTimeout, Tokens: d.Tokens, Hasher: d.Hasher,
		Log: d.Log, Metrics: d.Metrics, Now: d.Now,
	}, session.Options{
		RefreshTTL: o.RefreshTTL, SessionLifetime: o.SessionLifetime, ReuseGrace: o.ReuseGrace,
		LoginFailureThreshold: o.LoginFailureThreshold, LoginLockBase: o.LoginLockBase, LoginLockMax: o.LoginLockMax,
		Mail: o.Mail, Verification: o.Verification, MailCooldown: o.MailCooldown, MailMaxPerHour: o.MailMaxPerHour,
		HideExisting: o.HideExisting,
	})
	return NewServer(Deps{
		Log: d.Log, Sessions: sessions, JWKS: d.Tokens.JWKS(), Metrics: d.Metrics,
		LoginLimit: d.LoginLimit, RegisterLimit: d.RegisterLimit, RefreshLimit: d.RefreshLimit,
		MailLimit: d.MailLimit, Ready: d.Ready, Now: d.Now,
	}, Options{
		AccessMaxAge: o.AccessMaxAge, RefreshMaxAge: o.RefreshMaxAge,
		CookieSecure: o.CookieSecure, CookieDomain: o.CookieDomain,
		ClientOrigins: o.ClientOrigins, TrustedProxies: o.TrustedProxies, IPv6Prefix: o.IPv6Prefix,
		RequestTimeout: o.RequestTimeout, RefusalDelay: o.RefusalDelay, MetricsOnMainPort: o.MetricsOnMainPort,
		Mail: o.Mail, AccountSelfDelete: o.AccountSelfDelete,
	})
}

// newFixture serves the whole API over a fresh database. edit may change
// the options before the server is built.
func newFixture(t *testing.T, edit ...func(*testDeps)) *fixture {
	t.Helper()
	return newFixtureOn(t, dbtest.New(t), edit...)
}

// newFixtureOn is newFixture on a given database.
func newFixtureOn(t *testing.T, pool *pgxpool.Pool, edit ...func(*testDeps)) *fixture {
	t.Helper()
	keys, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	access, err := token.ParseKeySet(keys[0], keys[1], nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := token.ParseKeySet(keys[2], keys[3], nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock()
	signer, err := token.New(token.Options{
		Access: access, Refresh: refresh, Issuer: "authd-test", Audience: "authd-test",
		AccessTTL: 15 * time.Minute, RefreshTTL: time.Hour, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Cost: 4, Concurrency: 4, Queue: 64, Wait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	d := testDeps{
		Log:     slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Queries: db.New(pool),
		Tokens:  signer,
		Hasher:  hasher,
		Now:     clk.Now,
		Options: testOptions{
			AccessMaxAge:    15 * time.Minute,
			RefreshMaxAge:   time.Hour,
			RefreshTTL:      time.Hour,
			SessionLifetime: 7 * 24 * time.Hour,
			ReuseGrace:      10 * time.Second,
			CookieSecure:    false,
			ClientOrigins:   []string{"http://localhost:3000"},
			DBTimeout:       3 * time.Second,
			RequestTimeout:  10 * time.Second,
			IPv6Prefix:      64,
		},
	}
	d.dbPool = pool
	for _, e := range edit {
		e(&d)
	}
	srv := httptest.NewServer(d.server())
	t.Cleanup(srv.Close)
	return &fixture{t: t, srv: srv, pool: pool, q: d.Queries, clock: clk, tokens: signer, logs: logs, deps: d}
}

// client is a cookie-keeping HTTP client, like a browser or curl -c/-b.
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request; body is JSON-encoded unless it is a string (sent raw).
func (f *fixture) do(c *http.Client, method, path string, body any, headers ...string) reply {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if err := json.Unmarshal(raw, &r.body); err != nil && method != http.MethodHead {
		f.t.Errorf("%s %s: %d body is not a JSON object: %q", method, path, resp.StatusCode, raw)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		f.t.Errorf("%s %s: Content-Type = %q", method, path, ct)
	}
	return r
}

func (r reply) str(key string) string {
	s, _ := r.body[key].(string)
	return s
}

func (r reply) cookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// register creates a user and returns the request body it used.
func (f *fixture) register(c *http.Client, email string) map[string]string {
	f.t.Helper()
	body := map[string]string{
		"name": "Ada Lovelace", "email": email, "password": "correct horse",
		"passwordConfirm": "correct horse", "photo": "https://example.com/ada.png",
	}
	if r := f.do(c, "POST", "/api/auth/register", body); r.status != http.StatusCreated {
		f.t.Fatalf("register %s: %d %s", email, r.status, r.raw)
	}
	return body
}

// login logs in an already registered email, returning the reply.
func (f *fixture) login(c *http.Client, email string) reply {
	f.t.Helper()
	r := f.do(c, "POST", "/api/auth/login", map[string]string{"email": email, "password": "correct horse"})
	if r.status != http.StatusOK {
		f.t.Fatalf("login %s: %d %s", email, r.status, r.raw)
	}
	return r
}

// refreshWith calls refresh presenting exactly this refresh token.
func (f *fixture) refreshWith(tok string) reply {
	f.t.Helper()
	return f.do(nil, "POST", "/api/auth/refresh", nil, "Cookie", refreshCookie+"="+tok)
}

// mailOn turns mail on, with the defaults of MAIL_COOLDOWN and
// MAIL_MAX_PER_HOUR and no per-client mail limit.
func mailOn(d *testDeps) {
	d.Options.Mail = true
	d.Options.MailCooldown = time.Minute
	d.Options.MailMaxPerHour = 5
}

// mintToken stands in for the mail sender: it stores a token of purpose
// for user, sent to address to and valid for an hour, as the sender does
// (SHA-256 of 32 random bytes in base64url), and returns the raw token.
func (f *fixture) mintToken(purpose string, user uuid.UUID, to string) string {
	f.t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	raw := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(raw))
	now := f.clock.Now()
	if err := f.q.CreateOneTimeToken(f.t.Context(), db.CreateOneTimeTokenParams{
		TokenHash: h[:], Purpose: purpose, UserID: user, Email: to, Now: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		f.t.Fatalf("create token: %v", err)
	}
	return raw
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

// link is the sender at work on the newest mail of kind to address to: it
// mints that mail's token and returns it.
func (f *fixture) link(kind, to string) string {
	f.t.Helper()
	ms := f.mails(kind, to)
	if len(ms) == 0 {
		f.t.Fatalf("no %s mail to %s in the outbox", kind, to)
	}
	return f.mintToken(kind, ms[0].UserID.UUID, ms[0].ToAddr)
}

// userByEmail reads a user.
func (f *fixture) userByEmail(email string) db.User {
	f.t.Helper()
	u, err := f.q.GetUserByEmail(f.t.Context(), email)
	if err != nil {
		f.t.Fatalf("get user %s: %v", email, err)
	}
	return u
}
