package main

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestGuessesAcrossReplicas: 50 wrong guesses for one email sent at once
// to two authd processes on one database get at most
// LOGIN_FAILURE_THRESHOLD real password checks between them (each a 400);
// every other guess is refused as throttled (429).
func TestGuessesAcrossReplicas(t *testing.T) {
	bin := buildBinary(t)
	env := append(keyEnv(t, bin), "DATABASE_URL="+dbtest.URL(t),
		"LOGIN_FAILURE_THRESHOLD=5", "LOGIN_LOCK_BASE=1m", "IP_LOGIN_PER_MINUTE=0", "IP_LOGIN_BURST=0")
	a, b := launch(t, bin, env), launch(t, bin, env)
	a.waitReady(t)
	b.waitReady(t)
	reg := `{"name":"G","email":"guess@example.com","password":"password123","passwordConfirm":"password123","photo":""}`
	if st, _, _ := call(t, a.base, "POST", "/api/auth/register", reg); st != 201 {
		t.Fatalf("register: %d", st)
	}
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 50 {
		base := a.base
		if i%2 == 1 {
			base = b.base
		}
		wg.Go(func() {
			st := post(base+"/api/auth/login", `{"email":"guess@example.com","password":"wrong-password"}`)
			mu.Lock()
			statuses[st]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[400] > 5 || statuses[400]+statuses[429] != 50 {
		t.Errorf("statuses %v: want at most 5 checked (400), the rest throttled (429)", statuses)
	}
}

// post sends a JSON body and returns the status, -1 if it failed; safe
// from any goroutine.
func post(url, body string) int {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return -1
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
