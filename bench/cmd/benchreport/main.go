// Command benchreport turns authload -json lines into the markdown tables
// of docs/benchmarks.md: a Targets table, the results, and a Scale table.
//
//	benchreport [-wrk LABEL=REQ/S]... [-cores N] [-rsa-sign-us F] [-bcrypt-ms F] [-startup-ms F] results.jsonl...
//
// Runs with the same label are repeats of one scenario: the report shows one
// row per label, in the order the labels first appear, with the figures of
// the median run (by req/s; of an even number, the lower of the two middle
// runs) and the range of req/s over the runs.
//
// A flag given an empty value (-bcrypt-ms "") counts as not given: the
// Targets rows that need it say "not measured".
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/authd/authd/bench/internal/result"
)

// inputs are the figures that do not come from the authload runs. A zero
// value means not measured.
type inputs struct {
	Cores     int     // the machine's cores
	RSASignUS float64 // CPU µs of one RS256 signature
	// RSAParallelUS is the wall µs per signature with every core signing
	// at once: what the cores deliver together, which on a shared machine
	// can be well short of Cores times one.
	RSAParallelUS float64
	ESSignUS      float64              // CPU µs of one ES256 signature
	EdSignUS      float64              // CPU µs of one EdDSA signature
	BcryptMS      float64              // ms of one bcrypt compare at the configured cost
	StartupMS     float64              // median ms from process start to /readyz answering 200
	Wrk           map[string][]float64 // label -> wrk's req/s, one per wrk run
}

func main() {
	in, files, err := parseArgs(os.Args[1:], os.Stderr)
	if err == flag.ErrHelp {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2) // the flag package has said why
	}
	var results []result.Result
	for _, name := range files {
		rs, err := read(name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchreport:", err)
			os.Exit(1)
		}
		results = append(results, rs...)
	}
	gs := groupRuns(results)
	for label := range in.Wrk {
		if find(gs, label) == nil {
			fmt.Fprintf(os.Stderr, "benchreport: -wrk %s=...: no run has that label\n", label)
		}
	}
	write(os.Stdout, results, in)
}

// parseArgs reads the flags, saying what is wrong on stderr; the rest of
// args are the files of results.
func parseArgs(args []string, stderr io.Writer) (inputs, []string, error) {
	in := inputs{Wrk: map[string][]float64{}}
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: benchreport [-wrk LABEL=REQ/S]... [-cores N] [-rsa-sign-us F] [-bcrypt-ms F] [-startup-ms F] results.jsonl...")
		fs.PrintDefaults()
	}
	fs.Func("wrk", "LABEL=REQ/S: wrk's figure for the run with this label, shown next to authload's (repeat it for several wrk runs: the median is shown)", func(s string) error {
		i := strings.LastIndex(s, "=")
		if i < 0 {
			return fmt.Errorf("want LABEL=REQ/S")
		}
		v, err := positive(s[i+1:])
		if err != nil {
			return err
		}
		in.Wrk[s[:i]] = append(in.Wrk[s[:i]], v)
		return nil
	})
	fs.Func("cores", "N: the machine's cores, for the signing and bcrypt ceilings", func(s string) error {
		if s == "" {
			in.Cores = 0
			return nil
		}
		n, err := strconv.Atoi(s)
		if err == nil && n <= 0 {
			err = fmt.Errorf("want a positive number, not %s", s)
		}
		in.Cores = n
		return err
	})
	optional := func(name, usage string, p *float64) {
		fs.Func(name, usage, func(s string) error {
			if s == "" {
				*p = 0
				return nil
			}
			v, err := positive(s)
			*p = v
			return err
		})
	}
	optional("rsa-sign-us", "F: CPU microseconds of one RS256 signature (go test -bench Sign/RS256 ./internal/token)", &in.RSASignUS)
	optional("rsa-parallel-us", "F: wall microseconds per RS256 signature with every core signing (go test -bench SignParallel/RS256 ./internal/token)", &in.RSAParallelUS)
	optional("es-sign-us", "F: CPU microseconds of one ES256 signature (go test -bench Sign/ES256 ./internal/token)", &in.ESSignUS)
	optional("ed-sign-us", "F: CPU microseconds of one EdDSA signature (go test -bench Sign/EdDSA ./internal/token)", &in.EdSignUS)
	optional("bcrypt-ms", "F: milliseconds of one bcrypt compare at the configured cost", &in.BcryptMS)
	optional("startup-ms", "F: median milliseconds from process start to /readyz answering 200", &in.StartupMS)
	err := fs.Parse(args)
	return in, fs.Args(), err
}

