package mail

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/onetime"
)

// Outbox is the operator's side of the outbox (authd mail list, retry).
type Outbox struct {
	q      *db.Queries
	tokens *onetime.Store
	now    func() time.Time
}

// NewOutbox returns the outbox of pool, each statement bound by
// dbTimeout. tokens gives the lifetimes of the token kinds, as the
// sender's does.
func NewOutbox(pool db.Pool, dbTimeout time.Duration, tokens *onetime.Store) *Outbox {
	return &Outbox{q: db.New(db.Bound(pool, dbTimeout)), tokens: tokens, now: time.Now}
}

// Statuses lists the statuses of an outbox row.
func Statuses() []string { return []string{"pending", "sending", "sent", "failed"} }

// MaxListed is the most mails List returns.
const MaxListed = 1000

// Entry is an outbox row as an operator sees it: never its data.
type Entry struct {
	ID            int64
	Kind          string
	To            string
	Status        string
	Attempts      int32
	NextAttemptAt time.Time
	LastError     *string
	CreatedAt     time.Time
	SentAt        *time.Time
}

func entryOf(m db.MailOutbox) Entry {
	return Entry{ID: m.ID, Kind: m.Kind, To: m.ToAddr, Status: m.Status, Attempts: m.Attempts,
		NextAttemptAt: m.NextAttemptAt, LastError: m.LastError, CreatedAt: m.CreatedAt, SentAt: m.SentAt}
}

// List returns up to limit (1 to MaxListed) mails, newest first; only
// those of status unless it is "".
func (o *Outbox) List(ctx context.Context, status string, limit int) ([]Entry, error) {
	var st *string
	if status != "" {
		if !slices.Contains(Statuses(), status) {
			return nil, fmt.Errorf("list mail: unknown status %q", status)
		}
		st = &status
	}
	if limit < 1 || limit > MaxListed {
		return nil, fmt.Errorf("list mail: limit %d is not 1 to %d", limit, MaxListed)
	}
	rows, err := o.q.ListMail(ctx, db.ListMailParams{Status: st, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", err)
	}
	out := make([]Entry, 0, len(rows))
	for _, m := range rows {
		out = append(out, entryOf(m))
	}
	return out, nil
}

// ErrNoMail: no mail has this id.
var ErrNoMail = errors.New("no such mail")

// NotFailedError: only a failed mail can be retried.
type NotFailedError struct {
	ID     int64
	Status string // "" when it stopped being failed during the retry
}

func (e *NotFailedError) Error() string {
	if e.Status == "" {
		return fmt.Sprintf("mail %d is no longer failed", e.ID)
	}
	return fmt.Sprintf("mail %d is %s; only a failed mail can be retried", e.ID, e.Status)
}

// ErrSuperseded: a change to the mail's account (a new password or
// address) ended the mail; its link must not go out.
var ErrSuperseded = errors.New("a change to the account superseded this mail; the user can ask for a new one")

// TooLateError: a token mail queued longer ago than its token's lifetime
// (a retry keeps the time it was queued, and the sender would fail it
// again at once).
type TooLateError struct {
	ID       int64
	Kind     string
	Age      time.Duration // since it was queued
	Lifetime time.Duration // of its token
}

func (e *TooLateError) Error() string {
	return fmt.Sprintf("mail %d (%s) was queued %s ago, longer than its token's lifetime (%s)", e.ID, e.Kind, e.Age.Round(time.Minute), e.Lifetime)
}

// Retry queues the failed mail id again, due now, with its attempts
// reset. It refuses with ErrNoMail, *NotFailedError, ErrSuperseded or
// *TooLateError. The entry is the mail as it was found, whenever it was.
func (o *Outbox) Retry(ctx context.Context, id int64) (Entry, error) {
	m, err := o.q.GetMail(ctx, id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return Entry{}, ErrNoMail
	case err != nil:
		return Entry{}, fmt.Errorf("get mail: %w", err)
	}
	e := entryOf(m)
	if m.Status != "failed" {
		return e, &NotFailedError{ID: id, Status: m.Status}
	}
	if m.SupersededAt != nil {
		return e, ErrSuperseded
	}
	now := o.now()
	if IsTokenKind(m.Kind) {
		if ttl := o.tokens.Lifetime(onetime.Purpose(m.Kind)); now.Sub(m.CreatedAt) > ttl {
			return e, &TooLateError{ID: id, Kind: m.Kind, Age: now.Sub(m.CreatedAt), Lifetime: ttl}
		}
	}
	n, err := o.q.RequeueMail(ctx, db.RequeueMailParams{ID: id, Now: now})
	switch {
	case err != nil:
		return e, fmt.Errorf("requeue mail: %w", err)
	case n == 0:
		if m, err := o.q.GetMail(ctx, id); err == nil && m.SupersededAt != nil {
			return e, ErrSuperseded
		}
		return e, &NotFailedError{ID: id}
	}
	return e, nil
}
