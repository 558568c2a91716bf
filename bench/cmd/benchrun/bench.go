package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/internal/authdproc"
	"github.com/authd/authd/internal/pgcluster"
)

const (
	prefix     = "bench" // email prefix of the seeded users
	password   = "benchmark-password-1"
	bcryptCost = 12 // the production default
)

// bench is one benchmark run: what it started and what it has collected.
type bench struct {
	cfg            config
	root, work     string
	stdout, stderr io.Writer

	dbURL    string
	dbPID    int                 // the postmaster, for authload -db-pid
	keys     map[string][]string // key type -> the env lines of authd keygen
	authdLog *os.File
	authd    *authd // the running authd, or nil

	results  bytes.Buffer    // authload -json lines
	raw      strings.Builder // everything else authload printed
	commands []string        // as shown in the report
	profiles []profile       // for the CPU breakdown
	wrkFlags []string        // benchreport -wrk flags
	wrkOut   []string        // wrk's output, run by run

	probes     []probeRun                // the speed probe before each run
	signatures map[string]signatureCount // by label: the last refresh run's, from authd's metrics

	loadStarted func() // called once by the next load when authload starts its load (after setup)
}

// profile is a CPU profile of authd over one run's measured window.
type profile struct {
	label    string
	file     string
	requests int64
}

// authd is a started authd serve.
type authd struct {
	proc  *authdproc.Proc
	url   string // http://127.0.0.1:PORT
	mport int    // the metrics listener (PPROF=true), or 0
}

func runBench(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) (err error) {
	rep := report{
		Date:       time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		Repeat:     cfg.Repeat,
		BcryptCost: bcryptCost,
		FloodC:     cfg.FloodC,
		Warmup:     cfg.Warmup,
		Duration:   cfg.Duration,
		Base:       cfg.Base,
		Users:      cfg.Users,
	}
	// Anything else running on the machine takes CPU from authd; note it.
	rep.LoadAtStart = loadAverage()

	work, err := os.MkdirTemp("", "authd-bench-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(work)) }()
	b := &bench{cfg: cfg, root: root, work: work, stdout: stdout, stderr: stderr, keys: map[string][]string{}}

	b.step("building authd and authload")
	if err := b.build(ctx); err != nil {
		return err
	}

	pg, err := b.startPostgres(ctx)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, pg.Close(context.Background())) }()

	if b.authdLog, err = os.OpenFile(filepath.Join(work, "authd.log"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600); err != nil {
		return err
	}
	defer b.authdLog.Close()
	defer b.stopAuthd()
	if err := b.keygen(ctx, "RS256", "ES256", "EdDSA"); err != nil {
		return err
	}

	if err := b.runs(ctx, &rep); err != nil {
		return err
	}
	if err := b.stopAuthd(); err != nil {
		return err
	}

	rep.LogLines, rep.LogSummary, rep.LogErrors, err = summarizeLog(filepath.Join(work, "authd.log"))
	if err != nil {
		return err
	}

	b.step("token and bcrypt micro-benchmarks")
	tokenCmd := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-count", "3", "./internal/token/"}
	b.commands = append(b.commands, "go test -run '^$' -bench . -benchmem -count 3 ./internal/token/")
	if rep.TokenBench, err = b.combined(ctx, root, "go", tokenCmd...); err != nil {
		return fmt.Errorf("token benchmarks: %w\n%s", err, rep.TokenBench)
	}
	fmt.Fprintln(stdout, rep.TokenBench)
	pwBench := fmt.Sprintf("Compare/cost=%d$", bcryptCost)
	b.commands = append(b.commands, fmt.Sprintf("go test -run '^$' -bench '%s' -benchtime 8x -count 3 ./internal/password/", pwBench))
	if rep.PasswordBench, err = b.combined(ctx, root, "go", "test", "-run", "^$", "-bench", pwBench, "-benchtime", "8x", "-count", "3", "./internal/password/"); err != nil {
		return fmt.Errorf("bcrypt benchmark: %w\n%s", err, rep.PasswordBench)
	}
	fmt.Fprintln(stdout, rep.PasswordBench)
	rsaSignUS := scaled(medianNS("BenchmarkSign/RS256", rep.TokenBench), 1e3)
	rsaParallelUS := scaled(medianNS("BenchmarkSignParallel/RS256", rep.TokenBench), 1e3)
	bcryptMS := scaled(medianNS(fmt.Sprintf("BenchmarkCompare/cost=%d", bcryptCost), rep.PasswordBench), 1e6)

	b.step("CPU profiles: where the time goes")
	var splits []string
	for _, p := range b.profiles {
		args := []string{"-requests", strconv.FormatInt(p.requests, 10), "-label", p.label}
		if strings.HasPrefix(p.label, "refresh") {
			// Count the signatures of each refresh against one's CPU.
			args = append(args, "-sign-us", scaled(medianNS("BenchmarkSign/"+labelAlg(p.label), rep.TokenBench), 1e3))
		}
		out, err := b.output(ctx, work, filepath.Join(work, "profsplit"), append(args, p.file)...)
		if err != nil {
			return fmt.Errorf("profsplit %s: %w", p.label, err)
		}
		split := strings.TrimRight(out, "\n")
		if n, ok := b.signatures[p.label]; ok {
			split += "\n\n" + n.String()
		}
		splits = append(splits, split)
	}
	rep.Breakdown = strings.Join(splits, "\n\n")
	fmt.Fprintln(stdout, rep.Breakdown)

	b.step("writing " + cfg.Out)
	resultsFile := filepath.Join(work, "results.jsonl")
	if err := os.WriteFile(resultsFile, b.results.Bytes(), 0o600); err != nil {
		return err
	}
	args := append(slices.Clone(b.wrkFlags), "-cores", strconv.Itoa(runtime.NumCPU()), "-rsa-sign-us", rsaSignUS,
		"-es-sign-us", scaled(medianNS("BenchmarkSign/ES256", rep.TokenBench), 1e3),
		"-ed-sign-us", scaled(medianNS("BenchmarkSign/EdDSA", rep.TokenBench), 1e3),
		"-rsa-parallel-us", rsaParallelUS, "-bcrypt-ms", bcryptMS, "-startup-ms", rep.startupMS, resultsFile)
	table, err := b.output(ctx, work, filepath.Join(work, "benchreport"), args...)
	if err != nil {
		return fmt.Errorf("benchreport: %w", err)
	}
	rep.Tables = strings.TrimRight(table, "\n")
	rep.Commands = b.commands
	rep.Wrk = strings.Join(b.wrkOut, "\n\n")
	rep.AuthloadOutput = strings.TrimRight(b.raw.String(), "\n")
	rep.Machine = b.machine(ctx, pg.BinDir())
	rep.Speed = speedNote(b.probes)
	rep.Commit = "unknown"
	if out, err := b.output(ctx, root, "git", "describe", "--tags", "--always", "--dirty"); err == nil {
		rep.Commit = strings.TrimSpace(out)
	}
	if err := writeReport(cfg.Out, rep); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s\n", cfg.Out)
	return nil
}

