package db_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

// TestBound: through Bound, sqlc results are classified without a Classify
// at the call site, and a slow statement ends at the bound as ErrUnavailable.
func TestBound(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	q := db.New(db.Bound(pool, 200*time.Millisecond))
	u := newUser(t, q, "bound@example.com")

	_, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "bound@example.com", PasswordHash: "x", Now: time.Now()})
	if !errors.Is(err, db.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	if _, err := q.GetUserByID(t.Context(), uuid.New()); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown user: %v, want ErrNotFound", err)
	}
	rows, err := q.ListUserSessions(t.Context(), db.ListUserSessionsParams{UserID: u.ID, Now: time.Now()})
	if err != nil || len(rows) != 0 {
		t.Errorf("list sessions: %v %v", rows, err)
	}

	// The bound applies to each call: a statement that outlives it fails
	// as unavailable, quickly, and the next call has a fresh bound.
	slow := db.Bound(pool, 100*time.Millisecond)
	_, err = slow.Exec(t.Context(), "SELECT pg_sleep(5)")
	if !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("slow Exec: %v, want ErrUnavailable", err)
	}
	var one int
	err = slow.QueryRow(t.Context(), "SELECT 1 FROM pg_sleep(5)").Scan(&one)
	if !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("slow QueryRow: %v, want ErrUnavailable", err)
	}
	if err := slow.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("next call: %d %v", one, err)
	}
	rs, err := slow.Query(t.Context(), "SELECT pg_sleep(5)")
	if err == nil {
		for rs.Next() {
		}
		rs.Close()
		err = rs.Err()
	}
	if !errors.Is(err, db.ErrUnavailable) {
		t.Errorf("slow Query: %v, want ErrUnavailable", err)
	}

	// As pgx promises, a failed Query still returns rows that carry the error.
	bad, err := slow.Query(t.Context(), "SELECT * FROM no_such_table")
	if err == nil || bad == nil || bad.Err() == nil {
		t.Errorf("Query of a missing table: rows %v, err %v", bad, err)
	}
	if bad != nil {
		bad.Close()
	}
}

// TestInTx: a transaction commits when f succeeds and leaves nothing when
// it fails, and its statements are bound and classified.
func TestInTx(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	q := db.New(db.Bound(pool, time.Second))
	err := db.InTx(t.Context(), pool, time.Second, func(q *db.Queries) error {
		_, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "tx@example.com", PasswordHash: "x", Now: time.Now()})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err = db.InTx(t.Context(), pool, time.Second, func(q *db.Queries) error {
		if _, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "gone@example.com", PasswordHash: "x", Now: time.Now()}); err != nil {
			return err
		}
		_, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "tx@example.com", PasswordHash: "x", Now: time.Now()})
		if !errors.Is(err, db.ErrConflict) {
			t.Errorf("duplicate in a transaction: %v, want ErrConflict", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("InTx = %v, want f's error", err)
	}
	if _, err := q.GetUserByEmail(t.Context(), "gone@example.com"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("a rolled-back insert is visible: %v", err)
	}
	if _, err := q.GetUserByEmail(t.Context(), "tx@example.com"); err != nil {
		t.Errorf("a committed insert is missing: %v", err)
	}
}
