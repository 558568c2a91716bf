package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
)

// port is fixed: every server has its own socket directory, and naming the
// port in the URLs and on the command line keeps PGPORT from moving either end.
const port = "5432"

// Server is a PostgreSQL server that tests get databases from: the shared
// throwaway one (Cluster), a private one (NewCluster), or the existing one at
// TEST_DATABASE_URL.
type Server struct {
	base     string // URL of the maintenance database; database URLs are derived from it
	template string // name of the migrated database every test database is cloned from

	// Only for servers this package started; dir is "" for TEST_DATABASE_URL.
	dir  string              // temporary directory: socket, postgres.log, data/
	bin  string              // directory holding initdb and postgres
	cred *syscall.Credential // user to run them as when we are root; nil otherwise

	mu   sync.Mutex // guards proc
	proc *process   // nil while stopped

	// cloneMu makes the template once and then serialises the clones.
	// PostgreSQL refuses CREATE DATABASE ... TEMPLATE while anyone is connected
	// to the template; version 15 does allow two clones at once, but they
	// only compete for the same disk and CPU.
	cloneMu  sync.Mutex
	migrated bool // the template exists and is migrated; guarded by cloneMu
}

// URL returns the connection string of a fresh database on this server,
// cloned from the migrated template and dropped at t.Cleanup.
func (s *Server) URL(t testing.TB) string {
	t.Helper()
	return s.newDatabase(t, true)
}

// EmptyURL is like URL, but the database has no schema at all: for tests
// of migrating it.
func (s *Server) EmptyURL(t testing.TB) string {
	t.Helper()
	return s.newDatabase(t, false)
}

func (s *Server) newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	name := "t_" + randomHex()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var err error
	if migrated {
		err = s.clone(ctx, name)
	} else {
		err = s.exec(ctx, "CREATE DATABASE "+ident(name))
	}
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(func() {
		// A stopped server is being thrown away whole (NewCluster, or Main
		// for the shared one): there is nothing to connect to and no need.
		if !s.running() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return s.databaseURL(name)
}

// Stop shuts the server down fast (SIGINT: clients are disconnected and open
// transactions rolled back) and waits for it to exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if s.dir == "" {
		skipOrFail(t, "dbtest: cannot stop the server at TEST_DATABASE_URL; a test that stops the database should use NewCluster")
	}
	if err := s.stop(t.Context()); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// Start starts a stopped server again on the same data directory and socket
// and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.dir == "" {
		skipOrFail(t, "dbtest: cannot start the server at TEST_DATABASE_URL; a test that stops the database should use NewCluster")
	}
	if err := s.start(t.Context()); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// externalServer uses the server at rawURL; databases are made on it with
// random names so that test binaries running at once do not collide.
func externalServer(ctx context.Context, rawURL string) (*Server, error) {
	if _, err := pgx.ParseConfig(rawURL); err != nil {
		// The error may quote the URL, password included: do not show it.
		return nil, errors.New("TEST_DATABASE_URL is not a valid connection string")
	}
	s := &Server{base: rawURL, template: "authd_template_" + randomHex()}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ping(ctx, rawURL); err != nil {
		return nil, fmt.Errorf("connect to TEST_DATABASE_URL: %w", err)
	}
	return s, nil
}

// startServer makes a new data directory with initdb and starts postgres on
// it, listening on a socket only.
func startServer(ctx context.Context) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir()
	if err != nil {
		return nil, err
	}
	s := &Server{
		base:     socketURL(dir, "postgres"),
		template: "authd_template",
		dir:      dir,
		bin:      bin,
		cred:     cred,
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, errors.Join(fmt.Errorf("hand the server directory to the postgres user: %w", err), os.RemoveAll(dir))
		}
	}
	if err := s.initdb(ctx); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return s, nil
}

