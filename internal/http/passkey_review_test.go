package http

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/authd/authd/internal/session/passkeytest"
	"github.com/authd/authd/internal/session/sessiontest"
)

// registerPasskeyWith runs the registration ceremony over HTTP for a
// signed-in user, letting tamper change the authenticator's answer, and
// returns the finish's reply.
func (f *fixture) registerPasskeyWith(access string, key *passkeytest.Authenticator, tamper func([]byte) []byte) reply {
	f.t.Helper()
	auth := []string{"Authorization", "Bearer " + access}
	o := f.do(nil, "POST", "/api/auth/passkeys/register/options", map[string]any{}, auth...)
	if o.status != http.StatusOK {
		f.t.Fatalf("registration options: %d %s", o.status, o.raw)
	}
	opts, _ := json.Marshal(o.body["options"])
	resp, err := key.Create(opts)
	if err != nil {
		f.t.Fatal(err)
	}
	if tamper != nil {
		resp = tamper(resp)
	}
	return f.do(nil, "POST", "/api/auth/passkeys/register", map[string]any{"name": "Laptop", "credential": json.RawMessage(resp)}, auth...)
}

// TestPasskeyRegisterBadCredentialNo500: a registration whose credential
// the library accepts but the passkeys table does not (a credential id
// under 16 bytes, the migration's CHECK; a transport holding NUL, which
// PostgreSQL text refuses) is a client error, never a 500.
func TestPasskeyRegisterBadCredentialNo500(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name   string
		key    func() *passkeytest.Authenticator
		tamper func([]byte) []byte
	}{
		{name: "an 8-byte credential id", key: func() *passkeytest.Authenticator {
			k := passkeytest.New(sessiontest.PasskeyOrigin)
			k.CredentialID = []byte("12345678")
			return k
		}},
		{name: "a transport with NUL", key: func() *passkeytest.Authenticator { return passkeytest.New(sessiontest.PasskeyOrigin) },
			tamper: func(b []byte) []byte {
				var m map[string]any
				json.Unmarshal(b, &m)
				m["response"].(map[string]any)["transports"] = []string{"usb\x00"}
				out, _ := json.Marshal(m)
				return out
			}},
	}
	for i, tt := range tests {
		email := string(rune('a'+i)) + "-pk@example.com"
		f.register(nil, email)
		access := f.login(nil, email).str("access_token")
		r := f.registerPasskeyWith(access, tt.key(), tt.tamper)
		if r.status >= 500 {
			t.Errorf("%s: %d %s, want a 4xx", tt.name, r.status, r.raw)
		}
	}
}
