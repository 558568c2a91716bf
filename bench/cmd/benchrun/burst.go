package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

// burstSizes parses -burst: sizes from 1 to 10000, comma-separated.
func burstSizes(s string) ([]int, error) {
	var sizes []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("-burst %q: want sizes from 1 to 10000, comma-separated, such as 20,50,200", s)
		}
		sizes = append(sizes, n)
	}
	return sizes, nil
}

// burstRun is one authload -burst.
type burstRun struct {
	size int
	kind string // register or login
	run  int    // 1 to BENCH_REPEAT
	res  result.Result
}

// runBursts is benchrun -burst: PostgreSQL and authd as make bench starts
// them (RS256 keys, per-client limits off, bcrypt cost 12), the largest
// size's worth of users seeded, then for each size a burst of registrations
// and a burst of logins, BENCH_REPEAT times, and their table on stdout.
func runBursts(ctx context.Context, cfg config, root string, sizes []int, stdout, stderr io.Writer) (err error) {
	loadStart := loadAverage()
	b, done, err := standalone(ctx, cfg, root, "burst", stdout, stderr, "RS256")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, done()) }()
	b.step("authd with RS256 keys, per-client limits off")
	if err := b.startAuthd(ctx, "RS256", "off"); err != nil {
		return err
	}
	users := slices.Max(sizes)
	b.step(fmt.Sprintf("seeding %d users (not timed)", users))
	// Two requests per core keep every hashing slot busy without 503s (on
	// a machine busy with other work, 32 at once got one user 503s for a
	// minute, and authload gives up then).
	seed := []string{"-seed-only", "-prefix", prefix, "-users", strconv.Itoa(users), "-c", strconv.Itoa(2 * runtime.NumCPU())}
	b.commands = append(b.commands, "bin/authload -url http://127.0.0.1:$PORT "+strings.Join(seed, " "))
	if err := b.passthrough(ctx, b.work, b.bin("authload"), append([]string{"-url", b.authd.url}, seed...)...); err != nil {
		return fmt.Errorf("authload -seed-only: %w", err)
	}

	var runs []burstRun
	for _, n := range sizes {
		for _, kind := range []string{"register", "login"} {
			args := []string{"-scenario", kind, "-burst", strconv.Itoa(n), "-users", strconv.Itoa(users), "-prefix", prefix, "-seeded", "-json"}
			b.commands = append(b.commands, fmt.Sprintf("bin/authload -url http://127.0.0.1:$PORT %s   # %d times", strings.Join(args, " "), cfg.Repeat))
			for i := 1; i <= cfg.Repeat; i++ {
				if err := ctx.Err(); err != nil {
					return err
				}
				b.step(fmt.Sprintf("%s burst of %d, run %d", kind, n, i))
				res, err := b.burst(ctx, args)
				if err != nil {
					return err
				}
				runs = append(runs, burstRun{size: n, kind: kind, run: i, res: res})
			}
		}
	}
	if err := b.stopAuthd(); err != nil {
		return err
	}
	commit := "unknown"
	if out, err := b.output(ctx, root, "git", "describe", "--tags", "--always", "--dirty"); err == nil {
		commit = strings.TrimSpace(out)
	}
	fmt.Fprintf(stdout, "\nBursts on %s, %s, %d cores; load average %s at the start, %s at the end.\n\n",
		commit, time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), loadStart, loadAverage())
	fmt.Fprintln(stdout, "```sh")
	for _, c := range b.commands {
		fmt.Fprintln(stdout, c)
	}
	fmt.Fprintln(stdout, "```")
	fmt.Fprintln(stdout)
	writeBurstTable(stdout, runs)
	return nil
}

// burst runs authload with args and returns its -json result.
func (b *bench) burst(ctx context.Context, args []string) (result.Result, error) {
	var out bytes.Buffer
	cmd := b.command(ctx, b.work, b.bin("authload"), append([]string{"-url", b.authd.url}, args...)...)
	cmd.Stdout = io.MultiWriter(b.stdout, &out)
	if err := cmd.Run(); err != nil {
		return result.Result{}, fmt.Errorf("authload %s: %w", strings.Join(args, " "), err)
	}
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, []byte("{")) {
			var r result.Result
			err := json.Unmarshal(line, &r)
			return r, err
		}
	}
	return result.Result{}, fmt.Errorf("authload %s printed no -json line", strings.Join(args, " "))
}

// writeBurstTable writes one markdown row per burst: its successes (201 for
// a registration, 200 for a login), its 503s, anything else, its latencies
// (all answers, and the slowest 503) and the CPU the whole machine used meanwhile (authd, authload,
// PostgreSQL and anything else running).
func writeBurstTable(w io.Writer, runs []burstRun) {
	fmt.Fprintln(w, "| N | kind | run | 201/200 | 503 | other | p50 ms | p99 ms | max ms | slowest 503 ms | machine busy |")
	fmt.Fprintln(w, "|--:|---|--:|--:|--:|---|--:|--:|--:|--:|--:|")
	for _, r := range runs {
		ok := "200"
		if r.kind == "register" {
			ok = "201"
		}
		var other []string
		for code, n := range r.res.Status {
			if code != ok && code != "503" {
				other = append(other, fmt.Sprintf("%s=%d", code, n))
			}
		}
		for kind, n := range r.res.Errors {
			if n > 0 {
				other = append(other, fmt.Sprintf("%s=%d", strings.ReplaceAll(kind, " ", "-"), n))
			}
		}
		slices.Sort(other)
		o := "-"
		if len(other) > 0 {
			o = strings.Join(other, " ")
		}
		l := r.res.Latency
		slowest := "-"
		if b := r.res.Latency503; b != nil {
			slowest = fmt.Sprintf("%.0f", b.Max)
		}
		fmt.Fprintf(w, "| %d | %s | %d | %d | %d | %s | %.0f | %.0f | %.0f | %s | %.2f cores |\n",
			r.size, r.kind, r.run, r.res.Status[ok], r.res.Status["503"], o, l.P50, l.P99, l.Max, slowest, r.res.MachineBusyCores)
	}
}
