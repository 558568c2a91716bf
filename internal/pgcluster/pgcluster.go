// Package pgcluster runs a PostgreSQL server from the system's initdb and
// postgres binaries: a throwaway one in a temporary directory (for tests and
// the benchmark), or a persistent one in a given directory that outlives the
// process that started it (the development database of make run).
//
// The server listens on a Unix socket only, never on TCP, so that clusters of
// several checkouts, test binaries and a system PostgreSQL never collide. As
// root, initdb and postgres run as the postgres user (or nobody): both refuse
// to run as root.
package pgcluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
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
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoBinaries means initdb and postgres were not found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries not found; install postgresql")

// port is fixed: every cluster has a socket directory of its own, and naming
// the port in the URLs and on the command line keeps PGPORT from moving either end.
const port = "5432"

// maxSocketDir is the longest socket directory whose socket path
// (DIR/.s.PGSQL.5432) fits in sun_path (108 bytes, 104 on BSD and macOS).
const maxSocketDir = 100 - len("/.s.PGSQL."+port)

// Options say where a cluster lives and how its server runs.
type Options struct {
	// Dir holds the data directory (Dir/data), the server log
	// (Dir/postgres.log) and the socket; a Dir too long for a socket path
	// gets its socket in /tmp/authd-pg-<hash of Dir> instead. An existing
	// data directory is used as it is. Empty means a new temporary
	// directory, removed by Close.
	Dir string
	// Durable keeps PostgreSQL's crash safety: fsync, synchronous_commit and
	// full_page_writes stay on, their defaults. Without it they are off,
	// which is right only for data that may be lost.
	Durable bool
	// Detach lets the server outlive this process: it runs in a session of
	// its own (Ctrl-C in the terminal does not reach it), and Stop, from
	// this process or a later one, ends it. Without Detach the server dies
	// with this process (on Linux even if it is killed: a parent-death
	// signal).
	Detach bool
	// Settings are more server settings, passed as postgres -c name=value.
	Settings map[string]string
}

// Cluster is one PostgreSQL data directory and the server running on it.
type Cluster struct {
	opts    Options
	dir     string // Options.Dir, absolute, or the temporary directory
	temp    bool   // dir was made by New and is removed by Close
	sockDir string
	bin     string              // directory of initdb and postgres
	cred    *syscall.Credential // user to run them as when we are root; nil otherwise

	mu   sync.Mutex // guards proc
	proc *process   // the server this value started; nil if none is running, or it is another process's
}

// New finds the binaries and makes the cluster's directory and, unless it
// exists, its data directory (initdb). It does not start the server.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, bin: bin, cred: cred}
	if opts.Dir == "" {
		if c.dir, err = tempDir(); err != nil {
			return nil, err
		}
		c.temp, c.sockDir = true, c.dir
	} else {
		if c.dir, err = filepath.Abs(opts.Dir); err != nil {
			return nil, fmt.Errorf("cluster directory: %w", err)
		}
		if err := makePrivateDir(c.dir); err != nil {
			return nil, err
		}
		c.sockDir = socketDir(c.dir)
	}
	if err := c.prepare(ctx); err != nil {
		if c.temp {
			err = errors.Join(err, os.RemoveAll(c.dir))
		}
		return nil, err
	}
	return c, nil
}

// prepare hands the directories to the server's user and runs initdb if
// there is no data directory yet.
func (c *Cluster) prepare(ctx context.Context) error {
	if err := c.own(c.dir); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	args := []string{"-D", c.dataDir(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"}
	if !c.opts.Durable {
		args = append(args, "-N") // no fsync of the new files either
	}
	cmd := c.command("initdb", args...)
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
		hint := ""
		if c.cred != nil {
			hint = fmt.Sprintf(" (as uid %d, which must be able to reach %s)", c.cred.Uid, c.dir)
		}
		return fmt.Errorf("initdb%s: %w\n%s", hint, p.err, tail(out.Bytes()))
	}
	return nil
}

// makePrivateDir makes dir, and its parents if need be, and makes sure only
// its owner can enter it: the server trusts every connection on its socket.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("cluster directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("cluster directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("cluster directory %s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("cluster directory: %w", err)
		}
	}
	return nil
}

