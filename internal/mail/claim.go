package mail

import (
	"context"
	"fmt"

	"github.com/authd/authd/internal/db"
)

// Run sends due mails until ctx ends: at once, then whenever a
// notification on authd_mail arrives (with Listen) and every
// PollInterval (db.RunWoken). A mail being sent when ctx ends is finished
// and recorded first, so Run returns within about SMTP_TIMEOUT + 2 ×
// DB_TIMEOUT; stop it before closing the pool.
func (s *Sender) Run(ctx context.Context) {
	w := db.Wake{Pool: s.pool, Channel: Channel, Listen: s.o.Listen, Poll: s.o.PollInterval, Timeout: s.o.DBTimeout,
		Log: s.log, Name: "mail sender"}
	db.RunWoken(ctx, w, func(ctx context.Context) error { _, err := s.Once(ctx); return err })
}

// Once sends every mail that is due, one at a time, and returns how many
// it handled (sent, put back or failed). It stops at the first database
// error.
func (s *Sender) Once(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		ok, err := s.one(ctx)
		if err != nil {
			return n, err
		}
		if !ok {
			return n, nil
		}
		n++
	}
	return n, nil
}

// one claims and handles one due mail; ok is false when none is due.
func (s *Sender) one(ctx context.Context) (ok bool, err error) {
	now := s.now()
	rows, err := s.q.ClaimMail(ctx, db.ClaimMailParams{Now: now, LeaseUntil: now.Add(s.lease), BatchSize: 1})
	if err != nil {
		return false, fmt.Errorf("claim mail: %w", err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	// What was claimed is finished even if ctx ends now: the result is
	// recorded, or the lease runs out and another sender takes over.
	ctx = context.WithoutCancel(ctx)
	return true, s.handle(ctx, rows[0])
}
