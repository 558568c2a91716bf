// Command authload puts load on a running authd and reports throughput,
// latency percentiles, status and error counts, and optionally the
// server's memory and CPU.
//
// It talks only to loopback addresses and stops by itself at the end of the
// run (or on Ctrl-C). Setup (registering and logging in the users) is not
// timed; then fixed -c workers send requests back to back, -warmup is not
// counted, and -d is measured.
//
//	authload -scenario me -c 32 -d 10s -pid $(pgrep -n authd)
//	authload -seed-only -prefix bench -users 200
//	authload -scenario refresh -prefix bench -seeded
//	authload -scenario me -during login -during-c 64
//	authload -scenario register -burst 50        # 50 sign-ups sent at once, once
//	authload -scenario devicelogin -c 4 -rate 4 -with me -with-c 8 -during stuffing -xff   # known devices under attack
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

type config struct {
	base     string
	scenario string
	c        int
	d        time.Duration
	warmup   time.Duration
	users    int
	password string
	pid      int
	json     bool
	seedOnly bool
	seeded   bool
	prefix   string
	during   string
	duringC  int
	with     string // -with: a second measured class of workers, reported apart
	withC    int
	timeout  time.Duration
	label    string
	xff      bool
	retry    bool    // -retry-after
	rate     float64 // -rate: the open loop's arrivals a second (0: closed loop)
	dbPID    int     // -db-pid: PostgreSQL's postmaster
	burst    int     // -burst: send this many requests at once, once, instead of -d of load
	profURL  string  // authd's /debug/pprof/profile (PPROF=true), or ""
	profOut  string
	// forgetDevice (-forget-device): logins send no device cookie.
	forgetDevice bool
	stuffAddrs   int    // -stuff-addrs
	metricsURL   string // -metrics-url: authd's /metrics, for the window's counters
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("authload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8000", "authd base URL; only loopback addresses and localhost are accepted")
	fs.StringVar(&cfg.scenario, "scenario", "me", "what to send: "+strings.Join(scenarios, "|"))
	fs.IntVar(&cfg.c, "c", 32, "concurrency: workers sending requests back to back (also the setup's concurrency)")
	fs.DurationVar(&cfg.d, "d", 10*time.Second, "measured duration")
	fs.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "load before the measured window, not counted")
	fs.IntVar(&cfg.users, "users", 200, "users to seed and use (refresh chains need one per worker)")
	fs.StringVar(&cfg.password, "password", "benchmark-password-1", "password of the seeded users")
	fs.IntVar(&cfg.pid, "pid", 0, "authd's PID: report its peak RSS (VmRSS every 100ms, and VmHWM) and CPU")
	fs.IntVar(&cfg.dbPID, "db-pid", 0, "PostgreSQL's postmaster PID: report its CPU and its backends', and what the machine spent on\n"+
		"anything else (machine busy - authd - authload - its parent - PostgreSQL; needs -pid)")
	fs.BoolVar(&cfg.json, "json", false, "also print the result as one JSON line")
	fs.BoolVar(&cfg.seedOnly, "seed-only", false, "only register -users users with -prefix, then exit")
	fs.BoolVar(&cfg.seeded, "seeded", false, "the -prefix users already exist (from -seed-only): skip registering them")
	fs.StringVar(&cfg.prefix, "prefix", fmt.Sprintf("load-%d", time.Now().Unix()), "email prefix of seeded users: PREFIX<i>@example.com")
	fs.StringVar(&cfg.during, "during", "", "also run this scenario as a background flood, reported separately")
	fs.IntVar(&cfg.duringC, "during-c", 64, "concurrency of the -during flood")
	fs.StringVar(&cfg.with, "with", "", "also run this scenario as a second measured class (such as me beside devicelogin), reported separately")
	fs.IntVar(&cfg.withC, "with-c", 8, "concurrency of the -with class")
	fs.BoolVar(&cfg.forgetDevice, "forget-device", false, "logins send no device_id cookie, as from a fresh browser each time (authd's new-device path);\n"+
		"by default every login of a seeded user sends the device cookie of its previous answer, as a browser does")
	fs.IntVar(&cfg.stuffAddrs, "stuff-addrs", 10000, "with -xff, each stuffing request comes from one of this many addresses, at random (1 to 32768)")
	fs.StringVar(&cfg.metricsURL, "metrics-url", "", "authd's metrics (http://METRICS_ADDR/metrics): report how much its login, throttle and\n"+
		"password-hashing counters grew over the measured window")
	fs.DurationVar(&cfg.timeout, "timeout", 15*time.Second, "timeout of each request")
	fs.BoolVar(&cfg.xff, "xff", false, "give every virtual client (seeded user in setup, worker) its own X-Forwarded-For address\n"+
		"from 198.18.0.0/15, so that authd started with TRUSTED_PROXIES=127.0.0.1 applies its per-client limits\nto each as to a different client")
	fs.StringVar(&cfg.profURL, "cpuprofile-url", "", "authd's CPU profile endpoint (with PPROF=true: http://METRICS_ADDR/debug/pprof/profile);\n"+
		"with -cpuprofile, profile authd over the measured window")
	fs.StringVar(&cfg.profOut, "cpuprofile", "", "write authd's CPU profile of the measured window to this file (needs -cpuprofile-url)")
	fs.IntVar(&cfg.burst, "burst", 0, "instead of -warmup and -d of load: send this many requests (register or login) at once,\n"+
		"each once, and report their answers and latencies; logins go to users 0, 1, ... of -users in turn")
	fs.BoolVar(&cfg.retry, "retry-after", false, "after a 503 or 429, a worker waits the answer's Retry-After (at most 10s, plus up to a quarter)\n"+
		"before its next request, as a well-behaved client does; without it, it sends the next at once")
	fs.StringVar(&cfg.label, "label", "", "a name for this run in the output (default: the scenario)")
	fs.Float64Var(&cfg.rate, "rate", 0, "open loop: start requests at this fixed rate a second, whatever the answers, with up to -c in flight;\n"+
		"latency counts from each request's intended start (0: the closed loop of -c workers back to back).\n"+
		"With -scenario devicelogin, each worker's user logs in every -c/-rate seconds on a schedule of its own, one login at a time")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if cfg.base, err = loopbackURL(*url); err != nil {
		return cfg, err
	}
	var problems []string
	if !slices.Contains(scenarios, cfg.scenario) {
		problems = append(problems, fmt.Sprintf("-scenario %q: want one of %s", cfg.scenario, strings.Join(scenarios, ", ")))
	}
	if cfg.during != "" && !slices.Contains(scenarios, cfg.during) {
		problems = append(problems, fmt.Sprintf("-during %q: want one of %s", cfg.during, strings.Join(scenarios, ", ")))
	}
	if cfg.with != "" && !slices.Contains(scenarios, cfg.with) {
		problems = append(problems, fmt.Sprintf("-with %q: want one of %s", cfg.with, strings.Join(scenarios, ", ")))
	}
	if cfg.with != "" && (cfg.withC < 1 || cfg.withC > 10000) {
		problems = append(problems, "-with-c must be 1 to 10000")
	}
	if cfg.stuffAddrs < 1 || cfg.stuffAddrs > addrSpace-addrFloodBase {
		problems = append(problems, fmt.Sprintf("-stuff-addrs must be 1 to %d", addrSpace-addrFloodBase))
	}
	if cfg.metricsURL != "" {
		if _, err := loopbackURL(strings.TrimSuffix(cfg.metricsURL, "/metrics")); err != nil || !strings.HasSuffix(cfg.metricsURL, "/metrics") {
			problems = append(problems, "-metrics-url must be http://LOOPBACK:PORT/metrics")
		}
	}
	if cfg.c < 1 || cfg.c > 10000 {
		problems = append(problems, "-c must be 1 to 10000")
	}
	if cfg.during != "" && (cfg.duringC < 1 || cfg.duringC > 10000) {
		problems = append(problems, "-during-c must be 1 to 10000")
	}
	if cfg.d <= 0 || cfg.d > time.Hour {
		problems = append(problems, "-d must be more than 0 and at most 1h")
	}
	if cfg.warmup < 0 || cfg.warmup > 10*time.Minute {
		problems = append(problems, "-warmup must be 0 to 10m")
	}
	if cfg.timeout <= 0 || cfg.timeout > 5*time.Minute {
		problems = append(problems, "-timeout must be more than 0 and at most 5m")
	}
	if cfg.users < 1 {
		problems = append(problems, "-users must be at least 1")
	}
	if n := len(cfg.password); n < 8 || n > 72 {
		problems = append(problems, "-password must be 8 to 72 bytes (authd's rule)")
	}
	if cfg.prefix == "" || strings.ContainsAny(cfg.prefix, "@ \t\r\n\"<>(),;:\\[]") {
		problems = append(problems, "-prefix must be non-empty and usable in an email address")
	}
	withC := 0
	if cfg.with != "" {
		withC = cfg.withC
	}
	if cfg.xff && (cfg.users > addrMainBase || cfg.c+withC > addrFloodBase-addrMainBase || cfg.duringC > addrSpace-addrFloodBase) {
		problems = append(problems, "-xff has addresses for at most 65536 users, 32768 workers (-c and -with-c) and 32768 flood workers")
	}
	if (cfg.profURL == "") != (cfg.profOut == "") {
		problems = append(problems, "-cpuprofile and -cpuprofile-url go together")
	} else if cfg.profURL != "" {
		if _, err := loopbackURL(strings.TrimSuffix(cfg.profURL, "/debug/pprof/profile")); err != nil || !strings.HasSuffix(cfg.profURL, "/debug/pprof/profile") {
			problems = append(problems, "-cpuprofile-url must be http://LOOPBACK:PORT/debug/pprof/profile")
		}
	}
	if cfg.burst != 0 {
		switch {
		case cfg.burst < 1 || cfg.burst > 10000:
			problems = append(problems, "-burst must be 1 to 10000")
		case cfg.scenario != "register" && cfg.scenario != "login":
			problems = append(problems, "-burst takes -scenario register or login")
		case cfg.during != "" || cfg.with != "" || cfg.profURL != "" || cfg.pid != 0 || cfg.metricsURL != "":
			problems = append(problems, "-burst measures one burst: no -during, -with, -pid, -cpuprofile or -metrics-url")
		case cfg.xff && cfg.burst > addrFloodBase-addrMainBase:
			problems = append(problems, "-xff has addresses for at most 32768 burst requests")
		}
	}
	if cfg.rate < 0 || cfg.rate > 1e6 {
		problems = append(problems, "-rate must be 0 to 1000000")
	}
	if cfg.rate > 0 && (cfg.burst > 0 || cfg.retry) {
		problems = append(problems, "-rate is an open loop: no -burst or -retry-after")
	}
	if cfg.seedOnly && cfg.seeded {
		problems = append(problems, "-seed-only and -seeded contradict each other")
	}
	if cfg.label == "" {
		cfg.label = cfg.scenario
		if cfg.with != "" {
			cfg.label += " with " + cfg.with
		}
		if cfg.during != "" {
			cfg.label += " during " + cfg.during
		}
		if cfg.burst > 0 {
			cfg.label += fmt.Sprintf(" burst of %d", cfg.burst)
		}
		if cfg.rate > 0 {
			cfg.label += fmt.Sprintf(" at %g/s", cfg.rate)
		}
	}
	if len(problems) > 0 {
		return cfg, errors.New(strings.Join(problems, "\n"))
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "authload:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C kills at once
	}()
	res, err := run(ctx, cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authload:", err)
		os.Exit(1)
	}
	if res == nil { // -seed-only
		return
	}
	printHuman(os.Stdout, res)
	if cfg.json {
		b, _ := json.Marshal(res)
		fmt.Printf("%s\n", b)
	}
	if res.Interrupted {
		os.Exit(130)
	}
}

