package mail

import (
	"context"
	"fmt"
	"time"

	"github.com/authd/authd/internal/db"
)

// Run sends due mails until ctx ends: at once, then whenever a
// notification on authd_mail arrives (with Listen) and every
// PollInterval. A mail being sent when ctx ends is finished and recorded
// first, so Run returns within about SMTP_TIMEOUT + 2 × DB_TIMEOUT; stop
// it before closing the pool.
func (s *Sender) Run(ctx context.Context) {
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	if s.o.Listen {
		go func() { defer close(done); s.listen(ctx, wake) }()
	} else {
		close(done)
	}
	defer func() { <-done }()
	tick := time.NewTicker(s.o.PollInterval)
	defer tick.Stop()
	for {
		if _, err := s.Once(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("mail sender", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

// listen holds one connection LISTENing on Channel and signals wake on
// each notification, and once after each (re)connect, since mails may
// have been queued while it was away. It retries every PollInterval.
func (s *Sender) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, signal)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("mail sender: LISTEN failed; polling only until it works again",
			"error", err.Error(), "retry_in", s.o.PollInterval.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.o.PollInterval):
		}
	}
}

func (s *Sender) listenOnce(ctx context.Context, signal func()) error {
	actx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	conn, err := s.pool.(acquirer).Acquire(actx)
	cancel()
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer func() {
		// Still listening, or in an unknown state after an error: the
		// connection must not go back to the pool for others to use.
		cctx, cancel := context.WithTimeout(context.Background(), s.o.DBTimeout)
		conn.Conn().Close(cctx)
		cancel()
		conn.Release()
	}()
	lctx, cancel := context.WithTimeout(ctx, s.o.DBTimeout)
	_, err = conn.Exec(lctx, "LISTEN "+Channel)
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	signal()
	for {
		_, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait: %w", err)
		}
		signal()
	}
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
