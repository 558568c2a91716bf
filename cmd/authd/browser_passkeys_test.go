package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestBrowserPasskeys runs the passkey ceremonies in headless Chromium
// with a virtual authenticator (DevTools WebAuthn domain: resident keys,
// user verification), from a page on an allowed origin, against the real
// binary: register, sign out, sign in without a password, sign in with
// password and passkey, step up. Then what must be refused, is: an
// assertion without user verification, a signature of another
// authenticator for the same credential, an assertion answered twice, one
// made on a page of an origin not in WEBAUTHN_ORIGINS, and a signature
// counter that went back.
func TestBrowserPasskeys(t *testing.T) {
	exe := chromium(t)
	app, other := passkeyPage(t), passkeyPage(t)
	appOrigin := "http://localhost:" + portOf(t, app.URL)
	otherOrigin := "http://localhost:" + portOf(t, other.URL)
	bin := buildBinary(t)
	// Both pages may call the API (CORS); only the first may run passkey
	// ceremonies. The RP ID is the origins' host: localhost.
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "CLIENT_ORIGIN="+appOrigin+","+otherOrigin,
		"WEBAUTHN_ORIGINS="+appOrigin, "IP_LOGIN_BURST=100") // more ceremonies than a person makes in a minute
	p := start(t, bin, env)
	api := "http://localhost:" + portOf(t, p.base)
	b := newBrowser(t, exe)
	const email, password = "grace@example.com", "password123"
	login := fmt.Sprintf(`{"email":%q,"password":%q}`, email, password)

	post := func(what, path, body string, status int) map[string]any {
		t.Helper()
		r := b.fetch(t, "POST", api+path, jsonBody(body))
		r.want(t, what, status)
		var m map[string]any
		if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
			t.Fatalf("%s: not JSON: %s", what, r.Body)
		}
		return m
	}
	// ceremony asks authd for options at path and runs them in the page
	// (create or get): the credential as JSON, or the page's error.
	ceremony := func(what, path, fn, body string) (credential, problem string) {
		t.Helper()
		opts, _ := json.Marshal(post(what+" options", path, body, http.StatusOK)["options"])
		var out struct{ Credential, Error string }
		js := fn + "(" + string(opts) + ")"
		raw := act(t, b, what, chromedp.Evaluate[json.RawMessage](js, chromedp.EvalAwaitPromise))
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s: %s", what, raw)
		}
		return out.Credential, out.Error
	}
	mustCeremony := func(what, path, fn, body string) string {
		t.Helper()
		c, problem := ceremony(what, path, fn, body)
		if problem != "" {
			t.Fatalf("%s: the browser said %s", what, problem)
		}
		return c
	}
	aal := func(what string) float64 {
		t.Helper()
		r := b.fetch(t, "GET", api+"/api/auth/mfa", fetchOpts{})
		r.want(t, what, http.StatusOK)
		var m struct{ MFA struct{ AAL float64 } }
		json.Unmarshal([]byte(r.Body), &m)
		return m.MFA.AAL
	}
	logout := func() { b.fetch(t, "POST", api+"/api/auth/logout", fetchOpts{}).want(t, "logout", http.StatusOK) }

	b.open(t, appOrigin+"/")
	auth := virtualAuthenticator(t, b)

	// Register, with a recent password login.
	post("register", "/api/auth/register", register("Grace Hopper", email, password), http.StatusCreated)
	post("login", "/api/auth/login", login, http.StatusOK)
	cred := mustCeremony("create", "/api/auth/passkeys/register/options", "passkeyCreate", "")
	added := post("add passkey", "/api/auth/passkeys/register", `{"name":"Chromium","credential":`+cred+`}`, http.StatusCreated)
	if codes, _ := added["recovery_codes"].([]any); len(codes) != 10 {
		t.Errorf("the first passkey: %v", added)
	}
	logout()

	// Passwordless, usernameless: aal 2.
	cred = mustCeremony("passwordless", "/api/auth/passkeys/login/options", "passkeyGet", "")
	post("passkey login", "/api/auth/passkeys/login", `{"credential":`+cred+`}`, http.StatusOK)
	if got := aal("status after the passkey login"); got != 2 {
		t.Errorf("passkey login: aal %v, want 2", got)
	}
	// The same assertion again: its challenge is spent.
	if m := post("a replayed assertion", "/api/auth/passkeys/login", `{"credential":`+cred+`}`, http.StatusBadRequest); m["code"] != "passkey_refused" {
		t.Errorf("replay: %v", m)
	}
	// Step-up.
	cred = mustCeremony("step-up", "/api/auth/reauthenticate/passkey/options", "passkeyGet", "")
	post("step-up", "/api/auth/reauthenticate/passkey", `{"credential":`+cred+`}`, http.StatusOK)
	logout()

	// Password, then the passkey as second factor (the ticket cookie).
	if m := post("password login", "/api/auth/login", login, http.StatusOK); m["mfa_required"] != true {
		t.Fatalf("password login after a passkey: %v", m)
	}
	cred = mustCeremony("second factor", "/api/auth/mfa/passkey/options", "passkeyGet", "{}")
	post("passkey second factor", "/api/auth/mfa/passkey", `{"credential":`+cred+`}`, http.StatusOK)
	if got := aal("status after password and passkey"); got != 2 {
		t.Errorf("password and passkey: aal %v", got)
	}
	logout()

	refused := func(what, credential string) {
		t.Helper()
		if m := post(what, "/api/auth/passkeys/login", `{"credential":`+credential+`}`, http.StatusBadRequest); m["code"] != "passkey_refused" {
			t.Errorf("%s: %v", what, m)
		}
		b.fetch(t, "GET", api+"/api/users/me", fetchOpts{}).want(t, what+": no session", http.StatusUnauthorized)
	}

	// User verification: an authenticator that cannot verify the user
	// gives nothing; one that says it did not is refused by authd.
	devtools(t, b, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: auth, IsUserVerified: false})
	if _, problem := ceremony("no user verification", "/api/auth/passkeys/login/options", "passkeyGet", ""); problem == "" {
		t.Error("the browser made an assertion without user verification")
	}
	devtools(t, b, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: auth, IsUserVerified: true})
	yes := true
	devtools(t, b, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth, IsBadUV: &yes})
	cred = mustCeremony("UV bit cleared", "/api/auth/passkeys/login/options", "passkeyGet", "")
	refused("an assertion without user verification", cred)
	devtools(t, b, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: auth})

	// Another authenticator with the same credential id and user, but its
	// own key.
	saved := devtools(t, b, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth}).Credentials
	if len(saved) != 1 {
		t.Fatalf("%d credentials in the authenticator", len(saved))
	}
	orig := *saved[0]
	devtools(t, b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: orig.CredentialID})
	forged := orig
	forged.PrivateKey = newPKCS8(t)
	devtools(t, b, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: newCredential(forged)})
	cred = mustCeremony("another key", "/api/auth/passkeys/login/options", "passkeyGet", "")
	refused("a signature of another authenticator", cred)
	devtools(t, b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: orig.CredentialID})

	// The real key, its counter set back to zero: a clone.
	back := orig
	back.SignCount = 0
	devtools(t, b, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: newCredential(back)})
	cred = mustCeremony("counter back", "/api/auth/passkeys/login/options", "passkeyGet", "")
	refused("a counter that went back", cred)
	devtools(t, b, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: auth, CredentialID: orig.CredentialID})
	ahead := orig
	ahead.SignCount = orig.SignCount + 100
	devtools(t, b, addCredential, addCredentialParams{AuthenticatorID: auth, Credential: newCredential(ahead)})

	// A page of an origin the API lets call it, but not for passkeys.
	b.open(t, otherOrigin+"/")
	cred = mustCeremony("other origin", "/api/auth/passkeys/login/options", "passkeyGet", "")
	refused("an assertion made on an origin not allowed", cred)

	// And the real key, from the right page, still works.
	b.open(t, appOrigin+"/")
	cred = mustCeremony("passwordless again", "/api/auth/passkeys/login/options", "passkeyGet", "")
	post("passkey login again", "/api/auth/passkeys/login", `{"credential":`+cred+`}`, http.StatusOK)
	r := b.fetch(t, "GET", api+"/api/users/me/passkeys", fetchOpts{})
	r.want(t, "list", http.StatusOK)
	if !strings.Contains(r.Body, `"counter_regressions":1`) {
		t.Errorf("the clone was not counted: %s", r.Body)
	}
}

