package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/authd/authd/bench/internal/result"
)

func TestLoadConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	got, err := loadConfig(env())
	if err != nil {
		t.Fatal(err)
	}
	want := config{Duration: "10s", Warmup: "2s", C: 32, FloodC: 64, Users: 200, Repeat: 3,
		Base: 10000, Scale: 1000000, Out: "docs/benchmarks.md", Mail: true, MailCount: 10000,
		Webhooks: true, HookCount: 20000, Fair: fairSettings, Attack: true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("defaults %+v, want %+v", got, want)
	}

	got, err = loadConfig(env("BENCH_DURATION", "2s", "BENCH_WARMUP", "0s", "BENCH_C", "8", "BENCH_FLOOD_C", "16",
		"BENCH_USERS", "50", "BENCH_REPEAT", "1", "BENCH_BASE", "0", "BENCH_SCALE", "0", "BENCH_OUT", "/tmp/b.md",
		"BENCH_MAIL", "0", "BENCH_MAIL_COUNT", "500", "BENCH_WEBHOOKS", "off", "BENCH_WEBHOOK_COUNT", "300", "BENCH_FAIR", "HASH_NICE=5 | |HASH_NICE=0  HASH_CONCURRENCY=1",
		"BENCH_ATTACK", "0"))
	if err != nil {
		t.Fatal(err)
	}
	want = config{Duration: "2s", Warmup: "0s", C: 8, FloodC: 16, Users: 50, Repeat: 1, Out: "/tmp/b.md", MailCount: 500, HookCount: 300,
		Fair: []string{"HASH_NICE=5", "", "HASH_NICE=0 HASH_CONCURRENCY=1"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("set %+v, want %+v", got, want)
	}

	_, err = loadConfig(env("BENCH_DURATION", "0s", "BENCH_WARMUP", "soon", "BENCH_C", "0", "BENCH_REPEAT", "x", "BENCH_SCALE", "-1",
		"BENCH_MAIL", "maybe", "BENCH_MAIL_COUNT", "0", "BENCH_WEBHOOKS", "2", "BENCH_WEBHOOK_COUNT", "none", "BENCH_ATTACK", "yes"))
	for _, name := range []string{"BENCH_DURATION", "BENCH_WARMUP", "BENCH_C", "BENCH_REPEAT", "BENCH_SCALE", "BENCH_MAIL", "BENCH_MAIL_COUNT",
		"BENCH_WEBHOOKS=", "BENCH_WEBHOOK_COUNT", "BENCH_ATTACK"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
}

func TestRunChecksRoot(t *testing.T) {
	err := run(t.Context(), []string{"-root", t.TempDir()}, func(string) string { return "" }, nil, new(strings.Builder))
	if err == nil || !strings.Contains(err.Error(), "not the authd repository") {
		t.Errorf("err = %v", err)
	}
}

func TestMedianNS(t *testing.T) {
	out := `goos: linux
BenchmarkSign/RS256-2         	    1660	    725400 ns/op	    1024 B/op	       5 allocs/op
BenchmarkSign/RS256-2         	    1660	    700000 ns/op	    1024 B/op	       5 allocs/op
BenchmarkSign/RS256-2         	    1660	    800000 ns/op	    1024 B/op	       5 allocs/op
BenchmarkSign/ES256-2         	   50000	     20000 ns/op
BenchmarkSignParallel/RS256-2 	    3000	    371400 ns/op
BenchmarkSign/RS256x-2        	       1	         1 ns/op
PASS`
	for _, tc := range []struct {
		name string
		want float64
	}{
		{"BenchmarkSign/RS256", 725400},
		{"BenchmarkSignParallel/RS256", 371400},
		{"BenchmarkSign/EdDSA", 0},
	} {
		if got := medianNS(tc.name, out); got != tc.want {
			t.Errorf("medianNS(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := medianNS("BenchmarkX", "BenchmarkX-2 1 4 ns/op\nBenchmarkX-2 1 2 ns/op"); got != 2 {
		t.Errorf("of two: %v, want the lower middle, 2", got)
	}
	if got, want := scaled(725400, 1e3), "725.4"; got != want {
		t.Errorf("scaled = %q, want %q", got, want)
	}
	if got := scaled(0, 1e3); got != "" {
		t.Errorf("scaled(0) = %q: benchreport takes an empty flag as not measured, a 0 as an error", got)
	}
}

func TestSummarizeLog(t *testing.T) {
	name := filepath.Join(t.TempDir(), "authd.log")
	log := `{"time":"t","level":"WARN","msg":"request","status":503}
{"time":"t","level":"WARN","msg":"request","status":503}
{"time":"t","level":"ERROR","msg":"refresh","error":"context canceled"}
{"time":"t","level":"ERROR","msg":"refresh","error":"context canceled"}
{"time":"t","level":"ERROR","msg":"login","error":"timeout"}
{"time":"t","level":"WARN","msg":"request","status":503}
not json
`
	if err := os.WriteFile(name, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, summary, errs, err := summarizeLog(name)
	if err != nil {
		t.Fatal(err)
	}
	if lines != 7 {
		t.Errorf("lines = %d, want 7", lines)
	}
	wantSummary := `      3 "level":"WARN","msg":"request"
      2 "level":"ERROR","msg":"refresh"
      1 "level":"ERROR","msg":"login"`
	if summary != wantSummary {
		t.Errorf("summary\n%s\nwant\n%s", summary, wantSummary)
	}
	wantErrs := `      2 "error":"context canceled"
      1 "error":"timeout"`
	if errs != wantErrs {
		t.Errorf("errors\n%s\nwant\n%s", errs, wantErrs)
	}
}

func TestHelpers(t *testing.T) {
	for label, want := range map[string]string{
		"me": "me", "me during login flood": "me_during_login_flood", "refresh (EdDSA) (1M)": "refresh__EdDSA___1M_",
	} {
		if got := fileName(label); got != want {
			t.Errorf("fileName(%q) = %q, want %q", label, got, want)
		}
	}
	if got := wrkRate("  210196 requests in 10.02s, 122.08MB read\nRequests/sec:  20974.12\nTransfer/sec:     12.18MB\n"); got != "20974.12" {
		t.Errorf("wrkRate = %q", got)
	}
	if got := wrkRate("no figures"); got != "" {
		t.Errorf("wrkRate without a figure = %q", got)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 20000: "20,000", 1000000: "1,000,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got, want := indent("a\nb"), "  a\n  b"; got != want {
		t.Errorf("indent = %q, want %q", got, want)
	}
}

func TestBurstSizes(t *testing.T) {
	got, err := burstSizes("20, 50,200")
	if err != nil || fmt.Sprint(got) != "[20 50 200]" {
		t.Errorf("burstSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "20,", "0", "x", "10001"} {
		if _, err := burstSizes(bad); err == nil {
			t.Errorf("burstSizes(%q) accepted", bad)
		}
	}
}

func TestBurstTable(t *testing.T) {
	var b strings.Builder
	writeBurstTable(&b, []burstRun{
		{size: 20, kind: "register", run: 1, res: result.Result{Summary: result.Summary{
			Status:  map[string]int64{"201": 14, "503": 6},
			Errors:  map[string]int64{"timeout": 0},
			Latency: result.Latency{P50: 1200.4, P99: 2004.6, Max: 2010},
		}, MachineBusyCores: 1.5, Latency503: &result.Latency{Max: 2002}}},
		{size: 20, kind: "login", run: 1, res: result.Result{Summary: result.Summary{
			Status: map[string]int64{"200": 18, "500": 1},
			Errors: map[string]int64{"timeout": 1},
		}}},
	})
	want := `| N | kind | run | 201/200 | 503 | other | p50 ms | p99 ms | max ms | slowest 503 ms | machine busy |
|--:|---|--:|--:|--:|---|--:|--:|--:|--:|--:|
| 20 | register | 1 | 14 | 6 | - | 1200 | 2005 | 2010 | 2002 | 1.50 cores |
| 20 | login | 1 | 18 | 0 | 500=1 timeout=1 | 0 | 0 | 0 | - | 0.00 cores |
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

// TestMedianOK: the capacity of the open-loop runs is the median 2xx rate
// of the closed-loop runs with that label, and no other.
func TestMedianOK(t *testing.T) {
	lines := `{"label":"me","ok_rps":100}
{"label":"me during login flood","ok_rps":5}
not json
{"label":"me","ok_rps":300}
{"label":"me","ok_rps":200}
`
	if got := medianOK([]byte(lines), "me"); got != 200 {
		t.Errorf("medianOK(me) = %v, want 200", got)
	}
	if got := medianOK([]byte(lines), "refresh"); got != 0 {
		t.Errorf("medianOK(refresh) = %v, want 0", got)
	}
}
