package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authd/authd/internal/db"
)

// explainer is a db.DBTX that runs EXPLAIN (ANALYZE, BUFFERS) of the SQL it
// is given, with the same arguments, and keeps the plan instead of a result.
// It runs in a transaction that the caller rolls back.
type explainer struct {
	tx   pgx.Tx
	plan []string
	err  error
}

var errExplained = errors.New("explained, not run")

func (e *explainer) explain(ctx context.Context, sql string, args []any) {
	if e.plan != nil || e.err != nil {
		e.err = errors.New("more than one statement")
		return
	}
	rows, _ := e.tx.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS)\n"+sql, args...)
	e.plan, e.err = pgx.CollectRows(rows, pgx.RowTo[string])
}

func (e *explainer) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	e.explain(ctx, sql, args)
	return pgconn.CommandTag{}, errExplained
}

func (e *explainer) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	e.explain(ctx, sql, args)
	return nil, errExplained
}

func (e *explainer) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	e.explain(ctx, sql, args)
	return errRow{}
}

type errRow struct{}

func (errRow) Scan(...any) error { return errExplained }

// hotQuery is one query authd runs per request (or in the background).
type hotQuery struct {
	name string
	note string
	want []string // it should use one of these indexes; none: it scans nothing
	call func(context.Context, *db.Queries) error
}

// explain prints the plan of every hot query, as Markdown, to stdout and a
// verdict per query to stderr, with parameters taken from the data.
func explain(ctx context.Context, conn *pgx.Conn, stdout, stderr io.Writer) error {
	var sessionID, userID uuid.UUID
	var hash []byte
	var email, pwHash string
	// A random active session: ids are random, so start at a random one.
	const pick = `SELECT s.id, s.user_id, s.current_hash, u.email FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.revoked_at IS NULL AND s.idle_expires_at > now() AND s.expires_at > now() %s ORDER BY s.id LIMIT 1`
	err := conn.QueryRow(ctx, fmt.Sprintf(pick, "AND s.id >= gen_random_uuid()")).Scan(&sessionID, &userID, &hash, &email)
	if errors.Is(err, pgx.ErrNoRows) {
		err = conn.QueryRow(ctx, fmt.Sprintf(pick, "")).Scan(&sessionID, &userID, &hash, &email)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("no active session to explain with: seed some first (-users, -sessions)")
	}
	if err == nil { // the hash login compared, for CreateLoginSession
		err = conn.QueryRow(ctx, "SELECT password_hash FROM users WHERE id = $1", userID).Scan(&pwHash)
	}
	if err != nil {
		return fmt.Errorf("pick a session: %w", err)
	}
	unknown := "nobody-" + uuid.NewString()[:8] + "@example.com"
	now := time.Now()

	hot := []hotQuery{
		{"GetSessionUser", "The per-request auth check, for an active session and its user.",
			[]string{"sessions_pkey"}, func(ctx context.Context, q *db.Queries) error {
				_, err := q.GetSessionUser(ctx, db.GetSessionUserParams{SessionID: sessionID, UserID: userID, Now: now})
				return err
			}},
		{"RotateSession", "The refresh rotation of that session, presenting its current hash.",
			[]string{"sessions_pkey"}, func(ctx context.Context, q *db.Queries) error {
				_, err := q.RotateSession(ctx, db.RotateSessionParams{NextHash: randomHash(), Now: now,
					IdleExpiresAt: now.Add(idleTTL), ID: sessionID, PresentedHash: hash})
				return err
			}},
		{"GetUserByEmail", "Login's user lookup, for an existing email (" + email + ").",
			[]string{"users_email_key"}, func(ctx context.Context, q *db.Queries) error {
				_, err := q.GetUserByEmail(ctx, email)
				return err
			}},
		{"GetUserByEmail (unknown email)", "Login's user lookup, for an email nobody has (" + unknown + ").",
			[]string{"users_email_key"}, func(ctx context.Context, q *db.Queries) error {
				_, err := q.GetUserByEmail(ctx, unknown)
				return err
			}},
		{"GetLoginThrottle", "Login's throttle check, before any password work.",
			[]string{"login_throttle_pkey"}, func(ctx context.Context, q *db.Queries) error {
				_, err := q.GetLoginThrottle(ctx, email)
				return err
			}},
		{"CreateLoginSession", "Login's new session for that user, inserted only if its password hash is still the one compared.",
			nil, func(ctx context.Context, q *db.Queries) error {
				_, err := q.CreateLoginSession(ctx, db.CreateLoginSessionParams{UserID: userID, PasswordHash: pwHash, CurrentHash: randomHash(), Now: now,
					IdleExpiresAt: now.Add(idleTTL), ExpiresAt: now.Add(lifetime), UserAgent: userAgents[0], ClientAddr: "203.0.113.7"})
				return err
			}},
		{"DeleteExpiredSessions", "The background clean-up of ended sessions: one batch of 1000, cutoff 24 h ago (as session.Service.Purge, internal/session/purge.go).",
			[]string{"sessions_expires_at_idx"},
			func(ctx context.Context, q *db.Queries) error {
				_, err := q.DeleteExpiredSessions(ctx, db.DeleteExpiredSessionsParams{Cutoff: now.Add(-24 * time.Hour), BatchSize: 1000})
				return err
			}},
		{"DeleteRevokedSessions", "The background clean-up of revoked sessions: one batch of 1000, cutoff 24 h ago.",
			[]string{"sessions_revoked_at_idx"},
			func(ctx context.Context, q *db.Queries) error {
				_, err := q.DeleteRevokedSessions(ctx, db.DeleteRevokedSessionsParams{Cutoff: now.Add(-24 * time.Hour), BatchSize: 1000})
				return err
			}},
	}
	for _, h := range hot {
		plan, err := explainOne(ctx, conn, h.call)
		if err != nil {
			return fmt.Errorf("explain %s: %w", h.name, err)
		}
		fmt.Fprintf(stdout, "### %s\n\n%s\n\n```\n%s\n```\n\n", h.name, h.note, plan)
		fmt.Fprintln(stderr, verdict(h.name, plan, h.want))
	}
	return nil
}

