package http

import (
	"net/http"
	"net/http/cookiejar"
	"slices"
	"time"
)

// liveMFA calls every second-factor route against the document, on f's
// server (the caller's TestOpenAPILiveResponses).
func liveMFA(s *specCheck, f *fixture) {
	t := s.t
	t.Helper()
	asJSON := []string{"Content-Type", "application/json"}
	post := func(status int, name string, jar http.CookieJar, path, body string, headers ...string) exchange {
		t.Helper()
		return s.expect(status, name, jar, "POST", path, body, append(slices.Clone(asJSON), headers...)...)
	}
	const (
		mia   = `{"name":"Mia","email":"mia@example.com","password":"password123","passwordConfirm":"password123"}`
		login = `{"email":"mia@example.com","password":"password123"}`
		other = "0b6f7c1e-8f59-4a57-9a4c-7f0e1a3f0c11"
	)
	post(201, "register for the second factor", nil, "/api/auth/register", mia)
	x := post(200, "login before the second factor", nil, "/api/auth/login", login)
	bearer := []string{"Authorization", "Bearer " + x.json()["access_token"].(string)}
	id := f.userByEmail("mia@example.com").ID.String()

	s.expect(401, "mfa status without a token", nil, "GET", "/api/auth/mfa", "")
	s.expect(200, "mfa status, off", nil, "GET", "/api/auth/mfa", "", bearer...)
	post(200, "enrol", nil, "/api/auth/mfa/totp/enrol", "", bearer...)
	post(403, "generate for another user", nil, "/api/auth/otp/generate", `{"user_id":"`+other+`","email":"mia@example.com"}`, bearer...)
	x = post(200, "generate", nil, "/api/auth/otp/generate", `{"user_id":"`+id+`","email":"mia@example.com"}`, bearer...)
	secret := x.json()["base32"].(string)
	post(400, "activate with a wrong code", nil, "/api/auth/mfa/totp/activate", `{"code":"`+wrongCode(t, secret, f.clock.Now())+`"}`, bearer...)
	post(403, "verify for another user", nil, "/api/auth/otp/verify", `{"user_id":"`+other+`","token":"123456"}`, bearer...)
	post(400, "verify with a wrong code", nil, "/api/auth/otp/verify", `{"user_id":"`+id+`","token":"`+wrongCode(t, secret, f.clock.Now())+`"}`, bearer...)
	post(200, "verify", nil, "/api/auth/otp/verify", `{"user_id":"`+id+`","token":"`+codeAt(t, secret, f.clock.Now())+`"}`, bearer...)
	post(409, "activate again", nil, "/api/auth/mfa/totp/activate", `{"code":"123456"}`, bearer...)
	post(200, "regenerate recovery codes", nil, "/api/auth/mfa/recovery-codes", "", bearer...)
	s.expect(200, "mfa status, on", nil, "GET", "/api/auth/mfa", "", bearer...)

	jar, _ := cookiejar.New(nil)
	x = post(200, "login with a second factor", jar, "/api/auth/login", login)
	if x.json()["mfa_required"] != true || x.setCookie(accessCookie) != nil {
		t.Errorf("login with a second factor: %s, cookies %q", x.raw, x.header.Values("Set-Cookie"))
	}
	post(400, "mfa login with a wrong code", jar, "/api/auth/mfa/login", `{"code":"`+wrongCode(t, secret, f.clock.Now())+`"}`)
	post(400, "mfa login with a bad ticket", nil, "/api/auth/mfa/login", `{"ticket":"nope","code":"123456"}`)
	f.clock.Advance(30 * time.Second)
	x = post(200, "mfa login", jar, "/api/auth/mfa/login", `{"code":"`+codeAt(t, secret, f.clock.Now())+`"}`)
	bearer = []string{"Authorization", "Bearer " + x.json()["access_token"].(string)}

	jar, _ = cookiejar.New(nil)
	post(200, "login for validate", jar, "/api/auth/login", login)
	post(403, "validate for another user", jar, "/api/auth/otp/validate", `{"user_id":"`+other+`","token":"123456"}`)
	f.clock.Advance(30 * time.Second)
	post(200, "validate", jar, "/api/auth/otp/validate", `{"user_id":"`+id+`","token":"`+codeAt(t, secret, f.clock.Now())+`"}`)

	post(400, "reauthenticate with both", nil, "/api/auth/reauthenticate", `{"password":"password123","code":"123456"}`, bearer...)
	post(400, "reauthenticate with a wrong password", nil, "/api/auth/reauthenticate", `{"password":"wrong password"}`, bearer...)
	post(200, "reauthenticate", nil, "/api/auth/reauthenticate", `{"password":"password123"}`, bearer...)
	post(403, "disable for another user", nil, "/api/auth/otp/disable", `{"user_id":"`+other+`"}`, bearer...)
	post(200, "disable", nil, "/api/auth/otp/disable", `{"user_id":"`+id+`"}`, bearer...)
	post(409, "disable again", nil, "/api/auth/mfa/disable", `{"code":"123456"}`, bearer...)
	x = post(200, "login after the second factor", nil, "/api/auth/login", login)
	post(403, "disable without a second factor in the session", nil, "/api/auth/mfa/disable", `{}`,
		"Authorization", "Bearer "+x.json()["access_token"].(string))
}
