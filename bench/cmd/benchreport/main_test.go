package main

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/authd/authd/bench/internal/result"
)

func TestReport(t *testing.T) {
	lines := `not json, skipped
{"label":"me","scenario":"me","concurrency":32,"requests":100,"rps":50,"ok_rps":50,"latency_ms":{"p50":1.5,"p90":2,"p99":3,"max":4},"status":{"200":100},"errors":{"timeout":0},"server":{"pid":1,"peak_rss_mb":20.5,"cpu_cores":1.2},"authload_cpu_cores":0.3,"machine_busy_cores":1.9,"database_cpu_cores":0.35,"other_cpu_cores":0.05}
{"label":"mixed","scenario":"mixed","concurrency":32,"requests":10,"rps":5,"ok_rps":4,"latency_ms":{"p50":1,"p90":2,"p99":3,"max":4},"status":{"200":8,"503":2},"errors":{"timeout":1},"kinds":{"me":{"requests":8,"status":{"200":8}},"login":{"requests":2,"status":{"503":2}}},"during":{"scenario":"login","concurrency":64,"requests":7,"status":{"429":7}}}
`
	name := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(name, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := read(name)
	if err != nil || len(rs) != 2 {
		t.Fatalf("read: %d results, %v", len(rs), err)
	}
	var b strings.Builder
	write(&b, rs, inputs{Wrk: map[string][]float64{"me": {55.5}}})
	out := b.String()
	for _, want := range []string{
		"| me | 32 | 100 | 50.0 (wrk: 55.5) | 50.0 | 1.50 | 2.00 | 3.00 | 4.00 | 200=100 | 0 | 1.20 | 20.5 | 0.30 | 0.35 | 1.90 | 0.05 |",
		"No run shared the machine with other work",
		"| mixed | 32 | 10 | 5.0 | 4.0 |", "200=8 503=2 | timeout 1 |",
		"**mixed**, per kind of request:", "| me | 8 |", "| login | 2 |",
		"| mixed | login | 64 | 7 |", "429=7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "### Scale") {
		t.Errorf("a Scale table without any (1M) run:\n%s", out)
	}
	if strings.Contains(out, "median") {
		t.Errorf("single runs described as medians:\n%s", out)
	}
}

// TestNoise: a run with other work over the bound is named, with its figure.
func TestNoise(t *testing.T) {
	quiet, busy := 0.1, 0.6
	a, b := run("me", 100, 1), run("refresh", 100, 1)
	a.OtherCPUCores, b.OtherCPUCores = &quiet, &busy
	var out strings.Builder
	noise(&out, []result.Result{a, b})
	if want := "**Noisy: 1 of 2 runs shared the machine with other work**"; !strings.Contains(out.String(), want) ||
		!strings.Contains(out.String(), "refresh (0.60 cores)") || strings.Contains(out.String(), "me (") {
		t.Errorf("noise = %q, want %q naming refresh alone", out.String(), want)
	}
	out.Reset()
	noise(&out, []result.Result{run("me", 100, 1)})
	if !strings.Contains(out.String(), "not measured") {
		t.Errorf("noise without the figure = %q, want not measured", out.String())
	}
}

// run is one synthetic result; every request answered 2xx unless changed.
func run(label string, rps, p99 float64) result.Result {
	return result.Result{
		Label: label, Scenario: strings.Fields(label)[0], Concurrency: 32,
		Summary: result.Summary{Requests: int64(rps * 10), RPS: rps, OKRPS: rps, Latency: result.Latency{P99: p99}},
		Server:  &result.ServerStats{PeakRSSMB: 20},
	}
}

func withOK(r result.Result, ok float64) result.Result { r.OKRPS = ok; return r }

func withRSS(r result.Result, mb float64) result.Result {
	r.Server = &result.ServerStats{PeakRSSMB: mb}
	return r
}

func withFlood(r result.Result, c int) result.Result {
	r.During = &result.Flood{Scenario: "login", Concurrency: c}
	return r
}

func TestMedianIndex(t *testing.T) {
	for _, tc := range []struct {
		name string
		vs   []float64
		want int
	}{
		{"none", nil, -1},
		{"one run", []float64{5}, 0},
		{"two runs: the lower", []float64{5, 3}, 1},
		{"two runs in order: the lower", []float64{3, 5}, 0},
		{"three runs: the middle", []float64{5, 3, 4}, 2},
		{"three runs, middle first", []float64{4, 5, 3}, 0},
		{"four runs: the lower middle", []float64{1, 4, 2, 3}, 2},
		{"ties keep their order", []float64{7, 7, 7}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := medianIndex(tc.vs); got != tc.want {
				t.Errorf("medianIndex(%v) = %d, want %d", tc.vs, got, tc.want)
			}
		})
	}
}

