// Command benchrun load-tests authd end to end and writes docs/benchmarks.md
// (make bench).
//
//	make bench                       # 10 s per run, 3 runs of most scenarios
//	BENCH_DURATION=3s make bench     # a quick look
//	bin/benchrun -burst 20,50,200    # only bursts of sign-ups and logins; a table on stdout
//
// It builds authd and the bench tools, starts a throwaway PostgreSQL
// (internal/pgcluster: Unix socket only, fsync on, removed at exit) and authd
// on 127.0.0.1 with production settings, runs every authload scenario
// against it, the start-up timing, the 1M-row scale runs with their query
// plans, the token and bcrypt micro-benchmarks and, if installed, wrk, and
// renders the report from report.md.tmpl. Everything talks over loopback and
// stops by itself.
//
// Settings come from the environment; see config and bench/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchrun", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", ".", "the authd repository: bench/ is in it, and BENCH_OUT is relative to it")
	burst := fs.String("burst", "", "instead of the benchmark: bursts of this many registrations and logins sent at once\n"+
		"(comma-separated, such as 20,50,200), BENCH_REPEAT of each; prints their table and writes no report")
	only := fs.String("only", "", "instead of the benchmark: only this part (mail: the mail scenarios; webhooks: webhook delivery under load;\n"+
		"fair: login and me alone and together; attack: known devices and /me under credential stuffing), its section of the report on stdout")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: benchrun [-root DIR] [-burst N,N...] [-only mail|webhooks|fair|attack|openloop]   (settings: BENCH_* in the environment, see bench/README.md)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	var sizes []int
	if *burst != "" {
		if sizes, err = burstSizes(*burst); err != nil {
			return err
		}
	}
	dir, err := filepath.Abs(*root)
	if err != nil {
		return err
	}
	for _, f := range []string{"go.mod", "cmd/authd", "bench/go.mod"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("-root %s is not the authd repository: %w", *root, err)
		}
	}
	if sizes != nil {
		return runBursts(ctx, cfg, dir, sizes, stdout, stderr)
	}
	switch *only {
	case "":
	case "mail":
		return runMailOnly(ctx, cfg, dir, stdout, stderr)
	case "webhooks":
		return runWebhooksOnly(ctx, cfg, dir, stdout, stderr)
	case "fair":
		return runFairOnly(ctx, cfg, dir, stdout, stderr)
	case "attack":
		return runAttackOnly(ctx, cfg, dir, stdout, stderr)
	case "openloop":
		return runOpenLoopOnly(ctx, cfg, dir, stdout, stderr)
	default:
		return fmt.Errorf("-only %q: want mail, webhooks, fair, attack or openloop", *only)
	}
	if !filepath.IsAbs(cfg.Out) {
		cfg.Out = filepath.Join(dir, cfg.Out)
	}
	return runBench(ctx, cfg, dir, stdout, stderr)
}

// config is the benchmark's settings, from BENCH_* variables.
type config struct {
	Duration  string   // BENCH_DURATION: measured time per run, as authload -d takes it
	Warmup    string   // BENCH_WARMUP: unmeasured load before each run
	C         int      // BENCH_C: concurrency of each run
	FloodC    int      // BENCH_FLOOD_C: concurrency of the login flood in "me during login flood"
	Users     int      // BENCH_USERS: seeded users
	Repeat    int      // BENCH_REPEAT: runs of each repeated scenario; the report shows the median
	Base      int      // BENCH_BASE: users and sessions bulk-loaded before any run; 0 skips
	Scale     int      // BENCH_SCALE: users and sessions bulk-loaded for the scale runs; 0 skips them
	Out       string   // BENCH_OUT: the report
	Mail      bool     // BENCH_MAIL: run the mail scenarios (1, the default, or 0)
	MailCount int      // BENCH_MAIL_COUNT: mails queued for each drain
	Webhooks  bool     // BENCH_WEBHOOKS: run the webhook scenarios (1, the default, or 0)
	HookCount int      // BENCH_WEBHOOK_COUNT: events queued for each webhook run
	Fair      []string // BENCH_FAIR: the hashing settings of the fair runs
	Attack    bool     // BENCH_ATTACK: run the credential-stuffing scenarios (1, the default, or 0)
}

// loadConfig reads the settings, saying at once everything that is wrong.
func loadConfig(getenv func(string) string) (config, error) {
	var problems []string
	str := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	duration := func(name, def string, least time.Duration) string {
		v := str(name, def)
		if d, err := time.ParseDuration(v); err != nil || d < least {
			problems = append(problems, fmt.Sprintf("%s=%q: want a duration of at least %s, such as %s", name, v, least, def))
		}
		return v
	}
	number := func(name string, def, least int) int {
		v := str(name, strconv.Itoa(def))
		n, err := strconv.Atoi(v)
		if err != nil || n < least {
			problems = append(problems, fmt.Sprintf("%s=%q: want a whole number of at least %d", name, v, least))
		}
		return n
	}
	cfg := config{
		Duration:  duration("BENCH_DURATION", "10s", time.Millisecond),
		Warmup:    duration("BENCH_WARMUP", "2s", 0),
		C:         number("BENCH_C", 32, 1),
		FloodC:    number("BENCH_FLOOD_C", 64, 1),
		Users:     number("BENCH_USERS", 200, 1),
		Repeat:    number("BENCH_REPEAT", 3, 1),
		Base:      number("BENCH_BASE", 10000, 0),
		Scale:     number("BENCH_SCALE", 1000000, 0),
		Out:       str("BENCH_OUT", "docs/benchmarks.md"),
		MailCount: number("BENCH_MAIL_COUNT", 10000, 1),
		HookCount: number("BENCH_WEBHOOK_COUNT", 20000, 1),
		Fair:      fairSettingsFrom(getenv("BENCH_FAIR")),
	}
	onOff := func(name string) bool {
		switch v := str(name, "1"); v {
		case "1", "true", "on":
			return true
		case "0", "false", "off":
		default:
			problems = append(problems, fmt.Sprintf("%s=%q: want 1 or 0", name, v))
		}
		return false
	}
	cfg.Mail = onOff("BENCH_MAIL")
	cfg.Webhooks = onOff("BENCH_WEBHOOKS")
	cfg.Attack = onOff("BENCH_ATTACK")
	if len(problems) > 0 {
		return cfg, errors.New(strings.Join(problems, "; "))
	}
	return cfg, nil
}