// devtools runs one DevTools command with a deadline.
func devtools[P, R any](t *testing.T, b browser, cmd cdp.Command[P, R], params P) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	r, err := chromedp.Call(ctx, cmd, params)
	if err != nil {
		t.Fatalf("%s: %v", cmd.Method, err)
	}
	return r
}

// virtualAuthenticator enables the WebAuthn domain and adds a platform
// authenticator with resident keys that verifies its user.
func virtualAuthenticator(t *testing.T, b browser) webauthn.AuthenticatorID {
	t.Helper()
	devtools(t, b, webauthn.Enable, webauthn.EnableParams{})
	r := devtools(t, b, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	return r.AuthenticatorID
}

// addCredential is WebAuthn.addCredential with only the fields this
// test sets: cdproto's Credential always sends
// generateCmtgKeyOnNextOperation, which Chromium 156 refuses.
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      credential               `json:"credential"`
}

type credential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle"`
	SignCount            float64 `json:"signCount"`
}

func newCredential(c webauthn.Credential) credential {
	return credential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
		PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: c.SignCount}
}

// newPKCS8 is a fresh P-256 private key in PKCS#8.
func newPKCS8(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// passkeyPage serves testPage and the README's passkey snippet at /.
func passkeyPage(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, testPage+passkeyScript)
	}))
	t.Cleanup(s.Close)
	return s
}

// passkeyScript runs a ceremony's options (authd's `options`) in the
// browser and returns the credential as JSON, as README's snippet does.
const passkeyScript = `<script>
async function passkeyCreate(options) {
  try {
    const c = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey)});
    return {credential: JSON.stringify(c.toJSON())};
  } catch (e) { return {error: e.name + ": " + e.message}; }
}
async function passkeyGet(options) {
  try {
    const c = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey)});
    return {credential: JSON.stringify(c.toJSON())};
  } catch (e) { return {error: e.name + ": " + e.message}; }
}
</script>
`
