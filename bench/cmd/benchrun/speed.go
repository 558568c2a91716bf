package main

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"
)

// speedProbe times a fixed piece of CPU work on one core: SHA-256 over
// 16 MiB. The same work taking longer before one run than before another
// means the machine gave us less (a busy host, a slower core), whatever the
// CPU columns say: on a virtual machine another tenant's load does not show
// as a process of ours.
func speedProbe() time.Duration {
	buf := make([]byte, 1<<20)
	start := time.Now()
	for range 16 {
		sum := sha256.Sum256(buf)
		buf[0] = sum[0]
	}
	return time.Since(start)
}

// probeRun is the probe's time just before one run.
type probeRun struct {
	label string
	took  time.Duration
}

// slowBy is how much slower than the fastest probe a run's probe may be
// before the run is named as one on a slower machine.
const slowBy = 1.25

// speedNote says how steady the machine's speed was over the runs.
func speedNote(probes []probeRun) string {
	if len(probes) == 0 {
		return ""
	}
	times := make([]time.Duration, len(probes))
	for i, p := range probes {
		times[i] = p.took
	}
	slices.Sort(times)
	fastest, slowest, median := times[0], times[len(times)-1], times[(len(times)-1)/2]
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	var slow []string
	for _, p := range probes {
		if float64(p.took) > slowBy*float64(fastest) {
			slow = append(slow, fmt.Sprintf("%s (%s)", p.label, ms(p.took)))
		}
	}
	s := fmt.Sprintf("Before each run benchrun times a fixed piece of work on one core (SHA-256 over 16 MiB): over the %d runs it took from %s to %s, median %s.",
		len(probes), ms(fastest), ms(slowest), ms(median))
	if len(slow) == 0 {
		return s + fmt.Sprintf(" No run started on a machine more than %.0f %% slower than at its fastest.", 100*(slowBy-1))
	}
	return s + fmt.Sprintf(" **The machine's speed varied: %d runs started with the probe more than %.0f %% slower than at its fastest**, so their figures are low: %s.",
		len(slow), 100*(slowBy-1), strings.Join(slow, ", "))
}