// own makes dir the server's user's when we are root.
func (c *Cluster) own(dir string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(dir, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to the PostgreSQL user: %w", dir, err)
	}
	return nil
}

// BinDir is the directory of the server binaries the cluster runs.
func (c *Cluster) BinDir() string { return c.bin }

// PID is the postmaster's process id while the cluster runs (started by
// this Cluster), else 0.
func (c *Cluster) PID() int {
	if c.proc == nil || c.proc.cmd.Process == nil {
		return 0
	}
	return c.proc.cmd.Process.Pid
}

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return filepath.Join(c.dir, "postgres.log") }

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// URL is the connection string of database name on the cluster, as the
// postgres superuser over the socket:
// postgres://postgres@/NAME?host=SOCKETDIR&port=5432&sslmode=disable.
func (c *Cluster) URL(name string) string {
	host := strings.ReplaceAll(url.QueryEscape(c.sockDir), "%2F", "/") // a slash may stand in a query
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Path:     "/" + name,
		RawQuery: "host=" + host + "&port=" + port + "&sslmode=disable",
	}
	return u.String()
}

// Start starts the server unless it is running and waits until it accepts
// connections: the socket file appears before it does. A detached cluster
// whose server another process started is running.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		return nil
	}
	if c.opts.Detach && ping(ctx, c.URL("postgres")) == nil {
		return nil
	}
	if !c.temp {
		if err := c.makeSocketDir(); err != nil {
			return err
		}
	}
	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("server log: %w", err)
	}
	defer logFile.Close() // postgres has its own descriptor once started
	args := []string{"-D", c.dataDir(), "-k", c.sockDir, "-p", port,
		"-c", "listen_addresses="} // socket only: no TCP port to collide on
	if !c.opts.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	for _, k := range slices.Sorted(maps.Keys(c.opts.Settings)) {
		args = append(args, "-c", k+"="+c.opts.Settings[k])
	}
	cmd := c.command("postgres", args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p, err := startProcess(cmd)
	if err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	if err := c.waitReady(ctx, p); err != nil {
		p.kill()
		return fmt.Errorf("start postgres: %w\n%s", err, c.logTail())
	}
	c.proc = p
	return nil
}

// makeSocketDir makes the socket directory of a persistent cluster, which may
// be under /tmp and so may have been removed, or made by someone else.
func (c *Cluster) makeSocketDir() error {
	if c.sockDir == c.dir {
		return nil
	}
	if err := os.Mkdir(c.sockDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("socket directory: %w", err)
	}
	fi, err := os.Lstat(c.sockDir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || (int(st.Uid) != os.Geteuid() && (c.cred == nil || st.Uid != c.cred.Uid)) {
		return fmt.Errorf("socket directory %s is not a directory of ours; remove it", c.sockDir)
	}
	return c.own(c.sockDir)
}

func (c *Cluster) waitReady(ctx context.Context, p *process) error {
	const limit = 60 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := ping(ctx, c.URL("postgres"))
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

// Stop shuts the server down fast (SIGINT: clients are disconnected and open
// transactions rolled back) and waits until it has exited. It does nothing if
// the server is not running.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	const limit = 30 * time.Second
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	p := c.proc
	if p == nil {
		if c.opts.Detach {
			return c.stopOther(ctx)
		}
		return nil
	}
	c.proc = nil
	// SIGINT is PostgreSQL's fast shutdown, what pg_ctl stop -m fast sends.
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.kill()
		return fmt.Errorf("stop postgres: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("stop postgres: killed, still running %s after SIGINT (%w)\n%s", limit, ctx.Err(), c.logTail())
	}
	if p.err != nil {
		return fmt.Errorf("stop postgres: %w\n%s", p.err, c.logTail())
	}
	return nil
}

// stopOther stops a server that another process started, found by the PID
// in postmaster.pid, and waits until postgres has removed that file.
func (c *Cluster) stopOther(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir(), "postmaster.pid")
	pid, err := readPID(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop postgres: %w", err)
	}
	if ok, err := c.isServer(ctx, pid); err != nil || !ok {
		return err // !ok: the file is left over from a crash; postgres replaces it on start
	}
	if err := syscall.Kill(pid, syscall.SIGINT); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("stop postgres (pid %d): %w", pid, err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		// Gone once the file is: a server that is not our child may stay a
		// zombie for a while if nobody reaps it, but it removes the file.
		if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("stop postgres (pid %d): still running after SIGINT (%w)\n%s", pid, ctx.Err(), c.logTail())
		case <-tick.C:
		}
	}
}

