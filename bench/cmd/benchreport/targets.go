package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// The labels of the runs the Targets table reads.
const (
	labelMe          = "me"
	labelRefresh     = "refresh"
	labelRefreshES   = "refresh (ES256)"
	labelRefreshEd   = "refresh (EdDSA)"
	labelLogin       = "login"
	labelMeDuringLog = "me during login flood"
)

const (
	met         = "met"
	notMet      = "not met"
	notMeasured = "not measured"
)

// row is one line of the Targets table.
type row struct {
	Target, Goal, Measured, Verdict string
}

func verdict(ok bool) string {
	if ok {
		return met
	}
	return notMet
}

// missingRun is the row for a target whose run is not in the results.
func missingRun(target, goal, label string) row {
	return row{target, goal, fmt.Sprintf("not measured (no run labelled %q)", label), notMeasured}
}

// medianNote says that a label's figures are the median of several runs.
func medianNote(g *group) string {
	if len(g.Runs) < 2 {
		return ""
	}
	return fmt.Sprintf(" (median of %d runs)", len(g.Runs))
}

// percent is 100·v/of, rounded down, so that the percentage shown agrees
// with the verdict (79.9 % shows as 79 %, not met).
func percent(v, of float64) int {
	return int(math.Floor(100*v/of + 1e-9))
}

// missingFlags lists the flags whose value is zero.
func missingFlags(flags ...any) string {
	var names []string
	for i := 0; i < len(flags); i += 2 {
		switch v := flags[i+1].(type) {
		case int:
			if v == 0 {
				names = append(names, flags[i].(string))
			}
		case float64:
			if v == 0 {
				names = append(names, flags[i].(string))
			}
		}
	}
	return strings.Join(names, ", ")
}

// signCeiling is the refreshes per second the machine's cores can sign:
// each refresh signs two tokens (access and refresh).
func signCeiling(in inputs) float64 { return float64(in.Cores) * 1e6 / (2 * in.RSASignUS) }

// parallelSignCeiling is the refreshes per second the cores sign when all
// of them sign at once (measured, not assumed to scale).
func parallelSignCeiling(in inputs) float64 { return 1e6 / (2 * in.RSAParallelUS) }

// bcryptCeiling is the logins per second the machine's cores can hash.
func bcryptCeiling(in inputs) float64 { return float64(in.Cores) * 1000 / in.BcryptMS }

// targetRows are the rows of the Targets table.
func targetRows(gs []*group, in inputs) []row {
	rows := []row{
		meRow(gs),
		rsaRow(gs, in),
		rateRow(gs, "refresh, ES256", labelRefreshES, 4000),
	}
	if find(gs, labelRefreshEd) != nil {
		rows = append(rows, rateRow(gs, "refresh, EdDSA", labelRefreshEd, 4000))
	}
	return append(rows, loginRow(gs, in), floodRow(gs), memoryRow(gs), startupRow(in))
}

func meRow(gs []*group) row {
	const target, goal = "me", "≥ 11,000 req/s and p99 ≤ 10 ms"
	g := find(gs, labelMe)
	if g == nil {
		return missingRun(target, goal, labelMe)
	}
	r := g.Median()
	return row{target, goal,
		fmt.Sprintf("%s req/s, p99 %.1f ms%s", rate(r.RPS), r.Latency.P99, medianNote(g)),
		verdict(r.RPS >= 11000 && r.Latency.P99 <= 10)}
}

func rsaRow(gs []*group, in inputs) row {
	const target, goal = "refresh, RS256", "≥ 80 % of the signing ceiling"
	g := find(gs, labelRefresh)
	if g == nil {
		return missingRun(target, goal, labelRefresh)
	}
	rps := g.Median().RPS
	if missing := missingFlags("-cores", in.Cores, "-rsa-sign-us", in.RSASignUS); missing != "" {
		return row{target, goal,
			fmt.Sprintf("%s req/s%s; ceiling not known (%s not given)", rate(rps), medianNote(g), missing),
			notMeasured}
	}
	ceiling := signCeiling(in)
	p := percent(rps, ceiling)
	measured := fmt.Sprintf("%s req/s = %d %% of %s%s", rate(rps), p, rate(ceiling), medianNote(g))
	if in.RSAParallelUS > 0 {
		pc := parallelSignCeiling(in)
		measured += fmt.Sprintf("; %d %% of %s, what the cores sign when both sign at once", percent(rps, pc), rate(pc))
	}
	return row{target, goal, measured, verdict(p >= 80)}
}

// rateRow is a target of at least goalRPS req/s for the run labelled label.
func rateRow(gs []*group, target, label string, goalRPS float64) row {
	goal := fmt.Sprintf("≥ %s req/s", rate(goalRPS))
	g := find(gs, label)
	if g == nil {
		return missingRun(target, goal, label)
	}
	rps := g.Median().RPS
	return row{target, goal, fmt.Sprintf("%s req/s%s", rate(rps), medianNote(g)), verdict(rps >= goalRPS)}
}

