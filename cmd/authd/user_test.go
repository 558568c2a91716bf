package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/db/dbtest"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
)

// cli runs the operator's commands in-process against a database of its
// own, and has a session.Service over the same database and keys, to
// log in and to check what the commands did.
type cli struct {
	t       *testing.T
	env     map[string]string
	envFile string // empty: no ./app.env is read, and tests may run in parallel
	pool    *pgxpool.Pool
	svc     *session.Service
}

func newCLI(t *testing.T, edit ...func(env map[string]string)) *cli {
	t.Helper()
	env := testKeyEnv(t)
	env["DATABASE_URL"] = dbtest.URL(t)
	env["BCRYPT_COST"] = "10"
	env["CLIENT_ORIGIN"] = "https://app.example.com"
	for _, e := range edit {
		e(env)
	}
	envFile := filepath.Join(t.TempDir(), "empty.env")
	if err := os.WriteFile(envFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet()
	cfg, err := loadConfig(fs, []string{"-env-file", envFile}, lookup(env))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := newSigner(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := password.New(password.Options{Cost: 4, Wait: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pool, err := db.Connect(t.Context(), cfg.DatabaseURL, db.PoolOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	svc := session.New(session.Deps{DB: pool, DBTimeout: 5 * time.Second, Tokens: signer, Hasher: hasher, Log: slog.New(slog.DiscardHandler)},
		sessionOptions(cfg))
	return &cli{t: t, env: env, envFile: envFile, pool: pool, svc: svc}
}

func newFlagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// result is what one command did.
type result struct {
	out, err string // stdout, stderr
	audit    map[string]any
	fail     error
}

// run runs authd with args (and -env-file) and stdin, and checks that it
// wrote exactly one audit line, which it returns.
func (c *cli) run(stdin string, args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	args = append(args, "-env-file", c.envFile)
	err := run(c.t.Context(), args, lookup(c.env), strings.NewReader(stdin), &out, &errOut)
	r := result{out: out.String(), err: errOut.String(), fail: err}
	var lines []map[string]any
	for _, l := range strings.Split(r.err, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "audit" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 1 {
		c.t.Fatalf("authd %s: %d audit lines, want 1; stderr:\n%s", strings.Join(args, " "), len(lines), r.err)
	}
	r.audit = lines[0]
	return r
}

// ok runs a command that must succeed with outcome ok.
func (c *cli) ok(stdin string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.fail != nil || r.audit["outcome"] != "ok" {
		c.t.Fatalf("authd %s: %v, audit %v", strings.Join(args, " "), r.fail, r.audit)
	}
	return r
}

// refused runs a command that must be refused with an error containing want.
func (c *cli) refused(want, stdin string, args ...string) result {
	c.t.Helper()
	r := c.run(stdin, args...)
	if r.fail == nil || !strings.Contains(r.fail.Error(), want) || r.audit["outcome"] != "refused" || r.audit["level"] != "WARN" {
		c.t.Fatalf("authd %s: %v (audit %v), want a refusal with %q", strings.Join(args, " "), r.fail, r.audit, want)
	}
	return r
}

// alive reports whether an access token still authenticates.
func (c *cli) alive(access string) bool {
	c.t.Helper()
	_, err := c.svc.Authenticate(c.t.Context(), access)
	if err != nil && !errors.Is(err, session.ErrInvalid) {
		c.t.Fatal(err)
	}
	return err == nil
}

// start starts a session of the user of email without a password (a
// bcrypt compare is slow under the race detector).
func (c *cli) start(email string) session.Tokens {
	c.t.Helper()
	acct, err := c.svc.Admin().Show(c.t.Context(), email)
	if err != nil {
		c.t.Fatal(err)
	}
	toks, err := c.svc.Start(c.t.Context(), acct.User.ID, session.Client{UserAgent: "test"})
	if err != nil {
		c.t.Fatal(err)
	}
	return toks
}

func (c *cli) login(email, pw string) session.Tokens {
	c.t.Helper()
	toks, _, err := c.svc.Login(c.t.Context(), email, pw, session.Client{UserAgent: "test"})
	if err != nil {
		c.t.Fatalf("login %s: %v", email, err)
	}
	return toks
}

// noSecrets fails if a secret appears in what r wrote to stderr.
func noSecrets(t *testing.T, r result, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.err, s) {
			t.Errorf("stderr shows a secret %q:\n%s", s, r.err)
		}
	}
}

// TestUserCommands walks through every user command the way an operator
// would, each checked by the session service: a set password ends the
// sessions at once, a reset link works once, the last admin stays.
func TestUserCommands(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const (
		adminPW = "first admin password"
		userPW  = "ada's first password"
	)

	r := c.ok(adminPW+"\n", "user", "create", "root@example.com", "-role", "admin", "-verified", "-name", "Root Admin")
	if !strings.Contains(r.out, "created root@example.com") || !strings.Contains(r.out, "role admin, verified yes") {
		t.Errorf("create admin printed %q", r.out)
	}
	for k, want := range map[string]string{"action": "user.create", "target": "root@example.com", "role": "admin", "level": "INFO"} {
		if r.audit[k] != want {
			t.Errorf("audit %s = %v, want %q", k, r.audit[k], want)
		}
	}
	if id, _ := r.audit["user_id"].(string); len(id) != 36 || r.audit["actor"] == "" {
		t.Errorf("audit names no user id or actor: %v", r.audit)
	}
	if id, _ := r.audit["request_id"].(string); r.audit["event"] != "operator.command" || len(id) != 24 {
		t.Errorf("audit has no event or request id: %v", r.audit)
	}
	noSecrets(t, r, adminPW)
	// The flags after the address; no line end after the password.
	c.ok(userPW, "user", "create", "Ada@Example.com", "-name", "Ada Lovelace")
	c.refused("already registered", userPW, "user", "create", "ada@example.com")
	c.refused("at least 8 bytes", "short\n", "user", "create", "bob@example.com")
	c.refused("no password on stdin", "", "user", "create", "bob@example.com")
	c.refused("not a valid address", userPW, "user", "create", "bob")

	// list and show; neither prints a hash.
	r = c.ok("", "user", "list")
	if lines := strings.Split(strings.TrimSpace(r.out), "\n"); len(lines) != 3 ||
		!strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "root@example.com") || !strings.Contains(lines[2], "Ada Lovelace") {
		t.Errorf("user list:\n%s", r.out)
	}
	r = c.ok("", "user", "list", "-email", "ADA", "-unverified", "-json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.out), &listed); err != nil || len(listed) != 1 || listed[0]["email"] != "ada@example.com" || listed[0]["verified"] != false {
		t.Errorf("user list -json: %v\n%s", err, r.out)
	}
	if strings.Contains(r.out, "$2a$") || strings.Contains(r.out, "password_hash") {
		t.Errorf("user list shows a hash:\n%s", r.out)
	}

	ada := c.login("ada@example.com", userPW)
	other := c.start("ada@example.com")
	rootSession := c.start("root@example.com")
	r = c.ok("", "user", "show", "ada@example.com")
	for _, want := range []string{"Ada Lovelace", "role              user", "verified          no", "password changed  never", "live sessions     2"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("user show lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "$2a$") {
		t.Errorf("user show shows the hash:\n%s", r.out)
	}
	c.refused("no user", "", "user", "show", "nobody@example.com")

	// set-password: every session of the user ends at once; the admin's stays.
	const newPW = "ada's second password"
	r = c.ok(newPW+"\r\n", "user", "set-password", "ada@example.com")
	if !strings.Contains(r.out, "2 session(s) ended") || r.audit["sessions_revoked"] != 2.0 {
		t.Errorf("set-password: %q, audit %v", r.out, r.audit)
	}
	noSecrets(t, r, newPW)
	if c.alive(ada.Access) || c.alive(other.Access) {
		t.Error("an access token works after set-password")
	}
	if !c.alive(rootSession.Access) {
		t.Error("set-password of ada ended the admin's session")
	}
	if _, _, err := c.svc.Login(t.Context(), "ada@example.com", userPW, session.Client{}); !errors.Is(err, session.ErrBadCredentials) {
		t.Errorf("login with the old password: %v", err)
	}
	ada = c.login("ada@example.com", newPW)
	var js map[string]any
	if r = c.ok("", "user", "show", "ada@example.com", "-json"); json.Unmarshal([]byte(r.out), &js) != nil || js["live_sessions"] != 1.0 || js["password_changed_at"] == nil {
		t.Errorf("show -json after set-password:\n%s", r.out)
	}

	// reset-link: a link to the client with a token ResetPassword takes once.
	r = c.ok("", "user", "reset-link", "ada@example.com", "-ttl", "2h")
	link := strings.TrimSpace(r.out)
	token, ok := strings.CutPrefix(link, "https://app.example.com/forgotPassword/")
	if !ok || len(token) != 43 {
		t.Fatalf("reset-link printed %q", r.out)
	}
	noSecrets(t, r, token)
	if !strings.Contains(r.err, "nothing was sent") {
		t.Errorf("reset-link does not say that nothing was sent: %s", r.err)
	}
	if err := c.svc.ResetPassword(t.Context(), token, "reset by the link", "reset by the link"); err != nil {
		t.Fatalf("ResetPassword with the printed token: %v", err)
	}
	if err := c.svc.ResetPassword(t.Context(), token, "reset by the link again", "reset by the link again"); !errors.Is(err, session.ErrBadResetToken) {
		t.Errorf("the token a second time: %v, want ErrBadResetToken", err)
	}
	if c.alive(ada.Access) {
		t.Error("the session outlived the reset")
	}
	c.refused("ttl must be", "", "user", "reset-link", "ada@example.com", "-ttl", "720h")

	// revoke-sessions.
	ada = c.start("ada@example.com")
	if r = c.ok("", "user", "revoke-sessions", "ada@example.com"); !strings.Contains(r.out, "1 session(s)") || c.alive(ada.Access) {
		t.Errorf("revoke-sessions: %q; session alive %v", r.out, c.alive(ada.Access))
	}

	// mfa-reset: the factor goes (here only its flag, set by hand) and
	// every session ends.
	ada = c.start("ada@example.com")
	if _, err := c.pool.Exec(t.Context(), "UPDATE users SET mfa_enabled = true WHERE email = 'ada@example.com'"); err != nil {
		t.Fatal(err)
	}
	r = c.ok("", "user", "mfa-reset", "ada@example.com")
	var mfa bool
	if err := c.pool.QueryRow(t.Context(), "SELECT mfa_enabled FROM users WHERE email = 'ada@example.com'").Scan(&mfa); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.out, "second factor of ada@example.com removed; 1 session(s) ended") || c.alive(ada.Access) || mfa || r.audit["sessions_revoked"] != float64(1) {
		t.Errorf("mfa-reset: %q; session alive %v; mfa %v; audit %v", r.out, c.alive(ada.Access), mfa, r.audit)
	}
	c.refused("no user with this email", "", "user", "mfa-reset", "nobody@example.com")

	// verify. The reset above verified the address already; bob is new.
	c.ok("bob's password", "user", "create", "bob@example.com")
	if r = c.ok("", "user", "verify", "bob@example.com"); r.out != "bob@example.com is verified\n" {
		t.Errorf("verify: %q", r.out)
	}
	if r = c.ok("", "user", "verify", "bob@example.com"); !strings.Contains(r.out, "verified already") {
		t.Errorf("verify again: %q", r.out)
	}

	// set-role and the last admin.
	c.refused("last admin", "", "user", "set-role", "root@example.com", "user")
	c.refused("role must be", "", "user", "set-role", "ada@example.com", "root")
	if r = c.ok("", "user", "set-role", "ada@example.com", "admin"); r.out != "ada@example.com is now admin\n" {
		t.Errorf("set-role: %q", r.out)
	}
	c.ok("", "user", "set-role", "root@example.com", "user")
	c.refused("last admin", "", "user", "delete", "ada@example.com", "-yes")

	// delete asks, and without a terminal it refuses.
	r = c.refused("not a terminal", "bob@example.com\n", "user", "delete", "bob@example.com")
	if _, err := c.svc.Admin().Show(t.Context(), "bob@example.com"); err != nil {
		t.Fatalf("bob after a refused delete: %v", err)
	}
	bob := c.start("bob@example.com")
	if r = c.ok("", "user", "delete", "bob@example.com", "-yes"); !strings.Contains(r.out, "deleted bob@example.com") || c.alive(bob.Access) {
		t.Errorf("delete: %q", r.out)
	}
	c.refused("no user", "", "user", "delete", "bob@example.com", "-yes")
}

// TestUserUsage: usage mistakes fail before any configuration is read
// and write no audit line; help succeeds.
func TestUserUsage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for success
	}{
		{[]string{"user"}, "want a command"},
		{[]string{"user", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"user", "show"}, "want 1 argument(s), got 0"},
		{[]string{"user", "set-role", "a@example.com"}, "want 2 argument(s), got 1"},
		{[]string{"user", "list", "extra"}, "want 0 argument(s), got 1"},
		{[]string{"mail", "retry"}, "want 1 argument(s)"},
		{[]string{"user", "help"}, ""},
		{[]string{"mail", "-h"}, ""},
		{[]string{"user", "show", "-h"}, ""},
	} {
		var out, errOut bytes.Buffer
		err := run(t.Context(), tc.args, lookup(nil), strings.NewReader(""), &out, &errOut)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("authd %v: %v", tc.args, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("authd %v: %v, want an error with %q", tc.args, err, tc.want)
		}
		if strings.Contains(errOut.String(), `"audit"`) {
			t.Errorf("authd %v wrote an audit line: %s", tc.args, errOut.String())
		}
	}
}

// TestReorder: flags may come before or after the arguments.
func TestReorder(t *testing.T) {
	t.Parallel()
	fs := newFlagSet()
	fs.Bool("verified", false, "")
	fs.String("role", "", "")
	for _, tc := range []struct {
		args, flags, pos string
	}{
		{"a@b.c -role admin -verified", "-role admin -verified", "a@b.c"},
		{"-verified a@b.c -env-file x.env", "-verified -env-file x.env", "a@b.c"},
		{"-role=admin a@b.c b", "-role=admin", "a@b.c b"},
		{"-verified -- -x@b.c", "-verified", "-x@b.c"},
		{"a@b.c -h", "-h", "a@b.c"},
	} {
		flags, pos := reorder(fs, strings.Fields(tc.args))
		if strings.Join(flags, " ") != tc.flags || strings.Join(pos, " ") != tc.pos {
			t.Errorf("reorder(%q) = %q, %q; want %q, %q", tc.args, flags, pos, tc.flags, tc.pos)
		}
	}
}