// runs is the benchmark proper: every scenario, in the order of the report.
func (b *bench) runs(ctx context.Context, rep *report) error {
	cfg := b.cfg
	b.step("authd with RS256 keys, per-client limits off")
	if err := b.startAuthd(ctx, "RS256", "off"); err != nil {
		return err
	}
	if cfg.Base > 0 {
		b.step(fmt.Sprintf("bulk-loading %d users and %d sessions (the database of a service in use)", cfg.Base, cfg.Base))
		b.commands = append(b.commands, fmt.Sprintf("scaleseed -database-url $DATABASE_URL -prefix base -users %d -sessions %d", cfg.Base, cfg.Base))
		if err := b.passthrough(ctx, b.work, filepath.Join(b.work, "scaleseed"), "-database-url", b.dbURL, "-prefix", "base",
			"-users", strconv.Itoa(cfg.Base), "-sessions", strconv.Itoa(cfg.Base)); err != nil {
			return fmt.Errorf("scaleseed: %w", err)
		}
	}

	b.step(fmt.Sprintf("seeding %d users (not timed)", cfg.Users))
	b.commands = append(b.commands, fmt.Sprintf("bin/authload -url http://127.0.0.1:$PORT -seed-only -prefix %s -users %d -c %d", prefix, cfg.Users, cfg.C))
	if err := b.passthrough(ctx, b.work, b.bin("authload"), "-url", b.authd.url, "-seed-only", "-prefix", prefix,
		"-users", strconv.Itoa(cfg.Users), "-c", strconv.Itoa(cfg.C)); err != nil {
		return fmt.Errorf("authload -seed-only: %w", err)
	}

	flood := []string{"-during", "login", "-during-c", strconv.Itoa(cfg.FloodC)}
	steps := []func() error{
		func() error { return b.load(ctx, "health", false, "-scenario", "health") },
		func() error {
			for i := 1; i <= cfg.Repeat; i++ {
				if err := b.load(ctx, "me", i == cfg.Repeat, "-scenario", "me"); err != nil {
					return err
				}
				if err := b.wrkMe(ctx); err != nil {
					return err
				}
			}
			if _, err := exec.LookPath("wrk"); err == nil {
				b.commands = append(b.commands, fmt.Sprintf("wrk -t2 -c%d -d%s --latency -H 'Authorization: Bearer <token>' http://127.0.0.1:$PORT/api/users/me   # after each me run", cfg.C, cfg.Duration))
			}
			return nil
		},
		func() error { return b.repeat(ctx, "refresh", "-scenario", "refresh") },
		func() error { return b.repeat(ctx, "login", "-scenario", "login") },
		func() error { return b.load(ctx, "register", false, "-scenario", "register") },
		func() error { return b.load(ctx, "mixed", true, "-scenario", "mixed") },
		func() error {
			return b.repeat(ctx, "me during login flood", append([]string{"-scenario", "me"}, flood...)...)
		},
		func() error { return b.openLoopRuns(ctx, rep) },
		b.stopAuthd,

		func() error {
			b.step("start-up time (schema already migrated)")
			ms, err := b.measureStartup(ctx, "RS256")
			rep.startupMS = ms
			return err
		},

		func() error {
			b.step("authd with RS256 keys, per-client limits on (production defaults)")
			return b.startAuthd(ctx, "RS256", "on")
		},
		func() error { return b.load(ctx, "login, one address, limits on", false, "-scenario", "login") },
		func() error {
			return b.load(ctx, "me during login flood, limits on, -xff", false, append(append([]string{"-scenario", "me"}, flood...), "-xff")...)
		},
		b.stopAuthd,
	}
	for _, alg := range []string{"ES256", "EdDSA"} {
		steps = append(steps,
			func() error {
				b.step(fmt.Sprintf("authd with %s keys, per-client limits off", alg))
				return b.startAuthd(ctx, alg, "off")
			},
			func() error { return b.repeat(ctx, fmt.Sprintf("refresh (%s)", alg), "-scenario", "refresh") },
			b.stopAuthd)
	}
	// The refresh token as a JWT signed like the access token (before MAC
	// refresh tokens): two signatures per refresh, for the targets' ratio and
	// ceilings.
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		steps = append(steps,
			func() error {
				b.step(fmt.Sprintf("authd with %s keys and REFRESH_TOKEN_FORMAT=jwt (two signatures per refresh)", alg))
				return b.startAuthd(ctx, alg, "off", "REFRESH_TOKEN_FORMAT=jwt")
			},
			func() error { return b.repeat(ctx, jwtLabel(alg), "-scenario", "refresh") },
			b.stopAuthd)
	}
	steps = append(steps, func() error { return b.fairRuns(ctx, rep) })
	if cfg.Attack {
		steps = append(steps, func() error { return b.attackRuns(ctx, rep) })
	}
	if cfg.Mail {
		steps = append(steps, func() error { return b.mailRuns(ctx, rep) })
	}
	if cfg.Webhooks {
		steps = append(steps, func() error { return b.webhookRuns(ctx, rep) })
	}
	if cfg.Scale > 0 {
		steps = append(steps, func() error { return b.scaleRuns(ctx, rep) })
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// labelAlg is the key type of a run from its label: "refresh (ES256, jwt)"
// is ES256; a label naming none is RS256.
func labelAlg(label string) string {
	for _, alg := range []string{"ES256", "EdDSA"} {
		if strings.Contains(label, "("+alg) {
			return alg
		}
	}
	return "RS256"
}

// jwtLabel is the label of the refresh runs with JWT refresh tokens.
func jwtLabel(alg string) string {
	if alg == "RS256" {
		return "refresh (jwt)"
	}
	return fmt.Sprintf("refresh (%s, jwt)", alg)
}

// scaleRuns bulk-loads BENCH_SCALE users and sessions, repeats the main runs
// on that database, and takes the plans of authd's queries on it.
func (b *bench) scaleRuns(ctx context.Context, rep *report) error {
	n := b.cfg.Scale
	b.step(fmt.Sprintf("bulk-loading %d users and %d sessions (COPY)", n, n))
	b.commands = append(b.commands, fmt.Sprintf("scaleseed -database-url $DATABASE_URL -users %d -sessions %d", n, n))
	var seedOut bytes.Buffer
	cmd := b.command(ctx, b.work, filepath.Join(b.work, "scaleseed"), "-database-url", b.dbURL,
		"-users", strconv.Itoa(n), "-sessions", strconv.Itoa(n))
	cmd.Stdout = io.MultiWriter(b.stdout, &seedOut)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scaleseed: %w", err)
	}
	for _, run := range []struct {
		alg    string
		labels []string
	}{
		{"RS256", []string{"me", "refresh", "login"}},
		{"EdDSA", []string{"refresh (EdDSA)"}},
	} {
		if err := b.startAuthd(ctx, run.alg, "off"); err != nil {
			return err
		}
		for _, l := range run.labels {
			scenario, _, _ := strings.Cut(l, " ")
			if err := b.repeat(ctx, l+" (1M)", "-scenario", scenario); err != nil {
				return err
			}
		}
		if err := b.stopAuthd(); err != nil {
			return err
		}
	}

	b.commands = append(b.commands, "scaleseed -database-url $DATABASE_URL -explain")
	var plans, verdicts bytes.Buffer
	cmd = b.command(ctx, b.work, filepath.Join(b.work, "scaleseed"), "-database-url", b.dbURL, "-explain")
	cmd.Stdout, cmd.Stderr = &plans, &verdicts
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("scaleseed -explain: %w\n%s", err, verdicts.String())
	}
	b.stderr.Write(verdicts.Bytes())
	rep.Scale = &scale{
		Rows:     n,
		Seed:     strings.TrimRight(seedOut.String(), "\n"),
		Verdicts: strings.TrimRight(verdicts.String(), "\n"),
		Plans:    strings.TrimRight(plans.String(), "\n"),
	}
	return nil
}

