package db_test

import (
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

// TestClassify: each SQLSTATE class authd tells apart becomes its error,
// others stay as they were, and classifying twice changes nothing.
func TestClassify(t *testing.T) {
	other := errors.New("other")
	for _, tt := range []struct {
		err  error
		want error // nil: returned unchanged
	}{
		{pgx.ErrNoRows, db.ErrNotFound},
		{&pgconn.PgError{Code: "23505"}, db.ErrConflict},
		{&pgconn.PgError{Code: "23503"}, db.ErrForeignKey},
		{&pgconn.PgError{Code: "57014"}, db.ErrUnavailable},
		{&pgconn.PgError{Code: "25006"}, db.ErrUnavailable}, // read_only_sql_transaction: a standby
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "23503"}), db.ErrForeignKey},
		// A server killed mid-statement (a failover) closes the socket
		// without a word: pgx reads an unexpected EOF.
		{io.ErrUnexpectedEOF, db.ErrUnavailable},
		{fmt.Errorf("clear login failures: %w", io.ErrUnexpectedEOF), db.ErrUnavailable},
		{&pgconn.PgError{Code: "23514"}, nil}, // check_violation
		{other, nil},
	} {
		got := db.Classify(tt.err)
		if tt.want == nil {
			if got != tt.err {
				t.Errorf("Classify(%v) = %v, want it unchanged", tt.err, got)
			}
			continue
		}
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("Classify(%v) = %v, want %v wrapping it", tt.err, got, tt.want)
		}
		if again := db.Classify(got); again != got {
			t.Errorf("Classify twice: %v, want %v", again, got)
		}
	}
	if db.Classify(nil) != nil {
		t.Error("Classify(nil) != nil")
	}
}

// TestForeignKey: a row that refers to a deleted user fails as
// ErrForeignKey through Bound.
func TestForeignKey(t *testing.T) {
	t.Parallel()
	q := db.New(db.Bound(dbtest.New(t), 5*time.Second))
	now := time.Now()
	err := q.CreateOneTimeToken(t.Context(), db.CreateOneTimeTokenParams{TokenHash: make([]byte, 32), Purpose: "verify_email",
		UserID: uuid.New(), Email: "gone@example.com", Now: now, ExpiresAt: now.Add(time.Hour)})
	if !errors.Is(err, db.ErrForeignKey) {
		t.Errorf("token of a missing user: %v, want ErrForeignKey", err)
	}
}
