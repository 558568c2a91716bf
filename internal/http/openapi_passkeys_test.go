package http

import (
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"slices"

	"github.com/authd/authd/internal/session/passkeytest"
	"github.com/authd/authd/internal/session/sessiontest"
)

// livePasskeys calls every passkey route against the document, on f's
// server (the caller's TestOpenAPILiveResponses), with a software
// authenticator.
func livePasskeys(s *specCheck, f *fixture) {
	t := s.t
	t.Helper()
	asJSON := []string{"Content-Type", "application/json"}
	post := func(status int, name string, jar http.CookieJar, path, body string, headers ...string) exchange {
		t.Helper()
		return s.expect(status, name, jar, "POST", path, body, append(slices.Clone(asJSON), headers...)...)
	}
	options := func(x exchange) []byte {
		t.Helper()
		var env struct {
			Options json.RawMessage `json:"options"`
		}
		if err := json.Unmarshal(x.raw, &env); err != nil || len(env.Options) == 0 {
			t.Fatalf("options: %s", x.raw)
		}
		return env.Options
	}
	credential := func(extra string, resp []byte) string {
		return `{` + extra + `"credential":` + string(resp) + `}`
	}
	const (
		pia   = `{"name":"Pia","email":"pia@example.com","password":"password123","passwordConfirm":"password123"}`
		login = `{"email":"pia@example.com","password":"password123"}`
	)
	post(201, "register for passkeys", nil, "/api/auth/register", pia)
	x := post(200, "login before passkeys", nil, "/api/auth/login", login)
	bearer := []string{"Authorization", "Bearer " + x.json()["access_token"].(string)}

	key := passkeytest.New(sessiontest.PasskeyOrigin)
	post(401, "passkey options without a token", nil, "/api/auth/passkeys/register/options", "")
	opts := options(post(200, "passkey registration options", nil, "/api/auth/passkeys/register/options", "", bearer...))
	resp, err := key.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	post(400, "passkey registration without a credential", nil, "/api/auth/passkeys/register", `{"name":"Laptop"}`, bearer...)
	post(400, "passkey registration with garbage", nil, "/api/auth/passkeys/register", `{"credential":{"id":"x"}}`, bearer...)
	x = post(201, "passkey registration", nil, "/api/auth/passkeys/register", credential(`"name":"Laptop",`, resp), bearer...)
	if codes, _ := x.json()["recovery_codes"].([]any); len(codes) == 0 {
		t.Errorf("the first passkey gave no recovery codes: %s", x.raw)
	}
	id := x.json()["passkey"].(map[string]any)["id"].(string)
	post(400, "passkey registration replayed", nil, "/api/auth/passkeys/register", credential("", resp), bearer...)
	opts = options(post(200, "passkey registration options again", nil, "/api/auth/passkeys/register/options", "", bearer...))
	resp, _ = key.Create(opts)
	post(409, "the same passkey again", nil, "/api/auth/passkeys/register", credential("", resp), bearer...)

	s.expect(200, "list passkeys", nil, "GET", "/api/users/me/passkeys", "", bearer...)
	s.expect(200, "rename a passkey", nil, "PATCH", "/api/users/me/passkeys/"+id, `{"name":"Work"}`, append(slices.Clone(asJSON), bearer...)...)
	s.expect(404, "rename an unknown passkey", nil, "PATCH", "/api/users/me/passkeys/0b6f7c1e-8f59-4a57-9a4c-7f0e1a3f0c11", `{"name":"Work"}`, append(slices.Clone(asJSON), bearer...)...)
	s.expect(409, "delete the last factor", nil, "DELETE", "/api/users/me/passkeys/"+id, "", bearer...)

	// Passwordless.
	opts = options(post(200, "passkey login options", nil, "/api/auth/passkeys/login/options", ""))
	resp, _ = key.Get(opts)
	x = post(200, "passkey login", nil, "/api/auth/passkeys/login", credential("", resp))
	if x.setCookie(accessCookie) == nil {
		t.Errorf("passkey login set no session cookie: %q", x.header.Values("Set-Cookie"))
	}
	post(400, "passkey login replayed", nil, "/api/auth/passkeys/login", credential("", resp))
	passBearer := []string{"Authorization", "Bearer " + x.json()["access_token"].(string)}

	// Second factor after the password.
	jar, _ := cookiejar.New(nil)
	x = post(200, "login with a passkey as second factor", jar, "/api/auth/login", login)
	if x.json()["mfa_required"] != true {
		t.Fatalf("login after the first passkey: %s", x.raw)
	}
	post(400, "passkey second factor options, bad ticket", nil, "/api/auth/mfa/passkey/options", `{"ticket":"nope"}`)
	opts = options(post(200, "passkey second factor options", jar, "/api/auth/mfa/passkey/options", `{}`))
	resp, _ = key.Get(opts)
	post(200, "passkey second factor", jar, "/api/auth/mfa/passkey", credential("", resp))

	// Step-up.
	opts = options(post(200, "passkey step-up options", nil, "/api/auth/reauthenticate/passkey/options", "", passBearer...))
	resp, _ = key.Get(opts)
	post(200, "passkey step-up", nil, "/api/auth/reauthenticate/passkey", credential("", resp), passBearer...)

	// A second passkey, then the first can go.
	second := passkeytest.New(sessiontest.PasskeyOrigin)
	opts = options(post(200, "second passkey options", nil, "/api/auth/passkeys/register/options", "", passBearer...))
	resp, _ = second.Create(opts)
	post(201, "second passkey", nil, "/api/auth/passkeys/register", credential("", resp), passBearer...)
	s.expect(200, "delete a passkey", nil, "DELETE", "/api/users/me/passkeys/"+id, "", passBearer...)
	s.expect(404, "delete it again", nil, "DELETE", "/api/users/me/passkeys/"+id, "", passBearer...)
}
