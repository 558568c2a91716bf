package http

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/metrics"
	"github.com/authd/authd/internal/session"
)

// loadSpec parses the embedded document and validates it as OpenAPI 3.1.
func loadSpec(t *testing.T, data []byte) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi.yaml declares OpenAPI %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3.1 document: %v", err)
	}
	return doc
}

// specOperations lists the document's operations as mux patterns.
func specOperations(doc *openapi3.T) []string {
	var ops []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			ops = append(ops, method+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(NewServer(Deps{Log: slog.New(slog.DiscardHandler)}, Options{}))
	t.Cleanup(srv.Close)
	// Not f.do: this one answer is YAML.
	resp, err := http.Get(srv.URL + "/api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/openapi.yaml: %d %s", resp.StatusCode, body)
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/yaml",
		"Cache-Control":          "public, max-age=300",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := resp.Header.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !bytes.Equal(body, openAPISpec) {
		t.Fatalf("served %d bytes, not the embedded document (%d bytes)", len(body), len(openAPISpec))
	}
	doc := loadSpec(t, body)
	if len(doc.Paths.Map()) == 0 || doc.Components == nil || len(doc.Components.SecuritySchemes) != 3 {
		t.Errorf("document lacks paths or the three security schemes")
	}
}

// routePattern finds the patterns registered in routes.go.
var routePattern = regexp.MustCompile(`mux\.Handle(?:Func)?\("([A-Z]+) ([^"]+)"`)

func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t, openAPISpec)
	src, err := os.ReadFile("routes.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range routePattern.FindAllStringSubmatch(string(src), -1) {
		routes = append(routes, m[1]+" "+m[2])
	}
	if n := strings.Count(string(src), "mux.Handle"); n != len(routes) || n < 10 {
		t.Fatalf("routes.go registers %d routes, %d of them as \"METHOD /path\" literals this test can read", n, len(routes))
	}
	slices.Sort(routes)
	ops := specOperations(doc)
	for _, r := range routes {
		if !slices.Contains(ops, r) {
			t.Errorf("route %q is in routes.go but not in openapi.yaml", r)
		}
	}
	for _, op := range ops {
		if !slices.Contains(routes, op) {
			t.Errorf("operation %q is in openapi.yaml but not in routes.go", op)
		}
	}

	// And the mux really routes each operation's path to that pattern.
	mux := http.NewServeMux()
	addRoutes(mux, Deps{}, Options{MetricsOnMainPort: true, Mail: true, AccountSelfDelete: true})
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		concrete := strings.NewReplacer("{id}", "0b6f7c1e-8f59-4a57-9a4c-7f0e1a3f0c11",
			"{token}", "ILETxx8sSLFnTsq96grp", "{code}", "tCWinpd2ul7RkbNbEcvO").Replace(path)
		if _, pattern := mux.Handler(httptest.NewRequest(method, concrete, nil)); pattern != op {
			t.Errorf("%s %s is routed to %q, want %q", method, concrete, pattern, op)
		}
	}
}

// specCheck validates live request and response pairs against the document.
type specCheck struct {
	t      *testing.T
	doc    *openapi3.T
	router routers.Router
	opts   *openapi3filter.Options
	base   string
	seen   map[string]bool // operations exercised, as "METHOD /path"
}

func newSpecCheck(t *testing.T, base string) *specCheck {
	t.Helper()
	doc := loadSpec(t, openAPISpec)
	doc.Servers = nil // match paths on any host, here the test server's
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specCheck{
		t: t, doc: doc, router: router, base: base, seen: map[string]bool{},
		opts: &openapi3filter.Options{
			IncludeResponseStatus: true, // a status the operation does not document fails
			MultiError:            true,
			AuthenticationFunc:    credentialPresent,
		},
	}
}

