package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// Server is a PostgreSQL server that tests get databases from: the shared
// throwaway one (Cluster), a private one (NewCluster), or the existing one at
// TEST_DATABASE_URL.
type Server struct {
	base     string // URL of the maintenance database; database URLs are derived from it
	template string // name of the migrated database every test database is cloned from

	cluster *pgcluster.Cluster // the server this package started; nil for TEST_DATABASE_URL

	mu      sync.Mutex // guards stopped
	stopped bool       // Stop was called and Start not since

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
	if s.cluster == nil {
		testenv.Missing(t, "dbtest: cannot stop the server at TEST_DATABASE_URL; a test that stops the database should use NewCluster")
	}
	if err := s.stop(t.Context()); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
}

// Start starts a stopped server again on the same data directory and socket
// and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.cluster == nil {
		testenv.Missing(t, "dbtest: cannot start the server at TEST_DATABASE_URL; a test that stops the database should use NewCluster")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cluster.Start(t.Context()); err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	s.stopped = false
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

// startServer starts a throwaway server: a new data directory in a
// temporary directory, socket only, fsync off.
func startServer(ctx context.Context) (*Server, error) {
	c, err := pgcluster.New(ctx, pgcluster.Options{Settings: map[string]string{
		"max_connections": "200",
		"shared_buffers":  "32MB",
	}})
	if err != nil {
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, errors.Join(err, c.Close(context.Background()))
	}
	return &Server{base: c.URL("postgres"), template: "authd_template", cluster: c}, nil
}

// stop shuts a started server down; Cleanups that run from then on skip
// dropping their databases.
func (s *Server) stop(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	return s.cluster.Stop(ctx)
}

func (s *Server) running() bool {
	if s.cluster == nil {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.stopped
}

// close releases the server for good: a started server is stopped and its
// directory removed; on TEST_DATABASE_URL the template is dropped.
func (s *Server) close(ctx context.Context) error {
	if s.cluster != nil {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		return s.cluster.Close(ctx)
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
	if s.cluster != nil {
		return s.cluster.URL(name)
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

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

func randomHex() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
