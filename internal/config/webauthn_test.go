package config

import (
	"slices"
	"strings"
	"testing"
)

// TestWebAuthnSettings: the relying party comes from CLIENT_ORIGIN unless
// set; an origin off the RP ID is left out of the defaults and refused
// when given; an IP address is no RP ID.
func TestWebAuthnSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		rpID    string
		origins []string
		problem string
	}{
		{name: "from CLIENT_ORIGIN", env: []string{"CLIENT_ORIGIN", "https://app.example.com,https://admin.example.com"},
			rpID: "app.example.com", origins: []string{"https://app.example.com"}},
		{name: "a parent domain", env: []string{"CLIENT_ORIGIN", "https://app.example.com,https://admin.example.com", "WEBAUTHN_RP_ID", "example.com"},
			rpID: "example.com", origins: []string{"https://app.example.com", "https://admin.example.com"}},
		{name: "given origins", env: []string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_ORIGINS", "https://login.example.com"},
			rpID: "example.com", origins: []string{"https://login.example.com"}},
		{name: "a given origin off the RP ID", env: []string{"WEBAUTHN_RP_ID", "example.com", "WEBAUTHN_ORIGINS", "https://evil.test"},
			problem: "WEBAUTHN_ORIGINS"},
		{name: "an IP address given", env: []string{"WEBAUTHN_RP_ID", "127.0.0.1", "WEBAUTHN_ORIGINS", "http://127.0.0.1:3000"},
			problem: "WEBAUTHN_RP_ID"},
		{name: "an IP address as client origin: off", env: []string{"CLIENT_ORIGIN", "http://127.0.0.1:3000"}},
		{name: "off", env: []string{"CLIENT_ORIGIN", "https://app.example.com", "WEBAUTHN_RP_ID", "off"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(mapEnv(with(minimal(), tt.env...)))
			if tt.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tt.problem) {
					t.Fatalf("Load: %v, want a problem with %s", err, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.WebAuthnRPID != tt.rpID || (tt.rpID != "" && !slices.Equal(c.WebAuthnOrigins, tt.origins)) {
				t.Errorf("RP ID %q origins %q, want %q %q", c.WebAuthnRPID, c.WebAuthnOrigins, tt.rpID, tt.origins)
			}
		})
	}
}
