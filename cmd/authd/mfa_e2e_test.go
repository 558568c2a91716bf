package main

import (
	"encoding/base32"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
	"github.com/authd/authd/internal/totp"
)

// TestREADMEMFAWalkthrough runs the README's two-factor walkthroughs
// against the real binary, with oathtool as the authenticator app: an
// implementation of RFC 6238 that is not authd's.
func TestREADMEMFAWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("oathtool"); err != nil {
		testenv.Missing(t, "oathtool is not installed")
	}
	bin := buildBinary(t)
	p := start(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t)))
	for _, tool := range []string{"curl", "httpie"} {
		t.Run(tool, func(t *testing.T) {
			name := map[string]string{"curl": "curl", "httpie": "http"}[tool]
			if _, err := exec.LookPath(name); err != nil {
				testenv.Missing(t, name+" is not installed")
			}
			script, want := walkthrough(t, "mfa-"+tool)
			got := runWalkthrough(t, tool, script, p.base)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("statuses = %v, want %v", got, want)
			}
		})
	}
}

// TestMFAThrottleAcrossReplicas: wrong second-factor codes sent to two
// authd processes over one database add up to one lock, which holds on
// both, for tickets of other logins too.
func TestMFAThrottleAcrossReplicas(t *testing.T) {
	bin := buildBinary(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t), "REFUSAL_DELAY=0s")
	a, b := launch(t, bin, env), launch(t, bin, env)
	a.waitReady(t)
	b.waitReady(t)
	reps := []string{a.base, b.base}

	const login = `{"email":"mfa@example.com","password":"password123"}`
	if st, _, _ := call(t, a.base, "POST", "/api/auth/register", `{"name":"M","email":"mfa@example.com","password":"password123","passwordConfirm":"password123"}`); st != 201 {
		t.Fatalf("register: %d", st)
	}
	st, body, _ := call(t, a.base, "POST", "/api/auth/login", login)
	if st != 200 {
		t.Fatalf("login: %d", st)
	}
	bearer := []string{"Authorization", "Bearer " + body["access_token"].(string)}
	st, body, _ = call(t, b.base, "POST", "/api/auth/mfa/totp/enrol", "", bearer...)
	if st != 200 {
		t.Fatalf("enrol on B: %d %v", st, body)
	}
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(body["base32"].(string))
	if err != nil {
		t.Fatal(err)
	}
	now := func() string { return totp.Code(key, totp.Step(time.Now())) }
	code := now()
	if st, body, _ := call(t, a.base, "POST", "/api/auth/mfa/totp/activate", `{"code":"`+code+`"}`, bearer...); st != 200 {
		t.Fatalf("activate on A: %d %v", st, body)
	}
	wrong := "000000"
	for code == wrong || now() == wrong {
		wrong = fmt.Sprintf("%06d", (time.Now().UnixNano()/1000)%1000000)
	}

	ticket := func(base string) string {
		t.Helper()
		st, body, _ := call(t, base, "POST", "/api/auth/login", login)
		tk, _ := body["ticket"].(string)
		if st != 200 || body["mfa_required"] != true || tk == "" {
			t.Fatalf("login on %s: %d %v", base, st, body)
		}
		return tk
	}
	// Tickets first (each login costs a bcrypt compare), then five wrong
	// codes alternating replicas and tickets, then at once one attempt on
	// each replica: the first lock is short (1 s), so nothing waits
	// between them (REFUSAL_DELAY=0). The throttle answers before any
	// code is checked, the right one included.
	var tickets []string
	for i := range 7 {
		tickets = append(tickets, ticket(reps[i%2]))
	}
	for i := range 5 {
		base := reps[i%2]
		st, body, _ := call(t, base, "POST", "/api/auth/mfa/login", `{"ticket":"`+tickets[i]+`","code":"`+wrong+`"}`)
		if st != 400 {
			t.Fatalf("wrong code %d on %s: %d %v", i+1, base, st, body)
		}
	}
	for i, base := range []string{a.base, b.base} {
		req, _ := http.NewRequest("POST", base+"/api/auth/mfa/login",
			strings.NewReader(`{"ticket":"`+tickets[5+i]+`","code":"`+now()+`"}`))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("a code on %s while locked: %d, Retry-After %q", base, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