// readPID reads the server's PID, the first line of postmaster.pid.
func readPID(name string) (int, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no PID in its first line", name)
	}
	return pid, nil
}

// isServer reports whether pid, named by postmaster.pid, is this cluster's
// server, so that Stop never signals another process: after a crash and a
// reboot the PID in the file may be anyone's. A server that answers on the
// socket wrote the file when it started; otherwise (it may be starting, or
// recovering) /proc must show a process working in the data directory, as
// postgres does.
func (c *Cluster) isServer(ctx context.Context, pid int) (bool, error) {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false, nil
	}
	if ping(ctx, c.URL("postgres")) == nil {
		return true, nil
	}
	want, err := filepath.EvalSymlinks(c.dataDir())
	if err != nil {
		return false, fmt.Errorf("stop postgres: %w", err)
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	switch {
	case err == nil:
		return cwd == want, nil
	case errors.Is(err, os.ErrNotExist):
		if _, err := os.Stat("/proc/self/cwd"); err == nil {
			return false, nil // it has just exited
		}
	}
	return false, fmt.Errorf("stop postgres: %s names pid %d, which does not answer on the socket, and cannot tell whether it is this cluster's server; not signalling it",
		filepath.Join(c.dataDir(), "postmaster.pid"), pid)
}

// Close stops the server and, if New made the directory, removes it.
func (c *Cluster) Close(ctx context.Context) error {
	err := c.Stop(ctx)
	if c.temp {
		err = errors.Join(err, os.RemoveAll(c.dir))
	}
	return err
}

// CreateDatabase creates database name; one that exists already is no error.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func ping(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// FindBinDir returns the directory of initdb and postgres: that of initdb on
// PATH, else pg_config --bindir, else the newest /usr/lib/postgresql/*/bin
// (Debian and Ubuntu keep the server off PATH). The error wraps ErrNoBinaries.
func FindBinDir() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	return pickBinDir(append(dirs, newestFirst(versioned)...))
}

// pickBinDir returns the first of dirs that holds initdb and postgres.
func pickBinDir(dirs []string) (string, error) {
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
	return "", fmt.Errorf("%w (looked for initdb on PATH, in pg_config --bindir and in /usr/lib/postgresql/*/bin)", ErrNoBinaries)
}

// newestFirst sorts /usr/lib/postgresql/<version>/bin directories by version, newest first.
func newestFirst(dirs []string) []string {
	slices.SortStableFunc(dirs, func(a, b string) int {
		return slices.Compare(dirVersion(b), dirVersion(a))
	})
	return dirs
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

// tempDir makes a temporary cluster directory, which is also the socket
// directory: a long TMPDIR (macOS) falls back to /tmp.
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "authd-pg-")
	if err == nil && len(dir) > maxSocketDir {
		os.Remove(dir)
		dir, err = os.MkdirTemp("/tmp", "authd-pg-")
	}
	if err != nil {
		return "", fmt.Errorf("cluster directory: %w", err)
	}
	return dir, nil
}

// socketDir is the socket directory of a persistent cluster in dir: dir
// itself, or if that is too long a directory in /tmp named after dir, so that
// every process that opens the cluster finds the same one.
func socketDir(dir string) string {
	if len(dir) <= maxSocketDir {
		return dir
	}
	sum := sha256.Sum256([]byte(dir))
	return "/tmp/authd-pg-" + hex.EncodeToString(sum[:6])
}

func (c *Cluster) logTail() string {
	b, err := os.ReadFile(c.LogPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	return "server log (" + c.LogPath() + "):\n" + tail(b)
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

// command prepares one of the server binaries to run in the cluster
// directory, as the unprivileged user when we are root. PG* variables are
// dropped: PGDATA, PGPORT and friends must not steer it.
func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Dir = c.dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = sysProcAttr(c.cred, c.opts.Detach)
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
