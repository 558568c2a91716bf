// Package result holds the figures of one authload run, as authload prints
// them with -json and benchreport reads them back.
package result

import (
	"fmt"
	"sort"
	"strings"
)

// Latency is a latency summary in milliseconds (nearest-rank percentiles
// of every request that got an HTTP answer).
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// Summary is what one kind of request, or all of them together, came to in
// the measured window.
type Summary struct {
	Requests int64            `json:"requests"` // answers plus transport errors
	RPS      float64          `json:"rps"`
	OKRPS    float64          `json:"ok_rps"` // 2xx answers per second
	Latency  Latency          `json:"latency_ms"`
	Status   map[string]int64 `json:"status"` // HTTP status code -> count
	Errors   map[string]int64 `json:"errors"` // timeout, connection refused, chain broken, other
}

// ServerStats are the figures of the server process given with -pid.
type ServerStats struct {
	PID       int     `json:"pid"`
	PeakRSSMB float64 `json:"peak_rss_mb"` // highest VmRSS, sampled every 100ms while authload ran
	VmHWMMB   float64 `json:"vmhwm_mb"`    // the kernel's high-water mark over the process's whole life
	CPUCores  float64 `json:"cpu_cores"`   // CPU time used in the measured window / its length
	Exited    bool    `json:"exited,omitempty"`
}

// Flood is the background load of -during, measured in the same window.
type Flood struct {
	Scenario    string `json:"scenario"`
	Concurrency int    `json:"concurrency"`
	Summary
	Kinds map[string]Summary `json:"kinds,omitempty"`
}

// Result is one run.
type Result struct {
	Label       string  `json:"label,omitempty"`
	Scenario    string  `json:"scenario"`
	URL         string  `json:"url"`
	Concurrency int     `json:"concurrency"`
	DurationS   float64 `json:"duration_s"` // the measured window actually run
	WarmupS     float64 `json:"warmup_s"`
	Users       int     `json:"users"`
	XFF         bool    `json:"xff,omitempty"`         // each virtual client sent its own X-Forwarded-For
	RetryAfter  bool    `json:"retry_after,omitempty"` // workers waited Retry-After after a 503 or 429
	// Burst, with -burst, is the number of requests sent at once, each once;
	// DurationS is then the time from their release to the last answer.
	Burst int `json:"burst,omitempty"`
	// Latency503, with -burst, is the latency of the 503 answers alone: how
	// soon a refused client heard so.
	Latency503 *Latency `json:"latency_503_ms,omitempty"`
	Summary
	Kinds  map[string]Summary `json:"kinds,omitempty"` // per kind of request, for mixed
	During *Flood             `json:"during,omitempty"`
	// With is the second measured class of -with (such as me beside
	// devicelogin), measured in the same window; Flood's fields.
	With           *Flood       `json:"with,omitempty"`
	Server         *ServerStats `json:"server,omitempty"`
	ClientCPUCores float64      `json:"authload_cpu_cores"`
	// MachineBusyCores is the CPU the whole machine used in the window
	// (/proc/stat): authd, authload, PostgreSQL and anything else running.
	MachineBusyCores float64 `json:"machine_busy_cores"`
	// DatabaseCPUCores, with -db-pid, is PostgreSQL's CPU in the window
	// (postmaster and backends); OtherCPUCores, with -pid too, is what the
	// rest of the machine used besides authd, authload and authload's parent
	// (benchrun): work that was not the benchmark's.
	DatabaseCPUCores *float64 `json:"database_cpu_cores,omitempty"`
	OtherCPUCores    *float64 `json:"other_cpu_cores,omitempty"`
	// Rate, with -rate, is the open loop's fixed arrival rate a second;
	// Missed is how many of its start times found every worker busy and
	// a second's backlog waiting, and were not sent.
	Rate   float64 `json:"rate,omitempty"`
	Missed int64   `json:"missed,omitempty"`
	// ForgetDevice: logins sent no device_id cookie (-forget-device).
	ForgetDevice bool `json:"forget_device,omitempty"`
	// Counters, with -metrics-url, is how much each of authd's login,
	// throttle and password-hashing counters grew over the measured
	// window, by series (authd_logins_total{outcome="success"}, ...).
	Counters    map[string]float64 `json:"counters,omitempty"`
	Relogins    int64              `json:"relogins,omitempty"`     // refresh chains restarted after a 403
	OtherErrors []string           `json:"other_errors,omitempty"` // a few examples of "other" errors
	Interrupted bool               `json:"interrupted,omitempty"`
}

// ErrorKinds are the keys of Summary.Errors, in the order they are shown.
var ErrorKinds = []string{"timeout", "connection refused", "chain broken", "other"}

// StatusString formats the status counts as "200=123 503=4".
func (s Summary) StatusString() string {
	if len(s.Status) == 0 {
		return "-"
	}
	codes := make([]string, 0, len(s.Status))
	for k := range s.Status {
		codes = append(codes, k)
	}
	sort.Strings(codes)
	parts := make([]string, len(codes))
	for i, k := range codes {
		parts[i] = fmt.Sprintf("%s=%d", k, s.Status[k])
	}
	return strings.Join(parts, " ")
}

// ErrorString formats the error counts as "timeout=0 connection-refused=0
// chain-broken=0 other=0".
func (s Summary) ErrorString() string {
	parts := make([]string, len(ErrorKinds))
	for i, name := range ErrorKinds {
		parts[i] = fmt.Sprintf("%s=%d", strings.ReplaceAll(name, " ", "-"), s.Errors[name])
	}
	return strings.Join(parts, " ")
}

// ErrorCount is the number of requests that failed without an answer or
// broke a refresh chain.
func (s Summary) ErrorCount() int64 {
	var n int64
	for _, v := range s.Errors {
		n += v
	}
	return n
}
