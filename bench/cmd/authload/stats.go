package main

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

// kind is one type of request.
type kind int

const (
	kindMe kind = iota
	kindRefresh
	kindLogin
	kindRegister
	kindHealth
	kindForgot
	kindDeviceLogin // a login from the user's known device (its device_id cookie)
	kindStuffing    // a wrong password for an account that mostly does not exist
	numKinds
)

var kindNames = [numKinds]string{"me", "refresh", "login", "register", "health", "forgot", "devicelogin", "stuffing"}

func (k kind) String() string { return kindNames[k] }

// errKind classifies a request that got no HTTP answer, or (chain broken) an
// answer that broke a refresh chain.
type errKind int

const (
	errTimeout errKind = iota
	errRefused
	errChainBroken
	errOther
	numErrKinds
)

// errNames are result.ErrorKinds, by errKind.
var errNames = [numErrKinds]string{"timeout", "connection refused", "chain broken", "other"}

// stats are the raw figures of one kind of request, kept by one worker (no
// locking) and merged at the end. Latencies are kept exactly: at these
// volumes (at most a few hundred thousand requests) a sort is cheap.
type stats struct {
	lat    []time.Duration // of requests that got an HTTP answer
	status map[int]int64
	errs   [numErrKinds]int64
	n      int64 // requests: answers plus transport errors
	ok     int64 // 2xx answers
}

func newStats() *stats { return &stats{status: map[int]int64{}} }

func (s *stats) answer(code int, d time.Duration) {
	s.n++
	s.lat = append(s.lat, d)
	s.status[code]++
	if code >= 200 && code < 300 {
		s.ok++
	}
}

func (s *stats) fail(e errKind) {
	s.n++
	s.errs[e]++
}

func (s *stats) merge(o *stats) {
	s.lat = append(s.lat, o.lat...)
	for k, v := range o.status {
		s.status[k] += v
	}
	for i := range s.errs {
		s.errs[i] += o.errs[i]
	}
	s.n += o.n
	s.ok += o.ok
}

// recorder holds one worker's stats per kind of request.
type recorder [numKinds]*stats

func newRecorder() *recorder {
	var r recorder
	for i := range r {
		r[i] = newStats()
	}
	return &r
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }

func (s *stats) summary(elapsed time.Duration) result.Summary {
	slices.Sort(s.lat)
	sum := result.Summary{
		Requests: s.n,
		Status:   map[string]int64{},
		Errors:   map[string]int64{},
		Latency: result.Latency{
			P50: ms(percentile(s.lat, 0.50)),
			P90: ms(percentile(s.lat, 0.90)),
			P95: ms(percentile(s.lat, 0.95)),
			P99: ms(percentile(s.lat, 0.99)),
			Max: ms(percentile(s.lat, 1)),
		},
	}
	if secs := elapsed.Seconds(); secs > 0 {
		sum.RPS = math.Round(float64(s.n)/secs*10) / 10
		sum.OKRPS = math.Round(float64(s.ok)/secs*10) / 10
	}
	for _, code := range slices.Sorted(maps.Keys(s.status)) {
		sum.Status[strconv.Itoa(code)] = s.status[code]
	}
	for i, name := range errNames {
		sum.Errors[name] = s.errs[i]
	}
	return sum
}

// totals merges the recorders of a group of workers: all kinds together,
// and each kind on its own.
func totals(recs []*recorder) (all *stats, byKind [numKinds]*stats) {
	all = newStats()
	for k := range byKind {
		byKind[k] = newStats()
		for _, r := range recs {
			byKind[k].merge(r[k])
		}
		all.merge(byKind[k])
	}
	return all, byKind
}
