//go:build linux

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
)

// TestPgBouncerReplicas runs three authd processes through a real PgBouncer
// in transaction pooling mode, with the one setting docs/operations.md gives
// (default_query_exec_mode=exec), on a migrated database (migrations do not
// go through it: docs/operations.md). Few server connections are shared by many client
// connections, so any statement that relied on session state (a prepared
// statement, a SET, a session lock) would fail here. Every piece of shared
// state still holds across replicas, and a concurrent load of logins,
// refreshes and /me gets only the answers it expects, with no warning or
// error in any replica's log.
func TestPgBouncerReplicas(t *testing.T) {
	bin := buildBinary(t)
	direct := dbtest.URL(t)
	b := startBouncer(t, direct, bouncerOptions{mode: "transaction", poolSize: 5})
	name := dbName(t, direct)
	env := append(keyEnv(t, bin), "DATABASE_URL="+b.URL(name), "MIGRATE_ON_START=false",
		"DB_MAX_CONNS=8", "LOGIN_FAILURE_THRESHOLD=2", "LOGIN_LOCK_BASE=1m", "REFRESH_REUSE_GRACE=0s",
		"IP_LOGIN_PER_MINUTE=1000000", "IP_LOGIN_BURST=1000000", "IP_REFRESH_PER_MINUTE=1000000",
		"IP_REFRESH_BURST=1000000", "IP_REGISTER_PER_MINUTE=1000000", "IP_REGISTER_BURST=1000000")
	var reps []*process
	for range 3 {
		reps = append(reps, launch(t, bin, env))
	}
	for _, p := range reps {
		p.waitReady(t)
	}
	bases := []string{reps[0].base, reps[1].base, reps[2].base}

	t.Run("concurrent load", func(t *testing.T) {
		got := runLoad(t, bases, 12, 3*time.Second)
		t.Logf("answers: %v", got.counts)
		if len(got.unexpected) > 0 {
			t.Errorf("%d unexpected answers, first ones:\n%s", len(got.unexpected), strings.Join(got.unexpected[:min(10, len(got.unexpected))], "\n"))
		}
		if got.counts["refresh 200"] < 100 {
			t.Errorf("only %d refreshes: the load did not run", got.counts["refresh 200"])
		}
		for i, p := range reps {
			if bad := logProblems(t, p, nil); len(bad) > 0 {
				t.Errorf("replica %d logged:\n%s", i, strings.Join(bad, "\n"))
			}
		}
	})

	// The traffic really went through PgBouncer, in transaction mode, and
	// more clients than servers shared the pool.
	for _, pool := range b.admin(t, "SHOW POOLS") {
		if pool["database"] == name {
			t.Logf("PgBouncer pool: %v", pool)
			if got, want := pool["pool_mode"], "transaction"; got != want {
				t.Errorf("pool_mode = %q, want %q", got, want)
			}
		}
	}
	var clients, servers int
	for _, c := range b.admin(t, "SHOW CLIENTS") {
		if c["database"] == name {
			clients++
		}
	}
	for _, s := range b.admin(t, "SHOW SERVERS") {
		if s["database"] == name {
			servers++
		}
	}
	t.Logf("PgBouncer: %d client connections on %d server connections", clients, servers)
	if clients <= servers || servers > 5 {
		t.Errorf("%d client connections on %d server connections: want more clients than servers, and at most 5 servers", clients, servers)
	}

	a, bb, c := bases[0], bases[1], bases[2]
	reg := `{"name":"R","email":"%s","password":"password123","passwordConfirm":"password123","photo":""}`
	login := `{"email":"%s","password":"%s"}`
	for _, e := range []string{"pgb1@example.com", "pgb2@example.com", "pgb3@example.com"} {
		if st, _, _ := call(t, a, "POST", "/api/auth/register", sprintf(reg, e)); st != 201 {
			t.Fatalf("register %s: %d", e, st)
		}
	}
	t.Run("login on one, me on another", func(t *testing.T) {
		st, body, _ := call(t, a, "POST", "/api/auth/login", sprintf(login, "pgb1@example.com", "password123"))
		if st != 200 {
			t.Fatalf("login: %d", st)
		}
		if st, _, _ := call(t, bb, "GET", "/api/users/me", "", "Authorization", "Bearer "+body["access_token"].(string)); st != 200 {
			t.Errorf("me on B: %d", st)
		}
	})
	t.Run("revoked on one, dead on the others", func(t *testing.T) {
		st, body, refresh := call(t, a, "POST", "/api/auth/login", sprintf(login, "pgb1@example.com", "password123"))
		if st != 200 {
			t.Fatalf("login: %d", st)
		}
		access := body["access_token"].(string)
		if st, _, _ := call(t, bb, "POST", "/api/auth/logout", "", "Authorization", "Bearer "+access); st != 200 {
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
		for _, p := range []string{a, bb} {
			if st, _, _ := call(t, p, "POST", "/api/auth/login", sprintf(login, "pgb2@example.com", "wrong-password")); st != 400 {
				t.Fatalf("failed login: %d", st)
			}
		}
		if st, _, _ := call(t, c, "POST", "/api/auth/login", sprintf(login, "pgb2@example.com", "password123")); st != 429 {
			t.Errorf("login on C after two failures on A and B: %d", st)
		}
	})
	t.Run("rotated on one, reuse detected on another", func(t *testing.T) {
		_, _, r0 := call(t, a, "POST", "/api/auth/login", sprintf(login, "pgb3@example.com", "password123"))
		st, _, r1 := call(t, bb, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r0)
		if st != 200 || r1 == "" {
			t.Fatalf("refresh on B: %d", st)
		}
		if st, _, _ := call(t, c, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r0); st != 403 {
			t.Errorf("replay of the old token on C: %d", st)
		}
		if st, _, _ := call(t, a, "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+r1); st != 403 {
			t.Errorf("the successor on A after the replay: %d", st)
		}
	})
	reuse := []string{"refresh token reuse detected; session revoked"}
	for i, p := range reps {
		if bad := logProblems(t, p, reuse); len(bad) > 0 {
			t.Errorf("replica %d logged:\n%s", i, strings.Join(bad, "\n"))
		}
	}
}

// TestPgBouncerWithoutExecMode is the control: through the same pooler
// without default_query_exec_mode=exec, pgx's cached prepared statements
// meet server connections that do not have them, or already have them, and
// requests fail. If this passed without failures, TestPgBouncerReplicas
// would prove nothing.
func TestPgBouncerWithoutExecMode(t *testing.T) {
	bin := buildBinary(t)
	direct := dbtest.URL(t)
	b := startBouncer(t, direct, bouncerOptions{mode: "transaction", poolSize: 5})
	env := append(keyEnv(t, bin), "DATABASE_URL="+b.plainURL(dbName(t, direct)), "MIGRATE_ON_START=false",
		"DB_MAX_CONNS=8", "IP_LOGIN_PER_MINUTE=1000000", "IP_LOGIN_BURST=1000000", "IP_REFRESH_PER_MINUTE=1000000",
		"IP_REFRESH_BURST=1000000", "IP_REGISTER_PER_MINUTE=1000000", "IP_REGISTER_BURST=1000000")
	p := start(t, bin, env)
	var got loadResult
	for range 5 { // a busy machine may need more than one second of it
		got = runLoad(t, []string{p.base}, 8, time.Second)
		t.Logf("answers: %v; %d unexpected", got.counts, len(got.unexpected))
		if len(got.unexpected) > 0 {
			break
		}
	}
	if len(got.unexpected) == 0 {
		t.Fatal("every answer was as expected without the setting")
	}
	logs, _ := os.ReadFile(p.logs.Name())
	if !bytes.Contains(logs, []byte("prepared statement")) {
		t.Errorf("no prepared statement error in the log:\n%s", logs)
	}
}

// loadResult counts answers by "what status" and lists the unexpected ones.
type loadResult struct {
	counts     map[string]int
	unexpected []string
}

// runLoad registers one user per worker, then each worker logs in and,
// until d has passed, asks /api/users/me, refreshes (rotating its refresh
// token) and now and then logs in again, each request on the next of bases.
// Every answer must be 200 (201 for registration).
func runLoad(t *testing.T, bases []string, workers int, d time.Duration) loadResult {
	t.Helper()
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var (
		mu  sync.Mutex
		res = loadResult{counts: map[string]int{}}
	)
	note := func(what string, status int, want int, body []byte) bool {
		mu.Lock()
		defer mu.Unlock()
		res.counts[what+" "+strconv.Itoa(status)]++
		if status != want {
			res.unexpected = append(res.unexpected, fmt.Sprintf("%s: %d %s", what, status, bytes.TrimSpace(body)))
			return false
		}
		return true
	}
	do := func(base, method, path, body string, hdr ...string) (int, []byte, string) {
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
		resp, err := client.Do(req)
		if err != nil {
			return -1, []byte(err.Error()), ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		refresh := ""
		for _, c := range resp.Cookies() {
			if c.Name == "refresh_token" {
				refresh = c.Value
			}
		}
		return resp.StatusCode, b, refresh
	}
	accessOf := func(body []byte) string {
		var m struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal(body, &m)
		return m.AccessToken
	}

	var wg sync.WaitGroup
	stop := time.Now().Add(d)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := w // which replica is next
			next := func() string { n++; return bases[n%len(bases)] }
			email := fmt.Sprintf("load%d-%d@example.com", w, time.Now().UnixNano())
			st, body, _ := do(next(), "POST", "/api/auth/register",
				sprintf(`{"name":"L","email":"%s","password":"password123","passwordConfirm":"password123","photo":""}`, email))
			if !note("register", st, 201, body) {
				return
			}
			login := func() (string, string, bool) {
				st, body, refresh := do(next(), "POST", "/api/auth/login", sprintf(`{"email":"%s","password":"password123"}`, email))
				return accessOf(body), refresh, note("login", st, 200, body)
			}
			access, refresh, ok := login()
			for i := 0; ok && time.Now().Before(stop); i++ {
				st, body, _ := do(next(), "GET", "/api/users/me", "", "Authorization", "Bearer "+access)
				if !note("me", st, 200, body) {
					return
				}
				st, body, r := do(next(), "POST", "/api/auth/refresh", "", "Cookie", "refresh_token="+refresh)
				if !note("refresh", st, 200, body) {
					return
				}
				access, refresh = accessOf(body), r
				if i%50 == 49 {
					access, refresh, ok = login()
				}
			}
		}()
	}
	wg.Wait()
	return res
}

// logProblems returns the log lines of p at warn or above, or that do not
// parse, except those whose message is in allowed.
func logProblems(t *testing.T, p *process, allowed []string) []string {
	t.Helper()
	f, err := os.Open(p.logs.Name())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var bad []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct{ Level, Msg string }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			bad = append(bad, sc.Text())
			continue
		}
		if line.Level != "DEBUG" && line.Level != "INFO" && !slices.Contains(allowed, line.Msg) {
			bad = append(bad, sc.Text())
		}
	}
	return bad
}
