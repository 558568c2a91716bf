package http

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestUnroutedTokenPathsNeverLogged: a one-time token in a path that no
// route matched (the default link paths /forgotPassword/{token} and
// /confirm-email/{token} hit on authd's own origin, a link scanner, a
// mistyped API path) never reaches the request log: every run of 32 or
// more base64url characters is logged as {redacted}.
func TestUnroutedTokenPathsNeverLogged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i, tc := range []struct {
		method, path string
		headers      []string
	}{
		{"GET", "/forgotPassword/%s", nil},
		{"GET", "/confirm-email/%s", nil},
		{"GET", "/verify-email/%s", nil},
		{"PATCH", "/api/auth/reset-password/%s", nil},
		{"POST", "/api/auth/confirm-email/%s/", nil},
		{"OPTIONS", "/api/auth/reset-password/%s", []string{"Origin", "http://localhost:3000", "Access-Control-Request-Method", "PATCH"}},
		{"GET", "/x/%s.json", nil},
		{"GET", "/api/auth//forgotPassword/%s", nil},
	} {
		token := fmt.Sprintf("Tok_-%038d", i) // 43 characters, like a minted one
		req, _ := http.NewRequest(tc.method, f.srv.URL+fmt.Sprintf(tc.path, token), nil)
		for j := 0; j+1 < len(tc.headers); j += 2 {
			req.Header.Set(tc.headers[j], tc.headers[j+1])
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if strings.Contains(f.logs.String(), token) {
			t.Errorf("%s %s (answered %d): the token is in the log", tc.method, tc.path, resp.StatusCode)
		}
	}
	if !strings.Contains(f.logs.String(), `/forgotPassword/{redacted}`) {
		t.Error("the log does not show where the redacted token was")
	}
}

// TestLogPath: what the log keeps of a path.
func TestLogPath(t *testing.T) {
	t.Parallel()
	tok := strings.Repeat("aB3_-", 8) + "xyz" // 43
	for _, tc := range []struct{ path, route, want string }{
		{"/forgotPassword/" + tok, "", "/forgotPassword/{redacted}"},
		{"/a/" + tok + "/b/" + tok + ".json", "", "/a/{redacted}/b/{redacted}.json"},
		{"/a/" + tok[:31], "", "/a/" + tok[:31]}, // shorter than any token
		{"/api/auth/resetpassword/" + tok, "PATCH /api/auth/resetpassword/{token}", "/api/auth/resetpassword/{token}"},
		{"/api/users/me", "GET /api/users/me", "/api/users/me"},
		{"/nothing/here", "", "/nothing/here"},
	} {
		if got := logPath(tc.path, tc.route); got != tc.want {
			t.Errorf("logPath(%q, %q) = %q, want %q", tc.path, tc.route, got, tc.want)
		}
	}
}