func TestMedianRun(t *testing.T) {
	for _, tc := range []struct {
		name    string
		runs    []result.Result
		wantP99 float64 // identifies the run chosen
		wantRPS string
	}{
		{"one run", []result.Result{run("me", 10136, 1)}, 1, "10,136"},
		{"two runs: the slower", []result.Result{run("me", 10410, 2), run("me", 9870, 1)}, 1,
			"9,870 (2 runs: 9,870–10,410)"},
		{"three runs", []result.Result{run("me", 10410, 3), run("me", 9870, 1), run("me", 10136, 2)}, 2,
			"10,136 (3 runs: 9,870–10,410)"},
		{"small figures keep a decimal", []result.Result{run("login", 15.4, 1), run("login", 15.2, 2), run("login", 15.3, 3)}, 3,
			"15.3 (3 runs: 15.2–15.4)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs := groupRuns(tc.runs)
			if len(gs) != 1 {
				t.Fatalf("%d groups, want 1", len(gs))
			}
			if got := gs[0].Median().Latency.P99; got != tc.wantP99 {
				t.Errorf("median run is the one with p99 %v, want %v", got, tc.wantP99)
			}
			if got := rpsCell(gs[0], nil); got != tc.wantRPS {
				t.Errorf("req/s cell %q, want %q", got, tc.wantRPS)
			}
		})
	}
}