func positive(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if !(v > 0) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("want a positive number, not %s", s)
	}
	return v, nil
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

// group is the runs that share a label, in the order they were read.
type group struct {
	Label string
	Runs  []result.Result
	Med   int // index in Runs of the median run
}

// Median is the run whose figures stand for the group.
func (g *group) Median() result.Result { return g.Runs[g.Med] }

// label is the run's label, or its scenario if it has none.
func label(r result.Result) string {
	if r.Label != "" {
		return r.Label
	}
	return r.Scenario
}

// groupRuns groups the runs by label, in the order the labels first appear.
func groupRuns(rs []result.Result) []*group {
	var gs []*group
	byLabel := map[string]*group{}
	for _, r := range rs {
		l := label(r)
		g := byLabel[l]
		if g == nil {
			g = &group{Label: l}
			byLabel[l] = g
			gs = append(gs, g)
		}
		g.Runs = append(g.Runs, r)
	}
	for _, g := range gs {
		rps := make([]float64, len(g.Runs))
		for i, r := range g.Runs {
			rps[i] = r.RPS
		}
		g.Med = medianIndex(rps)
	}
	return gs
}

// find is the group with this label, or nil.
func find(gs []*group, label string) *group {
	for _, g := range gs {
		if g.Label == label {
			return g
		}
	}
	return nil
}

// medianIndex is the index of the median of vs: the middle one, or of an
// even number the lower of the two middle ones. Equal values keep their
// order. -1 if vs is empty.
func medianIndex(vs []float64) int {
	if len(vs) == 0 {
		return -1
	}
	idx := make([]int, len(vs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return vs[idx[a]] < vs[idx[b]] })
	return idx[(len(vs)-1)/2]
}

// rpsCell is the req/s column: the median run's req/s, the range over the
// runs if there are several, and wrk's median if given.
func rpsCell(g *group, wrk []float64) string {
	s := rate(g.Median().RPS)
	if n := len(g.Runs); n > 1 {
		lo, hi := g.Runs[0].RPS, g.Runs[0].RPS
		for _, r := range g.Runs[1:] {
			lo, hi = math.Min(lo, r.RPS), math.Max(hi, r.RPS)
		}
		s += fmt.Sprintf(" (%d runs: %s–%s)", n, rate(lo), rate(hi))
	}
	if len(wrk) > 0 {
		s += " (wrk: " + rate(wrk[medianIndex(wrk)])
		if len(wrk) > 1 {
			s += fmt.Sprintf(", %d runs", len(wrk))
		}
		s += ")"
	}
	return s
}

// noisyCores is the CPU of other work in a run (besides authd, authload,
// benchrun and PostgreSQL) above which its figures are marked low.
const noisyCores = 0.2

// noise is the paragraph that says whether other work took CPU from the
// runs: every run that had more than noisyCores of it, or none.
func noise(out io.Writer, rs []result.Result) {
	var noisy []string
	measured := 0
	for _, r := range rs {
		if r.OtherCPUCores == nil {
			continue
		}
		measured++
		if *r.OtherCPUCores > noisyCores {
			noisy = append(noisy, fmt.Sprintf("%s (%.2f cores)", label(r), *r.OtherCPUCores))
		}
	}
	switch {
	case measured == 0:
		fmt.Fprint(out, "Other work on the machine was not measured (authload -db-pid).\n\n")
	case len(noisy) == 0:
		fmt.Fprintf(out, "No run shared the machine with other work: in each, what the machine spent besides authd, authload, benchrun and PostgreSQL (*other CPU*) stayed at or under %.2f cores.\n\n", noisyCores)
	default:
		fmt.Fprintf(out, "**Noisy: %d of %d runs shared the machine with other work** (*other CPU*, besides authd, authload, benchrun and PostgreSQL, over %.2f cores), so their figures are low, not what this machine does: %s.\n\n",
			len(noisy), measured, noisyCores, strings.Join(noisy, ", "))
	}
}

