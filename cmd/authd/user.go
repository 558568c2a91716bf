package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/term"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/sql/schema"
)

// The operator's commands, `authd user ...` and `authd mail ...`, work on
// the database of the same configuration as serve, with no HTTP and no
// migrations. Each writes exactly one audit line (once its arguments and
// configuration are read; before that nothing was done), with the
// configured log format on stderr, and its answer for people on stdout.

const userUsage = `usage: authd user COMMAND [flags]

commands (each also takes -env-file F; flags may follow the arguments):
  list [-email PREFIX] [-unverified] [-limit N] [-json]
                         users, oldest first (at most 100 unless -limit)
  show EMAIL [-json]     id, name, role, verified and when, created, password
                         changed, live sessions, failed logins
  create EMAIL [-name N] [-role admin|user] [-verified]
                         a new user; the password from stdin or a prompt
  verify EMAIL           mark the address verified
  set-role EMAIL admin|user
                         change the role; the last admin stays one
  set-password EMAIL     a new password from stdin or a prompt; ends every
                         session of the user at once
  revoke-sessions EMAIL  end every session of the user at once
  reset-link EMAIL [-ttl 24h]
                         print a password reset link; nothing is sent
  delete EMAIL [-yes]    delete the user for good, after asking on the
                         terminal unless -yes; never the last admin

A password is read from the first line of stdin, or typed twice at a
prompt when stdin is a terminal; never from the command line.
Every command writes one audit line to stderr.
`

// adminIO is what the operator's commands read and write.
type adminIO struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader // nil: none
	stdout    io.Writer
	stderr    io.Writer
}

// userCmd: authd user COMMAND ...
func userCmd(ctx context.Context, args []string, c adminIO) error {
	if len(args) == 0 {
		return fmt.Errorf("user: want a command\n%s", userUsage)
	}
	cmds := map[string]func(context.Context, []string) error{
		"list":            c.userList,
		"show":            c.userShow,
		"create":          c.userCreate,
		"verify":          c.userVerify,
		"set-role":        c.userSetRole,
		"set-password":    c.userSetPassword,
		"revoke-sessions": c.userRevokeSessions,
		"reset-link":      c.userResetLink,
		"delete":          c.userDelete,
	}
	return dispatch(ctx, "user", args, cmds, userUsage, c.stdout)
}

