package main

import (
	"fmt"
	"io"
	"math"

	"github.com/authd/authd/bench/internal/result"
)

// bigSuffix marks the label of a run repeated on the large database.
const bigSuffix = " (1M)"

// scaleRow compares the run labelled Label with the one labelled Label (1M).
type scaleRow struct {
	Run          string // the label, with "(2xx/s)" if the 2xx answers are compared
	Small, Big   float64
	Change       float64 // (Big/Small - 1) in %; NaN if Small is 0
	P99s, P99b   float64
	Within10, OK bool // |Change| ≤ 10 %; OK is false if Change is NaN
}

// okRate says whether a scenario is compared by its 2xx/s: login and
// register answer 503 when bcrypt is busy, and those answers are cheap.
func okRate(r result.Result) bool { return r.Scenario == "login" || r.Scenario == "register" }

func scaleRows(gs []*group) []scaleRow {
	var rows []scaleRow
	for _, g := range gs {
		b := find(gs, g.Label+bigSuffix)
		if b == nil {
			continue
		}
		s, l := g.Median(), b.Median()
		row := scaleRow{Run: g.Label, Small: s.RPS, Big: l.RPS, P99s: s.Latency.P99, P99b: l.Latency.P99}
		if okRate(s) || g.Label == labelLogin {
			row.Run += " (2xx/s)"
			row.Small, row.Big = s.OKRPS, l.OKRPS
		}
		row.Change = math.NaN()
		if row.Small > 0 {
			row.Change = (row.Big/row.Small - 1) * 100
			row.OK = true
			row.Within10 = math.Abs(row.Change) <= 10+1e-9
		}
		rows = append(rows, row)
	}
	return rows
}

// signedPercent is "+1.2 %", "-9.6 %", or "–" for NaN.
func signedPercent(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if math.Abs(v) < 0.05 {
		v = 0
	}
	return fmt.Sprintf("%+.1f %%", v)
}

// writeScale writes the Scale table if some label has a (1M) twin.
func writeScale(out io.Writer, gs []*group) {
	rows := scaleRows(gs)
	if len(rows) == 0 {
		return
	}
	fmt.Fprint(out, "\n### Scale\n\n")
	fmt.Fprint(out, "Scale: the same runs on a database with 1,000,000 more users and sessions (in this run):\n\n")
	fmt.Fprintln(out, "| run | small database req/s | 1M users + 1M sessions req/s | change | p99 small → 1M | within 10 %? |")
	fmt.Fprintln(out, "|---|--:|--:|--:|--:|---|")
	for _, r := range rows {
		within := "–"
		if r.OK {
			within = "no"
			if r.Within10 {
				within = "yes"
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %.1f → %.1f ms | %s |\n",
			r.Run, rate(r.Small), rate(r.Big), signedPercent(r.Change), r.P99s, r.P99b, within)
	}
}
