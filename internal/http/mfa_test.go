package http

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// withMFA registers email, logs in with c and turns TOTP on through
// authd's routes; it returns the base32 secret and the user's id. The
// clock is then a step past the activation code.
func (f *fixture) withMFA(c *http.Client, email string) (secret, id string) {
	f.t.Helper()
	f.register(c, email)
	f.login(c, email)
	r := f.do(c, "POST", "/api/auth/mfa/totp/enrol", nil)
	if r.status != http.StatusOK || r.str("base32") == "" {
		f.t.Fatalf("enrol: %d %s", r.status, r.raw)
	}
	secret = r.str("base32")
	r = f.do(c, "POST", "/api/auth/mfa/totp/activate", map[string]string{"code": codeAt(f.t, secret, f.clock.Now())})
	if codes, _ := r.body["recovery_codes"].([]any); r.status != http.StatusOK || len(codes) != 10 {
		f.t.Fatalf("activate: %d %s", r.status, r.raw)
	}
	f.clock.Advance(30 * time.Second)
	return secret, f.userByEmail(email).ID.String()
}

// testPassword is what fixture.register sets.
const testPassword = "correct horse"

func TestMFALogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	secret, id := f.withMFA(f.client(), "ada@example.com")

	c := f.client()
	r := f.do(c, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	if r.status != http.StatusOK || r.body["mfa_required"] != true || r.str("ticket") == "" || r.str("access_token") != "" {
		t.Fatalf("login with a second factor: %d %s", r.status, r.raw)
	}
	if u, _ := r.body["user"].(map[string]any); u["id"] != id || u["otp_enabled"] != true || u["email"] != "ada@example.com" {
		t.Errorf("login user = %v", r.body["user"])
	}
	// No session before the second factor: only the ticket cookie, on
	// the MFA paths, HttpOnly, Strict, as long as the ticket lives.
	var paths []string
	for _, ck := range (&http.Response{Header: r.header}).Cookies() {
		if ck.Name != ticketCookie {
			t.Errorf("login before the second factor set cookie %s", ck.Name)
			continue
		}
		paths = append(paths, ck.Path)
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge != 300 || ck.Value != r.str("ticket") {
			t.Errorf("ticket cookie %+v", ck)
		}
	}
	if len(paths) != 2 || paths[0] != "/api/auth/mfa" || paths[1] != "/api/auth/otp" {
		t.Errorf("ticket cookie paths %v", paths)
	}
	if me := f.do(c, "GET", "/api/users/me", nil); me.status != http.StatusUnauthorized {
		t.Errorf("me before the second factor: %d", me.status)
	}

	// A wrong code, then the right one by the cookie.
	r = f.do(c, "POST", "/api/auth/mfa/login", map[string]string{"code": wrongCode(t, secret, f.clock.Now())})
	if r.status != http.StatusBadRequest || r.str("code") != "invalid_code" || r.str("message") != "Token is invalid or user doesn't exist" {
		t.Errorf("wrong code: %d %s", r.status, r.raw)
	}
	r = f.do(c, "POST", "/api/auth/mfa/login", map[string]string{"code": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusOK || r.str("access_token") == "" {
		t.Fatalf("mfa login: %d %s", r.status, r.raw)
	}
	if u, _ := r.body["user"].(map[string]any); u["id"] != id || u["otp_enabled"] != true {
		t.Errorf("mfa login user = %v", r.body["user"])
	}
	for _, name := range []string{accessCookie, refreshCookie, loggedInCookie} {
		if r.cookie(name) == nil {
			t.Errorf("mfa login did not set %s", name)
		}
	}
	if ck := r.cookie(ticketCookie); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("mfa login did not clear the ticket cookie: %v", ck)
	}
	me := f.do(c, "GET", "/api/users/me", nil)
	u, _ := me.body["data"].(map[string]any)["user"].(map[string]any)
	if u["mfa_enabled"] != true || u["aal"] != float64(2) {
		t.Errorf("me after the second factor: %s", me.raw)
	}
	st := f.do(c, "GET", "/api/auth/mfa", nil)
	if m, _ := st.body["mfa"].(map[string]any); m["enabled"] != true || m["recovery_codes"] != float64(10) || m["aal"] != float64(2) {
		t.Errorf("mfa status: %s", st.raw)
	}
}

func TestMFATicketReuseAndExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	secret, _ := f.withMFA(f.client(), "ada@example.com")
	ticket := func() string {
		return f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword}).str("ticket")
	}

	used := ticket()
	if r := f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": used, "code": codeAt(t, secret, f.clock.Now())}); r.status != http.StatusOK {
		t.Fatalf("mfa login: %d %s", r.status, r.raw)
	}
	f.clock.Advance(30 * time.Second)
	r := f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": used, "code": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusBadRequest || r.str("code") != "invalid_ticket" || r.cookie(accessCookie) != nil {
		t.Errorf("a used ticket: %d %s", r.status, r.raw)
	}
	if ck := r.cookie(ticketCookie); ck == nil || ck.MaxAge >= 0 {
		t.Errorf("a used ticket did not clear its cookie: %v", ck)
	}

	late := ticket()
	f.clock.Advance(5*time.Minute + time.Second)
	r = f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": late, "code": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusBadRequest || r.str("code") != "invalid_ticket" {
		t.Errorf("an expired ticket: %d %s", r.status, r.raw)
	}
	// The code of that step is still good with a fresh ticket: it was not spent.
	if r := f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": ticket(), "code": codeAt(t, secret, f.clock.Now())}); r.status != http.StatusOK {
		t.Errorf("a fresh ticket after an expired one: %d %s", r.status, r.raw)
	}
}

func TestMFAThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	secret, _ := f.withMFA(f.client(), "ada@example.com")
	var locked reply
	for range 4 { // logins; a ticket takes a few codes
		tk := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword}).str("ticket")
		for range 5 {
			r := f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": tk, "code": wrongCode(t, secret, f.clock.Now())})
			if r.status == http.StatusTooManyRequests {
				locked = r
				break
			}
		}
		if locked.status != 0 {
			break
		}
	}
	if locked.status != http.StatusTooManyRequests || locked.str("code") != "throttled" {
		t.Fatalf("no 429 after repeated wrong codes: %+v", locked.raw)
	}
	if s, err := strconv.Atoi(locked.header.Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After = %q", locked.header.Get("Retry-After"))
	}
	// A fresh login does not refill it: the right code is refused too.
	tk := f.do(nil, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword}).str("ticket")
	if r := f.do(nil, "POST", "/api/auth/mfa/login", map[string]string{"ticket": tk, "code": codeAt(t, secret, f.clock.Now())}); r.status != http.StatusTooManyRequests {
		t.Errorf("right code while locked, after a new login: %d %s", r.status, r.raw)
	}
	// The tutorial's route answers the same.
	c := f.client()
	f.do(c, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	id := f.userByEmail("ada@example.com").ID.String()
	if r := f.do(c, "POST", "/api/auth/otp/validate", map[string]string{"user_id": id, "token": codeAt(t, secret, f.clock.Now())}); r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Errorf("otp/validate while locked: %d %s", r.status, r.raw)
	}
}

