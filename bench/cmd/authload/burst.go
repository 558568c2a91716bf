package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/authd/authd/bench/internal/result"
)

// runBurst is -burst: cfg.burst requests of the scenario's kind, released at
// the same instant and each sent once (never retried), as a crowd of clients
// signing up or logging in together would. Every request is counted, with its
// latency from the release to its answer.
func runBurst(ctx context.Context, cfg config, cl *client, users []*user, progress io.Writer) *result.Result {
	k := kindRegister
	if cfg.scenario == "login" {
		k = kindLogin
	}
	runID := strconv.FormatInt(time.Now().UnixNano(), 36)
	reqs := make([]request, cfg.burst)
	for i := range reqs {
		reqs[i] = burstRequest(k, i, cfg, users, runID)
	}
	fmt.Fprintf(progress, "burst: %d %s requests at once\n", cfg.burst, k)

	recs := make([]*stats, len(reqs))
	var other []string
	var mu sync.Mutex
	release := make(chan struct{})
	var ready, wg sync.WaitGroup
	for i, rq := range reqs {
		recs[i] = newStats()
		ready.Add(1)
		wg.Go(func() {
			ready.Done()
			<-release
			start := time.Now()
			a, err := cl.send(ctx, rq)
			switch {
			case err != nil:
				e := classify(err)
				recs[i].fail(e)
				if e == errOther {
					mu.Lock()
					if len(other) < 5 {
						other = append(other, err.Error())
					}
					mu.Unlock()
				}
			default:
				recs[i].answer(a.code, time.Since(start))
			}
		})
	}
	ready.Wait() // every goroutine is at the gate
	cpu0, machine0 := selfCPU(), readMachineCPU()
	t0 := time.Now()
	close(release)
	wg.Wait()
	elapsed := time.Since(t0)
	cpu1, machine1 := selfCPU(), readMachineCPU()

	all, refused := newStats(), newStats()
	for _, s := range recs {
		all.merge(s)
		if s.status[http.StatusServiceUnavailable] > 0 {
			refused.merge(s)
		}
	}
	res := &result.Result{
		Label: cfg.label, Scenario: cfg.scenario, URL: cfg.base, Concurrency: cfg.burst, Burst: cfg.burst,
		DurationS: round2(elapsed.Seconds()), Users: cfg.users, XFF: cfg.xff,
		Summary: all.summary(elapsed), OtherErrors: other, Interrupted: ctx.Err() != nil,
	}
	if refused.n > 0 {
		l := refused.summary(elapsed).Latency
		res.Latency503 = &l
	}
	if secs := elapsed.Seconds(); secs > 0 {
		res.ClientCPUCores = round2((cpu1 - cpu0).Seconds() / secs)
		res.MachineBusyCores = machine1.busySince(machine0)
	}
	return res
}

// burstRequest is request i of a burst: a sign-up with a fresh email, or the
// login of seeded user i (modulo -users).
func burstRequest(k kind, i int, cfg config, users []*user, runID string) request {
	rq := request{method: "POST"}
	if cfg.xff {
		rq.from = benchAddr(addrMainBase + i)
	}
	switch k {
	case kindLogin:
		rq.path, rq.body = "/api/auth/login", users[i%len(users)].loginBody
	default:
		email := strings.ToLower(fmt.Sprintf("%sb%s-%d@example.com", cfg.prefix, runID, i))
		rq.path, rq.body = "/api/auth/register", registerBody(email, cfg.password)
	}
	return rq
}
