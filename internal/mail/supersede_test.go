package mail_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/mail"
	"github.com/authd/authd/internal/onetime"
)

// TestMintNeedsTheLease: a mail's token is minted only under the lease of
// its current claim, for its own user and address; after a change
// superseded the mail, not at all. Nothing is stored when it is refused.
func TestMintNeedsTheLease(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := t.Context()
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindChangeEmail, "ada@example.org", u.ID, mail.Data{})
	now := f.clock.Now()
	rows, err := f.q.ClaimMail(ctx, db.ClaimMailParams{Now: now, LeaseUntil: now.Add(time.Minute), BatchSize: 1})
	if err != nil || len(rows) != 1 || rows[0].ID != id {
		t.Fatalf("claim: %v, %v", rows, err)
	}
	lease := *rows[0].LockedUntil
	store := f.opts.Tokens
	for _, bad := range []struct {
		what  string
		email string
		lease time.Time
	}{
		{"another lease", "ada@example.org", lease.Add(time.Second)},
		{"another address", "eve@example.org", lease},
	} {
		if _, err := store.MintForMail(ctx, f.q, onetime.ChangeEmail, u.ID, bad.email, id, bad.lease); !errors.Is(err, onetime.ErrNotHeld) {
			t.Errorf("%s: %v, want ErrNotHeld", bad.what, err)
		}
	}
	if n := f.tokens(u.ID); n != 0 {
		t.Fatalf("%d tokens after refused mints", n)
	}
	if _, err := store.MintForMail(ctx, f.q, onetime.ChangeEmail, u.ID, "ada@example.org", id, lease); err != nil {
		t.Fatalf("under the lease: %v", err)
	}
	n, err := mail.Supersede(ctx, f.q, u.ID, f.clock.Now(), mail.KindChangeEmail)
	if err != nil || n != 1 {
		t.Fatalf("Supersede = %d, %v", n, err)
	}
	if _, err := store.MintForMail(ctx, f.q, onetime.ChangeEmail, u.ID, "ada@example.org", id, lease); !errors.Is(err, onetime.ErrNotHeld) {
		t.Errorf("after Supersede: %v, want ErrNotHeld", err)
	}
	if n := f.tokens(u.ID); n != 1 {
		t.Errorf("%d tokens, want the one minted under the lease", n)
	}
	r := f.row(id)
	if r.Status != "failed" || r.SupersededAt == nil || r.LastError == nil || *r.LastError != mail.SupersededReason || r.LockedUntil != nil {
		t.Errorf("superseded row: %+v", r)
	}
}

// TestSupersededNotRetried: a change supersedes a user's pending link
// mails and the failed ones too (keeping their reason), but not other
// kinds, other users' mails or sent ones; authd mail retry refuses a
// superseded mail, so its link never goes out.
func TestSupersededNotRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := t.Context()
	ob := mail.NewOutbox(f.pool, 5*time.Second, f.opts.Tokens)
	u := f.user("Ada", "ada@example.com")
	other := f.user("Bob", "bob@example.com")
	pending := f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{})
	failed := f.enqueue(mail.KindChangeEmail, "ada@example.org", u.ID, mail.Data{})
	notice := f.enqueue(mail.KindPasswordChanged, u.Email, u.ID, mail.Data{})
	bobs := f.enqueue(mail.KindResetPassword, other.Email, other.ID, mail.Data{})
	if _, err := f.pool.Exec(ctx, `UPDATE mail_outbox SET status = 'failed', last_error = 'smtp down' WHERE id = $1`, failed); err != nil {
		t.Fatal(err)
	}
	n, err := mail.Supersede(ctx, f.q, u.ID, f.clock.Now(), mail.KindResetPassword, mail.KindChangeEmail)
	if err != nil || n != 2 {
		t.Fatalf("Supersede = %d, %v; want 2", n, err)
	}
	if r := f.row(failed); r.SupersededAt == nil || r.LastError == nil || *r.LastError != "smtp down" {
		t.Errorf("failed mail after Supersede: %+v", r)
	}
	for _, id := range []int64{notice, bobs} {
		if r := f.row(id); r.Status != "pending" || r.SupersededAt != nil {
			t.Errorf("mail %d (%s) touched: %+v", id, r.Kind, r)
		}
	}
	for _, id := range []int64{pending, failed} {
		if _, err := ob.Retry(ctx, id); !errors.Is(err, mail.ErrSuperseded) {
			t.Errorf("Retry of superseded mail %d: %v, want ErrSuperseded", id, err)
		}
		if r := f.row(id); r.Status != "failed" {
			t.Errorf("mail %d queued again: %+v", id, r)
		}
	}
	f.once(2) // the notice and Bob's reset
	if n := f.tokens(u.ID); n != 0 {
		t.Errorf("%d tokens of Ada minted", n)
	}
}
