package db

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Errors the rest of authd classifies with errors.Is, so that no caller ever
// looks at a SQLSTATE.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("already exists")
	ErrForeignKey  = errors.New("refers to a row that does not exist")
	ErrUnavailable = errors.New("database unavailable")
)

type classified struct {
	kind error
	err  error
}

func (c *classified) Error() string   { return c.kind.Error() + ": " + c.err.Error() }
func (c *classified) Unwrap() []error { return []error{c.kind, c.err} }

// Classify wraps err so that errors.Is reports ErrNotFound (no rows),
// ErrConflict (unique violation), ErrForeignKey (foreign key violation: the
// row referred to is gone) or ErrUnavailable (the database could not be
// reached, was shutting down, did not answer in time, or refused a write
// as a standby does while a failover is under way). Other errors are
// returned unchanged; nil stays nil.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	if kind := kindOf(err); kind != nil {
		return &classified{kind: kind, err: err}
	}
	return err
}

func kindOf(err error) error {
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConflict) || errors.Is(err, ErrForeignKey) || errors.Is(err, ErrUnavailable) {
		return nil // already classified
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505": // unique_violation
			return ErrConflict
		case pgErr.Code == "23503": // foreign_key_violation
			return ErrForeignKey
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "53"), // insufficient resources (too many connections, ...)
			pgErr.Code == "57014",               // query_canceled (statement_timeout)
			pgErr.Code == "57P01",               // admin_shutdown
			pgErr.Code == "57P02",               // crash_shutdown
			pgErr.Code == "57P03",               // cannot_connect_now (starting up)
			pgErr.Code == "55P03",               // lock_not_available (lock_timeout)
			pgErr.Code == "25006",               // read_only_sql_transaction: a standby, during a failover
			pgErr.Code == "40001",               // serialization_failure
			pgErr.Code == "40P01":               // deadlock_detected
			return ErrUnavailable
		}
		return nil
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &connErr),
		errors.As(err, &netErr),
		pgconn.SafeToRetry(err),
		pgconn.Timeout(err):
		return ErrUnavailable
	}
	// io.ErrUnexpectedEOF: the server closed the connection mid-reply (it
	// was killed, or a failover took it).
	if errors.Is(err, net.ErrClosed) || errors.Is(err, errors.ErrUnsupported) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrUnavailable
	}
	return nil
}
