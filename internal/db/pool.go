package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// PoolOptions tune the connection pool.
type PoolOptions struct {
	MaxConns int32
	// Timeout bounds connecting and, as statement_timeout, every statement.
	Timeout time.Duration
}

// Connect opens a pool and checks that the database answers.
func Connect(ctx context.Context, url string, o PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.Timeout > 0 {
		cfg.ConnConfig.ConnectTimeout = o.Timeout
		ms := fmt.Sprint(o.Timeout.Milliseconds())
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = ms
		cfg.ConnConfig.RuntimeParams["lock_timeout"] = ms
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint(2 * o.Timeout.Milliseconds())
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "authd"
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxuuid.Register(c.TypeMap())
		return nil
	}
	// A connection that reports itself read-only (in_hot_standby or
	// default_transaction_read_only, which PostgreSQL 14 and later send
	// whenever they change) cannot take authd's writes: it is closed when
	// released instead of going back to the pool, and the next connection,
	// with target_session_attrs=read-write in a multi-host URL, finds the
	// primary. Reading the reported values costs no round trip.
	cfg.AfterRelease = func(c *pgx.Conn) bool { return !readOnly(c) }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", Classify(err))
	}
	pctx, cancel := context.WithTimeout(ctx, max(o.Timeout, time.Second))
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		// Not waited for: closing waits for pgx's cancel request of a ping
		// that timed out, which PgBouncer holds (up to pgx's 15 s) while it
		// cannot reach its server itself. A caller that retries would wait
		// that long each time.
		go pool.Close()
		return nil, fmt.Errorf("connect: %w", Classify(err))
	}
	return pool, nil
}

// readOnly reports whether the server said the session is read-only.
func readOnly(c *pgx.Conn) bool {
	pc := c.PgConn()
	return pc.ParameterStatus("in_hot_standby") == "on" || pc.ParameterStatus("default_transaction_read_only") == "on"
}
