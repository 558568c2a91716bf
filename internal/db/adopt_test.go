package db_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/sql/schema"
)

func tutorialDB(t *testing.T, emails ...string) string {
	t.Helper()
	url := dbtest.EmptyURL(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), dbtest.TutorialSchema); err != nil {
		t.Fatal(err)
	}
	hash, _ := bcrypt.GenerateFromPassword([]byte("password123"), bcrypt.MinCost)
	for _, e := range emails {
		if _, err := conn.Exec(t.Context(), `INSERT INTO users (name, email, password, role, provider, photo, verified, created_at, updated_at)
			VALUES ('Ada Lovelace', $1, $2, 'user', 'local', 'default.png', true, now(), now())`, e, string(hash)); err != nil {
			t.Fatal(err)
		}
	}
	return url
}

// trusting adopts every user as it is, verified flag included.
var trusting = db.Adoption{
	Check:         func(u db.TutorialUser) (db.TutorialUser, []string) { return u, nil },
	TrustVerified: true,
}

// TestAdoptTutorialDatabase: authd migrate up on the tutorial's database
// keeps its users (email normalised, bcrypt hash and photo as they were)
// and ends at this build's schema; running it again changes nothing.
func TestAdoptTutorialDatabase(t *testing.T) {
	t.Parallel()
	url := tutorialDB(t, "ada@example.com", " Grace@Example.com")
	for range 2 {
		if err := db.MigrateUpAdopting(t.Context(), url, trusting); err != nil {
			t.Fatalf("migrate up: %v", err)
		}
	}
	if v, dirty, err := db.MigrationVersion(t.Context(), url); err != nil || dirty || v != schema.Version {
		t.Fatalf("version %d dirty %v err %v", v, dirty, err)
	}
	pool, err := db.Connect(t.Context(), url, db.PoolOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q := db.New(db.Bound(pool, 0))
	for _, email := range []string{"ada@example.com", "grace@example.com"} {
		u, err := q.GetUserByEmail(t.Context(), email)
		if err != nil {
			t.Fatalf("%s after adoption: %v", email, err)
		}
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte("password123")) != nil {
			t.Errorf("%s: password hash not kept", email)
		}
		if u.Photo != "default.png" || u.Role != "user" || !u.Verified {
			t.Errorf("%s: %+v", email, u)
		}
	}
	var left bool
	pool.QueryRow(t.Context(), `SELECT to_regclass('public.authd_import_users') IS NOT NULL`).Scan(&left)
	if left {
		t.Error("the import table is still there")
	}
}

// TestAdoptRefusesCaseDuplicates: emails that differ only in case are
// reported, not merged, and the database is left as it was.
func TestAdoptRefusesCaseDuplicates(t *testing.T) {
	t.Parallel()
	url := tutorialDB(t, "ada@example.com", "Ada@Example.com", "grace@example.com")
	err := db.MigrateUpAdopting(t.Context(), url, trusting)
	if !errors.Is(err, db.ErrTutorialDuplicates) || !strings.Contains(err.Error(), "Ada@Example.com, ada@example.com") {
		t.Fatalf("migrate up with case duplicates: %v", err)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users WHERE password IS NOT NULL`).Scan(&n); err != nil || n != 3 {
		t.Errorf("the tutorial's table after a refusal: %d rows, %v", n, err)
	}
	var migrated bool
	conn.QueryRow(t.Context(), `SELECT to_regclass('public.schema_migrations') IS NOT NULL`).Scan(&migrated)
	if migrated {
		t.Error("schema_migrations was created despite the refusal")
	}
}
