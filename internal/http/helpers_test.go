package http

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/token"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// fixture is the whole API over a real database, with its parts at hand
// (kit's under the names these tests use).
type fixture struct {
	t      *testing.T
	kit    *sessiontest.Fixture
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
	MailLimit, LinkLimit, CodeLimit         *ratelimit.Limiter
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

// sessionOptions are the session options of d.
func (d testDeps) sessionOptions() session.Options {
	o := d.Options
	return session.Options{
		RefreshTTL: o.RefreshTTL, SessionLifetime: o.SessionLifetime, ReuseGrace: o.ReuseGrace,
		LoginFailureThreshold: o.LoginFailureThreshold, LoginLockBase: o.LoginLockBase, LoginLockMax: o.LoginLockMax,
		Mail: o.Mail, Verification: o.Verification, MailCooldown: o.MailCooldown, MailMaxPerHour: o.MailMaxPerHour,
		HideExisting: o.HideExisting, Passkeys: sessiontest.Defaults().Session.Passkeys,
	}
}

// server builds the API from d and its sessions, as cmd/authd does.
func (d testDeps) server(sessions *session.Service) http.Handler {
	o := d.Options
	return NewServer(Deps{
		Log: d.Log, Sessions: sessions, JWKS: d.Tokens.JWKS(), Metrics: d.Metrics,
		LoginLimit: d.LoginLimit, RegisterLimit: d.RegisterLimit, RefreshLimit: d.RefreshLimit,
		MailLimit: d.MailLimit, LinkLimit: d.LinkLimit, CodeLimit: d.CodeLimit, Ready: d.Ready, Now: d.Now,
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
	clk := testenv.NewClock()
	logs := &testenv.Buffer{}
	def := sessiontest.Defaults()
	d := testDeps{
		Log:     sessiontest.NewLogger(logs),
		Queries: db.New(pool),
		// Leeway 0: tokens expire on the second.
		Tokens: sessiontest.NewSigner(t, token.Options{AccessTTL: def.AccessTTL, RefreshTTL: def.Session.RefreshTTL, Now: clk.Now}),
		Hasher: sessiontest.NewHasher(t, sessiontest.HasherOptions()),
		Now:    clk.Now,
		Options: testOptions{
			AccessMaxAge:    15 * time.Minute,
			RefreshMaxAge:   time.Hour,
			RefreshTTL:      def.Session.RefreshTTL,
			SessionLifetime: def.Session.SessionLifetime,
			ReuseGrace:      def.Session.ReuseGrace,
			CookieSecure:    false,
			ClientOrigins:   []string{"http://localhost:3000"},
			DBTimeout:       def.DBTimeout,
			RequestTimeout:  10 * time.Second,
			IPv6Prefix:      64,
		},
	}
	d.dbPool = pool
	for _, e := range edit {
		e(&d)
	}
	k := sessiontest.New(t, func(o *sessiontest.Options) {
		o.Session, o.DBTimeout = d.sessionOptions(), d.Options.DBTimeout
		o.Pool, o.Clock = d.dbPool, clk
		o.Signer, o.Hasher, o.Log, o.Metrics = d.Tokens, d.Hasher, d.Log, d.Metrics
	})
	srv := httptest.NewServer(d.server(k.Service))
	t.Cleanup(srv.Close)
	return &fixture{t: t, kit: k, srv: srv, pool: pool, q: d.Queries, clock: clk, tokens: d.Tokens, logs: logs, deps: d}
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
// for user, sent to address to and valid for an hour, and returns the raw
// token.
func (f *fixture) mintToken(purpose string, user uuid.UUID, to string) string {
	f.t.Helper()
	return f.kit.Mint(f.t, onetime.Purpose(purpose), user, to, time.Hour)
}

// mails lists the outbox, newest first, of kind (all kinds if "") to
// address to (all addresses if "").
func (f *fixture) mails(kind, to string) []db.MailOutbox {
	f.t.Helper()
	return f.kit.Mails(f.t, kind, to)
}

// link is the sender at work on the newest mail of kind to address to: it
// mints that mail's token (an hour) and returns it.
func (f *fixture) link(kind, to string) string {
	f.t.Helper()
	return f.kit.Link(f.t, kind, to, time.Hour)
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
