package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"

	"github.com/authd/authd/bench/internal/result"
)

// printHuman writes the result as a small table.
func printHuman(out io.Writer, r *result.Result) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	row := func(name, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
	}
	fmt.Fprintf(tw, "== authload: %s ==\n", r.Label)
	row("scenario", "%s", r.Scenario)
	row("url", "%s", r.URL)
	row("concurrency", "%d", r.Concurrency)
	if r.XFF {
		row("clients", "one X-Forwarded-For address per virtual client (-xff)")
	}
	if r.ForgetDevice {
		row("devices", "logins sent no device_id cookie (-forget-device)")
	}
	if r.Rate > 0 && r.Scenario == "devicelogin" {
		row("open loop", "%g logins/s scheduled, each worker's user on its own schedule, latency from each one's intended start", r.Rate)
	} else if r.Rate > 0 {
		row("open loop", "%g requests/s scheduled, latency from each one's intended start; %d start times missed (every worker busy, a second's backlog)", r.Rate, r.Missed)
	}
	if r.Burst > 0 {
		row("burst", "%d requests at once, each once; the last answered after %.2fs", r.Burst, r.DurationS)
	} else {
		row("duration", "%.2fs measured, after %gs warmup", r.DurationS, r.WarmupS)
	}
	summaryRows(row, r.Summary)
	if l := r.Latency503; l != nil {
		row("503 latency ms", "p50 %.2f  p99 %.2f  max %.2f", l.P50, l.P99, l.Max)
	}
	if r.Relogins > 0 {
		row("relogins", "%d (refresh chains restarted after a 403)", r.Relogins)
	}
	for _, e := range r.OtherErrors {
		row("other error", "%s", e)
	}
	if s := r.Server; s != nil {
		exited := ""
		if s.Exited {
			exited = " (the process exited during the run)"
		}
		row("authd", "pid %d: peak RSS %.1f MB (VmHWM %.1f MB), CPU %.2f cores%s", s.PID, s.PeakRSSMB, s.VmHWMMB, s.CPUCores, exited)
	}
	row("authload CPU", "%.2f cores", r.ClientCPUCores)
	row("machine CPU", "%.2f cores busy (all processes: authd, authload, PostgreSQL, anything else)", r.MachineBusyCores)
	if r.DatabaseCPUCores != nil {
		row("PostgreSQL", "%.2f cores", *r.DatabaseCPUCores)
	}
	if r.OtherCPUCores != nil {
		row("other CPU", "%.2f cores (the machine busy with anything but authd, authload, its parent and PostgreSQL)", *r.OtherCPUCores)
	}
	tw.Flush()
	if len(r.Kinds) > 0 {
		fmt.Fprintln(out, "\nper kind of request:")
		kindTable(out, r.Kinds)
	}
	class := func(title string, f *result.Flood) {
		if f == nil {
			return
		}
		fmt.Fprintf(out, "\n%s of %s with %d workers (same window)\n", title, f.Scenario, f.Concurrency)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		row := func(name, format string, args ...any) {
			fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{name}, args...)...)
		}
		summaryRows(row, f.Summary)
		tw.Flush()
		if len(f.Kinds) > 0 {
			kindTable(out, f.Kinds)
		}
	}
	class("with: a second measured class", r.With)
	class("during: background flood", r.During)
	if len(r.Counters) > 0 {
		fmt.Fprintln(out, "\nauthd's counters over the measured window (-metrics-url):")
		for _, k := range slices.Sorted(maps.Keys(r.Counters)) {
			fmt.Fprintf(out, "  %s +%g\n", k, r.Counters[k])
		}
	}
	if r.Interrupted {
		fmt.Fprintln(out, "(interrupted)")
	}
}

func summaryRows(row func(string, string, ...any), s result.Summary) {
	row("requests", "%d", s.Requests)
	row("req/s", "%.1f (2xx: %.1f/s)", s.RPS, s.OKRPS)
	l := s.Latency
	row("latency ms", "p50 %.2f  p90 %.2f  p95 %.2f  p99 %.2f  max %.2f", l.P50, l.P90, l.P95, l.P99, l.Max)
	row("status", "%s", s.StatusString())
	row("errors", "%s", s.ErrorString())
}

func kindTable(out io.Writer, kinds map[string]result.Summary) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tstatus\terrors\t")
	for _, k := range kindNames {
		s, ok := kinds[k]
		if !ok {
			continue
		}
		l := s.Latency
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t%s\t\n",
			k, s.Requests, s.RPS, l.P50, l.P90, l.P99, l.Max, s.StatusString(), s.ErrorString())
	}
	tw.Flush()
}
