package main

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/totp"
)

// TestBrowserMFA does what the tutorial's React 2FA client does, in
// headless Chromium, from an allowed origin, by cookies alone (axios with
// withCredentials is fetch with credentials "include"): register, log in,
// generate, verify with the authenticator's code (computed here, typed in
// by the test), log out, log in (mfa_required), validate, read the
// profile, disable.
func TestBrowserMFA(t *testing.T) {
	exe := chromium(t)
	app := pageServer(t)
	appOrigin := "http://localhost:" + portOf(t, app.URL)
	bin := buildBinary(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "CLIENT_ORIGIN="+appOrigin)
	p := start(t, bin, env)
	api := "http://localhost:" + portOf(t, p.base)
	b := newBrowser(t, exe)
	const email, password = "ida@example.com", "password123"
	login := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)
	type user struct {
		ID         string `json:"id"`
		Email      string `json:"email"`
		OTPEnabled bool   `json:"otp_enabled"`
	}
	type otpAnswer struct {
		Message     string `json:"message"`
		MFARequired bool   `json:"mfa_required"`
		User        user   `json:"user"`
		Base32      string `json:"base32"`
		OTPAuthURL  string `json:"otpauth_url"`
		OTPVerified bool   `json:"otp_verified"`
		OTPValid    bool   `json:"otp_valid"`
		OTPDisabled bool   `json:"otp_disabled"`
	}
	read := func(s seen) otpAnswer {
		t.Helper()
		var a otpAnswer
		if err := json.Unmarshal([]byte(s.Body), &a); err != nil {
			t.Fatalf("not JSON: %s", s.Body)
		}
		return a
	}
	post := func(what, path, body string, status int) otpAnswer {
		t.Helper()
		r := b.fetch(t, "POST", api+path, jsonBody(body))
		r.want(t, what, status)
		return read(r)
	}

	b.open(t, appOrigin+"/")
	if a := post("register", "/api/auth/register", register("Ida Rhodes", email, password), http.StatusCreated); a.Message != "Registered successfully, please login" {
		t.Errorf("register message %q", a.Message)
	}
	a := post("login", "/api/auth/login", login, http.StatusOK)
	if a.User.Email != email || a.User.OTPEnabled || a.User.ID == "" {
		t.Fatalf("login user %+v", a.User)
	}
	id := a.User.ID
	a = post("generate", "/api/auth/otp/generate", fmt.Sprintf(`{"user_id":%q,"email":%q}`, id, email), http.StatusOK)
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(a.Base32)
	if err != nil || a.OTPAuthURL == "" {
		t.Fatalf("generate: %+v (%v)", a, err)
	}
	code := func() string { return totp.Code(key, totp.Step(time.Now())) }
	first := code()
	a = post("verify", "/api/auth/otp/verify", fmt.Sprintf(`{"user_id":%q,"token":%q}`, id, first), http.StatusOK)
	if !a.OTPVerified || !a.User.OTPEnabled {
		t.Fatalf("verify: %+v", a)
	}
	b.fetch(t, "POST", api+"/api/auth/logout", fetchOpts{}).want(t, "logout", http.StatusOK)

	a = post("login with 2FA", "/api/auth/login", login, http.StatusOK)
	if !a.MFARequired || !a.User.OTPEnabled {
		t.Fatalf("login with 2FA: %+v", a)
	}
	// Only the ticket, HttpOnly and Strict, on the OTP routes; no session.
	jar := cookiesAt(t, b, api+"/api/auth/otp/validate")
	if c := jar["mfa_ticket"]; c == nil || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/api/auth/otp" {
		t.Errorf("ticket cookie in the browser: %+v", c)
	}
	for _, name := range []string{"access_token", "refresh_token", "logged_in"} {
		if _, ok := b.cookies(t, api)[name]; ok {
			t.Errorf("the browser has %s before the second factor", name)
		}
	}
	b.fetch(t, "GET", api+"/api/users/me", fetchOpts{}).want(t, "profile before validate", http.StatusUnauthorized)

	// The verify code's step is spent: wait for the app's next code.
	for code() == first {
		time.Sleep(200 * time.Millisecond)
	}
	a = post("validate", "/api/auth/otp/validate", fmt.Sprintf(`{"user_id":%q,"token":%q}`, id, code()), http.StatusOK)
	if !a.OTPValid {
		t.Fatalf("validate: %+v", a)
	}
	if _, ok := cookiesAt(t, b, api+"/api/auth/otp/validate")["mfa_ticket"]; ok {
		t.Error("the ticket cookie outlived validate")
	}
	r := b.fetch(t, "GET", api+"/api/users/me", fetchOpts{})
	r.want(t, "profile", http.StatusOK)
	if r.decode(t).Data.User.Email != email {
		t.Errorf("profile: %s", r.Body)
	}
	a = post("disable", "/api/auth/otp/disable", fmt.Sprintf(`{"user_id":%q}`, id), http.StatusOK)
	if !a.OTPDisabled || a.User.OTPEnabled {
		t.Fatalf("disable: %+v", a)
	}
	b.fetch(t, "POST", api+"/api/auth/logout", fetchOpts{}).want(t, "logout after disable", http.StatusOK)
	if a := post("login after disable", "/api/auth/login", login, http.StatusOK); a.MFARequired || a.User.OTPEnabled {
		t.Errorf("login after disable: %+v", a)
	}
}

// cookiesAt are the browser's cookies for url, by name.
func cookiesAt(t *testing.T, b browser, url string) map[string]*network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	got, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("get cookies: %v", err)
	}
	jar := map[string]*network.Cookie{}
	for _, c := range got.Cookies {
		jar[c.Name] = c
	}
	return jar
}