func loginRow(gs []*group, in inputs) row {
	const target, goal = "login", "≥ 90 % of the bcrypt ceiling"
	g := find(gs, labelLogin)
	if g == nil {
		return missingRun(target, goal, labelLogin)
	}
	ok := g.Median().OKRPS // 503s (busy) are not logins
	if missing := missingFlags("-cores", in.Cores, "-bcrypt-ms", in.BcryptMS); missing != "" {
		return row{target, goal,
			fmt.Sprintf("%s logins/s%s; ceiling not known (%s not given)", rate(ok), medianNote(g), missing),
			notMeasured}
	}
	ceiling := bcryptCeiling(in)
	p := percent(ok, ceiling)
	return row{target, goal,
		fmt.Sprintf("%s logins/s = %d %% of %s%s", rate(ok), p, rate(ceiling), medianNote(g)),
		verdict(p >= 90)}
}

func floodRow(gs []*group) row {
	const goal = "p99 ≤ 25 ms"
	g := find(gs, labelMeDuringLog)
	if g == nil {
		return missingRun("me during a 64-client login flood", goal, labelMeDuringLog)
	}
	r := g.Median()
	c := 64
	if r.During != nil && r.During.Concurrency > 0 {
		c = r.During.Concurrency
	}
	return row{fmt.Sprintf("me during a %d-client login flood", c), goal,
		fmt.Sprintf("p99 %.1f ms (%s req/s)%s", r.Latency.P99, rate(r.RPS), medianNote(g)),
		verdict(r.Latency.P99 <= 25)}
}

func memoryRow(gs []*group) row {
	const target, goal, limitMB = "memory", "peak RSS ≤ 40 MB in every run", 40.0
	peak, where, without := -1.0, "", 0
	for _, g := range gs {
		for i, r := range g.Runs {
			if r.Server == nil {
				without++
				continue
			}
			if r.Server.PeakRSSMB > peak {
				peak, where = r.Server.PeakRSSMB, g.Label
				if len(g.Runs) > 1 {
					where += fmt.Sprintf(", run %d of %d", i+1, len(g.Runs))
				}
			}
		}
	}
	if peak < 0 {
		return row{target, goal, "not measured (no run has the server's figures: authload -pid)", notMeasured}
	}
	m := fmt.Sprintf("%.1f MB (%s)", peak, where)
	v := verdict(peak <= limitMB)
	if without > 0 {
		runs := "runs"
		if without == 1 {
			runs = "run"
		}
		m += fmt.Sprintf("; %d %s without the server's figures", without, runs)
		if v == met {
			v = notMeasured // not known for every run
		}
	}
	return row{target, goal, "max " + m, v}
}

func startupRow(in inputs) row {
	const target, goal = "start-up", "ready ≤ 100 ms after start"
	if in.StartupMS == 0 {
		return row{target, goal, "not measured (-startup-ms not given)", notMeasured}
	}
	return row{target, goal, fmt.Sprintf("%.1f ms", in.StartupMS), verdict(in.StartupMS <= 100)}
}

// writeTargets writes the Targets table and how its ceilings were worked out.
func writeTargets(out io.Writer, gs []*group, in inputs) {
	fmt.Fprintln(out, "| target | goal | measured | verdict |")
	fmt.Fprintln(out, "|---|---|---|---|")
	for _, r := range targetRows(gs, in) {
		fmt.Fprintf(out, "| %s | %s | %s | %s |\n", r.Target, r.Goal, r.Measured, r.Verdict)
	}
	var notes []string
	if in.Cores > 0 && in.RSASignUS > 0 {
		notes = append(notes, fmt.Sprintf("signing ceiling = %d cores × 1,000,000 ÷ (2 signatures × %s µs of CPU for one RS256 signature) = %s refreshes/s",
			in.Cores, strconv.FormatFloat(in.RSASignUS, 'f', -1, 64), rate(signCeiling(in))))
	}
	if in.RSAParallelUS > 0 {
		notes = append(notes, fmt.Sprintf("with every core signing at once one RS256 signature took %s µs of wall time, so the cores together sign %s refreshes/s",
			strconv.FormatFloat(in.RSAParallelUS, 'f', -1, 64), rate(parallelSignCeiling(in))))
	}
	if in.Cores > 0 && in.BcryptMS > 0 {
		notes = append(notes, fmt.Sprintf("bcrypt ceiling = %d cores × 1,000 ÷ %.1f ms for one bcrypt compare = %s logins/s",
			in.Cores, in.BcryptMS, rate(bcryptCeiling(in))))
	}
	if len(notes) > 0 {
		fmt.Fprintf(out, "\nA refresh signs two tokens (access and refresh), a login runs one bcrypt compare: %s.\n", strings.Join(notes, "; "))
	}
}