func write(out io.Writer, rs []result.Result, in inputs) {
	gs := groupRuns(rs)

	noise(out, rs)
	fmt.Fprint(out, "### Targets\n\n")
	writeTargets(out, gs, in)

	fmt.Fprint(out, "\n### Results\n\n")
	if len(gs) > 0 && len(gs) < len(rs) {
		fmt.Fprint(out, "Runs repeated under one label are shown by their median run (by req/s; of an even number, the lower middle one), with the range of req/s over the runs.\n\n")
	}
	fmt.Fprintln(out, "| run | c | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors | authd CPU (cores) | authd peak RSS (MB) | authload CPU (cores) | PostgreSQL CPU (cores) | machine busy (cores) | other CPU (cores) |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|--:|--:|--:|--:|--:|--:|")
	for _, g := range gs {
		r := g.Median()
		cpu, rss := "–", "–"
		if s := r.Server; s != nil {
			cpu, rss = fmt.Sprintf("%.2f", s.CPUCores), fmt.Sprintf("%.1f", s.PeakRSSMB)
		}
		l := r.Latency
		fmt.Fprintf(out, "| %s | %d | %d | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s | %s | %s | %.2f | %s | %.2f | %s |\n",
			g.Label, r.Concurrency, r.Requests, rpsCell(g, in.Wrk[g.Label]), rate(r.OKRPS), l.P50, l.P90, l.P99, l.Max,
			r.StatusString(), errs(r.Summary), cpu, rss, r.ClientCPUCores, cores(r.DatabaseCPUCores), r.MachineBusyCores, cores(r.OtherCPUCores))
	}
	for _, g := range gs {
		if r := g.Median(); len(r.Kinds) > 0 {
			fmt.Fprintf(out, "\n**%s**, per kind of request%s:\n\n", g.Label, ofMedian(g))
			kinds(out, r.Kinds)
		}
	}
	var floods []*group
	for _, g := range gs {
		if g.Median().During != nil {
			floods = append(floods, g)
		}
	}
	if len(floods) > 0 {
		fmt.Fprintln(out, "\nBackground floods (-during), measured in the same window as the run they disturb:")
		fmt.Fprintln(out)
		fmt.Fprintln(out, "| run | flood | c | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors |")
		fmt.Fprintln(out, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|")
		for _, g := range floods {
			f := g.Median().During
			l := f.Latency
			fmt.Fprintf(out, "| %s | %s | %d | %d | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
				g.Label+ofMedian(g), f.Scenario, f.Concurrency, f.Requests, rate(f.RPS), rate(f.OKRPS), l.P50, l.P90, l.P99, l.Max,
				f.StatusString(), errs(f.Summary))
		}
	}

	writeScale(out, gs)
}

// cores is a CPU figure that may be missing.
func cores(v *float64) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *v)
}

// ofMedian says which run of a repeated label the figures are from.
func ofMedian(g *group) string {
	if len(g.Runs) < 2 {
		return ""
	}
	return fmt.Sprintf(" (the median of %d runs)", len(g.Runs))
}

func kinds(out io.Writer, ks map[string]result.Summary) {
	names := make([]string, 0, len(ks))
	for k := range ks {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if ks[names[i]].Requests != ks[names[j]].Requests {
			return ks[names[i]].Requests > ks[names[j]].Requests
		}
		return names[i] < names[j]
	})
	fmt.Fprintln(out, "| kind | requests | req/s | 2xx/s | p50 ms | p90 ms | p99 ms | max ms | status counts | errors |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|--:|--:|--:|---|---|")
	for _, k := range names {
		s := ks[k]
		l := s.Latency
		fmt.Fprintf(out, "| %s | %d | %s | %s | %.2f | %.2f | %.2f | %.2f | %s | %s |\n",
			k, s.Requests, rate(s.RPS), rate(s.OKRPS), l.P50, l.P90, l.P99, l.Max, s.StatusString(), errs(s))
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

// thousands is v rounded to a whole number, with thousands separators:
// 12345.6 -> "12,346".
func thousands(v float64) string {
	v = math.Round(v)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return sign + s
}

// rate formats a per-second figure: one decimal below 100, whole numbers
// with thousands separators from 100 on ("9.2", "898", "12,997").
func rate(v float64) string {
	if math.Abs(v) < 99.95 {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return thousands(v)
}
