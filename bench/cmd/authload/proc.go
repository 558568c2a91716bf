package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat; it
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procSample is one reading of /proc/PID.
type procSample struct {
	at       time.Time
	rssKB    int64
	hwmKB    int64
	cpuTicks int64 // utime + stime
}

func readProc(pid int) (procSample, error) {
	s := procSample{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest) // "12345 kB"
		if len(f) == 0 {
			continue
		}
		switch name {
		case "VmRSS":
			s.rssKB, _ = strconv.ParseInt(f[0], 10, 64)
		case "VmHWM":
			s.hwmKB, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name (field 2) may hold spaces; count from after it.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	s.cpuTicks = utime + stime
	return s, nil
}

// sampler reads /proc/PID every interval until stopped.
type sampler struct {
	pid    int
	mu     sync.Mutex
	peakKB int64
	last   procSample
	first  *procSample // first sample inside the measured window
	end    *procSample // last sample inside the measured window
	exited bool
	done   chan struct{}
}

// startSampler checks that pid can be read and samples it in the background.
func startSampler(ctx context.Context, pid int, interval time.Duration) (*sampler, error) {
	s0, err := readProc(pid)
	if err != nil {
		return nil, fmt.Errorf("-pid %d: %w", pid, err)
	}
	s := &sampler{pid: pid, peakKB: s0.rssKB, last: s0, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			p, err := readProc(pid)
			s.mu.Lock()
			if err != nil {
				s.exited = true
				s.mu.Unlock()
				return
			}
			s.peakKB = max(s.peakKB, p.rssKB)
			s.last = p
			s.mu.Unlock()
		}
	}()
	return s, nil
}

// mark takes a reading now, for the start or the end of the measured window.
func (s *sampler) mark(end bool) {
	p, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.exited = true
		return
	}
	s.peakKB = max(s.peakKB, p.rssKB)
	s.last = p
	if end {
		s.end = &p
	} else {
		s.first = &p
	}
}

func (s *sampler) result() *result.ServerStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &result.ServerStats{
		PID:       s.pid,
		PeakRSSMB: mb(s.peakKB),
		VmHWMMB:   mb(s.last.hwmKB),
		Exited:    s.exited,
	}
	if s.first != nil && s.end != nil {
		if secs := s.end.at.Sub(s.first.at).Seconds(); secs > 0 {
			r.CPUCores = round2(float64(s.end.cpuTicks-s.first.cpuTicks) / clockTicks / secs)
		}
	}
	return r
}

func mb(kb int64) float64 { return math.Round(float64(kb)/1024*10) / 10 }

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// selfCPU is this process's user+system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineCPU is the machine's CPU time from /proc/stat, in USER_HZ ticks.
type machineCPU struct {
	at         time.Time
	busy, idle int64
	ok         bool
}

func readMachineCPU() machineCPU {
	m := machineCPU{at: time.Now()}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 8 || f[0] != "cpu" {
		return m
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case i == 3 || i == 4: // idle, iowait
			m.idle += n
		case i < 8: // user nice system irq softirq steal; not guest (counted in user)
			m.busy += n
		}
	}
	m.ok = true
	return m
}

// busySince is how many cores the whole machine kept busy since m0.
func (m machineCPU) busySince(m0 machineCPU) float64 {
	secs := m.at.Sub(m0.at).Seconds()
	if !m.ok || !m0.ok || secs <= 0 {
		return 0
	}
	return round2(float64(m.busy-m0.busy) / clockTicks / secs)
}

// treeTicks is the CPU time, in USER_HZ ticks, of process pid and its live
// children, each with the CPU of the children it has reaped (cutime and
// cstime): for PostgreSQL's postmaster, every backend, live or exited.
func treeTicks(pid int) (int64, error) {
	self, reaped, _, err := statTicks(pid)
	if err != nil {
		return 0, err
	}
	own := self + reaped
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if self, reaped, ppid, err := statTicks(child); err == nil && ppid == pid {
			own += self + reaped
		}
	}
	return own, nil
}

// statTicks is pid's own CPU (utime + stime) and that of the children it
// has reaped (cutime + cstime), and its parent.
func statTicks(pid int) (self, reaped int64, ppid int, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3 (state)
	if len(f) < 15 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ppid, _ = strconv.Atoi(f[1]) // field 4
	n := func(k string) int64 { v, _ := strconv.ParseInt(k, 10, 64); return v }
	return n(f[11]) + n(f[12]), n(f[13]) + n(f[14]), ppid, nil // fields 14 to 17
}

// parentTicks is the own CPU of authload's parent (benchrun, whose SMTP
// server takes the mail runs' messages), or 0.
func parentTicks() int64 {
	self, _, _, err := statTicks(os.Getppid())
	if err != nil {
		return 0
	}
	return self
}
