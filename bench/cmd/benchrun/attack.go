package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

// The credential-stuffing runs (issue 24): known-device users logging in
// and clients on /me, without a flood, then under a flood of wrong
// passwords from many addresses with the known devices' hashing lane on
// (authd's default) and off.
const (
	attackDevices = 4     // known-device users
	attackRate    = 1.0   // logins a second of each
	attackMe      = 8     // clients on /me
	attackAddrs   = 10000 // the flood's addresses
	attackSeeded  = 64    // seeded accounts the runs use (at most BENCH_USERS)
	// laneOff is the setting of the run without the lane: no hashing slots
	// reserved for known devices.
	laneOff = "HASH_KNOWN_DEVICE_SHARE=0"
	// The targets: known-device logins under the flood at least 99 %
	// successful, their p99 at most twice that without the flood, and /me's
	// p99 under 25 ms.
	attackSuccessGoal = 0.99
	attackP99Factor   = 2
	attackMeP99Goal   = 25.0
)

// attackReport is the section on credential stuffing.
type attackReport struct {
	Devices, Me, FloodC, Addrs, Seeded int
	Rate                               float64 // logins a second of each known-device user
	Duration                           string  // each run's measured window
	LaneOff                            string  // the setting of the run without the lane
	Runs                               []attackRun
}

// attackRun is one of the three runs.
type attackRun struct {
	Label   string
	Setting string          // authd's settings beyond the limits-on ones; "" for none
	Login   result.Summary  // the known-device logins
	Me      result.Summary  // the /me clients
	Flood   *result.Summary // the flood's answers; nil without it
	// Counters is how much authd's counters grew over the measured window
	// (authload -metrics-url), by series; nil if it could not read them.
	Counters    map[string]float64
	CPU         float64  // authd's, in cores
	MachineBusy float64  // the whole machine's, in cores
	Other       *float64 // the machine's besides authd, authload, benchrun and PostgreSQL
}

// OtherCPU is Other as the table shows it.
func (r attackRun) OtherCPU() string {
	if r.Other == nil {
		return "–"
	}
	return fmt.Sprintf("%.2f", *r.Other)
}

// Success is the share of the known-device logins answered 200.
func (r attackRun) Success() float64 {
	if r.Login.Requests == 0 {
		return 0
	}
	return float64(r.Login.Status["200"]) / float64(r.Login.Requests)
}

// Checks is the password hashes authd gave a slot in the window.
func (r attackRun) Checks() float64 { return r.Counters["authd_password_hash_wait_seconds_count"] }

// FloodChecks is the wrong passwords authd compared in the window
// (authd_logins_total with outcome bad_credentials): the flood's share of
// the hashing, since every known-device login has the right password.
func (r attackRun) FloodChecks() float64 {
	return r.Counters[`authd_logins_total{outcome="bad_credentials"}`]
}

// Outcomes is authd_logins_total over the window, by outcome.
func (r attackRun) Outcomes() string { return seriesLine(r.Counters, "authd_logins_total", "outcome") }

// Throttled is authd_throttled_total over the window, by what was limited.
func (r attackRun) Throttled() string {
	if s := seriesLine(r.Counters, "authd_throttled_total", "by"); s != "" {
		return s
	}
	return "none"
}

// seriesLine is "bad_credentials: 180, success: 20": the series of metric
// in counters, each named by the value of its label, largest first.
func seriesLine(counters map[string]float64, metric, label string) string {
	type kv struct {
		k string
		v float64
	}
	var kvs []kv
	for _, series := range slices.Sorted(maps.Keys(counters)) {
		rest, ok := strings.CutPrefix(series, metric+"{")
		if !ok {
			continue
		}
		name := strings.Trim(strings.TrimPrefix(strings.TrimSuffix(rest, "}"), label+"="), `"`)
		kvs = append(kvs, kv{name, counters[series]})
	}
	slices.SortStableFunc(kvs, func(a, b kv) int {
		switch {
		case a.v > b.v:
			return -1
		case a.v < b.v:
			return 1
		}
		return 0
	})
	var parts []string
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%s: %.0f", e.k, e.v))
	}
	return strings.Join(parts, ", ")
}

// Often is how often each known-device user logs in, in words.
func (a *attackReport) Often() string {
	if a.Rate == 1 {
		return "once a second"
	}
	return fmt.Sprintf("%g times a second", a.Rate)
}

// TotalRate is the known-device logins a second, all users together
// (authload -rate).
func (a *attackReport) TotalRate() float64 { return a.Rate * float64(a.Devices) }

