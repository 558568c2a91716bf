package http

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/ratelimit"
	"github.com/authd/authd/internal/session"
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
	for _, path := range []string{"/api/auth/forgotpassword", "/api/auth/forgot-password", "/api/auth/resend-verification", "/api/users/me/email"} {
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

func verificationMode(v session.Verification) func(*testDeps) {
	return func(d *testDeps) { d.Options.Verification = v }
}

// TestRegisterAnswers: verification off answers exactly as before; on, it
// adds the tutorial's message; hiding taken addresses answers a new and a
// taken address alike, without the user.
func TestRegisterAnswers(t *testing.T) {
	t.Parallel()
	body := func(email string) map[string]string {
		return map[string]string{"name": "Ada", "email": email, "password": "password123", "passwordConfirm": "password123"}
	}
	keys := func(r reply) []string {
		var k []string
		for key := range r.body {
			k = append(k, key)
		}
		slices.Sort(k)
		return k
	}
	off := newFixture(t, mailOn)
	r := off.do(nil, "POST", "/api/auth/register", body("ada@example.com"))
	if r.status != http.StatusCreated || !slices.Equal(keys(r), []string{"data", "message", "status"}) || r.str("message") != msgRegistered {
		t.Errorf("verification off: %d %s, want 201 with status, the 2FA part's message and data only", r.status, r.raw)
	}
	if n := len(off.mails("", "")); n != 0 {
		t.Errorf("verification off: %d mails", n)
	}

	on := newFixture(t, mailOn, verificationMode(session.VerificationOptional))
	r = on.do(nil, "POST", "/api/auth/register", body(" Ada@Example.com"))
	if r.status != http.StatusCreated || !slices.Equal(keys(r), []string{"data", "message", "status"}) ||
		r.str("message") != "We sent an email with a verification code to ada@example.com" {
		t.Errorf("verification on: %d %s", r.status, r.raw)
	}
	if n := len(on.mails("verify_email", "ada@example.com")); n != 1 {
		t.Errorf("verification on: %d verification mails, want 1", n)
	}
	if r := on.do(nil, "POST", "/api/auth/register", body("ada@example.com")); r.status != http.StatusConflict {
		t.Errorf("verification on, taken: %d, want 409", r.status)
	}

	hide := newFixture(t, mailOn, verificationMode(session.VerificationRequired), func(d *testDeps) { d.Options.HideExisting = true })
	first := hide.do(nil, "POST", "/api/auth/register", body("ada@example.com"))
	if first.status != http.StatusCreated || !slices.Equal(keys(first), []string{"message", "status"}) {
		t.Errorf("hiding, new: %d %s", first.status, first.raw)
	}
	sameAnswer(t, "hiding, taken", first, hide.do(nil, "POST", "/api/auth/register", body("ada@example.com")))
	if n := len(hide.mails("signup_attempt", "ada@example.com")); n != 1 {
		t.Errorf("hiding: %d signup_attempt notices, want 1", n)
	}
}

// TestLoginUnverified: with verification required, a wrong password gets
// the usual 400 (the same answer as an unknown email), the right one 403
// email_not_verified, and once verified the login works.
func TestLoginUnverified(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, verificationMode(session.VerificationRequired))
	f.register(nil, "ada@example.com")
	try := func(email, pw string) reply {
		return f.do(nil, "POST", "/api/auth/login", map[string]string{"email": email, "password": pw})
	}
	sameAnswer(t, "unverified, wrong password", try("nobody@example.com", "wrong password"), try("ada@example.com", "wrong password"))
	r := try("ada@example.com", "correct horse")
	if r.status != http.StatusForbidden || r.str("message") != "Please verify your email" || r.str("code") != "email_not_verified" ||
		r.str("status") != "fail" || r.cookie(accessCookie) != nil {
		t.Errorf("unverified, right password: %d %s", r.status, r.raw)
	}
	if r := f.do(nil, "GET", "/api/auth/verifyemail/"+f.link("verify_email", "ada@example.com"), nil); r.status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.status, r.raw)
	}
	if r := try("ada@example.com", "correct horse"); r.status != http.StatusOK {
		t.Errorf("verified: %d %s", r.status, r.raw)
	}
}

// TestVerifyEmailHTTP: the tutorial's messages; /api/users/me shows the
// change.
func TestVerifyEmailHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, verificationMode(session.VerificationOptional))
	c := f.client()
	f.register(c, "ada@example.com")
	f.login(c, "ada@example.com")
	verified := func() any {
		r := f.do(c, "GET", "/api/users/me", nil)
		return r.body["data"].(map[string]any)["user"].(map[string]any)["verified"]
	}
	if v := verified(); v != false {
		t.Errorf("me before verification: verified %v", v)
	}
	code := f.link("verify_email", "ada@example.com")
	r := f.do(nil, "POST", "/api/auth/verify-email", map[string]string{"code": code})
	if r.status != http.StatusOK || r.str("message") != "Email verified successfully" {
		t.Errorf("verify: %d %s", r.status, r.raw)
	}
	if v := verified(); v != true {
		t.Errorf("me after verification: verified %v", v)
	}
	r = f.do(nil, "GET", "/api/auth/verifyemail/"+code, nil)
	if r.status != http.StatusBadRequest || r.str("message") != "Invalid verification code or user doesn't exists" {
		t.Errorf("second use: %d %s", r.status, r.raw)
	}
	again := f.mintToken("verify_email", f.userByEmail("ada@example.com").ID, "ada@example.com")
	r = f.do(nil, "GET", "/api/auth/verifyemail/"+again, nil)
	if r.status != http.StatusConflict || r.str("message") != "User already verified" {
		t.Errorf("already verified: %d %s", r.status, r.raw)
	}
}