// startPostgres starts the throwaway cluster and creates database authd in
// it; the caller closes it. fsync and synchronous_commit stay on (the
// defaults): every write commit waits for the disk, as in production.
func (b *bench) startPostgres(ctx context.Context) (*pgcluster.Cluster, error) {
	b.step("starting a throwaway PostgreSQL")
	pg, err := pgcluster.New(ctx, pgcluster.Options{Durable: true, Settings: map[string]string{
		"shared_buffers":  "128MB",
		"max_connections": "200",
	}})
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	if err := pg.Start(ctx); err != nil {
		return nil, errors.Join(err, pg.Close(context.Background()))
	}
	if err := pg.CreateDatabase(ctx, "authd"); err != nil {
		return nil, errors.Join(err, pg.Close(context.Background()))
	}
	b.dbURL = pg.URL("authd")
	b.dbPID = pg.PID()
	fmt.Fprintf(b.stderr, "PostgreSQL log in %s\n", pg.LogPath())
	return pg, nil
}

// keygen makes a key set of each alg with authd keygen.
func (b *bench) keygen(ctx context.Context, algs ...string) error {
	for _, alg := range algs {
		out, err := b.output(ctx, b.work, b.bin("authd"), "keygen", "-alg", alg)
		if err != nil {
			return fmt.Errorf("authd keygen -alg %s: %w", alg, err)
		}
		for line := range strings.Lines(out) {
			if line = strings.TrimSpace(line); line != "" {
				b.keys[alg] = append(b.keys[alg], line)
			}
		}
	}
	return nil
}

