package http

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/ratelimit"
)

// hold is one answer pace was asked to hold: its Retry-After and how long
// it was held.
type hold struct{ after, held time.Duration }

// paceLog records what pace decides for the requests of a watched server.
type paceLog struct {
	mu    sync.Mutex
	holds []hold
}

// take returns the holds recorded since the last take.
func (l *paceLog) take() []hold {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.holds
	l.holds = nil
	return h
}

// watchPace serves f's API once more (same database, hasher and settings)
// with every decision of pace recorded, and returns that fixture.
func watchPace(f *fixture) (*fixture, *paceLog) {
	l := &paceLog{}
	seen := func(after, held time.Duration) {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.holds = append(l.holds, hold{after, held})
	}
	api := f.deps.server(f.kit.Service)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pacedKey{}, seen)))
	}))
	f.t.Cleanup(srv.Close)
	g := *f
	g.srv = srv
	return &g, l
}

// busyFixture serves the API over f's database with one hashing slot and
// no queue, and a Compare that blocks until block is closed; entered is
// closed when the first compare has the slot.
func busyFixture(t *testing.T, f *fixture, edit func(*testDeps)) (g *fixture, entered, block chan struct{}) {
	entered, block = make(chan struct{}), make(chan struct{})
	var once sync.Once
	g = newFixtureOn(t, f.pool, func(d *testDeps) {
		h, err := password.New(password.Options{Cost: 4, Concurrency: 1, Queue: 0, Wait: time.Second,
			HashTime: 50 * time.Millisecond,
			Compare: func(hash, pw []byte) error {
				once.Do(func() { close(entered) })
				<-block
				return bcrypt.CompareHashAndPassword(hash, pw)
			}})
		if err != nil {
			t.Fatal(err)
		}
		d.Hasher = h
		if edit != nil {
			edit(d)
		}
	})
	return g, entered, block
}

// TestFastBusyRefusalHeld (issue 24 item 0): a request refused before any
// work because the hashing queue is full (login, reset, password check)
// is held by the pacer like every other busy 503: pace is asked to hold it
// with a positive Retry-After, and holds it. Before, the fast refusal
// carried no retry time and went at once.
func TestFastBusyRefusalHeld(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, _ := f.loginTokens("fast@example.com")
	g, entered, block := busyFixture(t, f, func(d *testDeps) { d.Options.RefusalDelay = time.Second })
	g, paced := watchPace(g)

	done := make(chan reply)
	go func() { done <- loginAs(g, "fast@example.com", "correct horse") }()
	<-entered // the only slot is taken, and nobody may wait
	paced.take()

	newPw := map[string]string{"password": "a new password", "passwordConfirm": "a new password"}
	reqs := []struct {
		name string
		do   func() reply
	}{
		{"login", func() reply { return loginAs(g, "fast@example.com", "correct horse") }},
		{"reset", func() reply { return g.do(nil, "PATCH", "/api/auth/resetpassword/sometoken", newPw) }},
		{"reset body", func() reply {
			return g.do(nil, "POST", "/api/auth/reset-password", map[string]string{"token": "sometoken", "password": "a new password", "passwordConfirm": "a new password"})
		}},
		{"change password", func() reply {
			return g.do(nil, "POST", "/api/users/me/password", map[string]string{"currentPassword": "correct horse", "password": "a new password", "passwordConfirm": "a new password"}, "Authorization", "Bearer "+access)
		}},
	}
	for _, rq := range reqs {
		r := rq.do()
		if r.status != http.StatusServiceUnavailable || r.str("code") != "busy" {
			t.Errorf("%s with hashing full: %d %s, want 503 busy", rq.name, r.status, r.raw)
			continue
		}
		holds := paced.take()
		if len(holds) != 1 || holds[0].after <= 0 || holds[0].held <= 0 {
			t.Errorf("%s: pace decided %v, want one hold with a positive Retry-After", rq.name, holds)
		}
	}
	close(block)
	if r := <-done; r.status != http.StatusOK {
		t.Errorf("the login holding the slot: %d", r.status)
	}
}

// TestBareBusyPaced: a busy error without a retry time still gets one, so
// that no busy 503 escapes the pacer.
func TestBareBusyPaced(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("POST", "/api/auth/login", nil)
	if e := apiErrorOf(r, nil, password.ErrBusy); e.status != http.StatusServiceUnavailable || e.retryAfter <= 0 {
		t.Errorf("bare ErrBusy: %d, retry after %s; want 503 with a retry time", e.status, e.retryAfter)
	}
}

