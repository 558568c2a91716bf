package db

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Bound returns d with every call limited to timeout and every error
// classified (see Classify), so errors.Is(err, ErrNotFound) works on sqlc
// results. A timeout of 0 or less adds no deadline. d is a pool, a
// connection or a transaction: Queries.WithTx does not bind, so wrap a
// transaction with db.New(db.Bound(tx, timeout)). A call's deadline ends
// when its row is scanned or its rows are closed (sqlc's code always does
// both), else when it expires.
func Bound(d DBTX, timeout time.Duration) DBTX {
	return bound{d: d, timeout: timeout}
}

type bound struct {
	d       DBTX
	timeout time.Duration
}

func (b bound) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	if b.timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, b.timeout)
}

func (b bound) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	ctx, cancel := b.ctx(ctx)
	defer cancel()
	tag, err := b.d.Exec(ctx, sql, args...)
	return tag, Classify(err)
}

func (b bound) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	ctx, cancel := b.ctx(ctx)
	rows, err := b.d.Query(ctx, sql, args...)
	if err != nil {
		// pgx returns rows that carry the error too; keep them non-nil.
		cancel()
		if rows == nil {
			return nil, Classify(err)
		}
		return &boundRows{Rows: rows, cancel: func() {}}, Classify(err)
	}
	return &boundRows{Rows: rows, cancel: cancel}, nil
}

func (b bound) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	ctx, cancel := b.ctx(ctx)
	return boundRow{row: b.d.QueryRow(ctx, sql, args...), cancel: cancel}
}

// boundRow ends its call's deadline once scanned.
type boundRow struct {
	row    pgx.Row
	cancel context.CancelFunc
}

func (r boundRow) Scan(dest ...any) error {
	defer r.cancel()
	return Classify(r.row.Scan(dest...))
}

// boundRows ends its call's deadline when closed.
type boundRows struct {
	pgx.Rows
	cancel context.CancelFunc
}

func (r *boundRows) Close() {
	r.Rows.Close()
	r.cancel()
}

func (r *boundRows) Err() error { return Classify(r.Rows.Err()) }

func (r *boundRows) Scan(dest ...any) error { return Classify(r.Rows.Scan(dest...)) }
