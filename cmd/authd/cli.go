package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/authd/authd/internal/config"
	"github.com/authd/authd/internal/db"
	"github.com/authd/authd/internal/password"
	"github.com/authd/authd/internal/reqlog"
	"github.com/authd/authd/internal/session"
	"github.com/authd/authd/internal/webhook"
	"github.com/authd/authd/sql/schema"
)

// The operator's commands, `authd user ...` and `authd mail ...`, work on
// the database of the same configuration as serve, with no HTTP and no
// migrations. Each writes exactly one audit line (once its arguments and
// configuration are read; before that nothing was done), with the
// configured log format on stderr, and its answer for people on stdout.

// adminIO is what the operator's commands read and write.
type adminIO struct {
	lookupEnv func(string) (string, bool)
	stdin     io.Reader // nil: none
	stdout    io.Writer
	stderr    io.Writer
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

// runCommand is the preamble of a command: it reads args with fs (n positional
// arguments), the configuration and the operator's name, starts the audit
// line of action on the first argument (or none), runs body and writes the
// line with its outcome. When the arguments, the configuration or the name
// cannot be read nothing is audited: nothing was done.
//
// body's ctx carries the operator as a reqlog.Request (the audit line's id
// as the request id, the SSH client's address, the actor "operator:" and
// the name), so that the security events the session service records for
// the command name the operator, and share the audit line's request_id.
func (c adminIO) runCommand(ctx context.Context, fs *flag.FlagSet, args []string, n int, action string,
	body func(ctx context.Context, pos []string, cfg config.Config, au *audit) error) (err error) {
	pos, cfg, err := c.parse(fs, args, n)
	if err != nil {
		return err
	}
	name, err := operatorName(fs, c.lookupEnv)
	if err != nil {
		return err
	}
	target := ""
	if n > 0 {
		target = pos[0]
	}
	rl := reqlog.Request{ID: auditID(), Client: sshClient(c.lookupEnv), Actor: session.ActorOperator + ":" + name}
	ctx = reqlog.With(ctx, rl)
	au := c.audit(cfg, action, target, name)
	defer func() { au.done(ctx, err) }()
	return body(ctx, pos, cfg, au)
}

// flagAs names the operator (see operatorName); every command has it.
const flagAs = "as"

// flagSet is the flag set of a command, whose usage line shows synopsis.
func (c adminIO) flagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		fmt.Fprintf(c.stderr, "usage: authd %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	fs.String(flagAs, "", "the operator's `NAME` in the audit line and the security events (default: AUTHD_OPERATOR, else SUDO_USER, else the OS user)")
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
	actor  string // the operator's name (operatorName)
	osUser string // who ran the command (osUser)
	target string
	attrs  []slog.Attr
}

// audit starts the audit line of action on target (an address, a mail
// id, or "" for a listing) by the operator of that name. It is written at
// INFO or above whatever LOG_LEVEL says.
func (c adminIO) audit(cfg config.Config, action, target, name string) *audit {
	cfg.LogLevel = min(cfg.LogLevel, slog.LevelInfo)
	return &audit{log: newLogger(cfg, c.stderr), action: action, actor: name, osUser: osUser(c.lookupEnv), target: target}
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
// ctx carries the command's reqlog.Request (runCommand): the line's
// request_id and client_addr.
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
		reqlog.OperatorCommand.Attr(), slog.String("action", a.action), slog.String("actor", a.actor),
		slog.String("os_user", a.osUser), slog.String("target", a.target), slog.String("outcome", outcome),
	}, a.attrs...)
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	a.log.LogAttrs(context.WithoutCancel(ctx), level, "audit", attrs...) // newLogger adds ctx's reqlog.Request
}

// auditID is a fresh id for an audit line, in the place of a request id.
func auditID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sshClient is the address of the operator's SSH connection, if the
// command runs in one (SSH_CLIENT is "addr port port"); else "".
func sshClient(lookupEnv func(string) (string, bool)) string {
	v, _ := lookupEnv("SSH_CLIENT")
	addr, _, _ := strings.Cut(v, " ")
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return ""
	}
	return a.Unmap().String()
}

// operatorName is the name of the operator who runs a command: the -as
// flag of fs, else AUTHD_OPERATOR, else the user behind sudo (SUDO_USER),
// else the OS user. In a container the OS user is the image's (nonroot)
// whoever runs it: name yourself with -as or AUTHD_OPERATOR. A name is 1
// to 64 of [A-Za-z0-9._@+-].
func operatorName(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) (string, error) {
	name, from := "", ""
	if f := fs.Lookup(flagAs); f != nil && f.Value.String() != "" {
		name, from = f.Value.String(), "-as"
	} else if v, ok := lookupEnv("AUTHD_OPERATOR"); ok && v != "" {
		name, from = v, "AUTHD_OPERATOR"
	}
	if from != "" {
		if !validOperator(name) {
			return "", fmt.Errorf("%s: an operator name is 1 to 64 of A-Z a-z 0-9 . _ @ + -", from)
		}
		return name, nil
	}
	if v, ok := lookupEnv("SUDO_USER"); ok && validOperator(v) {
		return v, nil
	}
	if u, err := user.Current(); err == nil && validOperator(u.Username) {
		return u.Username, nil
	}
	return "uid-" + strconv.Itoa(os.Getuid()), nil
}

func validOperator(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', strings.ContainsRune("._@+-", r):
		default:
			return false
		}
	}
	return true
}

// osUser names who ran the command as the system sees it: the OS user,
// and the user behind sudo.
func osUser(lookupEnv func(string) (string, bool)) string {
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
	return &adminEnv{pool: pool}, nil
}

// openAdmin is openDB with the session service, built as serve builds it
// in wire.go (newSigner, a hasher of BCRYPT_COST, sessionOptions) but logging
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
	mfaKeys, err := newMFAKeys(cfg)
	if err != nil {
		return nil, err
	}
	hooks, err := webhook.Load(cfg.WebhooksFile) // the operator's changes are delivered too
	if err != nil {
		return nil, err
	}
	env, err := openDB(ctx, cfg)
	if err != nil {
		return nil, err
	}
	svc := session.New(session.Deps{
		DB: env.pool, DBTimeout: cfg.DBTimeout, Tokens: signer, Hasher: hasher,
		Log: slog.New(slog.DiscardHandler), MFAKeys: mfaKeys, Webhooks: webhooksOf(hooks),
	}, sessionOptions(cfg))
	env.admin = svc.Admin()
	return env, nil
}

func (e *adminEnv) close() { e.pool.Close() }
