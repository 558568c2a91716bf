// Command scaleseed bulk-loads a large, realistic set of users and sessions
// into an authd database with COPY, so that benchmarks run against tables of
// production size, and with -explain shows the plans PostgreSQL picks for
// the queries authd runs on every request.
//
// It only adds rows (it never truncates or deletes), only to a database on a
// Unix socket or a loopback address, and only once the schema exists
// (authd migrate up).
//
//	scaleseed -database-url "$DATABASE_URL" -users 1000000 -sessions 1000000
//	scaleseed -database-url "$DATABASE_URL" -explain
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"
)

// The session lifetimes of the seeded rows: authd's defaults.
const (
	lifetime = 7 * 24 * time.Hour // absolute: expires_at = created_at + lifetime
	idleTTL  = time.Hour          // idle_expires_at = min(last_used_at + idleTTL, expires_at)
)

type config struct {
	url      string
	users    int
	sessions int
	batch    int
	prefix   string
	password string
	cost     int
	start    int64 // first email index; -1: after the highest existing one
	explain  bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleseed:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("scaleseed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.url, "database-url", "", "authd's database (default $DATABASE_URL); only a Unix socket or a loopback host")
	fs.IntVar(&cfg.users, "users", 0, "users to add")
	fs.IntVar(&cfg.sessions, "sessions", 0, "sessions to add, each of a random user (of this run, else of the table)")
	fs.IntVar(&cfg.batch, "batch", 50000, "rows per COPY")
	fs.StringVar(&cfg.prefix, "prefix", "scale", "email prefix: PREFIX<i>@example.com")
	fs.StringVar(&cfg.password, "password", "scale-password-1", "password of every added user")
	fs.IntVar(&cfg.cost, "cost", 12, "bcrypt cost of the one hash all added users share")
	fs.Int64Var(&cfg.start, "start", -1, "first <i> of the emails; -1: one past the highest PREFIX<i> in the table")
	fs.BoolVar(&cfg.explain, "explain", false, "print EXPLAIN (ANALYZE, BUFFERS) of authd's hot queries (after seeding, if asked to seed)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.url == "" {
		cfg.url = os.Getenv("DATABASE_URL") // not the flag's default: -h would show the password
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments: %q", fs.Args()))
	}
	if cfg.url == "" {
		problems = append(problems, "-database-url (or DATABASE_URL) is required")
	}
	if cfg.users < 0 || cfg.sessions < 0 {
		problems = append(problems, "-users and -sessions must not be negative")
	}
	if cfg.users == 0 && cfg.sessions == 0 && !cfg.explain {
		problems = append(problems, "nothing to do: give -users, -sessions or -explain")
	}
	if cfg.batch < 1 {
		problems = append(problems, "-batch must be at least 1")
	}
	if p := cfg.prefix; p == "" || p != strings.ToLower(strings.TrimSpace(p)) || strings.ContainsAny(p, "@ \t\r\n\"<>(),;:\\[]") {
		problems = append(problems, "-prefix must be lower-case and usable in an email address")
	}
	if n := len(cfg.password); n < 8 || n > 72 {
		problems = append(problems, "-password must be 8 to 72 bytes")
	}
	if cfg.cost < bcrypt.MinCost || cfg.cost > bcrypt.MaxCost {
		problems = append(problems, fmt.Sprintf("-cost must be %d to %d", bcrypt.MinCost, bcrypt.MaxCost))
	}
	if len(problems) > 0 {
		return cfg, errors.New(strings.Join(problems, "; "))
	}
	return cfg, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	conn, err := connect(ctx, cfg.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var ok bool
	err = conn.QueryRow(ctx, `SELECT to_regclass('users') IS NOT NULL AND to_regclass('sessions') IS NOT NULL
		AND to_regclass('login_throttle') IS NOT NULL`).Scan(&ok)
	if err != nil {
		return fmt.Errorf("look for the tables: %w", err)
	}
	if !ok {
		return errors.New("the users, sessions and login_throttle tables do not exist: run `authd migrate up` (or start authd once) first")
	}
	if cfg.users > 0 || cfg.sessions > 0 {
		if err := seed(ctx, conn, cfg, stderr); err != nil {
			return err
		}
	}
	if cfg.explain {
		return explain(ctx, conn, stdout, stderr)
	}
	return nil
}

// connect opens one connection, refusing anything but a Unix socket or a
// loopback address: in the URL, and again on every dial.
func connect(ctx context.Context, url string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// The error may quote the URL, password included: do not show it.
		return nil, errors.New("-database-url is not a valid connection string")
	}
	hosts := []string{cfg.Host}
	for _, f := range cfg.Fallbacks {
		hosts = append(hosts, f.Host)
	}
	for _, h := range hosts {
		if !localHost(h) {
			return nil, fmt.Errorf("refusing database host %q: scaleseed writes only to a Unix socket or a loopback address", h)
		}
	}
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if network != "unix" {
			host, _, err := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
				return nil, fmt.Errorf("refusing to connect to %s: not a loopback address", addr)
			}
		}
		return dial(ctx, network, addr)
	}
	cfg.RuntimeParams["application_name"] = "scaleseed"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// localHost reports whether a libpq host is a socket directory or loopback.
