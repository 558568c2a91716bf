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