// credentialPresent satisfies a security scheme when the request carries
// its credential; whether it is valid is the server's business.
func credentialPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r, ss := in.RequestValidationInput.Request, in.SecurityScheme
	switch {
	case ss.Type == "http" && strings.EqualFold(ss.Scheme, "bearer"):
		if scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") && tok != "" {
			return nil
		}
		return errors.New("no Bearer token")
	case ss.Type == "apiKey" && ss.In == "cookie":
		if c, err := r.Cookie(ss.Name); err == nil && c.Value != "" {
			return nil
		}
		return fmt.Errorf("no %s cookie", ss.Name)
	}
	return fmt.Errorf("security scheme %s is not checked by this test", in.SecuritySchemeName)
}

// exchange is one request as sent (cookies from the jar included) and the
// response to it.
type exchange struct {
	name   string
	req    *http.Request
	body   []byte
	status int
	header http.Header
	raw    []byte
}

func (x exchange) json() map[string]any {
	var m map[string]any
	json.Unmarshal(x.raw, &m)
	return m
}

func (x exchange) setCookie(name string) *http.Cookie {
	for _, c := range (&http.Response{Header: x.header}).Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// recorder keeps the request as the client really sent it.
type recorder struct{ last *http.Request }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.last = req
	return http.DefaultTransport.RoundTrip(req)
}

// send makes one request with the jar's cookies (jar may be nil); headers
// are name, value pairs.
func (s *specCheck) send(name string, jar http.CookieJar, method, path, body string, headers ...string) exchange {
	s.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := &recorder{}
	c := &http.Client{
		Jar: jar, Transport: rec, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Do(req)
	if err != nil {
		s.t.Fatalf("%s: %s %s: %v", name, method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("%s: %s %s: %v", name, method, path, err)
	}
	return exchange{name: name, req: rec.last, body: []byte(body), status: resp.StatusCode, header: resp.Header, raw: raw}
}

// expect sends a request, checks its status and validates the pair.
func (s *specCheck) expect(status int, name string, jar http.CookieJar, method, path, body string, headers ...string) exchange {
	s.t.Helper()
	x := s.send(name, jar, method, path, body, headers...)
	if x.status != status {
		s.t.Errorf("%s: %s %s answered %d, want %d: %s", name, method, path, x.status, status, x.raw)
	}
	if err := s.validate(x); err != nil {
		s.t.Errorf("%s: %s %s → %d does not match openapi.yaml:\n%v\nresponse body: %s", name, method, path, x.status, err, x.raw)
	}
	return x
}

// checkedHeaders are answered only where the document says so.
var checkedHeaders = []string{"Set-Cookie", "Retry-After", "WWW-Authenticate", "Allow", "Cache-Control"}

// validate checks x against the document: an accepted (2xx) request must be
// one the document describes; every response must have a status the
// operation documents, a body matching its schema, its required headers,
// and none of checkedHeaders that it does not document. A path the document
// does not have must get RouteNotFound, a method it does not have
// MethodNotAllowed.
func (s *specCheck) validate(x exchange) error {
	ctx := context.Background()
	req := x.req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(x.body))
	route, params, err := s.router.FindRoute(req)
	documented := err == nil
	if err != nil {
		var re *routers.RouteError
		if !errors.As(err, &re) {
			return err
		}
		fallback := map[string]string{
			routers.ErrPathNotFound.Error():     "RouteNotFound",
			routers.ErrMethodNotAllowed.Error(): "MethodNotAllowed",
		}[re.Reason]
		if fallback == "" {
			return err
		}
		want := map[string]int{"RouteNotFound": http.StatusNotFound, "MethodNotAllowed": http.StatusMethodNotAllowed}[fallback]
		route = &routers.Route{Spec: s.doc, Path: req.URL.Path, Method: req.Method, Operation: &openapi3.Operation{
			Responses: openapi3.NewResponses(openapi3.WithStatus(want, s.doc.Components.Responses[fallback])),
		}}
	} else {
		s.seen[route.Method+" "+route.Path] = true
	}

	var errs []error
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: s.opts}
	if documented && x.status >= 200 && x.status < 300 {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			errs = append(errs, fmt.Errorf("the request was accepted but the document does not allow it: %w", err))
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: x.status, Header: x.header, Options: s.opts}
	out.SetBodyBytes(x.raw)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		errs = append(errs, err)
	}
	if ref := route.Operation.Responses.Status(x.status); ref != nil && ref.Value != nil {
		errs = append(errs, s.checkHeaders(ref.Value, x.header)...)
	}
	return errors.Join(errs...)
}

