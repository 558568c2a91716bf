package main

import (
	"fmt"

	"github.com/authd/authd/bench/internal/result"
	"io"
	"math"
	"strconv"
	"strings"
)

// The labels of the runs the Targets table reads.
const (
	labelMe           = "me"
	labelRefresh      = "refresh"
	labelRefreshES    = "refresh (ES256)"
	labelRefreshEd    = "refresh (EdDSA)"
	labelLogin        = "login"
	labelMeDuringLog  = "me during login flood"
	labelRefreshJWT   = "refresh (jwt)"
	labelRefreshESJWT = "refresh (ES256, jwt)"
	labelRefreshEdJWT = "refresh (EdDSA, jwt)"
	labelFairMe       = "fair, defaults: me alone"
	labelFairLogin    = "fair, defaults: login alone"
	labelFairBoth     = "fair, defaults: me and login"
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
// each refresh signs one token (the access token; the refresh token is a MAC).
func signCeiling(in inputs) float64 { return float64(in.Cores) * 1e6 / in.RSASignUS }

// parallelSignCeiling is the refreshes per second the cores sign when all
// of them sign at once (measured, not assumed to scale).
func parallelSignCeiling(in inputs) float64 { return 1e6 / in.RSAParallelUS }

// oneSignatureCeiling is the refreshes per second the machine would do if
// a refresh of the two-signature run (JWT refresh tokens) had cost one
// signature less: the cores over the CPU the whole machine spent per
// refresh in that run, less one signature's. 0 if not known.
func oneSignatureCeiling(jwt result.Result, cores int, signUS float64) float64 {
	if jwt.RPS <= 0 || jwt.MachineBusyCores <= 0 || cores <= 0 || signUS <= 0 {
		return 0
	}
	perRefresh := jwt.MachineBusyCores/jwt.RPS - signUS/1e6
	if perRefresh <= 0 {
		return 0
	}
	return float64(cores) / perRefresh
}

// bcryptCeiling is the logins per second the machine's cores can hash.
func bcryptCeiling(in inputs) float64 { return float64(in.Cores) * 1000 / in.BcryptMS }

// targetRows are the rows of the Targets table.
func targetRows(gs []*group, in inputs) []row {
	rows := []row{
		meRow(gs),
		rsaRow(gs, in),
		ceilingRow(gs, in, "refresh, ES256", labelRefreshES, labelRefreshESJWT, in.ESSignUS),
	}
	if find(gs, labelRefreshEd) != nil {
		rows = append(rows, ceilingRow(gs, in, "refresh, EdDSA", labelRefreshEd, labelRefreshEdJWT, in.EdSignUS))
	}
	return append(rows, loginRow(gs, in), floodRow(gs), fairRow(gs), memoryRow(gs), startupRow(in))
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
	const target, goal = "refresh, RS256", "≥ 1.8 × the refresh with two signatures (JWT refresh tokens)"
	g, jwt := find(gs, labelRefresh), find(gs, labelRefreshJWT)
	switch {
	case g == nil:
		return missingRun(target, goal, labelRefresh)
	case jwt == nil:
		return missingRun(target, goal, labelRefreshJWT)
	}
	rps, before := g.Median().RPS, jwt.Median().RPS
	ratio := rps / before
	measured := fmt.Sprintf("%s req/s%s = %.2f × %s with JWT refresh tokens%s", rate(rps), medianNote(g), ratio, rate(before), medianNote(jwt))
	if in.Cores > 0 && in.RSASignUS > 0 {
		measured += fmt.Sprintf("; %d %% of the one-signature signing ceiling, %s", percent(rps, signCeiling(in)), rate(signCeiling(in)))
	}
	return row{target, goal, measured, verdict(ratio >= 1.8)}
}

// ceilingRow is a refresh target of at least 0.8 × the one-signature
// ceiling worked out from the two-signature run jwtLabel, and 4,000 req/s.
func ceilingRow(gs []*group, in inputs, target, label, jwtLabel string, signUS float64) row {
	const goal = "≥ 0.8 × the one-signature ceiling, and ≥ 4,000 req/s"
	g, jwt := find(gs, label), find(gs, jwtLabel)
	switch {
	case g == nil:
		return missingRun(target, goal, label)
	case jwt == nil:
		return missingRun(target, goal, jwtLabel)
	}
	rps := g.Median().RPS
	ceiling := oneSignatureCeiling(jwt.Median(), in.Cores, signUS)
	if ceiling == 0 {
		return row{target, goal, fmt.Sprintf("%s req/s%s; ceiling not known (-cores or the sign µs not given)", rate(rps), medianNote(g)), notMeasured}
	}
	return row{target, goal,
		fmt.Sprintf("%s req/s%s = %.2f × %s (%s with JWT refresh tokens%s, less one signature of %.1f µs)",
			rate(rps), medianNote(g), rps/ceiling, rate(ceiling), rate(jwt.Median().RPS), medianNote(jwt), signUS),
		verdict(rps >= 0.8*ceiling && rps >= 4000)}
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

// fairRow: logins and me at once keep half of what each does alone (the
// fair runs with authd's defaults), with me's p99 at most 25 ms.
func fairRow(gs []*group) row {
	const target, goal = "logins and me at once", "each ≥ 50 % of its figure alone, me p99 ≤ 25 ms"
	me, login, both := find(gs, labelFairMe), find(gs, labelFairLogin), find(gs, labelFairBoth)
	switch {
	case me == nil:
		return missingRun(target, goal, labelFairMe)
	case login == nil:
		return missingRun(target, goal, labelFairLogin)
	case both == nil || both.Median().During == nil:
		return missingRun(target, goal, labelFairBoth)
	}
	r := both.Median()
	meShare := r.OKRPS / me.Median().OKRPS
	loginShare := r.During.OKRPS / login.Median().OKRPS
	return row{target, goal,
		fmt.Sprintf("me %s of %s req/s (%d %%), p99 %.1f ms; logins %s of %s/s (%d %%), %d answered 503",
			rate(r.OKRPS), rate(me.Median().OKRPS), percent(r.OKRPS, me.Median().OKRPS), r.Latency.P99,
			rate(r.During.OKRPS), rate(login.Median().OKRPS), percent(r.During.OKRPS, login.Median().OKRPS), r.During.Status["503"]),
		verdict(meShare >= 0.5 && loginShare >= 0.5 && r.Latency.P99 <= 25)}
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
		notes = append(notes, fmt.Sprintf("one-signature signing ceiling = %d cores × 1,000,000 ÷ %s µs of CPU for one RS256 signature = %s refreshes/s",
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
		fmt.Fprintf(out, "\nA refresh signs one token (the access token; the refresh token is an HMAC), a login runs one bcrypt compare: %s. "+
			"The one-signature ceiling of ES256 and EdDSA is the cores over the CPU the whole machine spent per refresh with JWT refresh tokens (two signatures), less one signature.\n", strings.Join(notes, "; "))
	}
}
