package http

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTutorialFlow runs the tutorial's client flow and checks statuses, JSON
// shapes and cookies field by field.
func TestTutorialFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()

	reg := f.do(c, "POST", "/api/auth/register", map[string]string{
		"name": "Ada", "email": "  Ada@Example.COM ", "password": "password123",
		"passwordConfirm": "password123", "photo": "https://example.com/a.png",
	})
	if reg.status != http.StatusCreated || reg.str("status") != "success" {
		t.Fatalf("register: %d %s", reg.status, reg.raw)
	}
	user := reg.body["data"].(map[string]any)["user"].(map[string]any)
	for _, k := range []string{"id", "name", "email", "role", "photo", "provider", "created_at", "updated_at"} {
		if _, ok := user[k]; !ok {
			t.Errorf("register: user has no %q: %v", k, user)
		}
	}
	if _, ok := user["password"]; ok {
		t.Error("register: user carries a password field")
	}
	if got, want := user["email"], "ada@example.com"; got != want {
		t.Errorf("email = %v, want %v", got, want)
	}
	if got, want := user["role"], "user"; got != want {
		t.Errorf("role = %v, want %v", got, want)
	}
	if got, want := user["provider"], "local"; got != want {
		t.Errorf("provider = %v, want %v", got, want)
	}

	login := f.do(c, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "password123"})
	if login.status != http.StatusOK || login.str("status") != "success" || login.str("access_token") == "" {
		t.Fatalf("login: %d %s", login.status, login.raw)
	}
	// The tutorial's fields, and the user object of its 2FA part.
	if len(login.body) != 3 {
		t.Errorf("login body has extra fields: %s", login.raw)
	}
	if u, _ := login.body["user"].(map[string]any); len(u) != 4 || u["email"] != "ada@example.com" || u["otp_enabled"] != false || u["id"] == "" || u["name"] != "Ada" {
		t.Errorf("login user = %v, want id, name, email, otp_enabled false", login.body["user"])
	}
	for _, name := range []string{accessCookie, refreshCookie, loggedInCookie} {
		if login.cookie(name) == nil {
			t.Errorf("login did not set cookie %s", name)
		}
	}
	if got := login.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("login Cache-Control = %q", got)
	}

	// /api/users/me by cookie, then by Bearer with no cookies.
	me := f.do(c, "GET", "/api/users/me", nil)
	if me.status != http.StatusOK {
		t.Fatalf("me by cookie: %d %s", me.status, me.raw)
	}
	if got := me.body["data"].(map[string]any)["user"].(map[string]any)["id"]; got != user["id"] {
		t.Errorf("me id = %v, want %v", got, user["id"])
	}
	access := login.str("access_token")
	if r := f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access); r.status != http.StatusOK {
		t.Fatalf("me by bearer: %d %s", r.status, r.raw)
	}

	// Refresh with the cookie: new access token, rotated refresh cookie.
	f.clock.Advance(time.Second)
	ref := f.do(c, "GET", "/api/auth/refresh", nil)
	if ref.status != http.StatusOK || ref.str("access_token") == "" || ref.str("access_token") == access {
		t.Fatalf("refresh: %d %s", ref.status, ref.raw)
	}
	if nc := ref.cookie(refreshCookie); nc == nil || nc.Value == login.cookie(refreshCookie).Value {
		t.Error("refresh did not rotate the refresh cookie")
	}
	if r := f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+ref.str("access_token")); r.status != http.StatusOK {
		t.Fatalf("me with refreshed token: %d %s", r.status, r.raw)
	}

	// Logout clears the cookies and kills both tokens.
	out := f.do(c, "GET", "/api/auth/logout", nil)
	if out.status != http.StatusOK || out.str("status") != "success" {
		t.Fatalf("logout: %d %s", out.status, out.raw)
	}
	for _, name := range []string{accessCookie, refreshCookie, loggedInCookie} {
		if ck := out.cookie(name); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("logout did not clear %s: %v", name, ck)
		}
	}
	if r := f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access); r.status != http.StatusUnauthorized {
		t.Errorf("me with old bearer after logout: %d", r.status)
	}
	if r := f.do(nil, "GET", "/api/users/me", nil, "Cookie", accessCookie+"="+ref.str("access_token")); r.status != http.StatusUnauthorized {
		t.Errorf("me with old cookie after logout: %d", r.status)
	}
	if r := f.refreshWith(ref.cookie(refreshCookie).Value); r.status != http.StatusForbidden {
		t.Errorf("refresh after logout: %d", r.status)
	}
	if r := f.do(c, "GET", "/api/users/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("me after logout with jar: %d", r.status)
	}
	// Logging out again is not an error.
	if r := f.do(c, "POST", "/api/auth/logout", nil); r.status != http.StatusOK {
		t.Errorf("second logout: %d %s", r.status, r.raw)
	}
}

