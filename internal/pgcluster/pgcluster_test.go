package pgcluster_test

import (
	"context"
	"errors"
	"fmt"
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

// newCluster makes a cluster for a test and closes it at Cleanup. Without
// PostgreSQL it skips, unless CI is set: then it fails.
func newCluster(t *testing.T, opts pgcluster.Options) *pgcluster.Cluster {
	t.Helper()
	c, err := pgcluster.New(t.Context(), opts)
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		testenv.Missing(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(context.Background()); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

func query(t *testing.T, url, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func mustQuery(t *testing.T, url, sql string) string {
	t.Helper()
	s, err := query(t, url, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func mustExec(t *testing.T, url, sql string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// A throwaway cluster: fsync off, the given settings, socket only; it stops
// and starts again with its data, and Close removes its directory.
func TestThrowaway(t *testing.T) {
	t.Parallel()
	c := newCluster(t, pgcluster.Options{Settings: map[string]string{"work_mem": "5MB"}})
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("Start of a running server: %v", err)
	}
	for _, tc := range []struct{ setting, want string }{
		{"fsync", "off"}, {"synchronous_commit", "off"}, {"full_page_writes", "off"},
		{"listen_addresses", ""}, {"work_mem", "5MB"}, {"port", "5432"},
	} {
		if got := mustQuery(t, c.URL("postgres"), "SHOW "+tc.setting); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.setting, got, tc.want)
		}
	}

	for range 2 { // the second time it exists: no error
		if err := c.CreateDatabase(t.Context(), "my-db"); err != nil {
			t.Fatal(err)
		}
	}
	url := c.URL("my-db")
	if got, want := mustQuery(t, url, "SELECT current_database()"), "my-db"; got != want {
		t.Errorf("current_database() = %q, want %q", got, want)
	}
	mustExec(t, url, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")

	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := query(t, url, "SELECT 1::text"); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop of a stopped server: %v", err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, want := mustQuery(t, url, "SELECT v FROM kept"), "yes"; got != want {
		t.Errorf("after restart: %q, want %q", got, want)
	}

	dir := filepath.Dir(c.LogPath())
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory %s after Close: %v", dir, err)
	}
}

// A persistent, durable, detached cluster: a second Cluster on the same
// directory (a later process) finds the server running and can stop it; the
// data directory and the data survive, and a long directory gets its socket
// in /tmp.
func TestPersistent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		long bool
	}{{"short dir", false}, {"long dir", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(shortTempDir(t), "pg")
			if tc.long {
				dir = filepath.Join(dir, strings.Repeat("d", 100))
			}
			opts := pgcluster.Options{Dir: dir, Durable: true, Detach: true}
			first := newCluster(t, opts)
			if err := first.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, want := first.LogPath(), filepath.Join(dir, "postgres.log"); got != want {
				t.Errorf("LogPath() = %q, want %q", got, want)
			}
			host := hostOf(t, first.URL("x"))
			if inDir := host == dir; inDir == tc.long {
				t.Errorf("socket directory %s for cluster directory %s", host, dir)
			}
			if tc.long {
				t.Cleanup(func() { os.RemoveAll(host) })
			}
			for _, s := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
				if got := mustQuery(t, first.URL("postgres"), "SHOW "+s); got != "on" {
					t.Errorf("%s = %q, want on", s, got)
				}
			}
			if err := first.CreateDatabase(t.Context(), "authd"); err != nil {
				t.Fatal(err)
			}
			mustExec(t, first.URL("authd"), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('yes')")
			started := mustQuery(t, first.URL("postgres"), "SELECT pg_postmaster_start_time()::text")

			second := newCluster(t, opts)
			if got, want := second.URL("authd"), first.URL("authd"); got != want {
				t.Errorf("second URL %q, want %q", got, want)
			}
			if err := second.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := mustQuery(t, second.URL("postgres"), "SELECT pg_postmaster_start_time()::text"); got != started {
				t.Errorf("Start of a running detached server started another (%s, was %s)", got, started)
			}
			if err := second.Stop(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := query(t, first.URL("postgres"), "SELECT 1::text"); err == nil {
				t.Fatal("connected after Stop from a second Cluster")
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("postmaster.pid after Stop: %v", err)
			}
			if err := first.Stop(t.Context()); err != nil {
				t.Fatalf("Stop of a server another Cluster stopped: %v", err)
			}

			third := newCluster(t, opts)
			if err := third.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got, want := mustQuery(t, third.URL("authd"), "SELECT v FROM kept"), "yes"; got != want {
				t.Errorf("after restart: %q, want %q", got, want)
			}
			if err := third.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err != nil {
				t.Errorf("Close removed a persistent data directory: %v", err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("cluster directory mode %v (%v), want 0700: the socket trusts everyone who reaches it", fi.Mode().Perm(), err)
			}
		})
	}
}

// A stopped detached cluster whose postmaster.pid is left over from a crash
// and names a live process that is not its server: Stop leaves that process
// alone, and Start starts the server.
func TestStalePIDFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(shortTempDir(t), "pg")
	opts := pgcluster.Options{Dir: dir, Detach: true}
	c := newCluster(t, opts)
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop of a cluster never started: %v", err)
	}
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	pidFile := filepath.Join(dir, "data", "postmaster.pid")
	stale := fmt.Sprintf("%d\n%s\n", other.Process.Pid, filepath.Join(dir, "data"))
	if err := os.WriteFile(pidFile, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop with a stale postmaster.pid: %v", err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the process named by the stale postmaster.pid: %v", err)
	}
	// postgres itself refuses a lock file naming a live process that it may
	// not signal (a root-owned sleep), so the stale one goes first.
	os.Remove(pidFile)
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustQuery(t, c.URL("postgres"), "SELECT 1::text")
}

// A server that cannot start says why, with its log, and does not hang.
func TestStartFails(t *testing.T) {
	t.Parallel()
	c := newCluster(t, pgcluster.Options{Settings: map[string]string{"no_such_setting": "1"}})
	err := c.Start(t.Context())
	if err == nil {
		t.Fatal("Start with an unknown setting succeeded")
	}
	if !strings.Contains(err.Error(), "no_such_setting") {
		t.Errorf("error does not show the server log: %v", err)
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := pgcluster.FindBinDir()
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		testenv.Missing(t, err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
}

// shortTempDir is a temporary directory short enough for a socket path: the
// testing package's names the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgc-")
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// The postgres user must reach the cluster directory inside.
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func hostOf(t *testing.T, url string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Host
}

// StartChild runs a command whose exit Done reports, with its error.
func TestStartChild(t *testing.T) {
	p, err := pgcluster.StartChild(exec.Command("sh", "-c", "exit 3"), nil)
	if err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	var exit *exec.ExitError
	if !errors.As(p.Err(), &exit) || exit.ExitCode() != 3 {
		t.Errorf("Err() = %v, want exit status 3", p.Err())
	}

	p, err = pgcluster.StartChild(exec.Command("sleep", "60"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after Kill")
	}
	if _, err := pgcluster.StartChild(exec.Command("/nonexistent/binary"), nil); err == nil {
		t.Error("StartChild of a missing binary: no error")
	}
}