// run seeds what the scenario needs, runs the load and measures it. It
// returns nil and no error after -seed-only.
func run(ctx context.Context, cfg config, progress io.Writer) (*result.Result, error) {
	cl := newClient(cfg.base, max(cfg.c+cfg.withC+cfg.duringC, cfg.burst), cfg.timeout)
	defer cl.close()

	var smp *sampler
	if cfg.pid > 0 {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var err error
		if smp, err = startSampler(sctx, cfg.pid, 100*time.Millisecond); err != nil {
			return nil, err
		}
	}

	// Addresses (-xff): the main workers, then the -with workers, from
	// addrMainBase; devicelogin's rotating addresses are the rest of that
	// range; the flood (and stuffing's addresses) from addrFloodBase.
	main := &group{scenario: cfg.scenario, conc: cfg.c, tag: "m", addrBase: addrMainBase}
	groups := []*group{main}
	var with, flood *group
	if cfg.with != "" {
		with = &group{scenario: cfg.with, conc: cfg.withC, tag: "w", addrBase: addrMainBase + cfg.c}
		groups = append(groups, with)
	}
	if cfg.during != "" {
		flood = &group{scenario: cfg.during, conc: cfg.duringC, tag: "f", addrBase: addrFloodBase}
		groups = append(groups, flood)
	}
	rotBase := addrMainBase + cfg.c
	if with != nil {
		rotBase += with.conc
	}
	for _, g := range groups {
		if g.scenario == "devicelogin" && g.addrBase == addrMainBase {
			g.rotBase, g.rotSpan = rotBase, addrFloodBase-rotBase
		}
	}
	chains, tokens, anyUsers := 0, false, false
	for _, g := range groups {
		if ownsUser(g.scenario) {
			g.chainBase = chains
			chains += g.conc
		}
		tokens = tokens || needsTokens(g.scenario)
		anyUsers = anyUsers || needsUsers(g.scenario)
	}
	if chains > cfg.users {
		return nil, fmt.Errorf("refresh chains and devicelogin need one user per worker: -users must be at least %d", chains)
	}
	users := newUsers(cfg.prefix, cfg.password, cfg.users, cfg.xff)
	nd := needs{register: cfg.seedOnly || (anyUsers && !cfg.seeded)}
	if !cfg.seedOnly {
		n := chains
		if tokens {
			n = len(users)
		}
		for i := range n {
			nd.login = append(nd.login, i)
		}
	}
	if nd.register || len(nd.login) > 0 {
		fmt.Fprintf(progress, "setup: %s, users %s0..%d@example.com, %d at once (not timed)\n",
			setupWhat(nd), cfg.prefix, cfg.users-1, cfg.c)
	}
	if err := setup(ctx, cl, users, cfg.password, nd, cfg.c, progress); err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.scenario != "devicelogin" {
			continue
		}
		for _, u := range users[g.chainBase : g.chainBase+g.conc] {
			if u.deviceHeader() == "" {
				return nil, fmt.Errorf("setup: the login of %s set no %s cookie: this authd has no known devices, and devicelogin measures nothing", u.email, deviceCookie)
			}
		}
	}
	if cfg.seedOnly {
		fmt.Fprintf(progress, "seeded %d users %s0..%d@example.com; use them with -prefix %s -seeded -users %d\n",
			cfg.users, cfg.prefix, cfg.users-1, cfg.prefix, cfg.users)
		return nil, nil
	}
	if cfg.burst > 0 {
		return runBurst(ctx, cfg, cl, users, progress), nil
	}

	t0 := time.Now()
	r := &runner{cl: cl, users: users, prefix: cfg.prefix, password: cfg.password,
		runID: strconv.FormatInt(t0.UnixNano(), 36), honorRetry: cfg.retry,
		forgetDevice: cfg.forgetDevice, stuffAddrs: cfg.stuffAddrs}
	r.mStart = t0.Add(cfg.warmup)
	r.mEnd = r.mStart.Add(cfg.d)
	// After the window, requests in flight get one request timeout to
	// finish; then everything is cut off.
	hard, cancelHard := context.WithDeadline(ctx, r.mEnd.Add(cfg.timeout+time.Second))
	defer cancelHard()
	stop, cancelStop := context.WithDeadline(hard, r.mEnd)
	defer cancelStop()

	fmt.Fprintf(progress, "load: %s with %d workers", cfg.scenario, cfg.c)
	if cfg.rate > 0 {
		fmt.Fprintf(progress, " in an open loop at %g/s", cfg.rate)
	}
	if with != nil {
		fmt.Fprintf(progress, ", with %s with %d workers", with.scenario, with.conc)
	}
	if flood != nil {
		fmt.Fprintf(progress, ", flood: %s with %d workers", flood.scenario, flood.conc)
	}
	fmt.Fprintf(progress, "; warmup %s, then measuring %s\n", cfg.warmup, cfg.d)

	var (
		wg     sync.WaitGroup
		sched  chan time.Time
		missed atomic.Int64
	)
	paced := cfg.rate > 0 && cfg.scenario == "devicelogin"
	if cfg.rate > 0 && !paced {
		// At most a second of starts waits for a free worker.
		sched = make(chan time.Time, max(1, int(cfg.rate)))
		go schedule(stop, t0, cfg.rate, sched, &missed)
	}
	for gi, g := range groups {
		for i := range g.conc {
			w := &worker{
				r: r, g: g, id: i, rec: newRecorder(),
				rng: rand.New(rand.NewPCG(uint64(t0.UnixNano()), uint64(gi<<32|i))),
			}
			if cfg.xff {
				w.addr = benchAddr(g.addrBase + i)
			}
			if ownsUser(g.scenario) {
				w.chain = users[g.chainBase+i]
				w.ctok = w.chain.refresh
			}
			g.recs = append(g.recs, w.rec)
			if g == main && paced {
				// Each user on its own schedule, the users' starts spread
				// evenly: together, cfg.rate logins a second.
				interval := time.Duration(float64(g.conc) / cfg.rate * float64(time.Second))
				first := t0.Add(time.Duration(float64(i) / cfg.rate * float64(time.Second)))
				wg.Go(func() { w.loopPaced(stop, hard, first, interval) })
				continue
			}
			if g == main && sched != nil {
				wg.Go(func() { w.loopOpen(stop, hard, sched) })
				continue
			}
			wg.Go(func() { w.loop(stop, hard) })
		}
	}

	// Mark the window's start and end for the CPU figures.
	var (
		cpu0, cpu1         time.Duration
		machine0, machine1 machineCPU
		db0, db1           int64 = -1, -1
		parent0, parent1   int64
	)
	dbTicks := func() int64 {
		if cfg.dbPID == 0 {
			return -1
		}
		t, err := treeTicks(cfg.dbPID)
		if err != nil {
			return -1
		}
		return t
	}
	interrupted := false
	var profDone chan error
	var metrics0, metrics1 map[string]float64
	scrape := func() map[string]float64 {
		if cfg.metricsURL == "" {
			return nil
		}
		m, err := scrapeCounters(ctx, cfg.metricsURL)
		if err != nil {
			fmt.Fprintln(progress, "authload: authd's metrics:", err)
		}
		return m
	}
	for i, at := range []time.Time{r.mStart, r.mEnd} {
		select {
		case <-time.After(time.Until(at)):
		case <-ctx.Done():
			interrupted = true
		}
		if smp != nil {
			smp.mark(i == 1)
		}
		if i == 0 {
			cpu0, machine0, db0, parent0 = selfCPU(), readMachineCPU(), dbTicks(), parentTicks()
			metrics0 = scrape()
			if cfg.profURL != "" && !interrupted {
				profDone = make(chan error, 1)
				go func() { profDone <- fetchProfile(ctx, cfg.profURL, cfg.d, cfg.profOut) }()
			}
		} else {
			cpu1, machine1, db1, parent1 = selfCPU(), readMachineCPU(), dbTicks(), parentTicks()
			metrics1 = scrape()
		}
		if interrupted {
			break
		}
	}
	wg.Wait()
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Fprintln(progress, "authload: CPU profile:", err)
		}
	}
	end := time.Now()
	if end.After(r.mEnd) {
		end = r.mEnd
	}
	if interrupted {
		fmt.Fprintln(progress, "interrupted: reporting what was measured")
	}
	elapsed := max(end.Sub(r.mStart), 0)

	res := &result.Result{
		Label: cfg.label, Scenario: cfg.scenario, URL: cfg.base, Concurrency: cfg.c,
		DurationS: round2(elapsed.Seconds()), WarmupS: cfg.warmup.Seconds(), Users: cfg.users, XFF: cfg.xff, RetryAfter: cfg.retry,
		Relogins: r.relogins.Load(), OtherErrors: r.other, Interrupted: interrupted,
		Rate: cfg.rate, Missed: missed.Load(), ForgetDevice: cfg.forgetDevice,
		Counters: counterDeltas(metrics0, metrics1),
	}
	all, byKind := totals(groups[0].recs)
	res.Summary = all.summary(elapsed)
	if cfg.scenario == "mixed" {
		res.Kinds = kindSummaries(byKind, elapsed)
	}
	class := func(g *group) *result.Flood {
		all, byKind := totals(g.recs)
		f := &result.Flood{Scenario: g.scenario, Concurrency: g.conc, Summary: all.summary(elapsed)}
		if g.scenario == "mixed" {
			f.Kinds = kindSummaries(byKind, elapsed)
		}
		return f
	}
	if with != nil {
		res.With = class(with)
	}
	if flood != nil {
		res.During = class(flood)
	}
	if secs := elapsed.Seconds(); secs > 0 && cpu1 > cpu0 {
		res.ClientCPUCores = round2((cpu1 - cpu0).Seconds() / secs)
		res.MachineBusyCores = machine1.busySince(machine0)
	}
	if smp != nil {
		res.Server = smp.result()
	}
	if secs := elapsed.Seconds(); secs > 0 && db0 >= 0 && db1 >= db0 {
		db := round2(float64(db1-db0) / clockTicks / secs)
		res.DatabaseCPUCores = &db
		if res.Server != nil && res.MachineBusyCores > 0 {
			parent := float64(parent1-parent0) / clockTicks / secs
			other := round2(max(res.MachineBusyCores-res.Server.CPUCores-res.ClientCPUCores-db-parent, 0))
			res.OtherCPUCores = &other
		}
	}
	return res, nil
}

func setupWhat(nd needs) string {
	var parts []string
	if nd.register {
		parts = append(parts, "register")
	}
	if len(nd.login) > 0 {
		parts = append(parts, fmt.Sprintf("log in %d", len(nd.login)))
	}
	return strings.Join(parts, " and ")
}

func kindSummaries(byKind [numKinds]*stats, elapsed time.Duration) map[string]result.Summary {
	m := map[string]result.Summary{}
	for k, s := range byKind {
		if s.n > 0 {
			m[kind(k).String()] = s.summary(elapsed)
		}
	}
	return m
}

// fetchProfile asks authd for a CPU profile of the next d and writes it to
// out.
func fetchProfile(ctx context.Context, url string, d time.Duration, out string) error {
	secs := max(int(d.Round(time.Second)/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s?seconds=%d", url, secs), nil)
	if err != nil {
		return err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext}}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
