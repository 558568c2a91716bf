package db

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Pool is what the service needs of a connection pool: statements, and
// transactions. *pgxpool.Pool is one.
type Pool interface {
	DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// InTx runs f on queries inside one transaction of p, each statement
// bound by timeout as with Bound, and commits if f returns nil; otherwise,
// or if anything fails, it rolls back. Errors are classified.
func InTx(ctx context.Context, p Pool, timeout time.Duration, f func(*Queries) error) error {
	bctx, cancel := bound{timeout: timeout}.ctx(ctx)
	tx, err := p.Begin(bctx)
	cancel()
	if err != nil {
		return fmt.Errorf("begin: %w", Classify(err))
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(timeout, time.Second))
		defer cancel()
		_ = tx.Rollback(rctx) // after a commit, a no-op
	}()
	if err := f(New(Bound(tx, timeout))); err != nil {
		return err
	}
	cctx, cancel := bound{timeout: timeout}.ctx(ctx)
	defer cancel()
	if err := tx.Commit(cctx); err != nil {
		return fmt.Errorf("commit: %w", Classify(err))
	}
	return nil
}