// explainOne runs call on an explainer in a transaction it rolls back.
func explainOne(ctx context.Context, conn *pgx.Conn, call func(context.Context, *db.Queries) error) (string, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback(context.Background())
	e := &explainer{tx: tx}
	call(ctx, db.New(e)) // fails by design: the plan is what counts
	if e.err != nil {
		return "", e.err
	}
	if len(e.plan) == 0 {
		return "", errors.New("no statement run")
	}
	return strings.Join(e.plan, "\n"), tx.Rollback(ctx)
}

var (
	indexScan = regexp.MustCompile(`(?:Index Scan|Index Only Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\S+)`)
	seqScan   = regexp.MustCompile(`Seq Scan on (\S+)`)
)

// verdict says whether plan uses one of the indexes in want, and warns of
// a sequential scan of users or sessions.
func verdict(name, plan string, want []string) string {
	var used, seq []string
	for _, m := range indexScan.FindAllStringSubmatch(plan, -1) {
		if !slices.Contains(used, m[1]) {
			used = append(used, m[1])
		}
	}
	for _, m := range seqScan.FindAllStringSubmatch(plan, -1) {
		if m[1] == "users" || m[1] == "sessions" {
			seq = append(seq, m[1])
		}
	}
	switch {
	case len(seq) > 0:
		return fmt.Sprintf("WARNING %s: Seq Scan on %s (indexes used: %s)", name, strings.Join(seq, ", "), list(used))
	case len(want) == 0:
		return fmt.Sprintf("ok %s: no table scan (indexes used: %s)", name, list(used))
	case !slices.ContainsFunc(want, func(w string) bool { return slices.Contains(used, w) }):
		return fmt.Sprintf("WARNING %s: does not use %s (indexes used: %s)", name, strings.Join(want, " or "), list(used))
	}
	return fmt.Sprintf("ok %s: index scan on %s", name, list(used))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