// checkHeaders refuses a checked header the response does not document, and
// validates the further values of a repeated one: kin-openapi checks only
// the first (Set-Cookie comes three times).
func (s *specCheck) checkHeaders(resp *openapi3.Response, h http.Header) []error {
	var errs []error
	for _, name := range checkedHeaders {
		values := h.Values(name)
		if len(values) == 0 {
			continue
		}
		doc := resp.Headers[name]
		if doc == nil || doc.Value == nil {
			errs = append(errs, fmt.Errorf("response header %s: %q is not documented for this status", name, values))
			continue
		}
		if doc.Value.Schema == nil || doc.Value.Schema.Value == nil {
			continue
		}
		for _, v := range values[1:] {
			if err := s.doc.ValidateSchemaJSON(doc.Value.Schema.Value, v, openapi3.EnableJSONSchema2020()); err != nil {
				errs = append(errs, fmt.Errorf("response header %s: %q: %w", name, v, err))
			}
		}
	}
	return errs
}

func TestOpenAPILiveResponses(t *testing.T) {
	t.Parallel()
	var draining atomic.Bool
	f := newFixture(t, func(d *testDeps) {
		d.Metrics = metrics.New()
		d.Options.MetricsOnMainPort = true
		d.Options.LoginFailureThreshold = 2
		d.Options.LoginLockBase = time.Minute
		d.Options.LoginLockMax = time.Hour
		d.Options.Mail = true
		d.Ready = func(context.Context) error {
			if draining.Load() {
				return errors.New("draining")
			}
			return nil
		}
	})
	s := newSpecCheck(t, f.srv.URL)
	asJSON := []string{"Content-Type", "application/json"}
	post := func(status int, name string, jar http.CookieJar, path, body string, headers ...string) exchange {
		t.Helper()
		return s.expect(status, name, jar, "POST", path, body, append(slices.Clone(asJSON), headers...)...)
	}
	browser, _ := cookiejar.New(nil)
	authURL, _ := url.Parse(f.srv.URL + "/api/auth/refresh")
	refreshInJar := func() string {
		for _, c := range browser.Cookies(authURL) {
			if c.Name == refreshCookie {
				return c.Value
			}
		}
		t.Fatal("no refresh_token cookie in the jar")
		return ""
	}
	const (
		ada   = `{"name":"Ada Lovelace","email":"ada@example.com","password":"password123","passwordConfirm":"password123","photo":"https://example.com/ada.png"}`
		login = `{"email":"ada@example.com","password":"password123"}`
	)

	// Registration.
	post(201, "register", nil, "/api/auth/register", ada)
	post(201, "register without photo", nil, "/api/auth/register",
		`{"name":"Grace Hopper","email":"grace@example.com","password":"password123","passwordConfirm":"password123"}`)
	post(201, "register with the tutorial's photo", nil, "/api/auth/register",
		`{"name":"Alan Turing","email":"alan@example.com","password":"password123","passwordConfirm":"password123","photo":"default.png"}`)
	post(400, "register with a script photo", nil, "/api/auth/register",
		`{"name":"Eve","email":"eve@example.com","password":"password123","passwordConfirm":"password123","photo":"javascript:alert(1)"}`)
	post(409, "register again", nil, "/api/auth/register", ada)
	post(400, "unknown field", nil, "/api/auth/register", `{"name":"Ada","email":"x@example.com","password":"password123","passwordConfirm":"password123","role":"admin"}`)
	post(400, "passwords differ", nil, "/api/auth/register", `{"name":"Ada","email":"x@example.com","password":"password123","passwordConfirm":"password124"}`)
	post(400, "not JSON", nil, "/api/auth/register", `{"name":`)
	s.expect(415, "form body", nil, "POST", "/api/auth/register", "name=Ada", "Content-Type", "application/x-www-form-urlencoded")
	s.expect(415, "no content type", nil, "POST", "/api/auth/register", ada)
	post(413, "huge body", nil, "/api/auth/register", `{"name":"`+strings.Repeat("a", 70<<10)+`"}`)

	// Login.
	post(403, "cross-site login", nil, "/api/auth/login", login, "Origin", "https://evil.example")
	post(200, "login in a browser", browser, "/api/auth/login", login)
	x := post(200, "login for a token", nil, "/api/auth/login", login, "X-Request-Id", "flow-1")
	if got := x.header.Get("X-Request-Id"); got != "flow-1" {
		t.Errorf("X-Request-Id = %q, want the request's flow-1", got)
	}
	token, _ := x.json()["access_token"].(string)
	post(400, "wrong password", nil, "/api/auth/login", `{"email":"ada@example.com","password":"wrong password"}`)
	post(400, "login without password", nil, "/api/auth/login", `{"email":"ada@example.com"}`)
	for range 2 {
		post(400, "unknown email", nil, "/api/auth/login", `{"email":"nobody@example.com","password":"password123"}`)
	}
	post(429, "locked email", nil, "/api/auth/login", `{"email":"nobody@example.com","password":"password123"}`)

	// The current user and sessions.
	s.expect(200, "me by Bearer", nil, "GET", "/api/users/me", "", "Authorization", "Bearer "+token)
	s.expect(200, "me by cookie", browser, "GET", "/api/users/me", "")
	s.expect(401, "me without a token", nil, "GET", "/api/users/me", "")
	s.expect(401, "me with a bad token", nil, "GET", "/api/users/me", "", "Authorization", "Bearer not.a.token")
	s.expect(401, "sessions without a token", nil, "GET", "/api/users/me/sessions", "")
	x = s.expect(200, "sessions", browser, "GET", "/api/users/me/sessions", "")
	var other string
	data, _ := x.json()["data"].(map[string]any)
	sessions, _ := data["sessions"].([]any)
	for _, v := range sessions {
		if m, _ := v.(map[string]any); m["current"] == false {
			other, _ = m["id"].(string)
		}
	}
	if len(sessions) != 2 || other == "" {
		t.Fatalf("want two sessions, one not current: %s", x.raw)
	}
	s.expect(404, "delete an unknown session", browser, "DELETE", "/api/users/me/sessions/0b6f7c1e-8f59-4a57-9a4c-7f0e1a3f0c11", "")
	s.expect(404, "delete a non-UUID", browser, "DELETE", "/api/users/me/sessions/nope", "")
	s.expect(200, "delete the token's session", browser, "DELETE", "/api/users/me/sessions/"+other, "")
	// The deletion is a session.revoked event of ada's.
	x = s.expect(200, "security events", browser, "GET", "/api/users/me/security-events?limit=1", "")
	if d, _ := x.json()["data"].(map[string]any); d["next_before"] == nil {
		t.Errorf("a full page of security events has no next_before: %s", x.raw)
	}
	s.expect(400, "security events, limit 0", browser, "GET", "/api/users/me/security-events?limit=0", "")
	s.expect(401, "security events without a token", nil, "GET", "/api/users/me/security-events", "")
	s.expect(401, "me by a revoked token", nil, "GET", "/api/users/me", "", "Authorization", "Bearer "+token)

	// Refresh.
	s.expect(200, "refresh by GET", browser, "GET", "/api/auth/refresh", "")
	s.expect(200, "refresh by POST", browser, "POST", "/api/auth/refresh", "")
	s.expect(403, "refresh without a cookie", nil, "POST", "/api/auth/refresh", "")
	s.expect(415, "refresh with a form", browser, "POST", "/api/auth/refresh", "a=b", "Content-Type", "application/x-www-form-urlencoded")

	// Logout.
	s.expect(400, "logout with an unknown scope", browser, "POST", "/api/auth/logout?scope=everything", "")
	x = post(200, "login on a phone", nil, "/api/auth/login", login)
	phone, _ := x.json()["access_token"].(string)
	x = s.expect(200, "log out the others", nil, "POST", "/api/auth/logout?scope=others", "", "Authorization", "Bearer "+phone)
	if x.setCookie(accessCookie) != nil {
		t.Error("scope=others cleared the caller's cookies")
	}
	x = s.expect(200, "logout in the browser", browser, "GET", "/api/auth/logout", "")
	if c := x.setCookie(refreshCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("logout did not clear the refresh cookie: %v", c)
	}
	s.expect(200, "log out everywhere", nil, "POST", "/api/auth/logout?scope=all", "", "Authorization", "Bearer "+phone)
	s.expect(200, "logout without a token", nil, "GET", "/api/auth/logout?scope=current", "")

	// Reuse detection: a rotated refresh token presented after the grace.
	post(200, "login again", browser, "/api/auth/login", login)
	old := refreshInJar()
	s.expect(200, "rotate", browser, "POST", "/api/auth/refresh", "")
	s.expect(200, "the old token within the grace", nil, "POST", "/api/auth/refresh", "", "Cookie", refreshCookie+"="+old)
	f.clock.Advance(time.Minute)
	x = s.expect(403, "the old token after the grace", nil, "POST", "/api/auth/refresh", "", "Cookie", refreshCookie+"="+old)
	if x.setCookie(refreshCookie) == nil {
		t.Error("reuse detection did not clear the cookies")
	}
	s.expect(403, "refresh of a revoked session", browser, "POST", "/api/auth/refresh", "")

	// Verification with it off: resend, and a code from elsewhere (an admin's).
	post(200, "resend verification", nil, "/api/auth/resend-verification", `{"email":"grace@example.com"}`)

	// Password reset.
	const flo = `{"name":"Flo","email":"flo@example.com","password":"password123","passwordConfirm":"password123"}`
	post(201, "register for the flows", nil, "/api/auth/register", flo)
	post(200, "forgot password", nil, "/api/auth/forgotpassword", `{"email":"flo@example.com"}`)
	post(200, "forgot password of an unknown address", nil, "/api/auth/forgot-password", `{"email":"nobody@example.com"}`)
	post(400, "forgot password of a non-address", nil, "/api/auth/forgotpassword", `{"email":"not-an-email"}`)
	s.expect(415, "forgot password as a form", nil, "POST", "/api/auth/forgotpassword", "email=flo@example.com", "Content-Type", "application/x-www-form-urlencoded")
	reset := f.link("reset_password", "flo@example.com")
	newPassword := `{"password":"new password 1","passwordConfirm":"new password 1"}`
	s.expect(400, "reset with passwords that differ", nil, "PATCH", "/api/auth/resetpassword/"+reset,
		`{"password":"new password 1","passwordConfirm":"new password 2"}`, asJSON...)
	s.expect(400, "reset with a bad token", nil, "PATCH", "/api/auth/resetpassword/ILETxx8sSLFnTsq96grp", newPassword, asJSON...)
	s.expect(403, "cross-site reset", nil, "PATCH", "/api/auth/resetpassword/"+reset, newPassword,
		append(slices.Clone(asJSON), "Origin", "https://evil.example")...)
	x = s.expect(200, "reset", nil, "PATCH", "/api/auth/resetpassword/"+reset, newPassword, asJSON...)
	if c := x.setCookie(accessCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("reset did not clear the access cookie: %v", c)
	}
	post(400, "reset by POST with a used token", nil, "/api/auth/reset-password",
		`{"token":"`+reset+`","password":"new password 2","passwordConfirm":"new password 2"}`)
	post(400, "reset by POST without a token", nil, "/api/auth/reset-password", newPassword)
	reset = f.mintToken("reset_password", f.userByEmail("flo@example.com").ID, "flo@example.com")
	post(200, "reset by POST", nil, "/api/auth/reset-password",
		`{"token":"`+reset+`","password":"new password 2","passwordConfirm":"new password 2"}`)

	// Password change.
	x = post(200, "login for the flows", nil, "/api/auth/login", `{"email":"flo@example.com","password":"new password 2"}`)
	floToken, _ := x.json()["access_token"].(string)
	bearer := []string{"Authorization", "Bearer " + floToken}
	change := func(current, pw, confirm string) string {
		return `{"currentPassword":"` + current + `","password":"` + pw + `","passwordConfirm":"` + confirm + `"}`
	}
	post(401, "change password without a token", nil, "/api/users/me/password", change("new password 2", "new password 3", "new password 3"))
	post(400, "change password, wrong current", nil, "/api/users/me/password", change("wrong password", "new password 3", "new password 3"), bearer...)
	post(400, "change password to the same", nil, "/api/users/me/password", change("new password 2", "new password 2", "new password 2"), bearer...)
	post(400, "change password, confirmation differs", nil, "/api/users/me/password", change("new password 2", "new password 3", "new password 4"), bearer...)
	post(200, "change password", nil, "/api/users/me/password", change("new password 2", "new password 3", "new password 3"), bearer...)

	// Email change.
	post(401, "change email without a token", nil, "/api/users/me/email", `{"email":"flo@new.example.com","currentPassword":"new password 3"}`)
	post(400, "change email, wrong password", nil, "/api/users/me/email", `{"email":"flo@new.example.com","currentPassword":"wrong"}`, bearer...)
	post(400, "change email to the same", nil, "/api/users/me/email", `{"email":"flo@example.com","currentPassword":"new password 3"}`, bearer...)
	post(400, "change email to a non-address", nil, "/api/users/me/email", `{"email":"flo","currentPassword":"new password 3"}`, bearer...)
	post(202, "change email to a taken address", nil, "/api/users/me/email", `{"email":"grace@example.com","currentPassword":"new password 3"}`, bearer...)
	post(202, "change email", nil, "/api/users/me/email", `{"email":"flo@new.example.com","currentPassword":"new password 3"}`, bearer...)
	link := f.link("change_email", "flo@new.example.com")
	post(400, "confirm with a bad token", nil, "/api/auth/confirm-email-change", `{"token":"nope"}`)
	floID := f.userByEmail("flo@example.com").ID
	post(409, "confirm for a taken address", nil, "/api/auth/confirm-email-change", `{"token":"`+f.mintToken("change_email", floID, "grace@example.com")+`"}`)
	post(200, "confirm", nil, "/api/auth/confirm-email-change", `{"token":"`+link+`"}`)

	// The second factor.
	liveMFA(s, f)
	livePasskeys(s, f)

	// Health, keys, metrics and this document.
	s.expect(200, "healthchecker", nil, "GET", "/api/healthchecker", "")
	s.expect(200, "liveness", nil, "GET", "/healthz", "")
	s.expect(200, "readiness", nil, "GET", "/readyz", "")
	draining.Store(true)
	s.expect(503, "readiness while draining", nil, "GET", "/readyz", "")
	s.expect(503, "healthchecker while draining", nil, "GET", "/api/healthchecker", "")
	s.expect(200, "jwks", nil, "GET", "/.well-known/jwks.json", "")
	s.expect(200, "metrics", nil, "GET", "/metrics", "")
	s.expect(200, "openapi", nil, "GET", "/api/openapi.yaml", "")

	// Outside the routes.
	s.expect(404, "unknown route", nil, "GET", "/api/nope", "")
	s.expect(405, "wrong method", nil, "DELETE", "/api/users/me", "")
	s.expect(405, "wrong method on an auth route", nil, "PUT", "/api/auth/login", login, asJSON...)

	// Email verification, required: another server.
	g := newFixture(t, func(d *testDeps) {
		d.Options.Mail = true
		d.Options.Verification = session.VerificationRequired
		d.Options.AccountSelfDelete = true
	})
	sg := newSpecCheck(t, g.srv.URL)
	gpost := func(status int, name string, jar http.CookieJar, path, body string, headers ...string) exchange {
		t.Helper()
		return sg.expect(status, name, jar, "POST", path, body, append(slices.Clone(asJSON), headers...)...)
	}
	x = gpost(201, "register with verification", nil, "/api/auth/register", ada)
	if got := x.json()["message"]; got != "We sent an email with a verification code to ada@example.com" {
		t.Errorf("register with verification: message %q", got)
	}
	gpost(400, "unverified login with a wrong password", nil, "/api/auth/login", `{"email":"ada@example.com","password":"wrong password"}`)
	x = gpost(403, "unverified login", nil, "/api/auth/login", login)
	if x.json()["code"] != "email_not_verified" {
		t.Errorf("unverified login: %s", x.raw)
	}
	gpost(200, "resend verification", nil, "/api/auth/resend-verification", `{"email":"ada@example.com"}`)
	gpost(400, "resend verification to a non-address", nil, "/api/auth/resend-verification", `{"email":"@"}`)
	code := g.link("verify_email", "ada@example.com")
	sg.expect(400, "verify with a bad code", nil, "GET", "/api/auth/verifyemail/tCWinpd2ul7RkbNbEcvO", "")
	sg.expect(403, "cross-site verify", nil, "GET", "/api/auth/verifyemail/"+code, "", "Sec-Fetch-Site", "cross-site")
	sg.expect(200, "verify", nil, "GET", "/api/auth/verifyemail/"+code, "")
	sg.expect(400, "verify again", nil, "GET", "/api/auth/verifyemail/"+code, "")
	adaID := g.userByEmail("ada@example.com").ID
	gpost(409, "verify a verified address", nil, "/api/auth/verify-email", `{"code":"`+g.mintToken("verify_email", adaID, "ada@example.com")+`"}`)
	gpost(400, "verify by POST without a code", nil, "/api/auth/verify-email", `{"code":""}`)
	gpost(201, "register another", nil, "/api/auth/register", strings.ReplaceAll(ada, "ada@", "ida@"))
	gpost(200, "verify by POST", nil, "/api/auth/verify-email", `{"code":"`+g.link("verify_email", "ida@example.com")+`"}`)
	x = gpost(200, "verified login", nil, "/api/auth/login", login)
	token, _ = x.json()["access_token"].(string)
	x = sg.expect(200, "me, verified", nil, "GET", "/api/users/me", "", "Authorization", "Bearer "+token)
	if u, _ := x.json()["data"].(map[string]any)["user"].(map[string]any); u["verified"] != true {
		t.Errorf("me after verification: %s", x.raw)
	}

	// Account deletion (on for this server).
	del := func(pw string) string { return `{"currentPassword":"` + pw + `"}` }
	adaBearer := []string{"Authorization", "Bearer " + token}
	sg.expect(401, "delete me without a token", nil, "DELETE", "/api/users/me", del("password123"), asJSON...)
	sg.expect(400, "delete me, wrong password", nil, "DELETE", "/api/users/me", del("wrong"), append(slices.Clone(asJSON), adaBearer...)...)
	sg.expect(415, "delete me without JSON", nil, "DELETE", "/api/users/me", del("password123"), adaBearer...)
	if _, err := g.q.SetUserRole(t.Context(), db.SetUserRoleParams{ID: adaID, Role: "admin", Now: g.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	sg.expect(409, "delete the last admin", nil, "DELETE", "/api/users/me", del("password123"), append(slices.Clone(asJSON), adaBearer...)...)
	if _, err := g.q.SetUserRole(t.Context(), db.SetUserRoleParams{ID: g.userByEmail("ida@example.com").ID, Role: "admin", Now: g.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	x = sg.expect(200, "delete me", nil, "DELETE", "/api/users/me", del("password123"), append(slices.Clone(asJSON), adaBearer...)...)
	if c := x.setCookie(accessCookie); c == nil || c.MaxAge >= 0 {
		t.Errorf("delete me did not clear the cookies: %v", c)
	}
	sg.expect(401, "me after the deletion", nil, "GET", "/api/users/me", "", adaBearer...)

	// Registration that hides taken addresses: a third server.
	h := newFixture(t, func(d *testDeps) {
		d.Options.Mail = true
		d.Options.Verification = session.VerificationOptional
		d.Options.HideExisting = true
	})
	sh := newSpecCheck(t, h.srv.URL)
	first := sh.expect(201, "register, hiding", nil, "POST", "/api/auth/register", ada, asJSON...)
	again := sh.expect(201, "register a taken address, hiding", nil, "POST", "/api/auth/register", ada, asJSON...)
	if string(first.raw) != string(again.raw) {
		t.Errorf("hiding: a new address got %s, a taken one %s", first.raw, again.raw)
	}

	for _, other := range []*specCheck{sg, sh} {
		for op := range other.seen {
			s.seen[op] = true
		}
	}
	for _, op := range specOperations(s.doc) {
		if !s.seen[op] {
			t.Errorf("%s is in openapi.yaml but this test never called it", op)
		}
	}
}

// TestOpenAPIValidatorRejectsDrift shows that the check above is not
// vacuous: answers that differ from the document fail it.
func TestOpenAPIValidatorRejectsDrift(t *testing.T) {
	t.Parallel()
	s := newSpecCheck(t, "http://authd.test")
	user := `{"id":"0b6f7c1e-8f59-4a57-9a4c-7f0e1a3f0c11","name":"Ada","email":"ada@example.com","role":"user","provider":"local","created_at":"2026-11-23T18:00:00Z","updated_at":"2026-11-23T18:00:00Z","verified":false,"mfa_enabled":false,"aal":1}`
	hdr := func(kv ...string) http.Header {
		h := http.Header{"Content-Type": {"application/json; charset=utf-8"}, "X-Request-Id": {"abc"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "" {
				h.Del(kv[i])
				continue
			}
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	me := func() *http.Request {
		r := httptest.NewRequest("GET", "http://authd.test/api/users/me", nil)
		r.Header.Set("Authorization", "Bearer a.b.c")
		return r
	}
	const loginBody = `{"email":"ada@example.com","password":"password123"}`
	loginReq := httptest.NewRequest("POST", "http://authd.test/api/auth/login", strings.NewReader(loginBody))
	loginReq.Header.Set("Content-Type", "application/json")
	good := exchange{req: me(), status: 200, header: hdr("Cache-Control", "no-store"), raw: []byte(`{"status":"success","data":{"user":` + user + `}}`)}
	if err := s.validate(good); err != nil {
		t.Fatalf("a conforming answer fails: %v", err)
	}
	bad := map[string]exchange{
		"an undocumented field": {req: me(), status: 200, header: hdr("Cache-Control", "no-store"),
			raw: []byte(`{"status":"success","data":{"user":` + strings.Replace(user, `"role"`, `"admin":true,"role"`, 1) + `}}`)},
		"a missing field": {req: me(), status: 200, header: hdr("Cache-Control", "no-store"),
			raw: []byte(`{"status":"success","data":{"user":` + strings.Replace(user, `"email":"ada@example.com",`, "", 1) + `}}`)},
		"an undocumented status": {req: me(), status: http.StatusTeapot, header: hdr(),
			raw: []byte(`{"status":"fail","message":"teapot","code":"internal"}`)},
		"a missing X-Request-Id": {req: me(), status: 200, header: hdr("Cache-Control", "no-store", "X-Request-Id", ""),
			raw: []byte(`{"status":"success","data":{"user":` + user + `}}`)},
		"a 401 without WWW-Authenticate": {req: me(), status: 401, header: hdr(),
			raw: []byte(`{"status":"fail","message":"You are not logged in","code":"not_logged_in"}`)},
		"a 401 with another code": {req: me(), status: 401, header: hdr("WWW-Authenticate", `Bearer realm="authd"`),
			raw: []byte(`{"status":"fail","message":"not found","code":"not_found"}`)},
		"an undocumented Set-Cookie": {req: me(), status: 200, header: hdr("Cache-Control", "no-store", "Set-Cookie", "a=b"),
			raw: []byte(`{"status":"success","data":{"user":` + user + `}}`)},
		"a login without cookies": {req: loginReq, body: []byte(loginBody), status: 200,
			header: hdr("Cache-Control", "no-store"), raw: []byte(`{"status":"success","access_token":"a.b.c"}`)},
		"an unknown route answered 200": {req: httptest.NewRequest("GET", "http://authd.test/nope", nil), status: 200,
			header: hdr(), raw: []byte(`{"status":"success"}`)},
	}
	for name, x := range bad {
		if err := s.validate(x); err == nil {
			t.Errorf("%s passes the check", name)
		}
	}
}