func localHost(h string) bool {
	if strings.HasPrefix(h, "/") || h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func seed(ctx context.Context, conn *pgx.Conn, cfg config, stderr io.Writer) error {
	start := time.Now()
	var ids []uuid.UUID
	if cfg.users > 0 {
		first := cfg.start
		if first < 0 {
			// One past the highest PREFIX<i>@example.com, so that reruns add.
			err := conn.QueryRow(ctx, `SELECT coalesce(max(left(rest, -length('@example.com'))::bigint) + 1, 0)
				FROM (SELECT substr(email, length($1) + 1) AS rest FROM users WHERE starts_with(email, $1)) s
				WHERE rest ~ '^[0-9]{1,15}@example\.com$'`, cfg.prefix).Scan(&first)
			if err != nil {
				return fmt.Errorf("find the next email index: %w", err)
			}
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.password), cfg.cost)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "scaleseed: adding users %s%d@example.com to %s%d@example.com\n",
			cfg.prefix, first, cfg.prefix, first+int64(cfg.users)-1)
		t := time.Now()
		if ids, err = copyUsers(ctx, conn, cfg, first, string(hash)); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "scaleseed: %d users in %.1fs\n", cfg.users, time.Since(t).Seconds())
	}
	if cfg.sessions > 0 {
		if len(ids) == 0 {
			rows, _ := conn.Query(ctx, "SELECT id FROM users")
			var err error
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
				return fmt.Errorf("read user ids: %w", err)
			}
			if len(ids) == 0 {
				return errors.New("no users to give sessions to: add some with -users")
			}
		}
		t := time.Now()
		if err := copySessions(ctx, conn, cfg, ids); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "scaleseed: %d sessions in %.1fs\n", cfg.sessions, time.Since(t).Seconds())
	}
	loaded := time.Since(start)
	start = time.Now()
	if _, err := conn.Exec(ctx, "VACUUM ANALYZE users, sessions"); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	rows := cfg.users + cfg.sessions
	fmt.Fprintf(stderr, "scaleseed: loaded %d users and %d sessions (%d rows) in %.1fs: %.0f rows/s; VACUUM ANALYZE %.1fs\n",
		cfg.users, cfg.sessions, rows, loaded.Seconds(), float64(rows)/loaded.Seconds(), time.Since(start).Seconds())
	for _, table := range []string{"users", "sessions"} {
		var n int64
		var total, indexes string
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM `+table+`),
			pg_size_pretty(pg_total_relation_size($1)), pg_size_pretty(pg_indexes_size($1))`, table).Scan(&n, &total, &indexes)
		if err != nil {
			return fmt.Errorf("size of %s: %w", table, err)
		}
		fmt.Fprintf(stderr, "scaleseed: %-8s %9d rows, total %s, indexes %s\n", table, n, total, indexes)
	}
	return nil
}

// copyUsers adds cfg.users users sharing one password hash and returns their ids.
func copyUsers(ctx context.Context, conn *pgx.Conn, cfg config, first int64, hash string) ([]uuid.UUID, error) {
	now := time.Now()
	ids := make([]uuid.UUID, cfg.users)
	cols := []string{"id", "name", "email", "password_hash", "role", "provider", "photo", "verified", "created_at", "updated_at"}
	err := copyBatches(ctx, conn, "users", cols, cfg.users, cfg.batch, func(i int) []any {
		ids[i] = uuid.New()
		n := first + int64(i)
		created := now.Add(-randDur(90 * 24 * time.Hour))
		updated := created.Add(randDur(now.Sub(created)))
		return []any{ids[i], fmt.Sprintf("Scale User %d", n), fmt.Sprintf("%s%d@example.com", cfg.prefix, n),
			hash, "user", "local", "", mrand.IntN(4) > 0, created, updated}
	})
	return ids, err
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/128.0",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148",
	"authd-cli/1.4",
	"okhttp/4.12.0",
}

// copySessions adds cfg.sessions sessions of random users among ids: 70 %
// active and refreshed, 15 % active and never refreshed, 12 % past their
// idle expiry, 3 % revoked at logout.
func copySessions(ctx context.Context, conn *pgx.Conn, cfg config, ids []uuid.UUID) error {
	now := time.Now()
	cols := []string{"id", "user_id", "generation", "current_hash", "previous_hash", "rotated_at", "created_at",
		"last_used_at", "idle_expires_at", "expires_at", "revoked_at", "revoked_reason", "user_agent", "client_addr", "auth_time"}
	return copyBatches(ctx, conn, "sessions", cols, cfg.sessions, cfg.batch, func(int) []any {
		var created, used time.Time
		var revokedAt, reason any // NULL unless revoked
		switch p := mrand.IntN(100); {
		case p < 3: // revoked
			created = now.Add(-randDur(lifetime))
			used = created.Add(randDur(now.Sub(created)))
			revokedAt, reason = used.Add(randDur(min(now.Sub(used), idleTTL))), "logout"
		case p < 15: // idle-expired: last used more than idleTTL ago
			created = now.Add(-idleTTL - time.Minute - randDur(lifetime-idleTTL-time.Minute))
			used = created.Add(randDur(now.Add(-idleTTL - time.Minute).Sub(created)))
		case p < 30: // active, never refreshed
			created = now.Add(-randDur(idleTTL - time.Minute))
			used = created
		default: // active, refreshed within idleTTL
			created = now.Add(-randDur(lifetime))
			used = now.Add(-randDur(min(now.Sub(created), idleTTL-time.Minute)))
		}
		expires := created.Add(lifetime)
		idle := used.Add(idleTTL)
		if idle.After(expires) {
			idle = expires
		}
		var gen int64
		var prev, rotated any
		if used.After(created) {
			gen, prev, rotated = 1+mrand.Int64N(20), randomHash(), used
		}
		return []any{uuid.New(), ids[mrand.IntN(len(ids))], gen, randomHash(), prev, rotated, created,
			used, idle, expires, revokedAt, reason, userAgents[mrand.IntN(len(userAgents))],
			fmt.Sprintf("203.0.113.%d", mrand.IntN(256)), created}
	})
}

// copyBatches adds n rows to table, one COPY per batch of at most size rows,
// each row made by row(i) as COPY asks for it.
func copyBatches(ctx context.Context, conn *pgx.Conn, table string, cols []string, n, size int, row func(i int) []any) error {
	for done := 0; done < n; {
		src := &rowSource{i: done, end: min(done+size, n), row: row}
		got, err := conn.CopyFrom(ctx, pgx.Identifier{table}, cols, src)
		if err != nil {
			return fmt.Errorf("copy %s rows %d to %d: %w", table, done, src.end-1, err)
		}
		done += int(got)
	}
	return nil
}

// rowSource is a pgx.CopyFromSource making rows i to end-1 on demand.
type rowSource struct {
	i, end int
	row    func(int) []any
	vals   []any
}

func (s *rowSource) Next() bool {
	if s.i >= s.end {
		return false
	}
	s.vals = s.row(s.i)
	s.i++
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.vals, nil }
func (s *rowSource) Err() error             { return nil }

// randDur is a random duration in [0, d).
func randDur(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(mrand.Int64N(int64(d)))
}

// randomHash stands for the SHA-256 of a token generation id.
func randomHash() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