func TestWrkMedian(t *testing.T) {
	g := groupRuns([]result.Result{run("me", 10136, 1)})[0]
	for _, tc := range []struct {
		wrk  []float64
		want string
	}{
		{nil, "10,136"},
		{[]float64{12106.37}, "10,136 (wrk: 12,106)"},
		{[]float64{12997, 12500}, "10,136 (wrk: 12,500, 2 runs)"}, // the lower middle, as for authload's runs
		{[]float64{12997, 12500, 13100}, "10,136 (wrk: 12,997, 3 runs)"},
		{[]float64{55.5}, "10,136 (wrk: 55.5)"},
	} {
		if got := rpsCell(g, tc.wrk); got != tc.want {
			t.Errorf("wrk %v: %q, want %q", tc.wrk, got, tc.want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	in, files, err := parseArgs([]string{"-wrk", "me=12997", "-wrk", "me=12500", "-wrk", "a=b=7",
		"-cores", "2", "-rsa-sign-us", "804.6", "-bcrypt-ms", "", "-startup-ms", "42", "r.jsonl"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := inputs{Cores: 2, RSASignUS: 804.6, StartupMS: 42,
		Wrk: map[string][]float64{"me": {12997, 12500}, "a=b": {7}}}
	if !reflect.DeepEqual(in, want) || !reflect.DeepEqual(files, []string{"r.jsonl"}) {
		t.Errorf("got %+v %v, want %+v [r.jsonl]", in, files, want)
	}
	for _, bad := range [][]string{
		{"-cores", "0"}, {"-cores", "two"}, {"-wrk", "me"}, {"-wrk", "me=fast"}, {"-wrk", "me=0"},
		{"-bcrypt-ms", "-1"}, {"-rsa-sign-us", "NaN"}, {"-startup-ms", "Inf"},
	} {
		if _, _, err := parseArgs(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

const (
	rsaGoal     = "≥ 1.8 × the refresh with two signatures (JWT refresh tokens)"
	ceilingGoal = "≥ 0.8 × the one-signature ceiling, and ≥ 4,000 req/s"
	fairGoal    = "each ≥ 50 % of its figure alone, me p99 ≤ 25 ms"
)

func withBusy(r result.Result, cores float64) result.Result { r.MachineBusyCores = cores; return r }

// fair is the three fair runs with the defaults: me and logins alone, then
// both (3 logins answered 503).
func fair(meAlone, me, p99, loginAlone, login float64) []result.Result {
	both := run("fair, defaults: me and login", me, p99)
	both.During = &result.Flood{Scenario: "login", Concurrency: 64,
		Summary: result.Summary{OKRPS: login, Status: map[string]int64{"503": 3}}}
	return []result.Result{run("fair, defaults: me alone", meAlone, 9), withOK(run("fair, defaults: login alone", 12, 9000), loginAlone), both}
}

func TestTargets(t *testing.T) {
	rsa := inputs{Cores: 2, RSASignUS: 805, BcryptMS: 200, StartupMS: 42}
	es := inputs{Cores: 2, ESSignUS: 25, EdSignUS: 16}
	for _, tc := range []struct {
		name string
		runs []result.Result
		in   inputs
		want row
	}{
		{"me met", []result.Result{run("me", 12000, 8.44)}, rsa,
			row{"me", "≥ 11,000 req/s and p99 ≤ 10 ms", "12,000 req/s, p99 8.4 ms", "met"}},
		{"me too slow", []result.Result{run("me", 10136, 8)}, rsa,
			row{"me", "≥ 11,000 req/s and p99 ≤ 10 ms", "10,136 req/s, p99 8.0 ms", "not met"}},
		{"me p99 too long", []result.Result{run("me", 12000, 11.6)}, rsa,
			row{"me", "≥ 11,000 req/s and p99 ≤ 10 ms", "12,000 req/s, p99 11.6 ms", "not met"}},
		{"me median of 3", []result.Result{run("me", 11500, 12), run("me", 12500, 9), run("me", 12000, 9.5)}, rsa,
			row{"me", "≥ 11,000 req/s and p99 ≤ 10 ms", "12,000 req/s, p99 9.5 ms (median of 3 runs)", "met"}},
		{"me missing", []result.Result{run("health", 30000, 4)}, rsa,
			row{"me", "≥ 11,000 req/s and p99 ≤ 10 ms", `not measured (no run labelled "me")`, "not measured"}},

		{"RS256 at 1.8 ×", []result.Result{run("refresh", 1080, 66), run("refresh (jwt)", 600, 70)}, rsa,
			row{"refresh, RS256", rsaGoal, "1,080 req/s = 1.80 × 600 with JWT refresh tokens; 43 % of the one-signature signing ceiling, 2,484", "met"}},
		{"RS256 under 1.8 ×", []result.Result{run("refresh", 1000, 66), run("refresh (jwt)", 600, 70), run("refresh (jwt)", 620, 70)}, inputs{},
			row{"refresh, RS256", rsaGoal, "1,000 req/s = 1.67 × 600 with JWT refresh tokens (median of 2 runs)", "not met"}},
		{"RS256 without the jwt run", []result.Result{run("refresh", 1000, 66)}, rsa,
			row{"refresh, RS256", rsaGoal, `not measured (no run labelled "refresh (jwt)")`, "not measured"}},
		{"RS256 missing run", nil, rsa,
			row{"refresh, RS256", rsaGoal, `not measured (no run labelled "refresh")`, "not measured"}},

		// 2 cores busy at 4,000 req/s: 500 µs a refresh; less 25 µs: 4,211/s.
		{"ES256 met", []result.Result{run("refresh (ES256)", 4100, 20), withBusy(run("refresh (ES256, jwt)", 4000, 20), 2)}, es,
			row{"refresh, ES256", ceilingGoal, "4,100 req/s = 0.97 × 4,211 (4,000 with JWT refresh tokens, less one signature of 25.0 µs)", "met"}},
		{"ES256 under 0.8 ×", []result.Result{run("refresh (ES256)", 3300, 20), withBusy(run("refresh (ES256, jwt)", 4000, 20), 2)}, es,
			row{"refresh, ES256", ceilingGoal, "3,300 req/s = 0.78 × 4,211 (4,000 with JWT refresh tokens, less one signature of 25.0 µs)", "not met"}},
		{"ES256 without the sign µs", []result.Result{run("refresh (ES256)", 4100, 20), withBusy(run("refresh (ES256, jwt)", 4000, 20), 2)}, rsa,
			row{"refresh, ES256", ceilingGoal, "4,100 req/s; ceiling not known (-cores or the sign µs not given)", "not measured"}},
		{"ES256 missing", []result.Result{run("refresh", 2934.6, 24)}, rsa,
			row{"refresh, ES256", ceilingGoal, `not measured (no run labelled "refresh (ES256)")`, "not measured"}},
		{"EdDSA met", []result.Result{run("refresh (EdDSA)", 5000, 20), withBusy(run("refresh (EdDSA, jwt)", 5000, 20), 2)}, es,
			row{"refresh, EdDSA", ceilingGoal, "5,000 req/s = 0.96 × 5,208 (5,000 with JWT refresh tokens, less one signature of 16.0 µs)", "met"}},

		{"fair met", fair(12000, 6500, 24, 8, 4.1), rsa,
			row{"logins and me at once", fairGoal, "me 6,500 of 12,000 req/s (54 %), p99 24.0 ms; logins 4.1 of 8.0/s (51 %), 3 answered 503", "met"}},
		{"fair: logins starved", fair(12000, 9000, 15, 8, 2), rsa,
			row{"logins and me at once", fairGoal, "me 9,000 of 12,000 req/s (75 %), p99 15.0 ms; logins 2.0 of 8.0/s (25 %), 3 answered 503", "not met"}},
		{"fair: me too slow", fair(12000, 6500, 30, 8, 5), rsa,
			row{"logins and me at once", fairGoal, "me 6,500 of 12,000 req/s (54 %), p99 30.0 ms; logins 5.0 of 8.0/s (62 %), 3 answered 503", "not met"}},
		{"fair missing", nil, rsa,
			row{"logins and me at once", fairGoal, `not measured (no run labelled "fair, defaults: me alone")`, "not measured"}},

		{"login met", []result.Result{withOK(run("login", 15.2, 2290), 9.2)}, rsa,
			row{"login", "≥ 90 % of the bcrypt ceiling", "9.2 logins/s = 92 % of 10.0", "met"}},
		{"login not met", []result.Result{withOK(run("login", 15.2, 2290), 5)}, rsa,
			row{"login", "≥ 90 % of the bcrypt ceiling", "5.0 logins/s = 50 % of 10.0", "not met"}},
		{"login at 89 %", []result.Result{withOK(run("login", 15.2, 2290), 8.95)}, rsa,
			row{"login", "≥ 90 % of the bcrypt ceiling", "8.9 logins/s = 89 % of 10.0", "not met"}},
		{"login, 3 runs", []result.Result{withOK(run("login", 15.4, 2290), 9.9), withOK(run("login", 15.0, 2290), 8), withOK(run("login", 15.2, 2290), 9.0)}, rsa,
			row{"login", "≥ 90 % of the bcrypt ceiling", "9.0 logins/s = 90 % of 10.0 (median of 3 runs)", "met"}},
		{"login without -bcrypt-ms", []result.Result{withOK(run("login", 15.2, 2290), 9.2)}, inputs{Cores: 2},
			row{"login", "≥ 90 % of the bcrypt ceiling", "9.2 logins/s; ceiling not known (-bcrypt-ms not given)", "not measured"}},
		{"login missing", nil, rsa,
			row{"login", "≥ 90 % of the bcrypt ceiling", `not measured (no run labelled "login")`, "not measured"}},

		{"flood not met", []result.Result{withFlood(run("me during login flood", 2469.5, 56.03), 64)}, rsa,
			row{"me during a 64-client login flood", "p99 ≤ 25 ms", "p99 56.0 ms (2,470 req/s)", "not met"}},
		{"flood met, 32 clients", []result.Result{withFlood(run("me during login flood", 6000, 25), 32)}, rsa,
			row{"me during a 32-client login flood", "p99 ≤ 25 ms", "p99 25.0 ms (6,000 req/s)", "met"}},
		{"flood missing", nil, rsa,
			row{"me during a 64-client login flood", "p99 ≤ 25 ms", `not measured (no run labelled "me during login flood")`, "not measured"}},

		{"start-up met", nil, rsa, row{"start-up", "ready ≤ 100 ms after start", "42.0 ms", "met"}},
		{"start-up not met", nil, inputs{StartupMS: 150.25}, row{"start-up", "ready ≤ 100 ms after start", "150.2 ms", "not met"}},
		{"start-up missing", nil, inputs{}, row{"start-up", "ready ≤ 100 ms after start", "not measured (-startup-ms not given)", "not measured"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows := targetRows(groupRuns(tc.runs), tc.in)
			for _, r := range rows {
				if r.Target == tc.want.Target {
					if r != tc.want {
						t.Errorf("got  %q\nwant %q", r, tc.want)
					}
					return
				}
			}
			t.Errorf("no row %q in %q", tc.want.Target, rows)
		})
	}
}

func TestTargetRowsOrder(t *testing.T) {
	targets := func(rs []result.Result) []string {
		var ts []string
		for _, r := range targetRows(groupRuns(rs), inputs{}) {
			ts = append(ts, r.Target)
		}
		return ts
	}
	base := []string{"me", "refresh, RS256", "refresh, ES256", "login", "me during a 64-client login flood", "logins and me at once", "memory", "start-up"}
	if got := targets(nil); !reflect.DeepEqual(got, base) {
		t.Errorf("without EdDSA: %q, want %q", got, base)
	}
	withEd := []string{"me", "refresh, RS256", "refresh, ES256", "refresh, EdDSA", "login", "me during a 64-client login flood", "logins and me at once", "memory", "start-up"}
	if got := targets([]result.Result{run("refresh (EdDSA)", 5000, 1)}); !reflect.DeepEqual(got, withEd) {
		t.Errorf("with EdDSA: %q, want %q", got, withEd)
	}
}

func TestMemoryRow(t *testing.T) {
	noServer := run("health", 30000, 4)
	noServer.Server = nil
	for _, tc := range []struct {
		name          string
		runs          []result.Result
		measured, ver string
	}{
		{"met, names the repeated run",
			[]result.Result{withRSS(run("me", 1, 1), 23.2), withRSS(run("me", 2, 1), 27.9), withRSS(run("me", 3, 1), 21),
				withRSS(run("me during login flood", 1, 1), 27.2)},
			"max 27.9 MB (me, run 2 of 3)", "met"},
		{"not met, names the single run",
			[]result.Result{withRSS(run("me", 1, 1), 23.2), withRSS(run("refresh (1M)", 1, 1), 41.3)},
			"max 41.3 MB (refresh (1M))", "not met"},
		{"exactly 40 MB", []result.Result{withRSS(run("me", 1, 1), 40)}, "max 40.0 MB (me)", "met"},
		{"a run without figures", []result.Result{withRSS(run("me", 1, 1), 23.2), noServer},
			"max 23.2 MB (me); 1 run without the server's figures", "not measured"},
		{"a run without figures, over anyway", []result.Result{withRSS(run("me", 1, 1), 45), noServer, noServer},
			"max 45.0 MB (me); 2 runs without the server's figures", "not met"},
		{"no figures", []result.Result{noServer},
			"not measured (no run has the server's figures: authload -pid)", "not measured"},
		{"no runs", nil, "not measured (no run has the server's figures: authload -pid)", "not measured"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := memoryRow(groupRuns(tc.runs))
			want := row{"memory", "peak RSS ≤ 40 MB in every run", tc.measured, tc.ver}
			if got != want {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

func TestScale(t *testing.T) {
	runs := []result.Result{
		run("refresh (1M)", 780, 70), // before both small runs: rows follow the order of the small runs
		run("me", 10000, 3.21),
		run("me", 9000, 3.0),
		run("me", 11000, 3.5),
		run("refresh", 900, 66.75),
		withOK(run("login", 15.2, 2290), 9.2),
		withOK(run("login (1M)", 15.2, 2300), 9.0),
		run("health", 1000, 1),
		run("health (1M)", 1100, 1.2),
		run("register", 1000, 1), // 2xx/s: 0 -> no percentage
		withOK(run("register (1M)", 1000, 1), 0),
		run("mixed (1M)", 100, 1), // no small twin: no row
		run("me (1M)", 9500, 3.5),
		run("me during login flood", 1000, 50), // no (1M) twin: no row
	}
	want := []string{
		"| me | 10,000 | 9,500 | -5.0 % | 3.2 → 3.5 ms | yes |",
		"| refresh | 900 | 780 | -13.3 % | 66.8 → 70.0 ms | no |",
		"| login (2xx/s) | 9.2 | 9.0 | -2.2 % | 2290.0 → 2300.0 ms | yes |",
		"| health | 1,000 | 1,100 | +10.0 % | 1.0 → 1.2 ms | yes |",
		"| register (2xx/s) | 1,000 | 0.0 | -100.0 % | 1.0 → 1.0 ms | no |",
	}
	var b strings.Builder
	writeScale(&b, groupRuns(runs))
	out := b.String()
	if !strings.HasPrefix(out, "\n### Scale\n\nScale: the same runs on a database with 1,000,000 more users and sessions (in this run):\n\n"+
		"| run | small database req/s | 1M users + 1M sessions req/s | change | p99 small → 1M | within 10 %? |\n") {
		t.Errorf("heading:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	rows := lines[len(lines)-len(want):]
	if !reflect.DeepEqual(rows, want) || len(lines) != 6+len(want) {
		t.Errorf("rows:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	for _, tc := range []struct {
		small, big float64
		change     string
		within     bool
	}{
		{1000, 1100, "+10.0 %", true},
		{1000, 1101, "+10.1 %", false},
		{1000, 900, "-10.0 %", true},
		{1000, 899, "-10.1 %", false},
		{1000, 1000.1, "+0.0 %", true},
		{1000, 999.9, "+0.0 %", true},
	} {
		r := scaleRows(groupRuns([]result.Result{run("me", tc.small, 1), run("me (1M)", tc.big, 1)}))
		if len(r) != 1 {
			t.Fatalf("%v -> %v: %d rows", tc.small, tc.big, len(r))
		}
		if got := signedPercent(r[0].Change); got != tc.change || r[0].Within10 != tc.within {
			t.Errorf("%v -> %v: %s within %v, want %s within %v", tc.small, tc.big, got, r[0].Within10, tc.change, tc.within)
		}
	}

	b.Reset()
	writeScale(&b, groupRuns([]result.Result{run("me", 1, 1), run("mixed (1M)", 1, 1)}))
	if b.Len() != 0 {
		t.Errorf("Scale table without a pair:\n%s", b.String())
	}
}

func TestLabelOrder(t *testing.T) {
	runs := []result.Result{
		run("refresh", 900, 1), run("me", 10000, 1), run("refresh", 800, 1), run("login", 15, 1),
		run("me", 11000, 1), run("me (1M)", 9000, 1),
	}
	unlabelled := run("health", 30000, 1)
	unlabelled.Label = ""
	runs = append(runs, unlabelled)

	var labels []string
	for _, g := range groupRuns(runs) {
		labels = append(labels, g.Label)
	}
	if want := []string{"refresh", "me", "login", "me (1M)", "health"}; !reflect.DeepEqual(labels, want) {
		t.Errorf("labels %q, want %q", labels, want)
	}

	var b strings.Builder
	write(&b, runs, inputs{})
	out := b.String()
	last := -1
	for _, l := range []string{"| refresh | 32 |", "| me | 32 |", "| login | 32 |", "| me (1M) | 32 |", "| health | 32 |"} {
		i := strings.Index(out, l)
		if i < 0 || i < last || strings.Count(out, l) != 1 {
			t.Errorf("row %q at %d (after %d), %d times:\n%s", l, i, last, strings.Count(out, l), out)
		}
		last = i
	}
	// The sections, in order.
	last = -1
	for _, h := range []string{"### Targets\n\n| target |", "\n### Results\n\n", "| run | c |", "\n### Scale\n\n"} {
		i := strings.Index(out, h)
		if i <= last {
			t.Errorf("section %q at %d, after %d:\n%s", h, i, last, out)
		}
		last = i
	}
}

func TestRepeatedRunsInReport(t *testing.T) {
	mixed := func(rps float64, meReqs int64) result.Result {
		r := withFlood(run("mixed", rps, 1), 64)
		r.During.Requests = meReqs
		r.Kinds = map[string]result.Summary{"me": {Requests: meReqs}}
		return r
	}
	// The median (230) is neither the first nor the last run.
	runs := []result.Result{mixed(240, 2222), mixed(230, 1111), mixed(220, 3333)}
	var b strings.Builder
	write(&b, runs, inputs{})
	out := b.String()
	for _, want := range []string{
		"| mixed | 32 | 2300 | 230 (3 runs: 220–240) |",
		"**mixed**, per kind of request (the median of 3 runs):",
		"| me | 1111 |",
		"| mixed (the median of 3 runs) | login | 64 | 1111 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, other := range []string{"| me | 2222 |", "| me | 3333 |", "| 64 | 2222 |", "| 64 | 3333 |"} {
		if strings.Contains(out, other) {
			t.Errorf("report shows a run other than the median (%q):\n%s", other, out)
		}
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 999.4: "999", 999.5: "1,000", 1241.7: "1,242", 12345678: "12,345,678", -1234: "-1,234",
	} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
	for v, want := range map[float64]string{0.5: "0.5", 9.25: "9.2", 99.94: "99.9", 99.96: "100", 898.4: "898", 31661.3: "31,661"} {
		if got := rate(v); got != want {
			t.Errorf("rate(%v) = %q, want %q", v, got, want)
		}
	}
}
