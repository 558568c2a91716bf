package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/authd/authd/bench/internal/result"
)

// fairSettings are the hashing settings the fair runs compare, the default
// first; BENCH_FAIR replaces them (settings separated by "|", each a list of
// VAR=value separated by spaces; an empty one is authd's defaults).
var fairSettings = []string{
	"",
	"HASH_NICE=19",
	"HASH_NICE=5",
	"HASH_NICE=0",
	"HASH_NICE=0 HASH_CONCURRENCY=1",
}

// fairReport is the section on fair CPU: for each setting, login and me
// alone and then together.
type fairReport struct {
	C, FloodC int
	Timeout   string // REQUEST_TIMEOUT: the deadline a login must be served in
	Rows      []fairRow
	// Storm is login alone with the first setting, from clients that send
	// their next login at once after a 503 instead of waiting Retry-After.
	Storm *result.Summary
	// StormCPU is authd's CPU in that run, in cores.
	StormCPU float64
}

// fairRow is one setting's three runs.
type fairRow struct {
	Setting     string // "" for the defaults
	MeSolo      result.Summary
	LoginSolo   result.Summary
	Me, Login   result.Summary // the mixed run's two classes
	MePeakRSS   float64        // MB, the mixed run
	MachineBusy float64        // cores, the mixed run
}

// MeShare and LoginShare are each class's throughput in the mixed run as a
// fraction of its own alone (2xx answers per second).
func (r fairRow) MeShare() float64    { return share(r.Me.OKRPS, r.MeSolo.OKRPS) }
func (r fairRow) LoginShare() float64 { return share(r.Login.OKRPS, r.LoginSolo.OKRPS) }

// Refused is the number of logins answered 503 in the mixed run.
func (r fairRow) Refused() int64 { return r.Login.Status["503"] }

// Met says whether the row meets the goal: each class at least half of its
// solo figure and me's p99 at most 25 ms.
func (r fairRow) Met() bool {
	return r.MeShare() >= 0.5 && r.LoginShare() >= 0.5 && r.Me.Latency.P99 <= 25
}

func share(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return part / whole
}

// fairSettingsFrom is BENCH_FAIR split, or the default list.
func fairSettingsFrom(v string) []string {
	if strings.TrimSpace(v) == "" {
		return fairSettings
	}
	var out []string
	for _, s := range strings.Split(v, "|") {
		out = append(out, strings.Join(strings.Fields(s), " "))
	}
	return out
}

// fairRuns restarts authd (RS256, per-client limits off) with each setting
// and runs login alone (BENCH_FLOOD_C clients), me alone (BENCH_C clients)
// and both at once (authload -scenario me -during login).
func (b *bench) fairRuns(ctx context.Context, rep *report) error {
	fr := &fairReport{C: b.cfg.C, FloodC: b.cfg.FloodC, Timeout: "10s"}
	rep.Fair = fr
	for _, setting := range b.cfg.Fair {
		name := fairName(setting)
		b.step("fair CPU: authd with " + name)
		if err := b.startAuthd(ctx, "RS256", "off", strings.Fields(setting)...); err != nil {
			return err
		}
		row := fairRow{Setting: setting}
		flood := strconv.Itoa(b.cfg.FloodC)
		// 64 accounts are enough to spread the logins; fewer keep each
		// run's untimed setup (logging them in for me) short.
		users := []string{"-users", strconv.Itoa(min(b.cfg.Users, 64))}
		runs := []struct {
			label string
			args  []string
			into  func(result.Result)
		}{
			{"login alone", []string{"-scenario", "login", "-c", flood, "-retry-after"}, func(r result.Result) { row.LoginSolo = r.Summary }},
			{"me alone", []string{"-scenario", "me"}, func(r result.Result) { row.MeSolo = r.Summary }},
			{"me and login", []string{"-scenario", "me", "-during", "login", "-during-c", flood, "-retry-after"}, func(r result.Result) {
				row.Me = r.Summary
				if r.During != nil {
					row.Login = r.During.Summary
				}
				if r.Server != nil {
					row.MePeakRSS = r.Server.PeakRSSMB
				}
				row.MachineBusy = r.MachineBusyCores
			}},
		}
		for _, run := range runs {
			res, err := b.loadResult(ctx, "fair, "+name+": "+run.label, append(users, run.args...)...)
			if err != nil {
				return err
			}
			run.into(res)
		}
		if err := b.stopAuthd(); err != nil {
			return err
		}
		fmt.Fprintf(b.stderr, "%s: me %.0f of %.0f req/s (%.0f%%, p99 %.1f ms), login %.1f of %.1f ok/s (%.0f%%, %d refused)\n",
			name, row.Me.OKRPS, row.MeSolo.OKRPS, 100*row.MeShare(), row.Me.Latency.P99,
			row.Login.OKRPS, row.LoginSolo.OKRPS, 100*row.LoginShare(), row.Refused())
		fr.Rows = append(fr.Rows, row)
	}
	if len(b.cfg.Fair) == 0 {
		return nil
	}
	b.step("fair CPU: logins from clients that ignore Retry-After, " + fairName(b.cfg.Fair[0]))
	if err := b.startAuthd(ctx, "RS256", "off", strings.Fields(b.cfg.Fair[0])...); err != nil {
		return err
	}
	res, err := b.loadResult(ctx, "fair, "+fairName(b.cfg.Fair[0])+": login alone, no Retry-After",
		"-users", strconv.Itoa(min(b.cfg.Users, 64)), "-scenario", "login", "-c", strconv.Itoa(b.cfg.FloodC))
	if err != nil {
		return err
	}
	fr.Storm = &res.Summary
	if res.Server != nil {
		fr.StormCPU = res.Server.CPUCores
	}
	return b.stopAuthd()
}

// fairName is how a setting is named in labels.
func fairName(setting string) string {
	if setting == "" {
		return "defaults"
	}
	return setting
}

// runFairOnly is benchrun -only fair: its runs alone, their section on stdout.
func runFairOnly(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) error {
	return runSection(ctx, cfg, root, "fair", stdout, stderr, (*bench).fairRuns, func(r *report) any { return r.Fair })
}
