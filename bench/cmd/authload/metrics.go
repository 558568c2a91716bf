package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// countedSeries are the authd counters -metrics-url reports: login
// outcomes, throttle refusals, and password hashes admitted to a hashing
// slot (the count of the wait histogram: one per hash or compare run).
var countedSeries = []string{"authd_logins_total", "authd_throttled_total", "authd_password_hash_wait_seconds_count"}

// scrapeCounters reads the countedSeries from authd's /metrics at url
// (checked by parseFlags to be a loopback address).
func scrapeCounters(ctx context.Context, url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second, Control: loopbackOnly}
	hc := &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: dialer.DialContext}}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return parseCounters(bufio.NewScanner(resp.Body))
}

// parseCounters keeps the countedSeries samples of Prometheus text.
func parseCounters(sc *bufio.Scanner) (map[string]float64, error) {
	m := map[string]float64{}
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || strings.HasPrefix(line, "#") {
			continue
		}
		series := line[:i]
		name, _, _ := strings.Cut(series, "{")
		counted := false
		for _, c := range countedSeries {
			counted = counted || name == c
		}
		if !counted {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			m[series] = v
		}
	}
	return m, sc.Err()
}

// counterDeltas is after less before, series by series (a series absent
// before counts from 0); nil unless both scrapes worked.
func counterDeltas(before, after map[string]float64) map[string]float64 {
	if before == nil || after == nil {
		return nil
	}
	d := map[string]float64{}
	for k, v := range after {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}
