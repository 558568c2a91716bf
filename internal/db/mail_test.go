package db_test

import (
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
)

// TestOneTimeTokenConsumedOnce: a token is used once, only for its
// purpose and before it expires.
func TestOneTimeTokenConsumedOnce(t *testing.T) {
	t.Parallel()
	q := db.New(db.Bound(dbtest.New(t), time.Second))
	u := newUser(t, q, "ott@example.com")
	now := time.Now().Truncate(time.Second)
	h := sha256.Sum256([]byte("raw"))
	if err := q.CreateOneTimeToken(t.Context(), db.CreateOneTimeTokenParams{TokenHash: h[:], Purpose: "reset_password",
		UserID: u.ID, Email: u.Email, Now: now, ExpiresAt: now.Add(15 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: h[:], Purpose: "verify_email", Now: now}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("wrong purpose: %v", err)
	}
	if _, err := q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: h[:], Purpose: "reset_password", Now: now.Add(15 * time.Minute)}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("expired: %v", err)
	}
	r, err := q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: h[:], Purpose: "reset_password", Now: now})
	if err != nil || r.UserID != u.ID || r.Email != u.Email {
		t.Fatalf("consume: %+v %v", r, err)
	}
	if _, err := q.ConsumeOneTimeToken(t.Context(), db.ConsumeOneTimeTokenParams{TokenHash: h[:], Purpose: "reset_password", Now: now}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second use: %v", err)
	}
}

// TestMailClaimLeaseAndAllowance: a claimed mail is not claimed again
// until its lease ends; the allowance enforces the cool-down and the
// per-window maximum.
func TestMailClaimLeaseAndAllowance(t *testing.T) {
	t.Parallel()
	q := db.New(db.Bound(dbtest.New(t), time.Second))
	now := time.Now().Truncate(time.Second)
	id, err := q.EnqueueMail(t.Context(), db.EnqueueMailParams{Kind: "test", ToAddr: "a@example.com", Data: `{}`, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	lease := now.Add(time.Minute)
	got, err := q.ClaimMail(t.Context(), db.ClaimMailParams{Now: now, LeaseUntil: lease, BatchSize: 10})
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Attempts != 1 {
		t.Fatalf("claim: %+v %v", got, err)
	}
	if again, _ := q.ClaimMail(t.Context(), db.ClaimMailParams{Now: now.Add(time.Second), LeaseUntil: lease, BatchSize: 10}); len(again) != 0 {
		t.Errorf("claimed again within the lease: %+v", again)
	}
	late := now.Add(2 * time.Minute)
	again, _ := q.ClaimMail(t.Context(), db.ClaimMailParams{Now: late, LeaseUntil: late.Add(time.Minute), BatchSize: 10})
	if len(again) != 1 || again[0].Attempts != 2 {
		t.Fatalf("claim after the lease: %+v", again)
	}
	if n, _ := q.MarkMailSent(t.Context(), db.MarkMailSentParams{ID: id, Now: late, LeaseUntil: lease}); n != 0 {
		t.Error("the first sender's stale lease marked the mail sent")
	}
	if n, _ := q.MarkMailSent(t.Context(), db.MarkMailSentParams{ID: id, Now: late, LeaseUntil: late.Add(time.Minute)}); n != 1 {
		t.Error("the lease holder could not mark the mail sent")
	}

	allow := func(at time.Time) bool {
		_, err := q.TakeMailAllowance(t.Context(), db.TakeMailAllowanceParams{Email: "a@example.com", Purpose: "reset_password",
			Now: at, CooldownSecs: 60, WindowSecs: 3600, MaxPerWindow: 2})
		if err != nil && !errors.Is(err, db.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	for i, tt := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {30 * time.Second, false}, {61 * time.Second, true}, {3 * time.Minute, false}, {61 * time.Minute, true}} {
		if got := allow(now.Add(tt.at)); got != tt.want {
			t.Errorf("request %d at +%s: allowed %v, want %v", i, tt.at, got, tt.want)
		}
	}
}
