// Command benchreport turns authload -json lines into the markdown tables
// of docs/benchmarks.md.
//
//	benchreport [-wrk LABEL=REQ/S] results.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/authd/authd/bench/internal/result"
)

func main() {
	wrk := map[string]string{}
	flag.Func("wrk", "LABEL=REQ/S: wrk's figure for the run with this label, shown next to authload's", func(s string) error {
		label, rps, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want LABEL=REQ/S")
		}
		wrk[label] = rps
		return nil
	})
	flag.Parse()
	var results []result.Result
	for _, name := range flag.Args() {
		rs, err := read(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		results = append(results, rs...)
	}
	write(os.Stdout, results, wrk)
}

func read(name string) ([]result.Result, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []result.Result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r result.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}

func write(out io.Writer, rs []result.Result, wrk map[string]string) {
	fmt.Fprintln(out, "| run | c | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors | authd CPU (cores) | authd peak RSS (MB) | authload CPU (cores) | machine busy (cores) |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|--:|--:|")
	for _, r := range rs {
		cpu, rss := "–", "–"
		if s := r.Server; s != nil {
			cpu, rss = fmt.Sprintf("%.2f", s.CPUCores), fmt.Sprintf("%.1f", s.PeakRSSMB)
		}
		rps := fmt.Sprintf("%.1f", r.RPS)
		if w, ok := wrk[r.Label]; ok {
			rps += fmt.Sprintf(" (wrk: %s)", w)
		}
		l := r.Latency
		fmt.Fprintf(out, "| %s | %d | %d | %s | %.1f | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %.2f | %.2f |\n",
			r.Label, r.Concurrency, r.Requests, rps, r.OKRPS, l.P50, l.P90, l.P99, l.Max,
			r.StatusString(), errs(r.Summary), cpu, rss, r.ClientCPUCores, r.MachineBusyCores)
	}
	for _, r := range rs {
		if len(r.Kinds) > 0 {
			fmt.Fprintf(out, "\n**%s**, per kind of request:\n\n", r.Label)
			kinds(out, r.Kinds)
		}
	}
	var floods []result.Result
	for _, r := range rs {
		if r.During != nil {
			floods = append(floods, r)
		}
	}
	if len(floods) > 0 {
		fmt.Fprintln(out, "\nBackground floods (-during), measured in the same window as the run they disturb:")
		fmt.Fprintln(out)
		fmt.Fprintln(out, "| run | flood | c | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors |")
		fmt.Fprintln(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
		for _, r := range floods {
			f := r.During
			l := f.Latency
			fmt.Fprintf(out, "| %s | %s | %d | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
				r.Label, f.Scenario, f.Concurrency, f.Requests, f.RPS, f.OKRPS, l.P50, l.P90, l.P99, l.Max,
				f.StatusString(), errs(f.Summary))
		}
	}
}

func kinds(out io.Writer, ks map[string]result.Summary) {
	names := make([]string, 0, len(ks))
	for k := range ks {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return ks[names[i]].Requests > ks[names[j]].Requests })
	fmt.Fprintln(out, "| kind | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|")
	for _, k := range names {
		s := ks[k]
		l := s.Latency
		fmt.Fprintf(out, "| %s | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
			k, s.Requests, s.RPS, s.OKRPS, l.P50, l.P90, l.P99, l.Max, s.StatusString(), errs(s))
	}
}

// errs is "0", or the non-zero error counts.
func errs(s result.Summary) string {
	if s.ErrorCount() == 0 {
		return "0"
	}
	var parts []string
	for _, name := range result.ErrorKinds {
		if n := s.Errors[name]; n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}
