package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
func (b *bench) openLoopRuns(ctx context.Context) error {
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
	return nil
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
