package session_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/onetime"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/session/sessiontest"
)

// consumeHook runs onConsume once, in the transaction that uses a
// one-time token up, right after its DELETE is sent.
type consumeHook struct {
	db.Pool
	once      sync.Once
	onConsume func()
}

func (h *consumeHook) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := h.Pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return consumeHookTx{Tx: tx, h: h}, nil
}

type consumeHookTx struct {
	pgx.Tx
	h *consumeHook
}

func (t consumeHookTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	row := t.Tx.QueryRow(ctx, sql, args...)
	if strings.Contains(sql, "DELETE FROM one_time_tokens") && t.h.onConsume != nil {
		t.h.once.Do(t.h.onConsume)
	}
	return row
}

// TestResetRefusedAfterClaimKeepsLink: a reset whose hash is refused
// because the hashing queue filled after it claimed its token (between
// the fast refusal and the hash) answers busy and leaves a working link.
func TestResetRefusedAfterClaimKeepsLink(t *testing.T) {
	t.Parallel()
	g := newHeldCompare()
	o := g.options()
	o.Concurrency, o.Queue = 1, 0
	hasher := sessiontest.NewHasher(t, o)
	pool := dbtest.New(t)
	hook := &consumeHook{Pool: pool}
	k := sessiontest.New(t, func(so *sessiontest.Options) {
		so.Pool, so.DB, so.Hasher = pool, hook, hasher
	})
	ctx := t.Context()
	u := k.User(t, "ada@example.com")
	raw := k.Mint(t, onetime.ResetPassword, u.ID, u.Email, time.Hour)
	held := make(chan struct{})
	hook.onConsume = func() { // the queue fills while the token is claimed
		go func() {
			defer close(held)
			hasher.Compare(context.WithoutCancel(ctx), u.PasswordHash, "someone's guess")
		}()
		<-g.entered
	}
	const next = "a new password"
	err := k.Service.ResetPassword(ctx, raw, next, next)
	close(g.release)
	<-held
	if !errors.Is(err, password.ErrBusy) {
		t.Fatalf("reset refused after its claim: %v, want password.ErrBusy", err)
	}
	if !k.TokenExists(t, raw) {
		t.Fatal("a reset refused busy after its claim used the link up")
	}
	if err := k.Service.ResetPassword(ctx, raw, next, next); err != nil {
		t.Errorf("the same link once hashing has room: %v", err)
	}
	if _, _, err := k.Service.Login(ctx, u.Email, next, session.Client{}); err != nil {
		t.Errorf("login with the new password: %v", err)
	}
}
