//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// bouncer is a PgBouncer (the Debian package's binary) in front of the
// test PostgreSQL, listening on loopback TCP.
type bouncer struct {
	addr string // 127.0.0.1:PORT
	dir  string // its ini, user list and log
}

// bouncerOptions tune startBouncer's PgBouncer.
type bouncerOptions struct {
	mode     string // pool_mode: transaction, session or statement
	poolSize int    // default_pool_size; 0: 20
	extra    string // more [pgbouncer] settings, one a line
}

// startBouncer starts PgBouncer in front of the server of pgURL (a dbtest
// URL: the server's socket directory as host). Every database of that
// server is reachable through it under its own name. It runs as the owner
// of the socket directory (PgBouncer refuses root) and is stopped at
// t.Cleanup. Without the binary the test skips, or fails under CI.
func startBouncer(t *testing.T, pgURL string, o bouncerOptions) *bouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		bin = "/usr/sbin/pgbouncer" // Debian's, off an unprivileged PATH
		if _, serr := os.Stat(bin); serr != nil {
			testenv.Missing(t, "pgbouncer is not installed (apt-get install pgbouncer)")
		}
	}
	pg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(pg.Host, "/") {
		testenv.Missing(t, "PgBouncer is set up for a socket-only test server, not "+pg.Host)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		fi, err := os.Stat(pg.Host)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
	}

	dir, err := os.MkdirTemp("", "authd-pgb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if o.poolSize == 0 {
		o.poolSize = 20
	}
	b := &bouncer{addr: "127.0.0.1:" + testenv.FreePort(t), dir: dir}
	_, port, _ := net.SplitHostPort(b.addr)
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %s
unix_socket_dir =
auth_type = trust
auth_file = %s
admin_users = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 1000
; authd sends these as start-up parameters; PgBouncer refuses unknown ones.
ignore_startup_parameters = statement_timeout,lock_timeout,idle_in_transaction_session_timeout
; after a failed server login PgBouncer waits this long (default 15s) before the next
server_login_retry = 1
logfile = %s
log_connections = 0
log_disconnections = 0
%s
`, pg.Host, pg.Port, port, filepath.Join(dir, "users.txt"), pg.User, o.mode, o.poolSize, b.LogPath(), o.extra)
	files := map[string]string{
		"pgbouncer.ini": ini,
		"users.txt":     fmt.Sprintf("%q \"\"\n", pg.User),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if cred != nil {
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "users.txt")} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}

	cmd := exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := pgcluster.StartChild(cmd, cred)
	if err != nil {
		t.Fatalf("start %s: %v", cmd.Path, err)
	}
	t.Cleanup(func() {
		proc.Signal(syscall.SIGINT) // safe shutdown
		select {
		case <-proc.Done():
		case <-time.After(5 * time.Second):
			proc.Kill()
		}
		if t.Failed() {
			t.Logf("pgbouncer log:\n%s", b.log())
		}
	})

	// Ready once a query goes through it to the server.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := b.ping(t.Context(), b.URL(pg.Database))
		if err == nil {
			return b
		}
		select {
		case <-proc.Done():
			t.Fatalf("pgbouncer exited: %s", b.log())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer not answering after 20s: %v\n%s", err, b.log())
		}
	}
}

// URL is the connection string of database name through PgBouncer, with
// the setting docs/operations.md gives for transaction pooling.
func (b *bouncer) URL(name string) string {
	return b.plainURL(name) + "&default_query_exec_mode=exec"
}

// plainURL is URL without the setting: pgx's default, cached prepared statements.
func (b *bouncer) plainURL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: b.addr, Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// admin runs one SHOW command on PgBouncer's admin console and returns
// its rows, each as column name to value.
func (b *bouncer) admin(t *testing.T, show string) []map[string]string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), strings.Replace(b.plainURL("pgbouncer"), "sslmode=disable",
		"sslmode=disable&default_query_exec_mode=simple_protocol", 1))
	if err != nil {
		t.Fatalf("pgbouncer admin console: %v", err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), show)
	if err != nil {
		t.Fatalf("%s: %v", show, err)
	}
	defer rows.Close()
	var out []map[string]string
	for rows.Next() {
		vals := rows.RawValues()
		row := map[string]string{}
		for i, f := range rows.FieldDescriptions() {
			row[f.Name] = string(vals[i])
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", show, err)
	}
	return out
}

// LogPath is PgBouncer's log file.
func (b *bouncer) LogPath() string { return filepath.Join(b.dir, "pgbouncer.log") }

// log is PgBouncer's log, or what it printed if it stopped before opening it.
func (b *bouncer) log() string {
	if l, err := os.ReadFile(b.LogPath()); err == nil && len(l) > 0 {
		return string(l)
	}
	e, _ := os.ReadFile(filepath.Join(b.dir, "stderr"))
	return string(e)
}

func (b *bouncer) ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return err
	}
	if one != 1 {
		return errors.New("SELECT 1 did not return 1")
	}
	return nil
}

// dbName is the database name of a dbtest URL.
func dbName(t *testing.T, pgURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(pgURL)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Database
}