// dispatch runs the command args[0] of cmds, the commands of group.
func dispatch(ctx context.Context, group string, args []string, cmds map[string]func(context.Context, []string) error, usage string, stdout io.Writer) error {
	name := args[0]
	if name == "help" || isHelp(name) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := cmds[name]
	if !ok {
		return fmt.Errorf("%s: unknown command %q\n%s", group, name, usage)
	}
	err := cmd(ctx, args[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case err != nil:
		return fmt.Errorf("%s %s: %w", group, name, err)
	}
	return nil
}

// flagSet is the flag set of a command, whose usage line shows synopsis.
func (c adminIO) flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: authd %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse reads a command's flags (before or after its arguments) and the
// configuration, and wants exactly n arguments.
func (c adminIO) parse(fs *flag.FlagSet, args []string, n int) ([]string, config.Config, error) {
	flags, pos := reorder(fs, args)
	if len(pos) != n && !wantsHelp(flags) {
		fs.Usage()
		return nil, config.Config{}, fmt.Errorf("want %d argument(s), got %d", n, len(pos))
	}
	cfg, err := loadConfig(fs, flags, c.lookupEnv)
	if err != nil {
		return nil, config.Config{}, err
	}
	return pos, cfg, nil
}

// reorder separates the flags of args from the other arguments, so that
// `create EMAIL -role admin` parses like `create -role admin EMAIL`. A
// flag that fs does not know to be boolean takes the next argument as
// its value unless written -name=value (-env-file, defined later by
// loadConfig, is one). "--" ends the flags.
func reorder(fs *flag.FlagSet, args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(pos, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || isHelp("-"+name) {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

func wantsHelp(flags []string) bool {
	for _, f := range flags {
		if isHelp(f) || f == "-h=true" {
			return true
		}
	}
	return false
}

// refusal is a command that did nothing because it must not (a rule, an
// answer at a prompt): its audit outcome is "refused", not "failed".
type refusal string

func (r refusal) Error() string { return string(r) }

func refusef(format string, args ...any) error { return refusal(fmt.Sprintf(format, args...)) }

// refused reports whether err is a refusal rather than a failure.
func refused(err error) bool {
	var r refusal
	var inv *session.InvalidError
	return errors.As(err, &r) || errors.As(err, &inv) ||
		errors.Is(err, session.ErrNoUser) || errors.Is(err, session.ErrEmailTaken) ||
		errors.Is(err, session.ErrLastAdmin) || errors.Is(err, session.ErrLastAdminDemoted)
}

// audit is the one audit line of a command, written by done.
type audit struct {
	log    *slog.Logger
	action string
	actor  string
	target string
	attrs  []slog.Attr
}

// audit starts the audit line of action on target (an address, a mail
// id, or "" for a listing). It is written at INFO or above whatever
// LOG_LEVEL says.
func (c adminIO) audit(cfg config.Config, action, target string) *audit {
	cfg.LogLevel = min(cfg.LogLevel, slog.LevelInfo)
	return &audit{log: newLogger(cfg, c.stderr), action: action, actor: actor(c.lookupEnv), target: target}
}

// add adds details to the line. Never a password or a token.
func (a *audit) add(attrs ...slog.Attr) { a.attrs = append(a.attrs, attrs...) }

// user names the user acted on.
func (a *audit) user(u db.User) {
	if u.ID != uuid.Nil {
		a.add(slog.String("user_id", u.ID.String()))
	}
}

// done writes the line with the outcome of err: ok, refused or failed.
func (a *audit) done(ctx context.Context, err error) {
	level, outcome := slog.LevelInfo, "ok"
	switch {
	case err == nil:
	case refused(err):
		level, outcome = slog.LevelWarn, "refused"
	default:
		level, outcome = slog.LevelError, "failed"
	}
	attrs := append([]slog.Attr{
		slog.String("action", a.action), slog.String("actor", a.actor),
		slog.String("target", a.target), slog.String("outcome", outcome),
	}, a.attrs...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	a.log.LogAttrs(context.WithoutCancel(ctx), level, "audit", attrs...)
}

// actor names who ran the command: the OS user, and the user behind sudo.
func actor(lookupEnv func(string) (string, bool)) string {
	name := "uid " + strconv.Itoa(os.Getuid())
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if s, ok := lookupEnv("SUDO_USER"); ok && s != "" {
		name += " (sudo by " + s + ")"
	}
	return name
}

// adminEnv is what the operator's commands work with: a small pool and,
// from openAdmin, the session service over it. No HTTP, no migrations,
// no mail sender.
type adminEnv struct {
	pool  *pgxpool.Pool
	q     *db.Queries
	admin *session.Admin // nil from openDB
}

// openDB connects with cfg (two connections at most) and checks that the
// schema is migrated. The caller closes it.
func openDB(ctx context.Context, cfg config.Config) (*adminEnv, error) {
	pool, err := db.Connect(ctx, cfg.DatabaseURL, db.PoolOptions{MaxConns: 2, Timeout: cfg.DBTimeout})
	if err != nil {
		return nil, err
	}
	v, dirty, err := db.SchemaVersion(ctx, pool)
	switch {
	case err != nil:
		pool.Close()
		return nil, fmt.Errorf("%w (is the database migrated? authd migrate up)", err)
	case dirty || v < schema.Version:
		pool.Close()
		return nil, fmt.Errorf("the database schema is at version %d (dirty %v); this authd needs %d: run authd migrate up", v, dirty, schema.Version)
	}
	return &adminEnv{pool: pool, q: db.New(db.Bound(pool, cfg.DBTimeout))}, nil
}

// openAdmin is openDB with the session service, built as build builds it
// (the signer, a hasher of BCRYPT_COST, the same options) but logging
// nothing: the command writes the audit line. Only a command that hashes
// a password (create, set-password) asks for the hasher: making one
// starts a hash of its own at BCRYPT_COST (the dummy that unknown
// addresses are compared with), which the others need not pay for. The
// others must not call Admin.Create or Admin.SetPassword.
func openAdmin(ctx context.Context, cfg config.Config, hashes bool) (*adminEnv, error) {
	signer, err := newSigner(cfg, nil)
	if err != nil {
		return nil, err
	}
	var hasher *password.Hasher
	if hashes {
		if hasher, err = password.New(password.Options{Cost: cfg.BcryptCost, Concurrency: 1, Wait: time.Minute}); err != nil {
			return nil, err
		}
	}
	env, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	svc := session.New(session.Deps{
		DB: env.pool, DBTimeout: cfg.DBTimeout, Tokens: signer, Hasher: hasher,
		Log: slog.New(slog.DiscardHandler),
	}, session.Options{
		RefreshTTL:            cfg.RefreshTTL,
		SessionLifetime:       cfg.SessionLifetime,
		ReuseGrace:            cfg.ReuseGrace,
		LoginFailureThreshold: cfg.LoginFailureThreshold,
		LoginLockBase:         cfg.LoginLockBase,
		LoginLockMax:          cfg.LoginLockMax,
		Mail:                  cfg.MailOn(),
		Verification:          session.Verification(cfg.EmailVerification),
		MailCooldown:          cfg.MailCooldown,
		MailMaxPerHour:        cfg.MailMaxPerHour,
		HideExisting:          cfg.RegisterHideExisting,
	})
	env.admin = svc.Admin()
	return env, nil
}

func (e *adminEnv) close() { e.pool.Close() }

// terminal returns the file descriptor of r if r is a terminal.
func terminal(r io.Reader) (int, bool) {
	f, ok := r.(*os.File)
	if !ok || f == nil {
		return -1, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// maxPasswordLine bounds the line read from stdin for a password.
const maxPasswordLine = 1024

// readPassword reads a new password: typed twice without echo when stdin
// is a terminal (the prompts on stderr), else the first line of stdin
// without its line end (nothing else is trimmed).
func (c adminIO) readPassword() (string, error) {
	if fd, ok := terminal(c.stdin); ok {
		read := func(prompt string) (string, error) {
			fmt.Fprint(c.stderr, prompt)
			b, err := term.ReadPassword(fd)
			fmt.Fprintln(c.stderr)
			if err != nil {
				return "", fmt.Errorf("read password: %w", err)
			}
			return string(b), nil
		}
		pw, err := read("New password: ")
		if err != nil {
			return "", err
		}
		again, err := read("Again: ")
		if err != nil {
			return "", err
		}
		if pw != again {
			return "", refusal("the passwords typed do not match")
		}
		return pw, nil
	}
	if c.stdin == nil {
		return "", refusal("no password: give it on stdin, or run at a terminal to be asked")
	}
	line, err := bufio.NewReader(io.LimitReader(c.stdin, maxPasswordLine+1)).ReadString('\n')
	switch {
	case err != nil && !errors.Is(err, io.EOF):
		return "", fmt.Errorf("read password: %w", err)
	case len(line) > maxPasswordLine:
		return "", refusal("the first line of stdin is too long to be a password")
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", refusal("no password on stdin (its first line is empty)")
	}
	return line, nil
}

// confirm asks on the terminal to type want; without a terminal it
// refuses.
func (c adminIO) confirm(question, want string) error {
	if _, ok := terminal(c.stdin); !ok {
		return refusal("stdin is not a terminal, so no one can be asked: pass -yes to go ahead without asking")
	}
	fmt.Fprintf(c.stderr, "%s Type %s to confirm: ", question, want)
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read answer: %w", err)
	}
	if strings.TrimSpace(line) != want {
		return refusal("not confirmed")
	}
	return nil
}

// userJSON is a user as -json prints it; never the password hash.
type userJSON struct {
	ID                string     `json:"id"`
	Email             string     `json:"email"`
	Name              string     `json:"name"`
	Role              string     `json:"role"`
	Verified          bool       `json:"verified"`
	EmailVerifiedAt   *time.Time `json:"email_verified_at"`
	CreatedAt         time.Time  `json:"created_at"`
	PasswordChangedAt *time.Time `json:"password_changed_at"`
	// show only
	LiveSessions *int64     `json:"live_sessions,omitempty"`
	FailedLogins *int32     `json:"failed_logins,omitempty"`
	LockedUntil  *time.Time `json:"login_locked_until,omitempty"`
}

func toJSON(u db.User) userJSON {
	return userJSON{ID: u.ID.String(), Email: u.Email, Name: u.Name, Role: u.Role, Verified: u.Verified,
		EmailVerifiedAt: u.EmailVerifiedAt, CreatedAt: u.CreatedAt, PasswordChangedAt: u.PasswordChangedAt}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// when writes a time for people (UTC, RFC 3339), or none.
func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.UTC().Format(time.RFC3339)
}

// cell is s fit for a column: control characters (tabs, line breaks) shown as "?".
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// userList: authd user list [-email PREFIX] [-unverified] [-limit N] [-json].
func (c adminIO) userList(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user list", "[-email PREFIX] [-unverified] [-limit N] [-json]")
	prefix := fs.String("email", "", "only addresses that start with `PREFIX`")
	unverified := fs.Bool("unverified", false, "only users whose address is not verified")
	limit := fs.Int("limit", 100, "at most `N` users, 1 to 10000")
	asJSON := fs.Bool("json", false, "print JSON")
	_, cfg, err := c.parse(fs, args, 0)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.list", "")
	au.add(slog.String("email_prefix", *prefix), slog.Bool("unverified", *unverified), slog.Int("limit", *limit))
	defer func() { au.done(ctx, err) }()

	if *limit < 1 {
		return refusal("-limit must be 1 to 10000")
	}
	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	users, err := env.admin.List(ctx, session.UserFilter{EmailPrefix: *prefix, Unverified: *unverified, Limit: *limit})
	if err != nil {
		return err
	}
	au.add(slog.Int("users", len(users)))
	if *asJSON {
		out := make([]userJSON, 0, len(users))
		for _, u := range users {
			out = append(out, toJSON(u))
		}
		return printJSON(c.stdout, out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tROLE\tVERIFIED\tCREATED")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, cell(u.Email), cell(u.Name), u.Role, yesNo(u.Verified), when(&u.CreatedAt, ""))
	}
	return tw.Flush()
}

// userShow: authd user show EMAIL [-json].
func (c adminIO) userShow(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user show", "EMAIL [-json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.show", pos[0])
	defer func() { au.done(ctx, err) }()

	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	acct, err := env.admin.Show(ctx, pos[0])
	if err != nil {
		return err
	}
	u := acct.User
	au.user(u)
	if *asJSON {
		j := toJSON(u)
		j.LiveSessions, j.FailedLogins, j.LockedUntil = &acct.LiveSessions, &acct.FailedLogins, acct.LockedUntil
		return printJSON(c.stdout, j)
	}
	verified := "no"
	if u.Verified {
		verified = "yes, " + when(u.EmailVerifiedAt, "time unknown")
	}
	logins := strconv.Itoa(int(acct.FailedLogins))
	if acct.LockedUntil != nil {
		logins += ", locked until " + when(acct.LockedUntil, "")
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"id", u.ID.String()},
		{"email", cell(u.Email)},
		{"name", cell(u.Name)},
		{"role", u.Role},
		{"verified", verified},
		{"created", when(&u.CreatedAt, "")},
		{"password changed", when(u.PasswordChangedAt, "never")},
		{"live sessions", strconv.FormatInt(acct.LiveSessions, 10)},
		{"failed logins", logins},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// userCreate: authd user create EMAIL [-name N] [-role admin|user] [-verified].
func (c adminIO) userCreate(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user create", "EMAIL [-name N] [-role admin|user] [-verified]")
	name := fs.String("name", "", "the user's `name` (default: the part of EMAIL before the @)")
	role := fs.String("role", "user", "`role`: user or admin")
	verified := fs.Bool("verified", false, "the address counts as verified")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.create", pos[0])
	au.add(slog.String("role", *role), slog.Bool("verified", *verified))
	defer func() { au.done(ctx, err) }()

	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	env, err := openAdmin(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer env.close()
	u, err := env.admin.Create(ctx, session.NewUser{Email: pos[0], Name: *name, Password: pw, Role: *role, Verified: *verified})
	if err != nil {
		return err
	}
	au.user(u)
	fmt.Fprintf(c.stdout, "created %s: id %s, name %q, role %s, verified %s\n", u.Email, u.ID, u.Name, u.Role, yesNo(u.Verified))
	return nil
}

// userVerify: authd user verify EMAIL.
func (c adminIO) userVerify(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user verify", "EMAIL")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.verify", pos[0])
	defer func() { au.done(ctx, err) }()

	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	u, already, err := env.admin.Verify(ctx, pos[0])
	if err != nil {
		return err
	}
	au.user(u)
	au.add(slog.Bool("changed", !already))
	if already {
		fmt.Fprintf(c.stdout, "%s was verified already\n", u.Email)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s is verified\n", u.Email)
	return nil
}

// userSetRole: authd user set-role EMAIL admin|user.
func (c adminIO) userSetRole(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user set-role", "EMAIL admin|user")
	pos, cfg, err := c.parse(fs, args, 2)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.set-role", pos[0])
	au.add(slog.String("role", pos[1]))
	defer func() { au.done(ctx, err) }()

	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	u, unchanged, err := env.admin.SetRole(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	au.user(u)
	au.add(slog.Bool("changed", !unchanged))
	if unchanged {
		fmt.Fprintf(c.stdout, "%s is %s already\n", u.Email, u.Role)
		return nil
	}
	fmt.Fprintf(c.stdout, "%s is now %s\n", u.Email, u.Role)
	return nil
}

// userSetPassword: authd user set-password EMAIL, the password from stdin
// or a prompt.
func (c adminIO) userSetPassword(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user set-password", "EMAIL   (the password from stdin or a prompt)")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.set-password", pos[0])
	defer func() { au.done(ctx, err) }()

	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	env, err := openAdmin(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer env.close()
	u, n, err := env.admin.SetPassword(ctx, pos[0], pw)
	if err != nil {
		return err
	}
	au.user(u)
	au.add(slog.Int64("sessions_revoked", n))
	fmt.Fprintf(c.stdout, "password of %s set; %d session(s) ended\n", u.Email, n)
	return nil
}

// userRevokeSessions: authd user revoke-sessions EMAIL.
func (c adminIO) userRevokeSessions(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user revoke-sessions", "EMAIL")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.revoke-sessions", pos[0])
	defer func() { au.done(ctx, err) }()

	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	u, n, err := env.admin.RevokeSessions(ctx, pos[0])
	if err != nil {
		return err
	}
	au.user(u)
	au.add(slog.Int64("sessions_revoked", n))
	fmt.Fprintf(c.stdout, "%d session(s) of %s ended\n", n, u.Email)
	return nil
}

// userResetLink: authd user reset-link EMAIL [-ttl 24h]. The link goes to
// stdout alone, so that a script can take it; nothing is mailed.
func (c adminIO) userResetLink(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user reset-link", "EMAIL [-ttl 24h]")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the link works, 1m to 168h")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.reset-link", pos[0])
	au.add(slog.String("ttl", ttl.String()))
	defer func() { au.done(ctx, err) }()

	if cfg.EmailLinkBase == "" {
		return refusal("no link base: set EMAIL_LINK_BASE or CLIENT_ORIGIN")
	}
	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	rt, err := env.admin.ResetToken(ctx, pos[0], *ttl)
	if err != nil {
		return err
	}
	au.user(rt.User)
	au.add(slog.String("expires_at", when(&rt.ExpiresAt, "")))
	fmt.Fprintln(c.stdout, cfg.EmailLinkBase+strings.Replace(cfg.PasswordResetPath, "{token}", rt.Token, 1))
	fmt.Fprintf(c.stderr, "a password reset link for %s, working once until %s; nothing was sent\n", rt.User.Email, when(&rt.ExpiresAt, ""))
	return nil
}

// userDelete: authd user delete EMAIL [-yes].
func (c adminIO) userDelete(ctx context.Context, args []string) (err error) {
	fs := c.flagSet("user delete", "EMAIL [-yes]")
	yes := fs.Bool("yes", false, "do not ask")
	pos, cfg, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	au := c.audit(cfg, "user.delete", pos[0])
	defer func() { au.done(ctx, err) }()

	env, err := openAdmin(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer env.close()
	if !*yes {
		acct, err := env.admin.Show(ctx, pos[0])
		if err != nil {
			return err
		}
		u := acct.User
		au.user(u)
		q := fmt.Sprintf("Delete %s (%q, %s, %d live session(s)) for good?", u.Email, cell(u.Name), u.Role, acct.LiveSessions)
		if err := c.confirm(q, u.Email); err != nil {
			return err
		}
	}
	u, n, err := env.admin.Delete(ctx, pos[0])
	if err != nil {
		return err
	}
	if *yes {
		au.user(u)
	}
	au.add(slog.Int64("sessions_revoked", n))
	fmt.Fprintf(c.stdout, "deleted %s (id %s); %d session(s) ended\n", u.Email, u.ID, n)
	return nil
}
