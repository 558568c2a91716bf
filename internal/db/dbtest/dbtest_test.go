package dbtest_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/sql/schema"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

// Two parallel tests each get a migrated, empty database, and their writes do
// not meet: both insert the same e-mail, which the unique index would refuse
// in a shared database.
func TestNewIsolated(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"first", "second"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := dbtest.New(t)
			ctx := t.Context()

			version, dirty, err := db.SchemaVersion(ctx, pool)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := version, int64(schema.Version); got != want || dirty {
				t.Errorf("schema version = %d (dirty %t), want %d", got, dirty, want)
			}
			if got, want := countUsers(t, pool), 0; got != want {
				t.Fatalf("users before insert = %d, want %d", got, want)
			}
			_, err = pool.Exec(ctx, `INSERT INTO users (name, email, password_hash) VALUES ($1, 'same@example.com', 'x')`, name)
			if err != nil {
				t.Fatalf("insert: %v", err)
			}
			var got string
			if err := pool.QueryRow(ctx, "SELECT string_agg(name, ',') FROM users").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if want := name; got != want {
				t.Errorf("users = %q, want %q", got, want)
			}
		})
	}
}

func TestURLDistinct(t *testing.T) {
	t.Parallel()
	start := time.Now()
	first := dbtest.URL(t)
	t.Logf("first URL (may include server start and template migration): %s", time.Since(start))
	start = time.Now()
	second := dbtest.URL(t)
	t.Logf("clone: %s", time.Since(start))

	if first == second {
		t.Fatalf("URL returned %q twice", first)
	}
	if os.Getenv("TEST_DATABASE_URL") == "" && !strings.HasPrefix(first, "postgres://postgres@/t_") {
		t.Errorf("URL = %q, want postgres://postgres@/t_...?host=<socket dir>...", first)
	}
	got, want := currentDatabase(t, first), currentDatabase(t, second)
	if got == want {
		t.Errorf("both URLs connect to database %q", got)
	}
}

// A private server can be stopped and started again; its data survives.
func TestNewClusterStopStart(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := dbtest.NewCluster(t)
	t.Logf("initdb and start: %s", time.Since(start))
	start = time.Now()
	url := s.URL(t)
	t.Logf("first database (migrate template, clone): %s", time.Since(start))
	start = time.Now()
	_ = s.URL(t)
	t.Logf("clone: %s", time.Since(start))

	pool := connect(t, url)
	if _, err := pool.Exec(t.Context(), `INSERT INTO users (name, email, password_hash) VALUES ('kept', 'kept@example.com', 'x')`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	pool.Close()

	start = time.Now()
	s.Stop(t)
	t.Logf("stop: %s", time.Since(start))
	if pool, err := db.Connect(t.Context(), url, db.PoolOptions{Timeout: time.Second}); !errors.Is(err, db.ErrUnavailable) {
		if err == nil {
			pool.Close()
		}
		t.Fatalf("connect to stopped server: err = %v, want %v", err, db.ErrUnavailable)
	}

	start = time.Now()
	s.Start(t)
	t.Logf("start again: %s", time.Since(start))
	if got, want := countUsers(t, connect(t, url)), 1; got != want {
		t.Errorf("users after restart = %d, want %d", got, want)
	}
}

// BenchmarkURL measures one clone of the template (plus its drop at the end).
func BenchmarkURL(b *testing.B) {
	s := dbtest.Cluster(b)
	s.URL(b) // migrates the template: not what is measured
	for b.Loop() {
		s.URL(b)
	}
}

func connect(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := db.Connect(t.Context(), url, db.PoolOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func countUsers(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatalf("count users: %v", err)
	}
	return n
}

func currentDatabase(t *testing.T, url string) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var name string
	if err := conn.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}