// TestOTPForeignUserID: each tutorial route refuses a user_id that is not
// the caller's with one answer, whatever it names.
func TestOTPForeignUserID(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bob := f.client()
	f.register(bob, "bob@example.com")
	bobID := f.userByEmail("bob@example.com").ID.String()
	ada := f.client()
	secret, adaID := f.withMFA(ada, "ada@example.com")
	foreign := []string{bobID, uuid.NewString(), "not-a-uuid", "1"}

	ticketed := f.client()
	f.do(ticketed, "POST", "/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	routes := []struct {
		path string
		c    *http.Client
		body func(id string) map[string]string
	}{
		{"/api/auth/otp/generate", ada, func(id string) map[string]string { return map[string]string{"user_id": id, "email": "ada@example.com"} }},
		{"/api/auth/otp/verify", ada, func(id string) map[string]string { return map[string]string{"user_id": id, "token": "123456"} }},
		{"/api/auth/otp/disable", ada, func(id string) map[string]string { return map[string]string{"user_id": id} }},
		{"/api/auth/otp/validate", ticketed, func(id string) map[string]string {
			return map[string]string{"user_id": id, "token": codeAt(t, secret, f.clock.Now())}
		}},
	}
	for _, rt := range routes {
		var first string
		for _, id := range foreign {
			r := f.do(rt.c, "POST", rt.path, rt.body(id))
			if r.status != http.StatusForbidden || r.str("code") != "user_mismatch" || r.cookie(accessCookie) != nil {
				t.Errorf("%s with user_id %q: %d %s", rt.path, id, r.status, r.raw)
			}
			if first == "" {
				first = r.raw
			} else if r.raw != first {
				t.Errorf("%s: %q answered %s, another id %s", rt.path, id, r.raw, first)
			}
		}
	}
	// The refused validate spent nothing: the ticket still works.
	r := f.do(ticketed, "POST", "/api/auth/otp/validate", map[string]string{"user_id": adaID, "token": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusOK || r.body["otp_valid"] != true {
		t.Errorf("validate after refusals: %d %s", r.status, r.raw)
	}
	// Bob's factor is untouched: he has none.
	if u := f.userByEmail("bob@example.com"); u.MfaEnabled {
		t.Error("bob has a second factor")
	}
}

// TestOTPTutorialClient does what the tutorial's React client does, with
// cookies only, from its origin.
func TestOTPTutorialClient(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	origin := []string{"Origin", "http://localhost:3000"}
	post := func(path string, body any) reply {
		t.Helper()
		return f.do(c, "POST", path, body, origin...)
	}
	r := post("/api/auth/register", map[string]string{"name": "Ada", "email": "ada@example.com", "password": testPassword, "passwordConfirm": testPassword})
	if r.status != http.StatusCreated || r.str("message") != "Registered successfully, please login" {
		t.Fatalf("register: %d %s", r.status, r.raw)
	}
	r = post("/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	user, _ := r.body["user"].(map[string]any)
	if r.status != http.StatusOK || user["otp_enabled"] != false {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	id := user["id"].(string)
	r = post("/api/auth/otp/generate", map[string]string{"user_id": id, "email": "ada@example.com"})
	if r.status != http.StatusOK || r.str("base32") == "" || r.str("otpauth_url") == "" {
		t.Fatalf("generate: %d %s", r.status, r.raw)
	}
	secret := r.str("base32")
	r = post("/api/auth/otp/verify", map[string]string{"user_id": id, "token": wrongCode(t, secret, f.clock.Now())})
	if r.status != http.StatusBadRequest || r.str("status") != "fail" || r.str("message") != "Token is invalid or user doesn't exist" {
		t.Errorf("verify with a wrong token: %d %s", r.status, r.raw)
	}
	r = post("/api/auth/otp/verify", map[string]string{"user_id": id, "token": codeAt(t, secret, f.clock.Now())})
	if u, _ := r.body["user"].(map[string]any); r.status != http.StatusOK || r.body["otp_verified"] != true || u["otp_enabled"] != true {
		t.Fatalf("verify: %d %s", r.status, r.raw)
	}
	post("/api/auth/logout", nil)
	f.clock.Advance(30 * time.Second)

	r = post("/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	if u, _ := r.body["user"].(map[string]any); r.body["mfa_required"] != true || u["otp_enabled"] != true {
		t.Fatalf("login with 2FA: %d %s", r.status, r.raw)
	}
	if me := f.do(c, "GET", "/api/users/me", nil); me.status != http.StatusUnauthorized {
		t.Errorf("profile before validate: %d", me.status)
	}
	r = post("/api/auth/otp/validate", map[string]string{"user_id": id, "token": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusOK || r.body["otp_valid"] != true || r.cookie(accessCookie) == nil {
		t.Fatalf("validate: %d %s", r.status, r.raw)
	}
	if me := f.do(c, "GET", "/api/users/me", nil); me.status != http.StatusOK {
		t.Errorf("profile after validate: %d %s", me.status, me.raw)
	}
	r = post("/api/auth/otp/disable", map[string]string{"user_id": id})
	if u, _ := r.body["user"].(map[string]any); r.status != http.StatusOK || r.body["otp_disabled"] != true || u["otp_enabled"] != false {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	r = post("/api/auth/login", map[string]string{"email": "ada@example.com", "password": testPassword})
	if r.str("access_token") == "" || r.body["mfa_required"] != nil {
		t.Errorf("login after disable: %s", r.raw)
	}
}

// TestOTPDisableNeedsCode: without a token, disabling needs a session that
// passed the second factor recently; the refusal says a code is needed.
func TestOTPDisableNeedsCode(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	secret, id := f.withMFA(c, "ada@example.com")
	f.clock.Advance(11 * time.Minute)
	r := f.do(c, "POST", "/api/auth/otp/disable", map[string]string{"user_id": id})
	if r.status != http.StatusForbidden || r.str("code") != "reauth_required" {
		t.Errorf("disable, not recent: %d %s", r.status, r.raw)
	}
	r = f.do(c, "POST", "/api/auth/otp/disable", map[string]string{"user_id": id, "token": codeAt(t, secret, f.clock.Now())})
	if r.status != http.StatusOK {
		t.Errorf("disable with a token: %d %s", r.status, r.raw)
	}

	// A session at aal 1 is told a code is needed.
	d := f.client()
	f.register(d, "bob@example.com")
	f.login(d, "bob@example.com")
	r = f.do(d, "POST", "/api/auth/mfa/disable", map[string]string{})
	if r.status != http.StatusForbidden || r.str("code") != "code_required" {
		t.Errorf("disable at aal 1: %d %s", r.status, r.raw)
	}
}

func TestReauthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.register(c, "ada@example.com")
	f.login(c, "ada@example.com")
	f.clock.Advance(11 * time.Minute)
	if r := f.do(c, "POST", "/api/auth/mfa/totp/enrol", nil); r.status != http.StatusForbidden || r.str("code") != "reauth_required" {
		t.Errorf("enrol, not recent: %d %s", r.status, r.raw)
	}
	if r := f.do(c, "POST", "/api/auth/reauthenticate", map[string]string{"password": "wrong password"}); r.status != http.StatusBadRequest || r.str("code") != "invalid_credentials" {
		t.Errorf("reauthenticate, wrong password: %d %s", r.status, r.raw)
	}
	if r := f.do(c, "POST", "/api/auth/reauthenticate", map[string]string{}); r.status != http.StatusBadRequest {
		t.Errorf("reauthenticate with nothing: %d %s", r.status, r.raw)
	}
	if r := f.do(c, "POST", "/api/auth/reauthenticate", map[string]string{"password": testPassword}); r.status != http.StatusOK {
		t.Errorf("reauthenticate: %d %s", r.status, r.raw)
	}
	if r := f.do(c, "POST", "/api/auth/mfa/totp/enrol", nil); r.status != http.StatusOK {
		t.Errorf("enrol after reauthenticating: %d %s", r.status, r.raw)
	}
}
