package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// counters are the authd metrics a refresh run's signatures are counted from.
type counters struct {
	signatures, refreshes, logins float64
}

// scrapeCounters reads authd's /metrics on its metrics listener.
func scrapeCounters(ctx context.Context, mport int) (counters, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport), nil)
	if err != nil {
		return counters{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return counters{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return counters{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var c counters
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "authd_token_signatures_total":
			c.signatures = v
		case `authd_refreshes_total{outcome="rotated"}`, `authd_refreshes_total{outcome="grace_reuse"}`:
			c.refreshes += v
		case `authd_logins_total{outcome="success"}`:
			c.logins = v
		}
	}
	return c, sc.Err()
}

// signatureCount is what authd counted over one refresh run (set-up and
// warm-up included): the signatures less one per login, per refresh.
type signatureCount struct {
	Signatures, Refreshes, Logins float64
}

func (s signatureCount) PerRefresh() float64 {
	if s.Refreshes <= 0 {
		return 0
	}
	return (s.Signatures - s.Logins) / s.Refreshes
}

func (s signatureCount) String() string {
	return fmt.Sprintf("Signatures per refresh, counted by authd (`authd_token_signatures_total` over the whole run, set-up and warm-up included): "+
		"(%.0f signatures − %.0f for as many logins) ÷ %.0f refreshes = **%.2f**.",
		s.Signatures, s.Logins, s.Refreshes, s.PerRefresh())
}
