package http

import (
	"net/http"
	"strings"
	"testing"
)

// TestNoStoreEverywhere: every answer but the JWKS and the OpenAPI
// document says Cache-Control: no-store, health answers included.
func TestNoStoreEverywhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, _ := f.loginTokens("nostore@example.com")
	tests := []struct {
		method, path string
		body         any
		headers      []string
	}{
		{"GET", "/api/healthchecker", nil, nil},
		{"GET", "/healthz", nil, nil},
		{"GET", "/readyz", nil, nil},
		{"GET", "/api/users/me", nil, []string{"Authorization", "Bearer " + access}},
		{"GET", "/api/users/me", nil, nil},
		{"POST", "/api/auth/login", map[string]string{"email": "nostore@example.com", "password": "wrong horse"}, nil},
		{"POST", "/api/auth/refresh", nil, nil},
		{"GET", "/api/nope", nil, nil},
		{"DELETE", "/api/users/me", nil, nil},
	}
	for _, tt := range tests {
		r := f.do(nil, tt.method, tt.path, tt.body, tt.headers...)
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s → %d: Cache-Control = %q, want no-store", tt.method, tt.path, r.status, got)
		}
	}
}

// TestTwoAuthorizationHeaders: a request with more than one Authorization
// header is refused with 400 (RFC 6750 §3.1 invalid_request), whichever of
// them is valid: a proxy reading the last one would see another
// credential than authd reading the first.
func TestTwoAuthorizationHeaders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	access, _ := f.loginTokens("twice@example.com")
	for _, path := range []string{"/api/users/me", "/api/users/me/sessions"} {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		req.Header.Add("Authorization", "Bearer "+access)
		req.Header.Add("Authorization", "Bearer garbage")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s with two Authorization headers: %d, want 400", path, resp.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", f.srv.URL+"/api/auth/logout?scope=all", nil)
	req.Header.Add("Authorization", "Bearer garbage")
	req.Header.Add("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("logout with two Authorization headers: %d, want 400", resp.StatusCode)
	}
	if got := f.meStatus(access); got != http.StatusOK {
		t.Errorf("the session after a refused logout: %d, want 200", got)
	}
}

// TestUserAgentNotUTF8: a User-Agent that is not valid UTF-8 does not fail
// a login (PostgreSQL refuses such text); the session list shows it with
// the bad bytes replaced.
func TestUserAgentNotUTF8(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.register(nil, "agent@example.com")
	r := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "agent@example.com", "password": "correct horse"},
		"User-Agent", "curl/8\xff\xfe")
	if r.status != http.StatusOK {
		t.Fatalf("login with a User-Agent that is not UTF-8: %d %s", r.status, r.raw)
	}
	list := f.do(nil, "GET", "/api/users/me/sessions", nil, "Authorization", "Bearer "+r.str("access_token"))
	sessions, _ := list.body["data"].(map[string]any)["sessions"].([]any)
	if len(sessions) != 1 {
		t.Fatalf("sessions: %s", list.raw)
	}
	if got := sessions[0].(map[string]any)["user_agent"]; got != "curl/8\uFFFD" {
		t.Errorf("user_agent = %q, want %q", got, "curl/8\uFFFD")
	}
}

// TestLogsHoldNoPathTokens: a token in the path (the tutorial's GET
// verifyemail/{code} and PATCH resetpassword/{token}) never reaches the
// request log; the route pattern stands in for the path there. It was
// logged whole.
func TestLogsHoldNoPathTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	secret := "s3cretTokenValueThatMustNotBeLogged0123456"
	f.do(nil, "GET", "/api/auth/verifyemail/"+secret, nil)
	f.do(nil, "PATCH", "/api/auth/resetpassword/"+secret, map[string]string{"password": "short", "passwordConfirm": "short"})
	if logs := f.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, secret[:20]) {
		t.Errorf("a path token reached the log:\n%s", logs)
	}
	if !strings.Contains(f.logs.String(), `"path":"/api/auth/resetpassword/{token}"`) {
		t.Errorf("the request line does not name the route:\n%s", f.logs.String())
	}
}
