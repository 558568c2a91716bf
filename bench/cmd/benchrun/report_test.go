package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/authd/authd/bench/internal/result"
)

// fixture is the result set of a whole run, every section filled.
func fixture() report {
	return report{
		Date: "2026-11-23 22:07 UTC", Commit: "4516f1e-dirty", Repeat: 3,
		Machine: machine{CPU: "AMD EPYC", Cores: 2, Memory: "23.5 GiB", Kernel: "Linux 6.18.44",
			Go: "go1.26.8 linux/amd64", PostgreSQL: "postgres (PostgreSQL) 15.18", Wrk: "wrk debian/4.1.0-3+b2 [epoll]"},
		LoadAtStart: "3.06 3.50 3.61",
		BcryptCost:  12, FloodC: 64, Warmup: "2s", Duration: "10s", Base: 10000, Users: 200,
		LogLines:   2810,
		LogSummary: `   2810 "level":"WARN","msg":"request"`,
		LogErrors:  `      3 "error":"context canceled"`,
		Speed:      "Before each run benchrun times a fixed piece of work.",
		Tables: "### Targets\n\n| target | goal | measured | verdict |\n|---|---|---|---|\n| me | ≥ 11,000 req/s | 16,195 req/s | met |\n\n" +
			"### Results\n\n| run | c |\n|---|--:|\n| health | 32 |\n\n### Scale\n\n| run | small database req/s |\n|---|--:|\n| me | 16,195 |",
		Breakdown: "#### me\n\n| component | CPU share | µs per request |\n|---|--:|--:|\n| HTTP server | 40.9% | 25.2 |\n\n" +
			"#### refresh\n\n| component | CPU share | µs per request |\n|---|--:|--:|\n| token crypto (verify, MAC) | 93.6% | 1560.9 |",
		Scale: &scale{
			Rows:     1000000,
			Seed:     "scaleseed: 1000000 users in 4.9s\nscaleseed: 1000000 sessions in 20.1s",
			Verdicts: "ok GetSessionUser: index scan on sessions_pkey, users_pkey\nok RotateSession: index scan on sessions_pkey",
			Plans:    "### GetSessionUser\n\nThe per-request auth check.\n\n```\nNested Loop  (cost=0.85..16.90 rows=1 width=146)\n```",
		},
		Fair: &fairReport{C: 32, FloodC: 64, Timeout: "10s", Rows: []fairRow{
			{MeSolo: result.Summary{OKRPS: 12000}, LoginSolo: result.Summary{OKRPS: 8},
				Me:    result.Summary{OKRPS: 8900, Latency: result.Latency{P99: 16.1}},
				Login: result.Summary{OKRPS: 2, Status: map[string]int64{"503": 188}, Latency: result.Latency{P99: 9100}}},
			{Setting: "HASH_NICE=0", MeSolo: result.Summary{OKRPS: 11800}, LoginSolo: result.Summary{OKRPS: 7.8},
				Me: result.Summary{OKRPS: 2400, Latency: result.Latency{P99: 44.1}}, Login: result.Summary{OKRPS: 5.5}},
		}, Storm: &result.Summary{RPS: 16165, OKRPS: 2, Status: map[string]int64{"200": 10, "503": 80808}}, StormCPU: 1.6},
		OpenLoop: []openLoopRow{{Scenario: "me",
			Closed: result.Result{Summary: result.Summary{OKRPS: 11000, Latency: result.Latency{P50: 2.1, P90: 4, P99: 9}}},
			Open: []result.Result{{Rate: 5500, Summary: result.Summary{OKRPS: 5499, Latency: result.Latency{P50: 0.9, P90: 1.5, P99: 3.2}}},
				{Rate: 9900, Missed: 3, Summary: result.Summary{OKRPS: 9870, Latency: result.Latency{P50: 1.4, P90: 6.1, P99: 40.5}}}}}},
		Attack: &attackReport{Devices: 4, Me: 8, FloodC: 64, Addrs: 10000, Seeded: 64, Rate: 1, Duration: "20s", LaneOff: laneOff,
			Runs: []attackRun{
				{Label: "no flood", Login: result.Summary{Requests: 80, Status: map[string]int64{"200": 80}, Latency: result.Latency{P50: 210.5, P99: 480.2}},
					Me:       result.Summary{OKRPS: 9000, Latency: result.Latency{P99: 6.5}},
					Counters: map[string]float64{"authd_password_hash_wait_seconds_count": 80, `authd_logins_total{outcome="success"}`: 80},
					CPU:      1.2, Other: ptr(0.05)},
				{Label: "flood, lane on", Login: result.Summary{Requests: 80, Status: map[string]int64{"200": 80}, Latency: result.Latency{P50: 250, P99: 700}},
					Me:    result.Summary{Requests: 100000, OKRPS: 5000, Latency: result.Latency{P99: 18.25}},
					Flood: &result.Summary{RPS: 64.5, Status: map[string]int64{"400": 300, "503": 1000}},
					Counters: map[string]float64{"authd_password_hash_wait_seconds_count": 400, `authd_logins_total{outcome="success"}`: 80,
						`authd_logins_total{outcome="bad_credentials"}`: 320, `authd_throttled_total{by="account"}`: 2},
					CPU: 1.9},
				{Label: "flood, lane off", Setting: laneOff,
					Login: result.Summary{Requests: 80, Status: map[string]int64{"200": 3, "503": 77}, Latency: result.Latency{P50: 1000, P99: 2000}},
					Me:    result.Summary{Requests: 80000, OKRPS: 4000, Latency: result.Latency{P99: 30}},
					Flood: &result.Summary{RPS: 900, Status: map[string]int64{"400": 500, "503": 17000}}, CPU: 1.95},
			}},
		Mail: &mailReport{Users: 200, Cooldown: "1m0s", MaxHour: 5, IPMinute: 5, IPBurst: 5, Count: 10000,
			Forgot: []forgotRun{
				{Label: "forgot, one address, limits on", RPS: 9876, Status: "200: 10, 429: 29620", CPU: 0.8, Queued: 5, Addresses: 5, Bound: 6, Held: true},
				{Label: "forgot, per-client limit off (cool-down only)", RPS: 2345, Status: "200: 7035", CPU: 1.2, Queued: 201, Addresses: 200, Bound: 200},
			},
			Drains: []drainRun{{Replicas: 3, Seconds: 12.5, PerSecond: 800, Sent: 10000, Received: 10000, Distinct: 10000,
				Loads: []loadFigure{{Label: "me, idle", RPS: 15000, P50: 1.5, P99: 6.25}, {Label: "refresh, draining", RPS: 600, P50: 40, P99: 90.5, During: true}}}},
		},
		Webhooks: &webhookReport{Count: 20000, Sets: []hookSet{
			{Replicas: 1, Others: 64, PerReplica: []int64{40064},
				Batches: []hookBatch{{While: "me", Seconds: 10, PerSecond: 2000, Delivered: 20000, Received: 20000, Distinct: 20000},
					{While: "refresh", Seconds: 12.5, PerSecond: 1600, Delivered: 20000, Received: 20000, Distinct: 20000}},
				Loads: []loadFigure{{Label: "me, idle", RPS: 14000, P50: 1.5, P99: 7.25}, {Label: "me, delivering", RPS: 9000, P50: 2.5, P99: 12.5, During: true}}},
			{Replicas: 3, Others: 32, Duplicates: 1, Retries: 2, PerReplica: []int64{12000, 14000, 14033},
				Batches: []hookBatch{{While: "me", Seconds: 8, PerSecond: 2500, Delivered: 20000, Received: 20001, Distinct: 20000}}},
		}},
		Commands: []string{
			"# authd: RS256 keys, per-client limits off: IP_LOGIN_PER_MINUTE=0 METRICS_ADDR=127.0.0.1:$MPORT PPROF=true",
			"bin/authload -url http://127.0.0.1:$PORT -pid $AUTHD_PID -c 32 -d 10s -warmup 2s -users 200 -prefix bench -seeded -json -label 'health' -scenario health",
		},
		TokenBench:     "BenchmarkSign/RS256-2   \t    1660\t    725400 ns/op\nPASS",
		PasswordBench:  "BenchmarkCompare/cost=12-2   \t       8\t 194710164 ns/op\nPASS",
		Wrk:            "Running 10s test @ http://127.0.0.1:25970/api/users/me\nRequests/sec:  20974.12\n\nRunning 10s test @ http://127.0.0.1:25970/api/users/me\nRequests/sec:  17372.32",
		AuthloadOutput: "== authload: health ==\nscenario      health\n\n== authload: me ==\nscenario      me",
	}
}