// TestHeldRefusalSaysWhatRemains (issue 19 item 13): a refusal held by the
// pacer says in Retry-After what remains of its wait after the hold, not
// the whole of it, so that a client does not wait twice.
func TestHeldRefusalSaysWhatRemains(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.LoginLimit = ratelimit.New(1, 1, d.Now) // one login a minute: Retry-After 60 s
		d.Options.RefusalDelay = time.Second
	})
	f, paced := watchPace(f)
	loginAs(f, "remains@example.com", "password1")
	paced.take()
	r := loginAs(f, "remains@example.com", "password1")
	holds := paced.take()
	if r.status != http.StatusTooManyRequests || len(holds) != 1 || holds[0].held <= 0 {
		t.Fatalf("second login: %d, holds %v; want a held 429", r.status, holds)
	}
	want := strconv.Itoa(int(math.Ceil((holds[0].after - holds[0].held).Seconds())))
	if got := r.header.Get("Retry-After"); got != want {
		t.Errorf("Retry-After = %s after a hold of %s of %s, want what remains, %s", got, holds[0].held, holds[0].after, want)
	}
}

// TestRetryAfterRemaining: what remains is rounded up to whole seconds,
// and is at least 1.
func TestRetryAfterRemaining(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		after, held time.Duration
		want        string
	}{
		{60 * time.Second, 0, "60"},
		{60 * time.Second, time.Second, "59"},
		{60 * time.Second, 1500 * time.Millisecond, "59"},
		{1500 * time.Millisecond, 0, "2"},
		{2 * time.Second, 1900 * time.Millisecond, "1"},
		{200 * time.Millisecond, 200 * time.Millisecond, "1"},
		{time.Second, 3 * time.Second, "1"},
	} {
		if got := retryAfterHeader(tt.after, tt.held); got != tt.want {
			t.Errorf("retryAfterHeader(%s, held %s) = %s, want %s", tt.after, tt.held, got, tt.want)
		}
	}
}

// tokenRoutes are the API's operations ("METHOD /path") that carry a
// one-time token in the path, as the OpenAPI document lists them (a
// {token} or {code} parameter).
func tokenRoutes(t *testing.T) []string {
	var ops []string
	for _, op := range specOperations(loadSpec(t, openAPISpec)) {
		if strings.Contains(op, "{token}") || strings.Contains(op, "{code}") {
			ops = append(ops, op)
		}
	}
	if len(ops) < 2 {
		t.Fatalf("token routes in the spec: %v, want at least resetpassword and verifyemail", ops)
	}
	return ops
}

// TestTokenPathsNeverLogged (issue 19 item 4): a one-time token in the path
// never reaches the request log, whatever answers the request: the route
// (its pattern is logged), the CORS preflight, the mux's 405 for another
// method, its 404 for a path under the route, in another case, or its
// redirect for an unclean one.
func TestTokenPathsNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for n, route := range tokenRoutes(t) {
		routeMethod, path, _ := strings.Cut(route, " ")
		prefix := path[:strings.Index(path, "{")] // /api/auth/resetpassword/
		for i, rq := range []struct {
			name, method, prefix, suffix string
			headers                      []string
		}{
			{"preflight", "OPTIONS", prefix, "", []string{"Origin", "http://localhost:3000", "Access-Control-Request-Method", "PATCH"}},
			{"preflight, origin refused", "OPTIONS", prefix, "", []string{"Origin", "https://evil.example", "Access-Control-Request-Method", "PATCH"}},
			{"plain OPTIONS", "OPTIONS", prefix, "", nil},
			{"another method", "PUT", prefix, "", nil},
			{"the route's method", routeMethod, prefix, "", nil},
			{"under the route", "GET", prefix, "/more", nil},
			{"another case", "GET", strings.ToUpper(prefix[:5]) + prefix[5:], "", nil},
			{"route in another case", "GET", "/api/auth/" + strings.ToUpper(prefix[len("/api/auth/"):]), "", nil},
			{"unclean", "GET", strings.Replace(prefix, "/api/auth/", "/api/auth//", 1), "", nil},
		} {
			token := fmt.Sprintf("tok%sx%dx%d", strings.Repeat("x", 20), n, i)
			method := rq.method
			req, _ := http.NewRequest(method, f.srv.URL+rq.prefix+token+rq.suffix, nil)
			for i := 0; i+1 < len(rq.headers); i += 2 {
				req.Header.Set(rq.headers[i], rq.headers[i+1])
			}
			resp, err := noRedirect.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", method, req.URL, err)
			}
			resp.Body.Close()
			if strings.Contains(f.logs.String(), token) {
				t.Errorf("%s (%s: %s, answered %d): the token is in the log", route, rq.name, method, resp.StatusCode)
			}
		}
	}
	if !strings.Contains(f.logs.String(), `"msg":"request"`) {
		t.Fatal("no request lines logged")
	}
}

