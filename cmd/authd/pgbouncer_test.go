//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/sql/schema"
)

// TestPgBouncerReplicas runs three authd processes through a real PgBouncer
// in transaction pooling mode, with the one setting docs/operations.md gives
// (default_query_exec_mode=exec) and migrations on a direct connection
// (MIGRATE_DATABASE_URL). Few server connections are shared by many client
// connections, so any statement that relied on session state (a prepared
// statement, a SET, a session lock) would fail here. Every piece of shared
// state still holds across replicas, and a concurrent load of logins,
// refreshes and /me gets only the answers it expects, with no warning or
// error in any replica's log.
func TestPgBouncerReplicas(t *testing.T) {
	bin := buildBinary(t)
	direct := dbtest.EmptyURL(t)
	b := startBouncer(t, direct, bouncerOptions{mode: "transaction", poolSize: 5})
	name := dbName(t, direct)
	env := append(keyEnv(t, bin), "DATABASE_URL="+b.URL(name), "MIGRATE_DATABASE_URL="+direct,
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

// TestAdvisoryLockThroughTransactionPooler shows why migrations must not go
// through a transaction pooler: golang-migrate's pg_advisory_lock is taken
// by whichever server connection ran the statement, and stays with it.
// A second client is then handed that connection and "gets" the lock too,
// and the lock outlives the client that took it.
func TestAdvisoryLockThroughTransactionPooler(t *testing.T) {
	direct := dbtest.URL(t)
	b := startBouncer(t, direct, bouncerOptions{mode: "transaction"})
	ctx := t.Context()
	first := connect(t, b.URL(dbName(t, direct)))
	second := connect(t, b.URL(dbName(t, direct)))
	const key = 4242
	if _, err := first.Exec(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		t.Fatal(err)
	}
	var got bool
	if err := second.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if !got {
		t.Error("the second client did not get the lock the first holds: the pooler kept the first one's session")
	}
	first.Close(ctx)
	second.Close(ctx)
	var held int
	if err := connect(t, direct).QueryRow(ctx,
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted", key).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if held != 1 {
		t.Errorf("%d server sessions hold the lock after both clients closed, want 1 (left behind on a pooled connection)", held)
	}
}

// TestMigrateThroughPgBouncer: `authd migrate up` refuses a URL that goes
// through a transaction or statement pooler, before it creates or locks
// anything, and says what to do; through a session pooler it migrates; and
// with MIGRATE_DATABASE_URL it migrates there while DATABASE_URL goes
// through the pooler.
func TestMigrateThroughPgBouncer(t *testing.T) {
	bin := buildBinary(t)
	keys := keyEnv(t, bin)
	tests := []struct {
		name    string
		opts    bouncerOptions
		direct  bool // set MIGRATE_DATABASE_URL to the direct URL
		refused bool
	}{
		{"transaction", bouncerOptions{mode: "transaction"}, false, true},
		{"transaction, pool of one", bouncerOptions{mode: "transaction", poolSize: 1}, false, true},
		{"statement", bouncerOptions{mode: "statement"}, false, true},
		{"session", bouncerOptions{mode: "session"}, false, false},
		{"transaction with MIGRATE_DATABASE_URL", bouncerOptions{mode: "transaction"}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			direct := dbtest.EmptyURL(t)
			b := startBouncer(t, direct, tt.opts)
			env := append(keys, "DATABASE_URL="+b.URL(dbName(t, direct)))
			if tt.direct {
				env = append(env, "MIGRATE_DATABASE_URL="+direct)
			}
			cmd := exec.Command(bin, "migrate", "up")
			cmd.Dir = t.TempDir()
			cmd.Env = env
			out, err := cmd.CombinedOutput()
			t.Logf("authd migrate up: %s", out)
			var tables, locks int
			probe := connect(t, direct)
			probe.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_migrations'").Scan(&tables)
			probe.QueryRow(t.Context(), "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").Scan(&locks)
			if locks != 0 {
				t.Errorf("%d advisory locks held after authd migrate up", locks)
			}
			if !tt.refused {
				if err != nil || !strings.Contains(string(out), sprintf("schema version %d", schema.Version)) {
					t.Errorf("migrate up: %v %s", err, out)
				}
				return
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			for _, want := range []string{"DATABASE_URL cannot be used to migrate", "transaction pooler", "set MIGRATE_DATABASE_URL"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("output does not say %q", want)
				}
			}
			if tables != 0 {
				t.Error("the refused migration created schema_migrations")
			}
		})
	}
}

// TestMigrateOnStartThroughPgBouncer: serve with MIGRATE_ON_START and no
// MIGRATE_DATABASE_URL, through a transaction pooler, exits 1 at once with
// the same advice: no retrying can make that URL safe.
func TestMigrateOnStartThroughPgBouncer(t *testing.T) {
	bin := buildBinary(t)
	direct := dbtest.EmptyURL(t)
	b := startBouncer(t, direct, bouncerOptions{mode: "transaction"})
	p := launch(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+b.URL(dbName(t, direct)), "DB_STARTUP_WAIT=1m"))
	select {
	case err := <-p.done:
		p.done <- err
		if code := exitCode(err); code != 1 {
			t.Errorf("exit code = %d, want 1", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve still running 20s after start: it should refuse at once")
	}
	logs, _ := os.ReadFile(p.logs.Name())
	if !bytes.Contains(logs, []byte("DATABASE_URL cannot be used to migrate")) {
		t.Errorf("no refusal in the output:\n%s", logs)
	}
}

// connect opens a connection for the test, closed at t.Cleanup.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestSessionCheck: the check before migrating tells a transaction pooler
// from a session pooler while other clients keep the pool busy, as authd's
// replicas do while a migration job runs. One round of the check alone
// missed a busy transaction pooler about once in eight tries with
// server_round_robin set (never without it); the ten rounds it makes missed
// none of 4000 tries. This makes 20 tries in each mode.
func TestSessionCheck(t *testing.T) {
	direct := dbtest.URL(t)
	tests := []struct {
		name   string
		opts   bouncerOptions
		pooled bool
	}{
		{"transaction", bouncerOptions{mode: "transaction"}, true},
		{"transaction, round robin", bouncerOptions{mode: "transaction", extra: "server_round_robin = 1"}, true},
		{"session", bouncerOptions{mode: "session", poolSize: 40}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := startBouncer(t, direct, tt.opts)
			url := b.URL(dbName(t, direct))
			ctx, cancel := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			defer wg.Wait()
			defer cancel()
			for range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := pgx.Connect(ctx, url)
					if err != nil {
						return
					}
					defer c.Close(context.Background())
					for ctx.Err() == nil {
						c.Exec(ctx, "SELECT pg_sleep(0.002)")
					}
				}()
			}
			for i := range 20 {
				_, _, err := db.MigrationVersion(t.Context(), url)
				if got := errors.Is(err, db.ErrPooled); got != tt.pooled {
					t.Fatalf("try %d: MigrationVersion = %v, want ErrPooled %v", i, err, tt.pooled)
				}
				if !tt.pooled && err != nil {
					t.Fatalf("try %d: %v", i, err)
				}
			}
		})
	}
}
