package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// standalone prepares what every benchrun mode needs before its runs: a
// work directory, the binaries, a throwaway PostgreSQL, authd's log and
// keys of each alg. done stops and removes all of it.
func standalone(ctx context.Context, cfg config, root, name string, stdout, stderr io.Writer, algs ...string) (b *bench, done func() error, err error) {
	work, err := os.MkdirTemp("", "authd-"+name+"-")
	if err != nil {
		return nil, nil, err
	}
	var closers []func() error
	done = func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(append(errs, os.RemoveAll(work))...)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, done())
		}
	}()
	b = &bench{cfg: cfg, root: root, work: work, stdout: stdout, stderr: stderr, keys: map[string][]string{}}
	b.step("building authd and authload")
	if err := b.build(ctx); err != nil {
		return nil, nil, err
	}
	pg, err := b.startPostgres(ctx)
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() error { return pg.Close(context.Background()) })
	if b.authdLog, err = os.OpenFile(filepath.Join(work, "authd.log"), os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600); err != nil {
		return nil, nil, err
	}
	closers = append(closers, b.authdLog.Close, b.stopAuthd)
	if err := b.keygen(ctx, algs...); err != nil {
		return nil, nil, err
	}
	return b, done, nil
}

// seedUsers registers users seeded users on a fresh authd (RS256, limits
// off), c at once, untimed, and stops it.
func (b *bench) seedUsers(ctx context.Context, users, c int) error {
	b.step("authd with RS256 keys, per-client limits off")
	if err := b.startAuthd(ctx, "RS256", "off"); err != nil {
		return err
	}
	b.step(fmt.Sprintf("seeding %d users (not timed)", users))
	if err := b.passthrough(ctx, b.work, b.bin("authload"), "-url", b.authd.url, "-seed-only", "-prefix", prefix,
		"-users", strconv.Itoa(users), "-c", strconv.Itoa(c)); err != nil {
		return fmt.Errorf("authload -seed-only: %w", err)
	}
	return b.stopAuthd()
}

// runSection is benchrun -only NAME: PostgreSQL, the seeded users, then
// runs; the report's section NAME (its template, with what section picks
// from the report) and the commands go to stdout.
func runSection(ctx context.Context, cfg config, root, name string, stdout, stderr io.Writer,
	runs func(*bench, context.Context, *report) error, section func(*report) any) (err error) {
	loadStart := loadAverage()
	b, done, err := standalone(ctx, cfg, root, name+"bench", stderr, stderr, "RS256")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, done()) }()
	if err := b.seedUsers(ctx, cfg.Users, cfg.C); err != nil {
		return err
	}
	b.commands = nil
	var rep report
	if err := runs(b, ctx, &rep); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "<!-- benchrun -only %s, %s, load average at the start: %s; BENCH_DURATION=%s BENCH_WARMUP=%s BENCH_C=%d BENCH_FLOOD_C=%d BENCH_USERS=%d -->\n\n",
		name, time.Now().UTC().Format("2006-01-02 15:04 UTC"), loadStart, cfg.Duration, cfg.Warmup, cfg.C, cfg.FloodC, cfg.Users)
	if err := renderSection(stdout, name, section(&rep)); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n```sh")
	for _, c := range b.commands {
		fmt.Fprintln(stdout, c)
	}
	fmt.Fprintln(stdout, "```")
	return nil
}
