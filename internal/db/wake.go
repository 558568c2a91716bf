package db

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Wake says when an outbox worker (the mail and the webhook senders)
// looks for due work.
type Wake struct {
	Pool    Pool   // a *pgxpool.Pool, to lend the LISTEN connection
	Channel string // notified (pg_notify) when work is queued
	Listen  bool   // LISTEN on Channel; false: polling only (behind PgBouncer in transaction mode)
	Poll    time.Duration
	Timeout time.Duration // for acquiring the connection and for LISTEN
	Log     *slog.Logger
	Name    string // in the log lines: "mail sender"
}

// RunWoken calls work at once, then whenever a notification on
// w.Channel arrives (with w.Listen) and every w.Poll, until ctx ends. A
// failing work is logged and tried again at the next wake.
func RunWoken(ctx context.Context, w Wake, work func(context.Context) error) {
	wake := make(chan struct{}, 1)
	done := make(chan struct{})
	if w.Listen {
		go func() { defer close(done); w.listen(ctx, wake) }()
	} else {
		close(done)
	}
	defer func() { <-done }()
	tick := time.NewTicker(w.Poll)
	defer tick.Stop()
	for {
		if err := work(ctx); err != nil && ctx.Err() == nil {
			w.Log.Warn(w.Name, "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-wake:
		}
	}
}

// listen holds one connection LISTENing on the channel and signals wake
// on each notification, and once after each (re)connect, since work may
// have been queued while it was away. It retries every Poll.
func (w Wake) listen(ctx context.Context, wake chan<- struct{}) {
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := w.listenOnce(ctx, signal)
		if ctx.Err() != nil {
			return
		}
		w.Log.Warn(w.Name+": LISTEN failed; polling only until it works again",
			"error", err.Error(), "retry_in", w.Poll.String())
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.Poll):
		}
	}
}

// acquirer is a pool that lends a connection for LISTEN.
type acquirer interface {
	Acquire(ctx context.Context) (*pgxpool.Conn, error)
}

func (w Wake) listenOnce(ctx context.Context, signal func()) error {
	pool, ok := w.Pool.(acquirer)
	if !ok {
		return fmt.Errorf("acquire: %T lends no connection", w.Pool)
	}
	actx, cancel := context.WithTimeout(ctx, w.Timeout)
	conn, err := pool.Acquire(actx)
	cancel()
	if err != nil {
		return fmt.Errorf("acquire: %w", err)
	}
	defer func() {
		// Still listening, or in an unknown state after an error: the
		// connection must not go back to the pool for others to use.
		cctx, cancel := context.WithTimeout(context.Background(), w.Timeout)
		conn.Conn().Close(cctx)
		cancel()
		conn.Release()
	}()
	lctx, cancel := context.WithTimeout(ctx, w.Timeout)
	_, err = conn.Exec(lctx, "LISTEN "+w.Channel)
	cancel()
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	signal()
	for {
		if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait: %w", err)
		}
		signal()
	}
}

// CanListen reports whether pool can lend a connection for LISTEN (a
// *pgxpool.Pool can).
func CanListen(pool Pool) bool {
	_, ok := pool.(acquirer)
	return ok
}
