package http

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/internal/db"
)

// sameAnswer fails unless a and b have the same status, body bytes and
// headers, X-Request-Id and Date aside.
func sameAnswer(t *testing.T, name string, a, b reply) {
	t.Helper()
	if a.status != b.status || a.raw != b.raw {
		t.Errorf("%s: %d %q, want %d %q", name, b.status, b.raw, a.status, a.raw)
	}
	ha, hb := a.header.Clone(), b.header.Clone()
	for _, h := range []http.Header{ha, hb} {
		h.Del("X-Request-Id")
		h.Del("Date")
	}
	keys := func(h http.Header) []string {
		var k []string
		for name, v := range h {
			k = append(k, name+": "+strings.Join(v, ", "))
		}
		slices.Sort(k)
		return k
	}
	if ka, kb := keys(ha), keys(hb); !slices.Equal(ka, kb) {
		t.Errorf("%s: headers\n%v\nwant\n%v", name, kb, ka)
	}
}

// TestForgotPasswordEnumeration: a verified, an unverified, an unknown and
// a throttled address get the same answer, byte for byte; mail goes only
// to the accounts within their allowance.
func TestForgotPasswordEnumeration(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	f.register(nil, "verified@example.com")
	f.register(nil, "unverified@example.com")
	f.register(nil, "throttled@example.com")
	v := f.userByEmail("verified@example.com")
	if _, err := f.q.VerifyUserEmail(t.Context(), db.VerifyUserEmailParams{ID: v.ID, Email: v.Email, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	forgot := func(path, email string) reply {
		return f.do(nil, "POST", path, map[string]string{"email": email})
	}
	forgot("/api/auth/forgotpassword", "throttled@example.com")

	want := forgot("/api/auth/forgotpassword", "verified@example.com")
	if want.status != http.StatusOK || want.str("message") != msgForgotPassword {
		t.Fatalf("forgot password: %d %s", want.status, want.raw)
	}
	for _, path := range []string{"/api/auth/forgotpassword", "/api/auth/forgot-password"} {
		for _, email := range []string{"unverified@example.com", "nobody@example.com", "throttled@example.com", "Verified@Example.com"} {
			sameAnswer(t, path+" "+email, want, forgot(path, email))
		}
	}
	for email, n := range map[string]int{"verified@example.com": 1, "unverified@example.com": 1, "throttled@example.com": 1, "nobody@example.com": 0} {
		if got := len(f.mails("reset_password", email)); got != n {
			t.Errorf("%s: %d reset mails, want %d", email, got, n)
		}
	}
	for _, body := range []any{map[string]string{"email": "not-an-email"}, map[string]string{}, `{"email":"a@example.com","x":1}`} {
		if r := f.do(nil, "POST", "/api/auth/forgotpassword", body); r.status != http.StatusBadRequest {
			t.Errorf("forgot password with %v: %d, want 400", body, r.status)
		}
	}
}

// TestMailRoutesNeedMail: with mail off the routes that ask for a mail do
// not exist; those that take a token do.
func TestMailRoutesNeedMail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, path := range []string{"/api/auth/forgotpassword", "/api/auth/forgot-password"} {
		if r := f.do(nil, "POST", path, map[string]string{"email": "a@example.com"}); r.status != http.StatusNotFound {
			t.Errorf("%s with mail off: %d, want 404", path, r.status)
		}
	}
	r := f.do(nil, "POST", "/api/auth/reset-password", map[string]string{"token": "x", "password": "password123", "passwordConfirm": "password123"})
	if r.status != http.StatusBadRequest || r.str("code") != "invalid_one_time_token" {
		t.Errorf("reset with mail off: %d %s, want 400 invalid_one_time_token", r.status, r.raw)
	}
}

// TestResetPasswordEndsSessions: after a reset the old access token is 401
// and the old refresh token 403; the new password logs in, the old one
// does not; the token works once.
func TestResetPasswordEndsSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	c := f.client()
	f.register(c, "ada@example.com")
	login := f.login(c, "ada@example.com")
	access, refresh := login.str("access_token"), login.cookie(refreshCookie).Value

	if r := f.do(nil, "POST", "/api/auth/forgotpassword", map[string]string{"email": "ada@example.com"}); r.status != http.StatusOK {
		t.Fatalf("forgot: %d %s", r.status, r.raw)
	}
	tok := f.link("reset_password", "ada@example.com")
	short := map[string]string{"password": "short", "passwordConfirm": "short"}
	if r := f.do(nil, "PATCH", "/api/auth/resetpassword/"+tok, short); r.status != http.StatusBadRequest || !strings.Contains(r.str("message"), "at least 8") {
		t.Errorf("reset to a short password: %d %s, want 400", r.status, r.raw)
	}
	pw := map[string]string{"password": "a new password", "passwordConfirm": "a new password"}
	r := f.do(c, "PATCH", "/api/auth/resetpassword/"+tok, pw)
	if r.status != http.StatusOK || r.str("message") != msgPasswordReset || r.str("status") != "success" {
		t.Fatalf("reset: %d %s", r.status, r.raw)
	}
	for _, name := range []string{accessCookie, refreshCookie, loggedInCookie} {
		if ck := r.cookie(name); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("reset did not clear %s: %v", name, ck)
		}
	}
	if r := f.do(nil, "GET", "/api/users/me", nil, "Authorization", "Bearer "+access); r.status != http.StatusUnauthorized {
		t.Errorf("old access token after the reset: %d, want 401", r.status)
	}
	if r := f.refreshWith(refresh); r.status != http.StatusForbidden {
		t.Errorf("old refresh token after the reset: %d, want 403", r.status)
	}
	if r := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "correct horse"}); r.status != http.StatusBadRequest {
		t.Errorf("login with the old password: %d, want 400", r.status)
	}
	if r := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "a new password"}); r.status != http.StatusOK {
		t.Errorf("login with the new password: %d %s", r.status, r.raw)
	}
	r = f.do(nil, "PATCH", "/api/auth/resetpassword/"+tok, pw)
	if r.status != http.StatusBadRequest || r.str("message") != "The reset token is invalid or has expired" {
		t.Errorf("second use: %d %s", r.status, r.raw)
	}
	if n := len(f.mails("password_changed", "ada@example.com")); n != 1 {
		t.Errorf("%d password_changed notices, want 1", n)
	}
}

// TestResetPasswordOnceHTTP: of 20 concurrent resets with one token, one
// is 200 and the others 400.
func TestResetPasswordOnceHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	f.register(nil, "ada@example.com")
	tok := f.mintToken("reset_password", f.userByEmail("ada@example.com").ID, "ada@example.com")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range 20 {
		wg.Go(func() {
			r := f.do(nil, "POST", "/api/auth/reset-password", map[string]string{
				"token": tok, "password": "a new password", "passwordConfirm": "a new password"})
			mu.Lock()
			statuses[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[http.StatusOK] != 1 || statuses[http.StatusBadRequest] != 19 {
		t.Errorf("statuses %v, want one 200 and nineteen 400", statuses)
	}
}
