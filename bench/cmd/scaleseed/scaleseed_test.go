package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/authd/authd/internal/db/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func runTool(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := run(t.Context(), args, &out, &errOut); err != nil {
		t.Fatalf("scaleseed %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String()
}

func count(t *testing.T, conn *pgx.Conn, sql string) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestSeedAndExplain(t *testing.T) {
	url := dbtest.URL(t)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())

	// Small batches, so that both tables take several COPYs.
	_, stderr := runTool(t, "-database-url", url, "-users", "2000", "-sessions", "3000", "-cost", "4", "-batch", "700")
	t.Logf("seed:\n%s", stderr)
	if n := count(t, conn, "SELECT count(*) FROM users"); n != 2000 {
		t.Errorf("users: %d, want 2000", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM sessions"); n != 3000 {
		t.Errorf("sessions: %d, want 3000", n)
	}
	for _, want := range []string{"2000 users and 3000 sessions", "rows/s", "users", "sessions", "indexes"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("summary lacks %q", want)
		}
	}

	// The CHECKs would have failed the COPY; these check the mix is realistic.
	for what, sql := range map[string]string{
		"active":       "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND idle_expires_at > now()",
		"idle-expired": "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND idle_expires_at <= now()",
		"revoked":      "SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL AND revoked_reason = 'logout'",
		"rotated":      "SELECT count(*) FROM sessions WHERE generation > 0 AND previous_hash IS NOT NULL AND rotated_at = last_used_at",
		"users used":   "SELECT count(DISTINCT user_id) FROM sessions",
	} {
		if n := count(t, conn, sql); n == 0 {
			t.Errorf("no %s sessions", what)
		}
	}
	if n := count(t, conn, `SELECT count(*) FROM sessions WHERE octet_length(current_hash) <> 32
		OR idle_expires_at > expires_at OR expires_at <> created_at + interval '7 days'
		OR idle_expires_at <> least(last_used_at + interval '1 hour', expires_at) OR last_used_at < created_at
		OR created_at < now() - interval '7 days' OR created_at > now()`); n != 0 {
		t.Errorf("%d sessions break the seeding rules", n)
	}
	if n := count(t, conn, `SELECT count(*) FROM users WHERE role <> 'user' OR provider <> 'local'
		OR created_at < now() - interval '90 days' OR updated_at < created_at`); n != 0 {
		t.Errorf("%d users break the seeding rules", n)
	}

	var hash string
	if err := conn.QueryRow(t.Context(), "SELECT password_hash FROM users WHERE email = 'scale1999@example.com'").Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("scale-password-1")); err != nil {
		t.Errorf("seeded password does not verify: %v", err)
	}
	if c, _ := bcrypt.Cost([]byte(hash)); c != 4 {
		t.Errorf("bcrypt cost %d, want 4", c)
	}

	// A rerun adds, after the highest existing index.
	runTool(t, "-database-url", url, "-users", "100", "-sessions", "50", "-cost", "4")
	if n := count(t, conn, "SELECT count(*) FROM users"); n != 2100 {
		t.Errorf("users after rerun: %d, want 2100", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM sessions"); n != 3050 {
		t.Errorf("sessions after rerun: %d, want 3050", n)
	}
	if n := count(t, conn, "SELECT count(*) FROM users WHERE email = 'scale2099@example.com'"); n != 1 {
		t.Errorf("rerun did not continue at scale2000@example.com")
	}
	// Sessions alone go to the users already there.
	runTool(t, "-database-url", url, "-sessions", "10")
	if n := count(t, conn, "SELECT count(*) FROM sessions"); n != 3060 {
		t.Errorf("sessions after -sessions only: %d, want 3060", n)
	}

	before := count(t, conn, "SELECT count(*) + sum(generation) FROM sessions")
	stdout, stderr := runTool(t, "-database-url", url, "-explain")
	t.Logf("explain:\n%s\n%s", stdout, stderr)
	for name, index := range map[string]string{
		"GetSessionUser":                 "sessions_pkey",
		"RotateSession":                  "sessions_pkey",
		"GetUserByEmail":                 "users_email_key",
		"GetUserByEmail (unknown email)": "users_email_key",
		"GetLoginThrottle":               "login_throttle_pkey",
		"CreateLoginSession":             "Insert on sessions",
		"DeleteExpiredSessions":          "sessions_expires_at_idx",
		"DeleteRevokedSessions":          "sessions_revoked_at_idx",
	} {
		_, rest, ok := strings.Cut(stdout, "### "+name+"\n")
		plan, _, _ := strings.Cut(rest, "###")
		if !ok || !strings.Contains(plan, "```\n") || !strings.Contains(plan, "Execution Time") || !strings.Contains(plan, index) {
			t.Errorf("no plan of %s naming %s", name, index)
		}
		if !strings.Contains(stderr, name+":") {
			t.Errorf("no verdict for %s", name)
		}
	}
	for _, name := range []string{"GetSessionUser", "RotateSession", "GetUserByEmail", "GetLoginThrottle", "CreateLoginSession",
		"DeleteExpiredSessions", "DeleteRevokedSessions"} {
		if !strings.Contains(stderr, "ok "+name+":") {
			t.Errorf("verdict for %s is not ok", name)
		}
	}
	// The statements ran (ANALYZE) but were rolled back.
	if after := count(t, conn, "SELECT count(*) + sum(generation) FROM sessions"); after != before {
		t.Errorf("-explain changed sessions: count + generations %d, then %d", before, after)
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		plan string
		want []string
		ok   bool
	}{
		{"Nested Loop\n  ->  Index Scan using sessions_pkey on sessions s\n  ->  Index Scan using users_pkey on users u", []string{"sessions_pkey"}, true},
		{"Limit\n  ->  Bitmap Heap Scan on sessions d\n        ->  Bitmap Index Scan on sessions_expires_at_idx", []string{"a", "sessions_expires_at_idx"}, true},
		{"Index Scan using users_pkey on users", []string{"users_email_key"}, false},
		{"Seq Scan on users\n  Filter: (email = $1)", []string{"users_email_key"}, false},
		{"Hash Join\n  ->  Seq Scan on sessions d\n  ->  Index Scan using users_pkey on users", []string{"users_pkey"}, false},
		{"Seq Scan on login_throttle", nil, true},
		{"Insert on sessions", nil, true},
	} {
		got := verdict("Q", c.plan, c.want)
		if strings.HasPrefix(got, "ok ") != c.ok {
			t.Errorf("verdict(%q, %q) = %q, want ok=%v", c.plan, c.want, got, c.ok)
		}
	}
}

func TestRefusals(t *testing.T) {
	for _, url := range []string{
		"postgres://postgres@db.example.com/authd",
		"postgres://postgres@10.0.0.5:5432/authd",
		"host=192.168.1.10 dbname=authd",
		"postgres://postgres@127.0.0.1,db.example.com/authd", // a remote fallback
	} {
		err := run(t.Context(), []string{"-database-url", url, "-users", "1"}, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Errorf("%s: %v, want a refusal", url, err)
		}
	}
	for _, h := range []string{"/tmp/pg", "/var/run/postgresql", "localhost", "127.0.0.1", "127.8.0.1", "::1"} {
		if !localHost(h) {
			t.Errorf("localHost(%q) = false", h)
		}
	}
	for _, h := range []string{"", "db", "10.0.0.1", "::ffff:10.0.0.1", "localhost.example.com", "tmp/pg"} {
		if localHost(h) {
			t.Errorf("localHost(%q) = true", h)
		}
	}

	// No schema: tell the user to migrate, add nothing.
	url := dbtest.EmptyURL(t)
	err := run(t.Context(), []string{"-database-url", url, "-users", "1"}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "authd migrate up") {
		t.Errorf("empty database: %v, want a hint to migrate", err)
	}
}
