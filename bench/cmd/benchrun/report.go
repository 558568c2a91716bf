package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// report is everything docs/benchmarks.md shows.
type report struct {
	Date        string // of the run, UTC
	Commit      string // git describe of the authd measured
	Repeat      int    // BENCH_REPEAT
	Machine     machine
	LoadAtStart string // the load averages when the run started
	Speed       string // how steady the machine's speed was over the runs (speedNote)

	BcryptCost int
	FloodC     int
	Warmup     string
	Duration   string
	Base       int // BENCH_BASE
	Users      int // BENCH_USERS

	LogLines   int    // lines authd logged over all the runs
	LogSummary string // the most frequent level and message pairs, uniq -c style
	LogErrors  string // the most frequent errors; "" if none

	Tables    string         // benchreport's Targets, Results and Scale tables
	Breakdown string         // profsplit's tables, one per profiled run
	Scale     *scale         // nil without BENCH_SCALE
	Mail      *mailReport    // nil with BENCH_MAIL=0
	Webhooks  *webhookReport // nil with BENCH_WEBHOOKS=0
	Fair      *fairReport    // nil without the fair runs
	Attack    *attackReport  // nil with BENCH_ATTACK=0
	OpenLoop  []openLoopRow  // me, refresh and login in the open loop

	Commands      []string // how each run was made, in order
	TokenBench    string   // go test -bench output of internal/token
	PasswordBench string   // go test -bench output of internal/password
	Wrk           string   // wrk's output; "" if wrk is not installed

	AuthloadOutput string // everything authload printed but its -json lines

	startupMS string // for benchreport -startup-ms; not shown as such
}

type machine struct {
	CPU        string
	Cores      int
	Memory     string
	Kernel     string
	Go         string
	PostgreSQL string
	Wrk        string
}

// scale is what the scale runs add to the report.
type scale struct {
	Rows     int    // users, and sessions, bulk-loaded
	Seed     string // what scaleseed printed while loading them
	Verdicts string // scaleseed -explain's one line per query
	Plans    string // scaleseed -explain's plans, markdown
}

//go:embed report.md.tmpl
var reportTemplate string

// renderReport writes the report from report.md.tmpl.
func renderReport(w io.Writer, r report) error {
	t, err := parseReport()
	if err != nil {
		return err
	}
	if err := t.Execute(w, r); err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	return nil
}

// renderSection writes one section of the report alone (benchrun -only):
// the template name, with data.
func renderSection(w io.Writer, name string, data any) error {
	t, err := parseReport()
	if err != nil {
		return err
	}
	if err := t.ExecuteTemplate(w, name, data); err != nil {
		return fmt.Errorf("report template: %w", err)
	}
	return nil
}

func parseReport() (*template.Template, error) {
	t, err := template.New("report").Option("missingkey=error").Funcs(template.FuncMap{
		"indent":    indent,
		"thousands": thousands,
		"pct":       func(f float64) float64 { return 100 * f },
		"secs":      func(ms float64) float64 { return ms / 1000 },
		"statuses":  statusLine,
		"verdict": func(met bool) string {
			if met {
				return "met"
			}
			return "**not met**"
		},
	}).Parse(reportTemplate)
	if err != nil {
		return nil, fmt.Errorf("report template: %w", err)
	}
	return t, nil
}

// writeReport renders the report to a temporary file next to out, then
// renames it: a failed run leaves the last report whole.
func writeReport(out string, r report) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := renderReport(&b, r); err != nil {
		return err
	}
	if err := os.WriteFile(out+".tmp", b.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(out+".tmp", out)
}

// indent puts two spaces before every line of s, for a code block inside a
// list item.
func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}

// thousands is n with thousands separators: 1000000 -> "1,000,000".
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// machine describes the machine the benchmark ran on.
func (b *bench) machine(ctx context.Context, pgBin string) machine {
	m := machine{Cores: runtime.NumCPU(), CPU: "unknown", Memory: "unknown", Kernel: "unknown",
		Go: "unknown", PostgreSQL: "unknown", Wrk: "not installed"}
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(f)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if f, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(f)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					m.Memory = fmt.Sprintf("%.1f GiB", kb/1048576)
				}
			}
		}
	}
	first := func(dir, name string, args ...string) string {
		cmd := b.command(ctx, dir, name, args...)
		cmd.Stderr = nil
		out, _ := cmd.CombinedOutput() // wrk -v exits 1
		line, _, _ := strings.Cut(string(out), "\n")
		return strings.TrimSpace(line)
	}
	if s := first(b.work, "uname", "-sr"); s != "" {
		m.Kernel = s
	}
	if f := strings.Fields(first(b.root, "go", "version")); len(f) >= 4 {
		m.Go = f[2] + " " + f[3]
	}
	if s := first(b.work, filepath.Join(pgBin, "postgres"), "--version"); s != "" {
		m.PostgreSQL = s
	}
	if _, err := exec.LookPath("wrk"); err == nil {
		m.Wrk = first(b.work, "wrk", "-v")
	}
	return m
}

// loadAverage is the 1, 5 and 15 minute load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

var (
	levelMsg = regexp.MustCompile(`"level":"[A-Z]*","msg":"[^"]*"`)
	errorMsg = regexp.MustCompile(`"error":"[^"]*"`)
)

// summarizeLog counts authd's log lines and its most frequent level and
// message pairs (10) and errors (5), each line as uniq -c writes it.
func summarizeLog(name string) (lines int, summary, errs string, err error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, "", "", err
	}
	defer f.Close()
	byMsg, byErr := map[string]int{}, map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		line := sc.Text()
		for _, m := range levelMsg.FindAllString(line, -1) {
			byMsg[m]++
		}
		if strings.Contains(line, `"level":"ERROR"`) {
			for _, m := range errorMsg.FindAllString(line, -1) {
				byErr[m]++
			}
		}
	}
	return lines, topCounts(byMsg, 10), topCounts(byErr, 5), sc.Err()
}

// topCounts is the n most frequent keys, most frequent first, as
// "   2810 key" lines.
func topCounts(counts map[string]int, n int) string {
	keys := slices.Collect(maps.Keys(counts))
	slices.SortFunc(keys, func(a, b string) int {
		return cmp.Or(cmp.Compare(counts[b], counts[a]), cmp.Compare(a, b))
	})
	var lines []string
	for _, k := range keys[:min(n, len(keys))] {
		lines = append(lines, fmt.Sprintf("%7d %s", counts[k], k))
	}
	return strings.Join(lines, "\n")
}

// medianNS is the median ns/op of the benchmark lines NAME-<procs> in the
// output of go test -bench, or 0 if there are none.
func medianNS(name, out string) float64 {
	var vs []float64
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 4 || f[3] != "ns/op" {
			continue
		}
		procs, ok := strings.CutPrefix(f[0], name+"-")
		if _, err := strconv.Atoi(procs); !ok || err != nil {
			continue
		}
		if v, err := strconv.ParseFloat(f[2], 64); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[(len(vs)+1)/2-1]
}

// scaled is v/div with one decimal, or "" for 0 (benchreport: not measured).
func scaled(v, div float64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatFloat(v/div, 'f', 1, 64)
}
