//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/testenv"
)

// secretPassword is put in database URLs to check that no log shows it.
const secretPassword = "pw-never-logged-7f3a"

// withPassword returns a dbtest URL with secretPassword in it; the test
// server trusts every local connection, so it is never asked for.
func withPassword(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secretPassword)
	return u.String()
}

// TestStartWhileDatabaseDown: authd started while PostgreSQL is down is
// live (/healthz 200) and not ready (/readyz 503, the API 503 with
// Retry-After), logs each failed try at warn without the password, and once
// the database is started it becomes ready and serves a login. The same
// holds with PgBouncer in between, which is up while the server is not and
// answers with errors of its own.
func TestStartWhileDatabaseDown(t *testing.T) {
	bin := buildBinary(t)
	for _, via := range []string{"direct", "pgbouncer"} {
		t.Run(via, func(t *testing.T) {
			s := dbtest.NewCluster(t)
			direct := s.URL(t)
			env := append(keyEnv(t, bin), "DB_STARTUP_WAIT=2m")
			if via == "direct" {
				env = append(env, "DATABASE_URL="+withPassword(t, direct))
			} else {
				b := startBouncer(t, direct, bouncerOptions{mode: "transaction"})
				// As docs/operations.md has it: servers that do not migrate.
				env = append(env, "DATABASE_URL="+withPassword(t, b.URL(dbName(t, direct))), "MIGRATE_ON_START=false")
			}
			s.Stop(t)
			start := time.Now()
			p := launch(t, bin, env)
			waitLog(t, p, "database not reachable; trying again")
			// A try ends within DB_TIMEOUT (3s): through PgBouncer, closing
			// the pool of a timed-out ping could take 15 s more.
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("first failed try logged after %s", took)
			}

			for _, tt := range []struct {
				method, path string
				status       int
				code         string // the envelope's code; "" for none
			}{
				{"GET", "/healthz", 200, ""},
				{"GET", "/readyz", 503, "not_ready"},
				{"GET", "/api/healthchecker", 503, "not_ready"},
				{"POST", "/api/auth/login", 503, "unavailable"},
				{"GET", "/api/users/me", 503, "unavailable"},
			} {
				status, hdr, body := get(t, tt.method, p.base+tt.path)
				var env struct{ Status, Code string }
				if err := json.Unmarshal(body, &env); err != nil {
					t.Errorf("%s %s: not JSON: %s", tt.method, tt.path, body)
				}
				if status != tt.status || env.Code != tt.code {
					t.Errorf("%s %s while the database is down: %d %s, want %d with code %q", tt.method, tt.path, status, body, tt.status, tt.code)
				}
				if status == 503 && hdr.Get("Retry-After") != "2" {
					t.Errorf("%s %s: Retry-After %q, want 2", tt.method, tt.path, hdr.Get("Retry-After"))
				}
			}

			s.Start(t)
			p.waitReady(t)
			if st, _, body := get(t, "GET", p.base+"/api/healthchecker"); st != 200 || string(body) != `{"status":"success","message":"Welcome to authd"}`+"\n" {
				t.Errorf("/api/healthchecker once ready: %d %s", st, body)
			}
			reg := `{"name":"S","email":"late@example.com","password":"password123","passwordConfirm":"password123","photo":""}`
			if st, _, _ := call(t, p.base, "POST", "/api/auth/register", reg); st != 201 {
				t.Fatalf("register after the database came up: %d", st)
			}
			if st, _, _ := call(t, p.base, "POST", "/api/auth/login", `{"email":"late@example.com","password":"password123"}`); st != 200 {
				t.Errorf("login after the database came up: %d", st)
			}

			logs, _ := os.ReadFile(p.logs.Name())
			if bytes.Contains(logs, []byte(secretPassword)) {
				t.Error("the log shows the database password")
			}
			for line := range strings.SplitSeq(string(logs), "\n") {
				var l struct{ Level, Msg, Error string }
				if json.Unmarshal([]byte(line), &l) != nil || l.Msg != "database not reachable; trying again" {
					continue
				}
				if l.Level != "WARN" || !strings.Contains(l.Error, "database unavailable") {
					t.Errorf("want a warning with the classified error: %s", line)
				}
			}
			if !bytes.Contains(logs, []byte(`"msg":"database reachable"`)) {
				t.Error("no log line says the database became reachable")
			}
		})
	}
}

// TestStartGivesUp: authd retries an unreachable database for
// DB_STARTUP_WAIT and then exits 1 saying why; an error that retrying
// cannot mend (here an unknown database) ends it at once.
func TestStartGivesUp(t *testing.T) {
	bin := buildBinary(t)
	keys := keyEnv(t, bin)
	unreachable := "postgres://postgres:" + secretPassword + "@127.0.0.1:" + testenv.FreePort(t) + "/authd?sslmode=disable"
	unknown := withPassword(t, strings.Replace(dbtest.URL(t), "/t_", "/missing_", 1))
	tests := []struct {
		name     string
		url      string
		wait     string
		min, max time.Duration // how long until it exits
		want     string
	}{
		{"unreachable", unreachable, "3s", 3 * time.Second, 15 * time.Second, "database not reachable within DB_STARTUP_WAIT (3s, "},
		{"unreachable, one try", unreachable, "0s", 0, 5 * time.Second, "database not reachable within DB_STARTUP_WAIT (0s, 1 tries)"},
		{"unknown database", unknown, "1m", 0, 10 * time.Second, "does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			p := launch(t, bin, append(keys, "DATABASE_URL="+tt.url, "DB_STARTUP_WAIT="+tt.wait))
			var err error
			select {
			case err = <-p.done:
				p.done <- err
			case <-time.After(tt.max):
				t.Fatalf("still running after %s", tt.max)
			}
			took := time.Since(start)
			if code := exitCode(err); code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if took < tt.min {
				t.Errorf("exited after %s, before DB_STARTUP_WAIT=%s", took, tt.wait)
			}
			logs, _ := os.ReadFile(p.logs.Name())
			if !bytes.Contains(logs, []byte(tt.want)) {
				t.Errorf("output does not say %q:\n%s", tt.want, logs)
			}
			if bytes.Contains(logs, []byte(secretPassword)) {
				t.Errorf("the output shows the database password:\n%s", logs)
			}
		})
	}
}

// waitLog waits until p's log contains s.
func waitLog(t *testing.T, p *process, s string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(p.logs.Name())
		if bytes.Contains(b, []byte(s)) {
			return
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("authd exited (%v) before logging %q:\n%s", err, s, b)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd did not log %q within 20s:\n%s", s, b)
		}
	}
}

// get sends one request without a body and returns status, headers and body.
func get(t *testing.T, method, url string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestSIGTERMWhileWaiting: a process still waiting for its database stops
// waiting on SIGTERM and exits 0, as it would when serving.
func TestSIGTERMWhileWaiting(t *testing.T) {
	bin := buildBinary(t)
	unreachable := "postgres://postgres@127.0.0.1:" + testenv.FreePort(t) + "/authd?sslmode=disable"
	p := launch(t, bin, append(keyEnv(t, bin), "DATABASE_URL="+unreachable, "DB_STARTUP_WAIT=1m"))
	waitLog(t, p, "database not reachable; trying again")
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if code := exitCode(err); code != 0 {
			b, _ := os.ReadFile(p.logs.Name())
			t.Errorf("exit code = %d, want 0\n%s", code, b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting 10s after SIGTERM")
	}
}
