// Package dbtest gives tests real PostgreSQL databases.
//
// The first test that asks starts a throwaway server for the whole test binary
// (internal/pgcluster: initdb in a temporary directory, socket only, fsync
// off), or uses the server named by TEST_DATABASE_URL. A template database is migrated once; every test
// then gets a clone of it of its own, so tests that touch SQL can run with
// t.Parallel. A package that uses the shared server stops it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }
//
// Without PostgreSQL the tests skip, unless the environment variable CI is set:
// then they fail.
package dbtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/pgcluster"
	"github.com/authd/authd/internal/testenv"
)

// shared is the one server of this test binary. It is process-wide because
// every test of the package shares it and only Main knows when they are done.
var shared struct {
	mu     sync.Mutex
	inMain bool    // Main is running the tests, so it will stop the server
	srv    *Server // nil until the first test asks
	err    error   // why srv could not be started; every later test reports it too
}

// URL returns the connection string of a fresh, migrated, empty database of
// the test's own on the shared server, dropped at t.Cleanup. It is safe in
// parallel tests. The first call in a test binary starts the server, or
// connects to TEST_DATABASE_URL, and migrates the template.
func URL(t testing.TB) string {
	t.Helper()
	return Cluster(t).URL(t)
}

// EmptyURL returns a fresh database with no schema on the shared server,
// dropped at t.Cleanup.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return Cluster(t).EmptyURL(t)
}

// New returns a pool on a fresh database from URL, closed at t.Cleanup.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := URL(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	pool, err := db.Connect(ctx, url, db.PoolOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Main runs the tests, then stops the shared server (if a test started it) and
// removes its directory, or drops the template it made on TEST_DATABASE_URL.
// It returns m.Run's exit code.
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	srv := shared.srv
	shared.srv, shared.err = nil, errors.New("Main has already stopped the shared server")
	shared.mu.Unlock()
	if srv != nil {
		if err := srv.close(context.Background()); err != nil {
			fmt.Fprintf(os.Stderr, "dbtest: clean up: %v\n", err)
		}
	}
	return code
}

// Cluster returns the shared server, starting it on first use. It uses the
// server at TEST_DATABASE_URL when that is set.
func Cluster(t testing.TB) *Server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("dbtest: the shared server is stopped by Main; add " +
			"func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) } to this package")
	}
	if shared.srv == nil && shared.err == nil {
		start := time.Now()
		if url := os.Getenv("TEST_DATABASE_URL"); url != "" {
			shared.srv, shared.err = externalServer(t.Context(), url)
		} else {
			shared.srv, shared.err = startServer(t.Context())
		}
		if shared.err == nil {
			t.Logf("dbtest: shared PostgreSQL ready in %s", time.Since(start).Round(time.Millisecond))
		}
	}
	if shared.err != nil {
		fail(t, shared.err)
	}
	return shared.srv
}

// NewCluster starts a private server for one test, for tests that stop the
// database and must not disturb tests running in parallel. It is stopped and
// removed at t.Cleanup. It needs the server binaries even when
// TEST_DATABASE_URL is set.
func NewCluster(t testing.TB) *Server {
	t.Helper()
	s, err := startServer(t.Context())
	if err != nil {
		fail(t, err)
	}
	t.Cleanup(func() {
		// t.Context is already cancelled when cleanups run.
		if err := s.close(context.Background()); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return s
}

// fail stops the test because err prevents getting a database. Missing
// PostgreSQL skips on a developer machine but fails under CI, which must
// never silently run without the database tests.
func fail(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		testenv.Missing(t, "dbtest: "+err.Error())
	}
	t.Fatalf("dbtest: %v", err)
}