func (b *bench) step(s string) { fmt.Fprintf(b.stderr, "\n== %s\n", s) }

func (b *bench) bin(name string) string { return filepath.Join(b.root, "bin", name) }

func (b *bench) build(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(b.root, "bin"), 0o755); err != nil {
		return err
	}
	for _, c := range []struct {
		dir  string
		args []string
	}{
		{b.root, []string{"build", "-o", "bin/authd", "./cmd/authd"}},
		{filepath.Join(b.root, "bench"), []string{"build", "-o", "../bin/authload", "./cmd/authload"}},
		{filepath.Join(b.root, "bench"), []string{"build", "-o", b.work + "/", "./cmd/benchreport", "./cmd/profsplit", "./cmd/scaleseed"}},
	} {
		if err := b.passthrough(ctx, c.dir, "go", c.args...); err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(c.args, " "), err)
		}
	}
	return nil
}

// command prepares a tool that stops, printing what it has, on SIGINT when
// ctx is done.
func (b *bench) command(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	cmd.Stderr = b.stderr
	return cmd
}

// passthrough runs a tool with its output on ours.
func (b *bench) passthrough(ctx context.Context, dir, name string, args ...string) error {
	cmd := b.command(ctx, dir, name, args...)
	cmd.Stdout = b.stdout
	return cmd.Run()
}

// output runs a tool and returns its standard output; its standard error is ours.
func (b *bench) output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := b.command(ctx, dir, name, args...)
	out, err := cmd.Output()
	return string(out), err
}

// combined runs a tool and returns everything it printed, without the final newlines.
func (b *bench) combined(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := b.command(ctx, dir, name, args...)
	cmd.Stderr = nil
	out, err := cmd.CombinedOutput()
	return strings.TrimRight(string(out), "\n"), err
}