// Bound is the known-device p99 the flooded runs must keep to: twice that
// of the run without the flood.
func (a *attackReport) Bound() float64 {
	for _, r := range a.Runs {
		if r.Flood == nil {
			return attackP99Factor * r.Login.Latency.P99
		}
	}
	return 0
}

// Flooded are the runs with the flood, for the targets.
func (a *attackReport) Flooded() []attackTarget {
	var ts []attackTarget
	for _, r := range a.Runs {
		if r.Flood != nil {
			ts = append(ts, attackTarget{attackRun: r, Bound: a.Bound()})
		}
	}
	return ts
}

// attackTarget is a flooded run against the targets.
type attackTarget struct {
	attackRun
	Bound float64 // the p99 bound, ms
}

func (t attackTarget) SuccessMet() bool { return t.Success() >= attackSuccessGoal }
func (t attackTarget) P99Met() bool     { return t.Bound > 0 && t.Login.Latency.P99 <= t.Bound }
func (t attackTarget) MeMet() bool      { return t.Me.Requests > 0 && t.Me.Latency.P99 < attackMeP99Goal }

// attackRuns restarts authd (RS256, per-client limits on with
// TRUSTED_PROXIES=127.0.0.1) for each of the three runs: the known-device
// users and the /me clients alone, then with the flood, lane on and off.
func (b *bench) attackRuns(ctx context.Context, rep *report) error {
	d, err := time.ParseDuration(b.cfg.Duration)
	if err != nil {
		return err
	}
	// Twice the other runs' window: at one login a second each, the
	// known-device users need it for their percentiles.
	window := (2 * d).String()
	seeded := min(b.cfg.Users, attackSeeded)
	ar := &attackReport{Devices: attackDevices, Me: attackMe, FloodC: b.cfg.FloodC, Addrs: attackAddrs, Seeded: seeded,
		Rate: attackRate, Duration: window, LaneOff: laneOff}
	rep.Attack = ar
	load := []string{"-scenario", "devicelogin", "-c", strconv.Itoa(attackDevices),
		"-rate", strconv.FormatFloat(ar.TotalRate(), 'f', -1, 64),
		"-with", "me", "-with-c", strconv.Itoa(attackMe), "-xff", "-users", strconv.Itoa(seeded), "-d", window}
	flood := []string{"-during", "stuffing", "-during-c", strconv.Itoa(b.cfg.FloodC), "-stuff-addrs", strconv.Itoa(attackAddrs)}
	for _, run := range []struct {
		label, setting string
		flood          bool
	}{
		{"no flood", "", false},
		{"flood, lane on", "", true},
		{"flood, lane off", laneOff, true},
	} {
		b.step("credential stuffing: " + run.label)
		if err := b.startAuthd(ctx, "RS256", "on", strings.Fields(run.setting)...); err != nil {
			return err
		}
		args := slices.Clone(load)
		if run.flood {
			args = append(args, flood...)
		}
		args = append(args, "-metrics-url", fmt.Sprintf("http://127.0.0.1:%d/metrics", b.authd.mport))
		res, err := b.loadResult(ctx, "credential stuffing, "+run.label, args...)
		if err != nil {
			return err
		}
		if err := b.stopAuthd(); err != nil {
			return err
		}
		r := attackRun{Label: run.label, Setting: run.setting, Login: res.Summary, Counters: res.Counters,
			MachineBusy: res.MachineBusyCores, Other: res.OtherCPUCores}
		if res.With != nil {
			r.Me = res.With.Summary
		}
		if res.During != nil {
			r.Flood = &res.During.Summary
		}
		if res.Server != nil {
			r.CPU = res.Server.CPUCores
		}
		fmt.Fprintf(b.stderr, "%s: known-device logins %d, %.1f%% successful, p50 %.1f ms, p99 %.1f ms; me %.0f req/s, p99 %.2f ms; password checks %.0f\n",
			run.label, r.Login.Requests, 100*r.Success(), r.Login.Latency.P50, r.Login.Latency.P99, r.Me.OKRPS, r.Me.Latency.P99, r.Checks())
		ar.Runs = append(ar.Runs, r)
	}
	return nil
}

// runAttackOnly is benchrun -only attack: its runs alone, their section on stdout.
func runAttackOnly(ctx context.Context, cfg config, root string, stdout, stderr io.Writer) error {
	return runSection(ctx, cfg, root, "attack", stdout, stderr, (*bench).attackRuns, func(r *report) any { return r.Attack })
}