// findBinaries returns the directory of initdb and postgres: that of initdb on
// PATH, else pg_config --bindir, else the newest /usr/lib/postgresql/*/bin
// (Debian and Ubuntu keep the server off PATH).
func findBinaries() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a)) // newest first
	})
	dirs = append(dirs, versioned...)
	for _, d := range dirs {
		// initdb on PATH may be a symbolic link into the real directory.
		initdb, err := filepath.EvalSymlinks(filepath.Join(d, "initdb"))
		if err != nil {
			continue
		}
		bin := filepath.Dir(initdb)
		if isExecutable(initdb) && isExecutable(filepath.Join(bin, "postgres")) {
			return bin, nil
		}
	}
	return "", fmt.Errorf("%w (looked for initdb on PATH, in pg_config --bindir and in /usr/lib/postgresql/*/bin)", errNoBinaries)
}

// dirVersion reads 15 or 9.6 from /usr/lib/postgresql/<version>/bin.
func dirVersion(dir string) []int {
	var v []int
	for f := range strings.SplitSeq(filepath.Base(filepath.Dir(dir)), ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		v = append(v, n)
	}
	return v
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// credential returns the user to run initdb and postgres as: both refuse to
// run as root, so root runs them as postgres (or nobody).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: uid %q: %w", name, u.Uid, err))
			continue
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %s: gid %q: %w", name, u.Gid, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, fmt.Errorf("running as root, and no user to run PostgreSQL as: %w", errors.Join(errs...))
}

// tempDir makes the server directory. The socket path inside it must fit in
// sun_path (108 bytes), so a long TMPDIR (macOS) falls back to /tmp.
func tempDir() (string, error) {
	const maxLen = 100 - len("/.s.PGSQL."+port)
	dir, err := os.MkdirTemp("", "authd-pg-")
	if err == nil && len(dir) > maxLen {
		os.Remove(dir)
		dir, err = os.MkdirTemp("/tmp", "authd-pg-")
	}
	if err != nil {
		return "", fmt.Errorf("server directory: %w", err)
	}
	return dir, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logPath() string { return filepath.Join(s.dir, "postgres.log") }

func (s *Server) initdb(ctx context.Context) error {
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "-N")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("initdb: %w", ctx.Err())
	}
	if p.err != nil {
		return fmt.Errorf("initdb: %w\n%s", p.err, tail(out.Bytes()))
	}
	return nil
}

// start starts postgres unless it is running and waits for a real connection:
// the socket file appears before the server accepts connections.
func (s *Server) start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	logFile, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close() // postgres has its own descriptor once started
	cmd := s.command("postgres", "-D", s.dataDir(), "-k", s.dir, "-p", port,
		"-c", "listen_addresses=", // socket only: no TCP port to collide on
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=200",
		"-c", "shared_buffers=32MB",
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := s.waitReady(ctx, p); err != nil {
		p.kill()
		return fmt.Errorf("start postgres: %w\n%s", err, s.logTail())
	}
	s.proc = p
	return nil
}

func (s *Server) waitReady(ctx context.Context, p *process) error {
	const limit = 30 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ping(ctx, s.base)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("no connection within %s (%w): %w", limit, ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// stop shuts postgres down fast and waits for it to exit.
func (s *Server) stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	// SIGINT is PostgreSQL's fast shutdown, what pg_ctl stop -m fast sends.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return fmt.Errorf("stop postgres: %w", err)
	}
	const limit = 30 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("stop postgres: killed, still running after SIGINT (%w)\n%s", ctx.Err(), s.logTail())
	}
	if p.err != nil {
		return fmt.Errorf("stop postgres: %w\n%s", p.err, s.logTail())
	}
	return nil
}