func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(d *testDeps) { d.Options.CookieSecure = true })
	f.register(nil, "cookie@example.com")
	r := f.login(nil, "cookie@example.com")
	tests := []struct {
		name     string
		path     string
		httpOnly bool
		sameSite http.SameSite
		maxAge   int
	}{
		{accessCookie, "/", true, http.SameSiteLaxMode, 900},
		{refreshCookie, "/api/auth", true, http.SameSiteStrictMode, 3600},
		{loggedInCookie, "/", false, http.SameSiteLaxMode, 900},
	}
	out := f.do(nil, "POST", "/api/auth/logout", nil, "Authorization", "Bearer "+r.str("access_token"))
	for _, tt := range tests {
		for _, resp := range []reply{r, out} {
			c := resp.cookie(tt.name)
			if c == nil {
				t.Fatalf("no cookie %s", tt.name)
			}
			if c.Path != tt.path || c.HttpOnly != tt.httpOnly || c.SameSite != tt.sameSite || !c.Secure || c.Domain != "" {
				t.Errorf("%s = %+v", tt.name, c)
			}
			if resp.status == http.StatusOK && resp.str("access_token") != "" && c.MaxAge != tt.maxAge {
				t.Errorf("%s Max-Age = %d, want %d", tt.name, c.MaxAge, tt.maxAge)
			}
		}
	}
}

func TestRegisterConflict(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "dup@example.com")
	r := f.do(nil, "POST", "/api/auth/register", map[string]string{
		"name": "Other", "email": "DUP@example.com ", "password": "password123", "passwordConfirm": "password123", "photo": "",
	})
	if r.status != http.StatusConflict || r.str("status") != "fail" {
		t.Errorf("duplicate register: %d %s", r.status, r.raw)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "known@example.com")
	unknown := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "nobody@example.com", "password": "correct horse"})
	wrong := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "known@example.com", "password": "wrong horse!"})
	long := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "known@example.com", "password": "correct horse" + strings.Repeat("x", 80)})
	for _, r := range []reply{unknown, wrong, long} {
		if r.status != unknown.status || r.raw != unknown.raw {
			t.Errorf("login failure differs: %d %s vs %d %s", r.status, r.raw, unknown.status, unknown.raw)
		}
	}
	if unknown.status != http.StatusBadRequest || unknown.str("message") != "Invalid email or Password" {
		t.Errorf("login failure = %d %s", unknown.status, unknown.raw)
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "bad@example.com")
	long := strings.Repeat("a", 100<<10)
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		hdr    []string
		want   int
	}{
		{"malformed json", "POST", "/api/auth/login", `{"email":`, nil, 400},
		{"null body", "POST", "/api/auth/login", `null`, nil, 400},
		{"array body", "POST", "/api/auth/register", `[]`, nil, 400},
		{"empty body", "POST", "/api/auth/login", ``, nil, 400},
		{"missing fields", "POST", "/api/auth/register", `{}`, nil, 400},
		{"missing password", "POST", "/api/auth/login", `{"email":"bad@example.com"}`, nil, 400},
		{"wrong type", "POST", "/api/auth/login", `{"email":1,"password":"x"}`, nil, 400},
		{"unknown field", "POST", "/api/auth/login", `{"email":"a@b.co","password":"password1","admin":true}`, nil, 400},
		{"duplicate field", "POST", "/api/auth/login", `{"email":"a@b.co","password":"password1","password":"p2"}`, nil, 400},
		{"case variant", "POST", "/api/auth/login", `{"Email":"a@b.co","password":"password1"}`, nil, 400},
		{"trailing data", "POST", "/api/auth/login", `{"email":"a@b.co","password":"password1"} {}`, nil, 400},
		{"not json", "POST", "/api/auth/login", `email=a`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"no content type", "POST", "/api/auth/register", `{}`, []string{"Content-Type", ""}, 415},
		{"huge body", "POST", "/api/auth/register", `{"name":"` + long + `"}`, nil, 413},
		{"short password", "POST", "/api/auth/register", `{"name":"a","email":"s@example.com","password":"short","passwordConfirm":"short","photo":""}`, nil, 400},
		{"73 byte password", "POST", "/api/auth/register", `{"name":"a","email":"s@example.com","password":"` + strings.Repeat("p", 73) + `","passwordConfirm":"` + strings.Repeat("p", 73) + `","photo":""}`, nil, 400},
		{"mismatched confirm", "POST", "/api/auth/register", `{"name":"a","email":"s@example.com","password":"password1","passwordConfirm":"password2","photo":""}`, nil, 400},
		{"bad email", "POST", "/api/auth/register", `{"name":"a","email":"not-an-email","password":"password1","passwordConfirm":"password1","photo":""}`, nil, 400},
		{"bad photo", "POST", "/api/auth/register", `{"name":"a","email":"s@example.com","password":"password1","passwordConfirm":"password1","photo":"javascript:alert(1)"}`, nil, 400},
		{"control char", "POST", "/api/auth/register", `{"name":"a\u0000b","email":"s@example.com","password":"password1","passwordConfirm":"password1","photo":""}`, nil, 400},
		{"bare bearer", "GET", "/api/users/me", "", []string{"Authorization", "Bearer"}, 401},
		{"bearer space", "GET", "/api/users/me", "", []string{"Authorization", "Bearer   "}, 401},
		{"basic auth", "GET", "/api/users/me", "", []string{"Authorization", "Basic YTpi"}, 401},
		{"garbage token", "GET", "/api/users/me", "", []string{"Authorization", "Bearer a.b.c"}, 401},
		{"no token", "GET", "/api/users/me", "", nil, 401},
		{"huge token", "GET", "/api/users/me", "", []string{"Authorization", "Bearer " + strings.Repeat("a", 9000)}, 401},
		{"refresh no cookie", "GET", "/api/auth/refresh", "", nil, 403},
		{"refresh garbage", "GET", "/api/auth/refresh", "", []string{"Cookie", "refresh_token=xyz"}, 403},
		{"logout bad scope", "POST", "/api/auth/logout?scope=bogus", "", nil, 400},
		{"unknown route", "GET", "/api/nope", "", nil, 404},
		{"wrong method", "DELETE", "/api/users/me", "", nil, 405},
		{"session bad id", "DELETE", "/api/users/me/sessions/not-a-uuid", "", nil, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" || tt.method == "POST" {
				body = tt.body
			}
			r := f.do(nil, tt.method, tt.path, body, tt.hdr...)
			if r.status != tt.want {
				t.Errorf("status = %d, want %d (%s)", r.status, tt.want, r.raw)
			}
			if r.str("status") == "" || (r.status >= 400 && r.str("message") == "") {
				t.Errorf("body lacks the envelope: %s", r.raw)
			}
			if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: %v", r.header)
			}
			for _, h := range []string{"X-Content-Type-Options", "Referrer-Policy", "Content-Security-Policy"} {
				if r.header.Get(h) == "" {
					t.Errorf("missing %s", h)
				}
			}
		})
	}
}

func TestUnknownUserToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "gone@example.com")
	r := f.login(nil, "gone@example.com")
	if _, err := f.deps.Queries.GetUserByEmail(t.Context(), "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.pool.Exec(t.Context(), "DELETE FROM users WHERE email = 'gone@example.com'"); err != nil {
		t.Fatal(err)
	}
	if got := f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+r.str("access_token")); got.status != http.StatusUnauthorized {
		t.Errorf("me for a deleted user: %d %s", got.status, got.raw)
	}
	if got := f.refreshWith(r.cookie(refreshCookie).Value); got.status != http.StatusForbidden {
		t.Errorf("refresh for a deleted user: %d %s", got.status, got.raw)
	}
}

// TestTokenNeverFromURL: a valid token in the query string is ignored.
func TestTokenNeverFromURL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, _ := f.loginTokens("url@example.com")
	for _, q := range []string{"access_token=", "token=", "jwt="} {
		if r := f.do(nil, "GET", "/api/users/me?"+q+access, nil); r.status != http.StatusUnauthorized {
			t.Errorf("token in ?%s: %d", q, r.status)
		}
	}
}

// TestLogsHoldNoSecrets: passwords, tokens and cookies never reach the log.
func TestLogsHoldNoSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.register(c, "logs@example.com")
	login := f.login(c, "logs@example.com")
	f.do(c, "GET", "/api/users/me", nil)
	ref := f.do(c, "POST", "/api/auth/refresh", nil)
	loginAs(f, "logs@example.com", "a wrong password")
	f.do(c, "POST", "/api/auth/logout", nil)
	logs := f.logs.String()
	if !strings.Contains(logs, `"msg":"request"`) {
		t.Fatal("no request lines logged")
	}
	for _, secret := range []string{
		"correct horse", "a wrong password",
		login.str("access_token"), login.cookie(refreshCookie).Value,
		ref.str("access_token"), ref.cookie(refreshCookie).Value,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("log contains a secret: %.20s…", secret)
		}
	}
}
