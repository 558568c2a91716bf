package db_test

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func newUser(t *testing.T, q *db.Queries, email string) db.User {
	t.Helper()
	u, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: email, PasswordHash: "x", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestEmailUniqueAndNormalised(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	newUser(t, q, "a@example.com")
	_, err := q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "a@example.com", PasswordHash: "x", Now: time.Now()})
	if !errorsIs(err, db.ErrConflict) {
		t.Errorf("duplicate email: %v, want ErrConflict", err)
	}
	_, err = q.CreateUser(t.Context(), db.CreateUserParams{Name: "n", Email: "B@example.com", PasswordHash: "x", Now: time.Now()})
	if err == nil {
		t.Error("a non-normalised email was stored")
	}
	_, err = q.GetUserByEmail(t.Context(), "nobody@example.com")
	if !errorsIs(err, db.ErrNotFound) {
		t.Errorf("unknown email: %v, want ErrNotFound", err)
	}
}

// errorsIs classifies err as the handlers do.
func errorsIs(err, target error) bool { return errors.Is(db.Classify(err), target) }

// TestDeleteDeadSessions: the clean-up queries remove sessions whose
// lifetime ended, or that were revoked, before the cutoff, and nothing else.
// One that only idled out stays until its lifetime ends (migration 4).
func TestDeleteDeadSessions(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	u := newUser(t, q, "purge@example.com")
	now := time.Now()
	mk := func(idle, abs time.Time) uuid.UUID {
		s, err := q.CreateSession(t.Context(), db.CreateSessionParams{
			UserID: u.ID, CurrentHash: []byte{1}, Now: now.Add(-10 * 24 * time.Hour), IdleExpiresAt: idle, ExpiresAt: abs,
		})
		if err != nil {
			t.Fatal(err)
		}
		return s.ID
	}
	live := mk(now.Add(time.Hour), now.Add(24*time.Hour))
	idleOut := mk(now.Add(-30*time.Hour), now.Add(24*time.Hour))
	expired := mk(now.Add(-30*time.Hour), now.Add(-25*time.Hour))
	recentlyExpired := mk(now.Add(-2*time.Hour), now.Add(-time.Hour))
	revoked := mk(now.Add(time.Hour), now.Add(24*time.Hour))
	recentlyRevoked := mk(now.Add(time.Hour), now.Add(24*time.Hour))
	for id, at := range map[uuid.UUID]time.Time{revoked: now.Add(-25 * time.Hour), recentlyRevoked: now.Add(-time.Hour)} {
		if _, err := q.RevokeSession(t.Context(), db.RevokeSessionParams{ID: id, UserID: u.ID, Now: at, Reason: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	cutoff := now.Add(-24 * time.Hour)
	n1, err := q.DeleteExpiredSessions(t.Context(), db.DeleteExpiredSessionsParams{Cutoff: cutoff, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	n2, err := q.DeleteRevokedSessions(t.Context(), db.DeleteRevokedSessionsParams{Cutoff: cutoff, BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if n1 != 1 || n2 != 1 {
		t.Errorf("deleted %d expired and %d revoked, want 1 and 1", n1, n2)
	}
	want := map[uuid.UUID]bool{live: true, idleOut: true, expired: false, recentlyExpired: true, revoked: false, recentlyRevoked: true}
	for id, keep := range want {
		_, err := q.GetSession(t.Context(), id)
		if got := err == nil; got != keep {
			t.Errorf("session %s kept = %v, want %v", id, got, keep)
		}
	}
}

// TestDeleteSessionsInBatches: a batch takes at most batch_size rows, the
// oldest first.
func TestDeleteSessionsInBatches(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	u := newUser(t, q, "batch@example.com")
	now := time.Now()
	var ids []uuid.UUID
	for i := range 5 {
		abs := now.Add(-time.Duration(30+i) * time.Hour) // ids[4] is the oldest
		s, err := q.CreateSession(t.Context(), db.CreateSessionParams{
			UserID: u.ID, CurrentHash: []byte{1}, Now: now.Add(-10 * 24 * time.Hour), IdleExpiresAt: abs, ExpiresAt: abs,
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, s.ID)
	}
	n, err := q.DeleteExpiredSessions(t.Context(), db.DeleteExpiredSessionsParams{Cutoff: now.Add(-24 * time.Hour), BatchSize: 2})
	if err != nil || n != 2 {
		t.Fatalf("first batch: %d, %v; want 2", n, err)
	}
	for i, id := range ids {
		_, err := q.GetSession(t.Context(), id)
		if kept, want := err == nil, i < 3; kept != want {
			t.Errorf("session %d (expired %dh ago) kept = %v, want %v", i, 30+i, kept, want)
		}
	}
}

// TestRotateSessionOnce: two rotations presenting the same hash advance the
// session once.
func TestRotateSessionOnce(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	u := newUser(t, q, "rot@example.com")
	now := time.Now()
	s, err := q.CreateSession(t.Context(), db.CreateSessionParams{
		UserID: u.ID, CurrentHash: []byte("h0"), Now: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(48 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	p := db.RotateSessionParams{ID: s.ID, PresentedHash: []byte("h0"), NextHash: []byte("h1"), Now: now, IdleExpiresAt: now.Add(time.Hour)}
	got, err := q.RotateSession(t.Context(), p)
	if err != nil || got.Generation != 1 {
		t.Fatalf("first rotation: %+v, %v", got, err)
	}
	if after, err := q.GetSession(t.Context(), s.ID); err != nil || string(after.PreviousHash) != "h0" || string(after.CurrentHash) != "h1" {
		t.Fatalf("after the first rotation: %+v, %v", after, err)
	}
	if _, err := q.RotateSession(t.Context(), p); !errorsIs(err, db.ErrNotFound) {
		t.Errorf("second rotation with the same hash: %v, want ErrNotFound", err)
	}
	// Rotation never extends past the absolute expiry.
	p = db.RotateSessionParams{ID: s.ID, PresentedHash: []byte("h1"), NextHash: []byte("h2"), Now: now, IdleExpiresAt: now.Add(100 * time.Hour)}
	got, err = q.RotateSession(t.Context(), p)
	if err != nil || !got.IdleExpiresAt.Equal(got.ExpiresAt) {
		t.Errorf("idle expiry %v beyond absolute %v (%v)", got.IdleExpiresAt, got.ExpiresAt, err)
	}
}

// TestReserveLoginAttempt: the lock starts at the threshold, doubles, is
// capped, and counting starts again after a quiet period.
func TestReserveLoginAttempt(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	now := time.Now().Truncate(time.Second)
	p := db.ReserveLoginAttemptParams{Email: "t@example.com", Threshold: 3, BaseLock: 1, MaxLock: 5, ResetAfter: 3600}
	var locks []float64
	for i := range 6 {
		p.Now = now.Add(time.Duration(i) * time.Minute)
		r, err := q.ReserveLoginAttempt(t.Context(), p)
		if err != nil {
			t.Fatal(err)
		}
		if r.Failures != int32(i+1) {
			t.Errorf("failures = %d, want %d", r.Failures, i+1)
		}
		l := 0.0
		if r.LockedUntil != nil {
			l = r.LockedUntil.Sub(p.Now).Seconds()
		}
		locks = append(locks, l)
	}
	want := []float64{0, 0, 1, 2, 4, 5}
	for i := range want {
		if locks[i] != want[i] {
			t.Errorf("locks = %v, want %v", locks, want)
			break
		}
	}
	p.Now = p.Now.Add(2 * time.Hour)
	r, err := q.ReserveLoginAttempt(t.Context(), p)
	if err != nil || r.Failures != 1 || r.LockedUntil != nil {
		t.Errorf("after a quiet period: %+v, %v", r, err)
	}
}

// TestUndoLoginAttempt: taking back the attempt that locked an email
// unlocks it; taking one back above the threshold keeps the lock.
func TestUndoLoginAttempt(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	now := time.Now().Truncate(time.Second)
	p := db.ReserveLoginAttemptParams{Email: "u@example.com", Threshold: 3, BaseLock: 60, MaxLock: 600, ResetAfter: 3600, Now: now}
	for range 3 {
		if _, err := q.ReserveLoginAttempt(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	undo := db.UndoLoginAttemptParams{Email: p.Email, Threshold: 3}
	if err := q.UndoLoginAttempt(t.Context(), undo); err != nil {
		t.Fatal(err)
	}
	r, err := q.GetLoginThrottle(t.Context(), p.Email)
	if err != nil || r.Failures != 2 || r.LockedUntil != nil {
		t.Fatalf("after taking back the third attempt: %+v, %v; want 2 failures, no lock", r, err)
	}
	for range 2 { // the third locks, the fourth is refused while locked
		q.ReserveLoginAttempt(t.Context(), p)
	}
	p.Now = now.Add(2 * time.Minute) // after the lock: a fourth counts and locks again
	if _, err := q.ReserveLoginAttempt(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if err := q.UndoLoginAttempt(t.Context(), undo); err != nil {
		t.Fatal(err)
	}
	if r, err := q.GetLoginThrottle(t.Context(), p.Email); err != nil || r.Failures != 3 || r.LockedUntil == nil {
		t.Errorf("taken back from 4 of threshold 3: %+v, %v; want 3 failures, still locked", r, err)
	}
}

// TestExecModeForPoolers: the DATABASE_URL setting the operations guide gives
// for PgBouncer's transaction pooling works with every query shape we use.
func TestExecModeForPoolers(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"exec", "simple_protocol"} {
		t.Run(mode, func(t *testing.T) {
			pool, err := db.Connect(t.Context(), dbtest.URL(t)+"&default_query_exec_mode="+mode, db.PoolOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			q := db.New(pool)
			u := newUser(t, q, "pooler@example.com")
			now := time.Now()
			s, err := q.CreateSession(t.Context(), db.CreateSessionParams{UserID: u.ID, CurrentHash: []byte{1, 2}, Now: now,
				IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			got, err := q.GetSessionUser(t.Context(), db.GetSessionUserParams{SessionID: s.ID, UserID: u.ID, Now: now})
			if err != nil || got.ID != u.ID {
				t.Fatalf("GetSessionUser: %v", err)
			}
			if _, err := q.RevokeUserSessions(t.Context(), db.RevokeUserSessionsParams{UserID: u.ID, Now: now, Reason: "t"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRotationIsHOT: a rotation changes no indexed column, so PostgreSQL
// can update the row in place without new index entries (a heap-only
// tuple). An index on any column RotateSession writes would break this and
// cost every refresh an entry in every index of sessions.
func TestRotationIsHOT(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	q := db.New(pool)
	u := newUser(t, q, "hot@example.com")
	now := time.Now()
	s, err := q.CreateSession(t.Context(), db.CreateSessionParams{
		UserID: u.ID, CurrentHash: []byte("h0"), Now: now, IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(48 * time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	prev := []byte("h0")
	for i := range 3 {
		next := []byte(fmt.Sprintf("h%d", i+1))
		at := now.Add(time.Duration(i+1) * time.Minute) // every time-stamp moves
		if _, err := q.WithTx(tx).RotateSession(t.Context(), db.RotateSessionParams{
			ID: s.ID, PresentedHash: prev, NextHash: next, Now: at, IdleExpiresAt: at.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		prev = next
	}
	// The counters of the current transaction.
	var updated, hot int64
	err = tx.QueryRow(t.Context(), `SELECT pg_stat_get_xact_tuples_updated('sessions'::regclass),
		pg_stat_get_xact_tuples_hot_updated('sessions'::regclass)`).Scan(&updated, &hot)
	if err != nil {
		t.Fatal(err)
	}
	if updated != 3 || hot != 3 {
		t.Errorf("3 rotations: %d updates, %d of them HOT; want 3 and 3", updated, hot)
	}
}

// TestReserveLoginAttemptNeverOverflows: 2,000 consecutive failures, each
// just after the previous lock ended, keep counting and keep the email
// locked for the maximum; the backoff's exponent never overflows (it did
// at about 1,029 failures, 22003).
func TestReserveLoginAttemptNeverOverflows(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	p := db.ReserveLoginAttemptParams{Email: "t@example.com", Now: time.Now().Truncate(time.Second),
		Threshold: 5, BaseLock: 1, MaxLock: 900, ResetAfter: 3600}
	for i := range 2000 {
		r, err := q.ReserveLoginAttempt(t.Context(), p)
		if err != nil {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		if i >= 20 && (r.LockedUntil == nil || r.LockedUntil.Sub(p.Now) != 900*time.Second) {
			t.Fatalf("failure %d: locked until %v, want now + 900s", i+1, r.LockedUntil)
		}
		p.Now = p.Now.Add(time.Millisecond)
		if r.LockedUntil != nil {
			p.Now = r.LockedUntil.Add(time.Millisecond)
		}
	}
}

// TestReserveLoginAttemptRefusedWhileLocked: while the email is locked an
// attempt gets no row and is not counted; at the lock's end one goes ahead.
func TestReserveLoginAttemptRefusedWhileLocked(t *testing.T) {
	t.Parallel()
	q := db.New(dbtest.New(t))
	now := time.Now().Truncate(time.Second)
	p := db.ReserveLoginAttemptParams{Email: "t@example.com", Now: now, Threshold: 2, BaseLock: 10, MaxLock: 60, ResetAfter: 3600}
	for range 2 {
		if _, err := q.ReserveLoginAttempt(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		if _, err := q.ReserveLoginAttempt(t.Context(), p); !errors.Is(db.Classify(err), db.ErrNotFound) {
			t.Fatalf("attempt while locked: %v, want no row", err)
		}
	}
	if r, _ := q.GetLoginThrottle(t.Context(), p.Email); r.Failures != 2 {
		t.Errorf("failures after refused attempts = %d, want 2", r.Failures)
	}
	p.Now = now.Add(10 * time.Second)
	r, err := q.ReserveLoginAttempt(t.Context(), p)
	if err != nil || r.Failures != 3 || r.LockedUntil.Sub(p.Now) != 20*time.Second {
		t.Errorf("attempt at the lock's end: %+v, %v; want failures 3, locked 20s", r, err)
	}
}