func (s *Server) running() bool {
	if s.dir == "" {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// close releases the server for good: a started server is stopped and its
// directory removed; on TEST_DATABASE_URL the template is dropped.
func (s *Server) close(ctx context.Context) error {
	if s.dir != "" {
		return errors.Join(s.stop(ctx), os.RemoveAll(s.dir))
	}
	s.cloneMu.Lock()
	defer s.cloneMu.Unlock()
	if !s.migrated {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+ident(s.template)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop template %s: %w", s.template, err)
	}
	return nil
}

// clone creates database name from the template, migrating the template first
// if this is the server's first clone.
func (s *Server) clone(ctx context.Context, name string) error {
	s.cloneMu.Lock()
	defer s.cloneMu.Unlock()
	if !s.migrated {
		if err := s.makeTemplate(ctx); err != nil {
			return err
		}
		s.migrated = true
	}
	if err := s.exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(s.template)); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (s *Server) makeTemplate(ctx context.Context) error {
	tmpl := ident(s.template)
	// An earlier attempt may have failed halfway.
	if err := s.exec(ctx, "DROP DATABASE IF EXISTS "+tmpl+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop old template: %w", err)
	}
	if err := s.exec(ctx, "CREATE DATABASE "+tmpl+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	if err := db.MigrateUp(ctx, s.databaseURL(s.template)); err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	// Cloning fails (after PostgreSQL retries for 5 s) while anyone is
	// connected to the template. Let nobody in, and wait until the
	// migrator's sessions have ended: closing the client side does not wait.
	if err := s.exec(ctx, "ALTER DATABASE "+tmpl+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return fmt.Errorf("close template: %w", err)
	}
	conn, err := pgx.Connect(ctx, s.base)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var n int
		err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", s.template).Scan(&n)
		if err != nil {
			return fmt.Errorf("sessions on template: %w", err)
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("template still has %d sessions: %w", n, ctx.Err())
		case <-tick.C:
		}
	}
}

// exec runs one statement on the maintenance database, on a connection of its
// own: it survives Stop and Start, and costs a few milliseconds on a socket.
func (s *Server) exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, s.base)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

func ping(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// databaseURL is the server's URL with the database replaced by name.
func (s *Server) databaseURL(name string) string {
	if s.dir != "" {
		return socketURL(s.dir, name)
	}
	if strings.HasPrefix(s.base, "postgres://") || strings.HasPrefix(s.base, "postgresql://") {
		u, err := url.Parse(s.base)
		if err == nil {
			u.Path, u.RawPath = "/"+name, ""
			return u.String()
		}
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return s.base + " dbname=" + name
}

// socketURL is postgres://postgres@/name?host=dir&port=5432&sslmode=disable:
// pgx takes a socket directory as the host query parameter.
func socketURL(dir, name string) string {
	host := strings.ReplaceAll(url.QueryEscape(dir), "%2F", "/") // a slash may stand in a query
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/" + name,
		RawQuery: "host=" + host + "&port=" + port + "&sslmode=disable",
	}
	return u.String()
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) logTail() string {
	b, err := os.ReadFile(s.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	return "server log:\n" + tail(b)
}

// tail returns the last lines of b, about 2 KB.
func tail(b []byte) string {
	const n = 2048
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(bytes.TrimSpace(b))
}

// command prepares one of the server binaries to run in the server directory,
// as the unprivileged user when we are root, and to die with the test binary.
// PG* variables are dropped: PGDATA, PGPORT and friends must not steer it.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = sysProcAttr(s.cred)
	return cmd
}

// process is a started child.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // from Wait; read only after done is closed
}

// startProcess starts cmd from a goroutine locked to its OS thread that then
// waits for it. The parent-death signal is sent when the thread that forked
// the child exits, not the process (golang/go#27505), and the runtime ends
// threads whose locked goroutine returns: staying locked and blocked in Wait
// keeps the thread, and so postgres, alive exactly as long as it should be.
func startProcess(cmd *exec.Cmd) (*process, error) {
	p := &process{cmd: cmd, done: make(chan struct{})}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked, on purpose: see above
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

func (p *process) kill() {
	p.cmd.Process.Kill()
	<-p.done
}