// headings are the report's ## sections, in order.
func headings(doc string) []string {
	var hs []string
	inCode := false
	for line := range strings.Lines(doc) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inCode = !inCode
		}
		if !inCode && strings.HasPrefix(line, "## ") {
			hs = append(hs, strings.TrimPrefix(line, "## "))
		}
	}
	return hs
}

func render(t *testing.T, r report) string {
	t.Helper()
	var b strings.Builder
	if err := renderReport(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The template renders every section of docs/benchmarks.md, in order, with
// every figure of the result set; the optional ones only when there is
// something to show.
func TestReportSections(t *testing.T) {
	all := []string{"Machine", "Settings", "Results", "Where the time goes",
		"Scale: 1,000,000 users and 1,000,000 sessions", "Fair CPU: logins and me at once", "Credential stuffing", "Mail", "Webhooks under load", "Commands",
		"Token signing and verification, bcrypt", "wrk", "authload output"}
	for _, tc := range []struct {
		name   string
		change func(*report)
		want   []string
	}{
		{"everything", func(*report) {}, all},
		{"without the scale runs", func(r *report) { r.Scale = nil }, without(all, all[4])},
		{"without wrk", func(r *report) { r.Wrk = "" }, without(all, "wrk")},
		{"neither", func(r *report) { r.Scale, r.Wrk = nil, "" }, without(without(all, all[4]), "wrk")},
		{"another scale", func(r *report) { r.Scale.Rows = 20000 },
			append(append(clone(all[:4]), "Scale: 20,000 users and 20,000 sessions"), all[5:]...)},
		{"without the mail runs", func(r *report) { r.Mail = nil }, without(all, "Mail")},
		{"without the webhook runs", func(r *report) { r.Webhooks = nil }, without(all, "Webhooks under load")},
		{"without the attack runs", func(r *report) { r.Attack = nil }, without(all, "Credential stuffing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fixture()
			tc.change(&r)
			out := render(t, r)
			if got := headings(out); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("sections\n got %q\nwant %q", got, tc.want)
			}
			if !strings.HasPrefix(out, "# Benchmarks\n\n") {
				t.Errorf("no title:\n%.200s", out)
			}
			checkFences(t, out)
			if strings.Contains(out, "<no value>") || strings.Contains(out, "\n\n\n") {
				t.Errorf("a missing value or a double blank line:\n%s", out)
			}
		})
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

func without(s []string, drop string) []string {
	var out []string
	for _, v := range s {
		if v != drop {
			out = append(out, v)
		}
	}
	return out
}

// checkFences fails if a code block is left open: the rest of the page
// would render as code.
func checkFences(t *testing.T, doc string) {
	t.Helper()
	n := 0
	for line := range strings.Lines(doc) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			n++
		}
	}
	if n%2 != 0 {
		t.Errorf("%d code fences: one is not closed\n%s", n, doc)
	}
}

func TestReportValues(t *testing.T) {
	r := fixture()
	out := render(t, r)
	want := []string{
		"on 2026-11-23 22:07 UTC, authd at `4516f1e-dirty`.",
		"were repeated 3 times;",
		"| CPU | AMD EPYC |", "| cores (nproc) | 2 |", "| memory | 23.5 GiB |", "| kernel | Linux 6.18.44 |",
		"| Go | go1.26.8 linux/amd64 |", "| PostgreSQL | postgres (PostgreSQL) 15.18 |", "| wrk | wrk debian/4.1.0-3+b2 [epoll] |",
		"started: 3.06 3.50 3.61.",
		"`BCRYPT_COST=12`", "GOMAXPROCS (2 here)", "so the flood is 64 different clients.",
		"problems: 2810 lines over all the runs",
		"  ```\n     2810 \"level\":\"WARN\",\"msg\":\"request\"\n  ```",
		"  ```\n        3 \"error\":\"context canceled\"\n  ```",
		"PostgreSQL postgres (PostgreSQL) 15.18: a throwaway cluster",
		"2s of warm-up not counted, then 10s measured.",
		"bulk-loaded 10000 users and 10000 sessions (prefix `base`)",
		"  200 users were registered once",
		"bcrypt at cost 12, at most 2 at once",
		"## Results\n\n" + r.Tables + "\n\n### Latency as users see it: the open loop\n",
		"| me | 11000.0 | 2.10 | 4.00 | 9.00 | 5500 | 5499.0 | 0.90 | 1.50 | 3.20 | 0 |\n| me | 11000.0 | 2.10 | 4.00 | 9.00 | 9900 | 9870.0 | 1.40 | 6.10 | 40.50 | 3 |\n\n## Where the time goes\n",
		"by one signature's CPU (`BenchmarkSign` of the key type, below) into signatures per request.\n\n" + r.Breakdown + "\n\n## Scale",
		"bulk-loaded 1000000 users and 1000000 sessions with COPY",
		"```\n" + r.Scale.Seed + "\n```",
		"```\n" + r.Scale.Verdicts + "\n```",
		"<details><summary>The plans</summary>\n\n" + r.Scale.Plans + "\n\n</details>\n\n## Fair CPU",
		"| defaults | 12000 | 8900 | 74 % | 16.1 | 8.0 | 2.0 | 25 % | 188 | 9.1 | **not met** |",
		"| `HASH_NICE=0` | 11800 | 2400 | 20 % | 44.1 | 7.8 | 5.5 | 71 % | 0 | 0.0 | **not met** |",
		"logins alone from 64 such clients got\n2.0 logins/s among 16165 answers a second (200: 10, 503: 80808), authd using 1.60 cores.",
		"(`authload -scenario devicelogin -c 4 -rate 4`)",
		"and that cookie once a second, on a schedule", "(`-with me -with-c 8`)", "(`-during stuffing -during-c 64`): 64 clients", "one of\n  10,000 addresses",
		"1 in 10 for one of the 64 seeded accounts.", "*flood, lane off* the same with `HASH_KNOWN_DEVICE_SHARE=0`.",
		"| no flood | 80 | 100.0 % | 210.5 | 480.2 | 9000 | 6.50 | – | – | 80 | 0 | 1.20 | 0.05 |\n",
		"| flood, lane on | 80 | 100.0 % | 250.0 | 700.0 | 5000 | 18.25 | 64 | 400: 300, 503: 1000 | 400 | 320 | 1.90 | – |\n",
		"| flood, lane off | 80 | 3.8 % | 1000.0 | 2000.0 | 4000 | 30.00 | 900 | 400: 500, 503: 17000 | – | – | 1.95 | – |\n",
		"| no flood | success: 80 | none |\n| flood, lane on | bad_credentials: 320, success: 80 | account: 2 |\n| flood, lane off | – | – |\n",
		"theirs without the flood (960.4 ms here)",
		"| flood, lane on | 100.0 %: met | 700.0 ms: met | 18.25 ms: met |\n| flood, lane off | 3.8 %: **not met** | 2000.0 ms: **not met** | 30.00 ms: **not met** |\n\n## Mail",
		"`MAIL_COOLDOWN=1m0s`,\n`MAIL_MAX_PER_HOUR=5`", "`IP_MAIL_PER_MINUTE=5`,\n`IP_MAIL_BURST=5`",
		"| forgot, one address, limits on | 9876 | 200: 10, 429: 29620 | 0.80 | 5 | 5 | 6 | yes |\n",
		"| forgot, per-client limit off (cool-down only) | 2345 | 200: 7035 | 1.20 | 201 | 200 | 200 | **no** |\n",
		"**Drain**: 10,000 `account_deleted` notices",
		"| 3 | 12.50 | 800 | 10000 | 0 | 10000 | 10000 | 0 |\n",
		"| 3 | me, idle | 15000 | 1.50 | 6.25 | no |\n| 3 | refresh, draining | 600 | 40.00 | 90.50 | yes |\n\n## Webhooks under load",
		"a batch of 20,000\n`session.revoked` events",
		"| 1 | me | 10.00 | 2000 | 20000 | 0 | 20000 | 20000 | 0 |\n| 1 | refresh | 12.50 | 1600 | 20000 | 0 | 20000 | 20000 | 0 |\n| 3 | me | 8.00 | 2500 | 20000 | 0 | 20001 | 20000 | 1 |\n\n",
		"| 1 | 64 | 0 | 0 | 0 | 40064 |\n| 3 | 32 | 1 | 0 | 2 | 12000 / 14000 / 14033 |\n\n",
		"| 1 | me, idle | 14000 | 1.50 | 7.25 | no |\n| 1 | me, delivering | 9000 | 2.50 | 12.50 | yes |\n\n## Commands",
		"```sh\n" + strings.Join(r.Commands, "\n") + "\n```",
		"```\n" + r.TokenBench + "\n```",
		"-bench 'Compare/cost=12$' -benchtime 8x",
		"```\n" + r.PasswordBench + "\n```",
		"```\n" + r.Wrk + "\n```",
		"```\n" + r.AuthloadOutput + "\n```\n\n</details>\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if !strings.HasSuffix(out, "</details>\n") {
		t.Errorf("report ends %q", out[len(out)-40:])
	}
}

func TestReportEmptyParts(t *testing.T) {
	r := fixture()
	r.LogErrors, r.Base = "", 0
	out := render(t, r)
	for _, w := range []string{
		"The errors among them:\n\n  ```\n     none\n  ```",
		"Nothing was bulk-loaded before the runs (`BENCH_BASE=0`)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	if strings.Contains(out, "prefix `base`") {
		t.Error("report says base rows were loaded with BENCH_BASE=0")
	}
}

func TestWriteReport(t *testing.T) {
	out := filepath.Join(t.TempDir(), "docs", "benchmarks.md")
	if err := writeReport(out, fixture()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil || !strings.HasPrefix(string(b), "# Benchmarks") {
		t.Errorf("report %q, %v", b, err)
	}
	if _, err := os.Stat(out + ".tmp"); err == nil {
		t.Error("temporary file left behind")
	}
}

func TestRenderMail(t *testing.T) {
	r := fixture()
	var b strings.Builder
	if err := renderSection(&b, "mail", r.Mail); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "## Mail\n\n") || !strings.HasSuffix(out, "| yes |\n") || strings.Contains(out, "## Commands") {
		t.Errorf("mail section alone:\n%s", out)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRenderAttack(t *testing.T) {
	r := fixture()
	var b strings.Builder
	if err := renderSection(&b, "attack", r.Attack); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "## Credential stuffing\n\n") || !strings.HasSuffix(out, "ms: **not met** |\n") || strings.Contains(out, "## Mail") {
		t.Errorf("attack section alone:\n%s", out)
	}
	checkFences(t, out)
}

// The targets: a p99 bound of twice the run without the flood, and a
// report without that run (or with no flooded login answered) meets none.
func TestAttackTargets(t *testing.T) {
	a := fixture().Attack
	if got := a.Bound(); got != 960.4 {
		t.Errorf("bound %v, want 960.4", got)
	}
	ts := a.Flooded()
	if len(ts) != 2 || !ts[0].SuccessMet() || !ts[0].P99Met() || !ts[0].MeMet() || ts[1].SuccessMet() || ts[1].P99Met() || ts[1].MeMet() {
		t.Errorf("targets %+v", ts)
	}
	a.Runs = a.Runs[1:]
	if ts := a.Flooded(); ts[0].P99Met() {
		t.Error("a p99 met without a run to bound it")
	}
	var none attackRun
	if none.Success() != 0 || (attackTarget{attackRun: none, Bound: 1}).MeMet() {
		t.Error("a run without requests meets a target")
	}
}

func TestRenderWebhooks(t *testing.T) {
	r := fixture()
	var b strings.Builder
	if err := renderSection(&b, "webhooks", r.Webhooks); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "## Webhooks under load\n\n") || !strings.HasSuffix(out, "| yes |\n") || strings.Contains(out, "## Commands") {
		t.Errorf("webhooks section alone:\n%s", out)
	}
	checkFences(t, out)
}

func TestRenderOpenLoop(t *testing.T) {
	var b strings.Builder
	if err := renderSection(&b, "openloop", fixture().OpenLoop); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "### Latency as users see it: the open loop\n") ||
		!strings.HasSuffix(out, "| me | 11000.0 | 2.10 | 4.00 | 9.00 | 9900 | 9870.0 | 1.40 | 6.10 | 40.50 | 3 |") {
		t.Errorf("open loop section:\n%s", out)
	}
}

// TestOpenLoopTable: each scenario's median closed-loop run and its
// open-loop runs, from authload's -json lines.
func TestOpenLoopTable(t *testing.T) {
	lines := `{"label":"me","scenario":"me","ok_rps":100}
{"label":"me","scenario":"me","ok_rps":300}
{"label":"me","scenario":"me","ok_rps":200}
{"label":"me during login flood","scenario":"me","ok_rps":5}
{"label":"me, open loop at 50% of capacity","scenario":"me","rate":100,"ok_rps":99}
{"label":"refresh","scenario":"refresh","ok_rps":50}
`
	rows := openLoopTable([]byte(lines))
	if len(rows) != 1 || rows[0].Scenario != "me" || rows[0].Closed.OKRPS != 200 || len(rows[0].Open) != 1 || rows[0].Open[0].Rate != 100 {
		t.Errorf("rows %+v", rows)
	}
}