// TestResendVerificationEnumeration: an unverified, a verified, an unknown
// and a throttled address get the same answer; only the unverified one
// within its allowance gets mail.
func TestResendVerificationEnumeration(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	f.register(nil, "unverified@example.com")
	f.register(nil, "verified@example.com")
	v := f.userByEmail("verified@example.com")
	if _, err := f.q.VerifyUserEmail(t.Context(), db.VerifyUserEmailParams{ID: v.ID, Email: v.Email, Now: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	resend := func(email string) reply {
		return f.do(nil, "POST", "/api/auth/resend-verification", map[string]string{"email": email})
	}
	want := resend("unverified@example.com")
	if want.status != http.StatusOK {
		t.Fatalf("resend: %d %s", want.status, want.raw)
	}
	for _, email := range []string{"verified@example.com", "nobody@example.com", "unverified@example.com"} {
		sameAnswer(t, email, want, resend(email))
	}
	if n := len(f.mails("verify_email", "")); n != 1 {
		t.Errorf("%d verification mails, want 1", n)
	}
}

// TestChangePasswordHTTP: the caller's session survives, the others are
// 401 at once; a wrong current password counts as a failed login.
func TestChangePasswordHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(d *testDeps) {
		d.Options.LoginFailureThreshold = 2
		d.Options.LoginLockBase = time.Minute
		d.Options.LoginLockMax = time.Hour
	})
	mine, other := f.client(), f.client()
	f.register(nil, "ada@example.com")
	f.login(mine, "ada@example.com")
	otherLogin := f.login(other, "ada@example.com")
	body := func(current, pw string) map[string]string {
		return map[string]string{"currentPassword": current, "password": pw, "passwordConfirm": pw}
	}
	r := f.do(mine, "POST", "/api/users/me/password", body("correct horse", "a new password"))
	if r.status != http.StatusOK || r.cookie(accessCookie) != nil {
		t.Fatalf("change: %d %s (cookies %v)", r.status, r.raw, r.header.Values("Set-Cookie"))
	}
	if r := f.do(mine, "GET", "/api/users/me", nil); r.status != http.StatusOK {
		t.Errorf("the caller's session after the change: %d", r.status)
	}
	if r := f.do(other, "GET", "/api/users/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("another session's access token after the change: %d, want 401", r.status)
	}
	if r := f.refreshWith(otherLogin.cookie(refreshCookie).Value); r.status != http.StatusForbidden {
		t.Errorf("another session's refresh token after the change: %d, want 403", r.status)
	}
	if r := f.do(mine, "POST", "/api/users/me/password", body("a new password", "a new password")); r.status != http.StatusBadRequest || r.str("code") != "password_unchanged" {
		t.Errorf("same password: %d %s", r.status, r.raw)
	}
	for i := range 2 {
		r := f.do(mine, "POST", "/api/users/me/password", body("wrong password", "another password"))
		if r.status != http.StatusBadRequest || r.str("message") != "Invalid email or Password" {
			t.Errorf("wrong current password %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := f.do(mine, "POST", "/api/users/me/password", body("a new password", "another password")); r.status != http.StatusTooManyRequests {
		t.Errorf("after two wrong current passwords: %d %s, want 429", r.status, r.raw)
	}
	if r := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": "a new password"}); r.status != http.StatusTooManyRequests {
		t.Errorf("login after two wrong current passwords: %d, want 429", r.status)
	}
}

// TestChangeEmailHTTP: a free, a taken and a throttled new address get the
// same 202; the link moves the account.
func TestChangeEmailHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn)
	c := f.client()
	f.register(c, "ada@example.com")
	f.register(nil, "bob@example.com")
	f.login(c, "ada@example.com")
	ask := func(email string) reply {
		return f.do(c, "POST", "/api/users/me/email", map[string]string{"email": email, "currentPassword": "correct horse"})
	}
	want := ask("ada@new.example.com")
	if want.status != http.StatusAccepted || want.str("message") != "Check your new address to confirm the change" {
		t.Fatalf("change email: %d %s", want.status, want.raw)
	}
	sameAnswer(t, "taken", want, ask("bob@example.com"))
	sameAnswer(t, "throttled", want, ask("ada@new.example.com"))
	if n := len(f.mails("email_taken_notice", "bob@example.com")); n != 1 {
		t.Errorf("%d email_taken_notice to bob, want 1", n)
	}
	if r := f.do(c, "POST", "/api/users/me/email", map[string]string{"email": "x@example.com", "currentPassword": "wrong"}); r.status != http.StatusBadRequest || r.str("code") != "invalid_credentials" {
		t.Errorf("wrong password: %d %s", r.status, r.raw)
	}
	r := f.do(nil, "POST", "/api/auth/confirm-email-change", map[string]string{"token": f.link("change_email", "ada@new.example.com")})
	if r.status != http.StatusOK {
		t.Fatalf("confirm: %d %s", r.status, r.raw)
	}
	me := f.do(c, "GET", "/api/users/me", nil)
	u := me.body["data"].(map[string]any)["user"].(map[string]any)
	if u["email"] != "ada@new.example.com" || u["verified"] != true {
		t.Errorf("me after the change: %s", me.raw)
	}
	if r := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@new.example.com", "password": "correct horse"}); r.status != http.StatusOK {
		t.Errorf("login at the new address: %d", r.status)
	}
}

