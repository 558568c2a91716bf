package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/authd/authd/internal/db/dbtest"
)

// call sends one request to a replica and returns status, body and the
// refresh cookie it set, if any.
func call(t *testing.T, base, method, path, body string, hdr ...string) (int, map[string]any, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, base, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(bytes.TrimSpace(b), &m)
	refresh := ""
	for _, c := range resp.Cookies() {
		if c.Name == "refresh_token" {
			refresh = c.Value
		}
	}
	return resp.StatusCode, m, refresh
}

// TestReplicas starts three authd processes at once on one empty database:
// they migrate without stepping on each other, and every piece of state
// (revocation, throttling, rotation) is shared through PostgreSQL.
func TestReplicas(t *testing.T) {
	bin := buildBinary(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.EmptyURL(t),
		"LOGIN_FAILURE_THRESHOLD=2", "LOGIN_LOCK_BASE=1m", "REFRESH_REUSE_GRACE=0s")
	var reps []*process
	for range 3 {
		reps = append(reps, launch(t, bin, env))
	}
	for _, p := range reps {
		p.waitReady(t)
	}
	a, b, c := reps[0].base, reps[1].base, reps[2].base

	reg := `{"name":"R","email":"%s","password":"password123","passwordConfirm":"password123","photo":""}`
	login := `{"email":"%s","password":"%s"}`
	for _, e := range []string{"rep1@example.com", "rep2@example.com", "rep3@example.com"} {
		if st, _, _ := call(t, a, "POST", "/api/auth/register", sprintf(reg, e)); st != 201 {
			t.Fatalf("register %s: %d", e, st)
		}
	}

	t.Run("revoked on one, dead on the others", func(t *testing.T) {
		st, body, refresh := call(t, a, "POST", "/api/auth/login", sprintf(login, "rep1@example.com", "password123"))
		if st != 200 {
			t.Fatalf("login: %d", st)
		}
		access := body["access_token"].(string)
		if st, _, _ := call(t, c, "GET", "/api/users/me", "", "Authorization", "Bearer "+access); st != 200 {
			t.Fatalf("me on C before logout: %d", st)
		}
		if st, _, _ := call(t, b, "POST", "/api/auth/logout", "", "Authorization", "Bearer "+access); st != 200 {
			t.Fatalf("logout on B: %d", st)
		}
		if st, _, _ := call(t, c, "GET", "/api/users/me", "", "Authorization", "Bearer "+access); st != 401 {
			t.Errorf("me on C after logout on B: %d", st)
		}
		if st, _, _ := call(t, a, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+refresh); st != 403 {
			t.Errorf("refresh on A after logout on B: %d", st)
		}
	})

	t.Run("throttled on one, throttled on the others", func(t *testing.T) {
		for _, p := range []string{a, b} {
			if st, _, _ := call(t, p, "POST", "/api/auth/login", sprintf(login, "rep2@example.com", "wrong-password")); st != 400 {
				t.Fatalf("failed login: %d", st)
			}
		}
		if st, _, _ := call(t, c, "POST", "/api/auth/login", sprintf(login, "rep2@example.com", "password123")); st != 429 {
			t.Errorf("login on C after two failures on A and B: %d", st)
		}
	})

	t.Run("rotated on one, no replay on another", func(t *testing.T) {
		_, _, r0 := call(t, a, "POST", "/api/auth/login", sprintf(login, "rep3@example.com", "password123"))
		st, _, r1 := call(t, a, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r0)
		if st != 200 || r1 == "" {
			t.Fatalf("refresh on A: %d", st)
		}
		if st, _, _ := call(t, b, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r0); st != 403 {
			t.Errorf("replay of the old token on B: %d", st)
		}
		if st, _, _ := call(t, c, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r1); st != 403 {
			t.Errorf("the successor on C after the replay: %d", st)
		}
	})
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
