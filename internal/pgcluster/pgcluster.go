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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

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
	proc *Child     // the server this value started; nil if none is running, or it is another process's
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
	p, err := startChild(cmd)
	if err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.Kill()
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

// BinDir is the directory of the server binaries the cluster runs. It and
// PID serve bench/cmd/benchrun (a module of its own, so deadcode run on
// this one reports them unused).
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
