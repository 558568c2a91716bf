package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/authd/authd/bench/internal/result"
)

// openLoadShares are the arrival rates of the open-loop runs, as shares of
// each scenario's closed-loop capacity.
var openLoadShares = []float64{0.5, 0.9}

// openLoopRuns runs me, refresh and login in authload's open loop (-rate)
// at each share of their closed-loop capacity (the median ok req/s of the
// runs labelled me, refresh and login so far), so that latency is counted
// from each request's intended start, as users see it.
func (b *bench) openLoopRuns(ctx context.Context, rep *report) error {
	c := min(4*b.cfg.C, b.cfg.Users) // a refresh chain per worker
	for _, scenario := range []string{"me", "refresh", "login"} {
		capacity := medianOK(b.results.Bytes(), scenario)
		if capacity <= 0 {
			return fmt.Errorf("open loop: no closed-loop figure for %s", scenario)
		}
		for _, share := range openLoadShares {
			rate := capacity * share
			if rate < 1 {
				rate = 1
			}
			rate = float64(int(rate*10)) / 10
			label := fmt.Sprintf("%s, open loop at %.0f%% of capacity", scenario, share*100)
			args := []string{"-scenario", scenario, "-rate", strconv.FormatFloat(rate, 'f', -1, 64), "-c", strconv.Itoa(c)}
			if err := b.load(ctx, label, false, args...); err != nil {
				return err
			}
		}
	}
	rep.OpenLoop = openLoopTable(b.results.Bytes())
	return nil
}

// openLoopRow is one scenario: its closed-loop figures and those at each
// share of its capacity in the open loop.
type openLoopRow struct {
	Scenario string
	Closed   result.Result
	Open     []result.Result // one per openLoadShares, in order
}

// openLoopTable picks the runs of the open-loop section from results: per
// scenario its median closed-loop run and its open-loop runs.
func openLoopTable(results []byte) []openLoopRow {
	var rows []openLoopRow
	for _, scenario := range []string{"me", "refresh", "login"} {
		row := openLoopRow{Scenario: scenario}
		var closed []result.Result
		sc := bufio.NewScanner(bytes.NewReader(results))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r result.Result
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			switch {
			case r.Label == scenario:
				closed = append(closed, r)
			case r.Scenario == scenario && r.Rate > 0:
				row.Open = append(row.Open, r)
			}
		}
		if len(closed) == 0 || len(row.Open) == 0 {
			continue
		}
		slices.SortFunc(closed, func(a, b result.Result) int { return int(a.OKRPS - b.OKRPS) })
		row.Closed = closed[len(closed)/2]
		rows = append(rows, row)
	}
	return rows
}

// openLoopOnly is benchrun -only openloop's runs: authd (RS256, limits
// off), one closed-loop run of me, refresh and login for their capacity,
// then the open-loop runs.
func (b *bench) openLoopOnly(ctx context.Context, rep *report) error {
	b.step("authd with RS256 keys, per-client limits off")
	if err := b.startAuthd(ctx, "RS256", "off"); err != nil {
		return err
	}
	for _, scenario := range []string{"me", "refresh", "login"} {
		if err := b.load(ctx, scenario, false, "-scenario", scenario); err != nil {
			return err
		}
	}
	if err := b.openLoopRuns(ctx, rep); err != nil {
		return err
	}
	return b.stopAuthd()
}

// runOpenLoopOnly is benchrun -only openloop: its runs alone, their
// section on stdout.
func runOpenLoopOnly(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) error {
	return runSection(ctx, cfg, root, "openloop", stdout, stderr, (*bench).openLoopOnly, func(r *report) any { return r.OpenLoop })
}

// medianOK is the median 2xx rate of the authload -json lines in results
// whose label is label.
func medianOK(results []byte, label string) float64 {
	var rates []float64
	sc := bufio.NewScanner(bytes.NewReader(results))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r result.Result
		if json.Unmarshal(sc.Bytes(), &r) == nil && r.Label == label {
			rates = append(rates, r.OKRPS)
		}
	}
	if len(rates) == 0 {
		return 0
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}
