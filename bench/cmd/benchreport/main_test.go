package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	lines := `not json, skipped
{"label":"me","scenario":"me","concurrency":32,"requests":100,"rps":50,"ok_rps":50,"latency_ms":{"p50":1.5,"p90":2,"p99":3,"max":4},"status":{"200":100},"errors":{"timeout":0},"server":{"pid":1,"peak_rss_mb":20.5,"cpu_cores":1.2},"authload_cpu_cores":0.3,"machine_busy_cores":1.9}
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
	write(&b, rs, map[string]string{"me": "55.5"})
	out := b.String()
	for _, want := range []string{
		"| me | 32 | 100 | 50.0 (wrk: 55.5) | 50.0 | 1.50 | 2.00 | 3.00 | 4.00 | 200=100 | 0 | 1.20 | 20.5 | 0.30 | 1.90 |",
		"| mixed | 32 | 10 | 5.0 | 4.0 |", "200=8 503=2 | timeout 1 |",
		"**mixed**, per kind of request:", "| me | 8 |", "| login | 2 |",
		"| mixed | login | 64 | 7 |", "429=7",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}