// TestDeleteMe: off, DELETE /api/users/me does not exist (405, as
// before); on, it deletes the account with the right password, clears the
// cookies and ends every session; the address can register again.
func TestDeleteMe(t *testing.T) {
	t.Parallel()
	off := newFixture(t, mailOn)
	c := off.client()
	off.register(c, "ada@example.com")
	off.login(c, "ada@example.com")
	r := off.do(c, "DELETE", "/api/users/me", map[string]string{"currentPassword": "correct horse"})
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, HEAD" {
		t.Errorf("self-delete off: %d Allow %q, want 405 GET, HEAD", r.status, r.header.Get("Allow"))
	}

	f := newFixture(t, mailOn, func(d *testDeps) { d.Options.AccountSelfDelete = true })
	mine, other := f.client(), f.client()
	f.register(nil, "ada@example.com")
	f.login(mine, "ada@example.com")
	otherLogin := f.login(other, "ada@example.com")
	if r := f.do(mine, "DELETE", "/api/users/me", map[string]string{"currentPassword": "wrong"}); r.status != http.StatusBadRequest {
		t.Errorf("wrong password: %d %s", r.status, r.raw)
	}
	if r := f.do(mine, "DELETE", "/api/users/me", map[string]string{"currentPassword": "correct horse"}, "Origin", "https://evil.example"); r.status != http.StatusForbidden {
		t.Errorf("cross-site: %d %s", r.status, r.raw)
	}
	r = f.do(mine, "DELETE", "/api/users/me", map[string]string{"currentPassword": "correct horse"})
	if r.status != http.StatusOK || r.str("status") != "success" {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	for _, name := range []string{accessCookie, refreshCookie, loggedInCookie} {
		if ck := r.cookie(name); ck == nil || ck.MaxAge >= 0 {
			t.Errorf("delete did not clear %s", name)
		}
	}
	if r := f.do(other, "GET", "/api/users/me", nil); r.status != http.StatusUnauthorized {
		t.Errorf("another session after the deletion: %d", r.status)
	}
	if r := f.refreshWith(otherLogin.cookie(refreshCookie).Value); r.status != http.StatusForbidden {
		t.Errorf("another session's refresh after the deletion: %d", r.status)
	}
	if n := len(f.mails("account_deleted", "ada@example.com")); n != 1 {
		t.Errorf("%d account_deleted notices", n)
	}
	f.register(nil, "ada@example.com")
}

// TestMailLimit: the routes that ask for a mail share one per-client
// bucket (IP_MAIL_*): 429 with Retry-After once it is empty, whatever the
// route or address.
func TestMailLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mailOn, func(d *testDeps) { d.MailLimit = ratelimit.New(1, 2, d.Now) })
	c := f.client()
	f.register(c, "ada@example.com")
	f.login(c, "ada@example.com")
	for i, call := range []func() reply{
		func() reply {
			return f.do(nil, "POST", "/api/auth/forgotpassword", map[string]string{"email": "ada@example.com"})
		},
		func() reply {
			return f.do(nil, "POST", "/api/auth/resend-verification", map[string]string{"email": "bob@example.com"})
		},
		func() reply {
			return f.do(c, "POST", "/api/users/me/email", map[string]string{"email": "x@example.com", "currentPassword": "correct horse"})
		},
		func() reply {
			return f.do(nil, "POST", "/api/auth/forgot-password", map[string]string{"email": "carol@example.com"})
		},
	} {
		r := call()
		want := http.StatusOK
		if i >= 2 {
			want = http.StatusTooManyRequests
		}
		if r.status != want || (want == http.StatusTooManyRequests && r.header.Get("Retry-After") == "") {
			t.Errorf("request %d: %d %s (Retry-After %q), want %d", i, r.status, r.raw, r.header.Get("Retry-After"), want)
		}
	}
	// Logins and token routes are not counted here.
	if r := f.do(nil, "POST", "/api/auth/reset-password", map[string]string{"token": "x", "password": "password123", "passwordConfirm": "password123"}); r.status != http.StatusBadRequest {
		t.Errorf("reset with the mail bucket empty: %d, want 400", r.status)
	}
}