// TestPreflightAllowsPatch (issue 19 item 4): the tutorial's PATCH
// /api/auth/resetpassword/{token} works from a browser on an allowed
// origin: its preflight allows PATCH, with the JSON Content-Type.
func TestPreflightAllowsPatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	req, _ := http.NewRequest("OPTIONS", f.srv.URL+"/api/auth/resetpassword/sometoken", nil)
	req.Header.Set("Origin", "http://localhost:3000")
	req.Header.Set("Access-Control-Request-Method", "PATCH")
	req.Header.Set("Access-Control-Request-Headers", "content-type")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	methods := strings.Split(strings.ReplaceAll(resp.Header.Get("Access-Control-Allow-Methods"), " ", ""), ",")
	if resp.StatusCode != http.StatusNoContent || !slices.Contains(methods, "PATCH") ||
		!strings.Contains(strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers")), "content-type") {
		t.Errorf("preflight for PATCH: %d, Allow-Methods %q, Allow-Headers %q; want 204 allowing PATCH with Content-Type",
			resp.StatusCode, resp.Header.Get("Access-Control-Allow-Methods"), resp.Header.Get("Access-Control-Allow-Headers"))
	}
}

// TestTokenRoutesLimitedPerClient (issue 19 item 5, the per-client part):
// every route that uses a mailed link (both reset routes, which hash a
// password, and the verify and email-confirm routes) is limited per client
// address, in a limiter of their own (LinkLimit, IP_MAIL_*): past
// the burst, 429 with Retry-After before any work. Before, one reset token
// bought a hash per request. (TestMailLimit: they do not count in the
// bucket of the routes that ask for a mail.)
func TestTokenRoutesLimitedPerClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) {
		d.LinkLimit = ratelimit.New(1, 1, d.Now) // one a minute
		d.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	newPw := map[string]string{"password": "a new password", "passwordConfirm": "a new password"}
	for i, rq := range []struct {
		name, method, path string
		body               any
	}{
		{"reset", "PATCH", "/api/auth/resetpassword/sometoken", newPw},
		{"reset, token in the body", "POST", "/api/auth/reset-password", map[string]string{"token": "sometoken", "password": "a new password", "passwordConfirm": "a new password"}},
		{"verify", "GET", "/api/auth/verifyemail/somecode", nil},
		{"verify, code in the body", "POST", "/api/auth/verify-email", map[string]string{"code": "somecode"}},
		{"confirm an email change", "POST", "/api/auth/confirm-email-change", map[string]string{"token": "sometoken"}},
	} {
		client := fmt.Sprintf("203.0.113.%d", i+1) // a bucket of its own
		if r := f.do(nil, rq.method, rq.path, rq.body, "X-Forwarded-For", client); r.status != http.StatusBadRequest {
			t.Errorf("%s, first: %d %s, want 400 (a bad token)", rq.name, r.status, r.raw)
		}
		r := f.do(nil, rq.method, rq.path, rq.body, "X-Forwarded-For", client)
		if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
			t.Errorf("%s, second within the minute: %d %s, want 429 with Retry-After", rq.name, r.status, r.raw)
		}
	}
}

// TestLinkBucketsOwnLimiter (issue 18 item 9): the link routes' buckets
// are in a limiter of their own, so no client key of the mail routes can
// name one: a forged X-Forwarded-For hop "link 198.51.100.7" (a hop that
// is not an address is taken as written) behind a trusted proxy drains
// only its own mail bucket, and 198.51.100.7 still gets its link answer.
// Before, it landed in 198.51.100.7's link bucket of the shared limiter.
func TestLinkBucketsOwnLimiter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(d *testDeps) {
		d.MailLimit = ratelimit.New(1, 1, d.Now) // one a minute
		d.LinkLimit = ratelimit.New(1, 1, d.Now)
		d.Options.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	const victim = "198.51.100.7"
	if r := f.do(nil, "POST", "/api/auth/forgot-password", map[string]string{"email": "nobody@example.com"}, "X-Forwarded-For", "link "+victim); r.status != http.StatusOK {
		t.Fatalf("forged hop, mail route: %d %s, want 200", r.status, r.raw)
	}
	if r := f.do(nil, "GET", "/api/auth/verifyemail/somecode", nil, "X-Forwarded-For", victim); r.status != http.StatusBadRequest {
		t.Errorf("victim's first link: %d %s, want 400 (a bad code), not 429", r.status, r.raw)
	}
}
