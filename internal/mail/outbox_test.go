package mail_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authd/authd/internal/mail"
)

// TestOutbox: the operator's list shows no data; only a failed mail is
// queued again, and not a token mail older than its token's lifetime.
func TestOutbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ob := mail.NewOutbox(f.pool, 5*time.Second, f.opts.Tokens)
	ctx := t.Context()
	u := f.user("Ada", "ada@example.com")
	notice := f.enqueue(mail.KindPasswordChanged, u.Email, u.ID, mail.Data{Name: "Secret Name"})
	stale := f.enqueue(mail.KindResetPassword, u.Email, u.ID, mail.Data{})
	pending := f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{})
	if _, err := f.pool.Exec(ctx, `UPDATE mail_outbox SET status = 'failed', attempts = 8, last_error = 'x',
		created_at = CASE WHEN id = $2 THEN now() - interval '2 hours' ELSE created_at END WHERE id = ANY($1)`,
		[]int64{notice, stale}, stale); err != nil {
		t.Fatal(err)
	}

	all, err := ob.List(ctx, "", 10)
	if err != nil || len(all) != 3 || all[0].ID != pending || all[2].ID != notice || all[2].To != u.Email {
		t.Fatalf("List = %+v, %v", all, err)
	}
	failed, err := ob.List(ctx, "failed", 1)
	if err != nil || len(failed) != 1 || failed[0].Status != "failed" {
		t.Errorf("List failed, 1 = %+v, %v", failed, err)
	}
	for _, bad := range []struct {
		status string
		limit  int
	}{{"lost", 10}, {"", 0}, {"", mail.MaxListed + 1}} {
		if _, err := ob.List(ctx, bad.status, bad.limit); err == nil {
			t.Errorf("List(%q, %d) accepted", bad.status, bad.limit)
		}
	}

	e, err := ob.Retry(ctx, notice)
	if err != nil || e.Kind != mail.KindPasswordChanged {
		t.Fatalf("Retry = %+v, %v", e, err)
	}
	if r := f.row(notice); r.Status != "pending" || r.Attempts != 0 || r.LastError != nil {
		t.Errorf("after Retry: %+v", r)
	}
	var nf *mail.NotFailedError
	if _, err := ob.Retry(ctx, notice); !errors.As(err, &nf) || !strings.Contains(err.Error(), "is pending; only a failed mail") {
		t.Errorf("Retry of a pending mail: %v", err)
	}
	var late *mail.TooLateError
	e, err = ob.Retry(ctx, stale)
	if !errors.As(err, &late) || late.Lifetime != 15*time.Minute || late.Age < 2*time.Hour || e.Kind != mail.KindResetPassword {
		t.Errorf("Retry of a stale reset mail: %+v, %v", e, err)
	}
	if r := f.row(stale); r.Status != "failed" {
		t.Errorf("stale mail after a refused retry: %+v", r)
	}
	if _, err := ob.Retry(ctx, 999999); !errors.Is(err, mail.ErrNoMail) {
		t.Errorf("Retry of no mail: %v, want ErrNoMail", err)
	}
}

// TestTokenMailUserGone: a token mail whose user was deleted after it was
// queued fails for good, without a token or a message.
func TestTokenMailUserGone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	u := f.user("Ada", "ada@example.com")
	id := f.enqueue(mail.KindVerifyEmail, u.Email, u.ID, mail.Data{})
	if _, err := f.pool.Exec(t.Context(), "DELETE FROM users WHERE id = $1", u.ID); err != nil {
		t.Fatal(err)
	}
	f.once(1)
	if r := f.row(id); r.Status != "failed" || r.LastError == nil || *r.LastError != "the user no longer exists" {
		t.Fatalf("row: %+v", r)
	}
	if len(f.srv.Messages()) != 0 {
		t.Error("sent")
	}
}
