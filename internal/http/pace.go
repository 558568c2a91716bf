package http

import (
	"context"
	"net/http"
	"time"
)

// pacer holds back the answers that tell a client to come back later (429,
// and 503 while the hashing queue is full) for up to delay, at most max of
// them at once; beyond that an answer goes at once and ends its
// connection (writeError). A client that ignores Retry-After then sends one request
// per delay and connection instead of as many as the CPU can refuse: 64
// such login clients refused at once sent 16,000 requests a second, whose
// answers took the CPU the hashes they waited for needed
// (docs/performance.md).
type pacer struct {
	delay time.Duration
	slots chan struct{}
}

// pacedMax is how many answers are held at once. A held answer keeps its
// request, response buffer and a timer: about 4.4 KiB measured, on top of
// the connection's own goroutine and buffers (about 20 KiB, there whether
// it is held or not). So 4,096 held answers take at most about 18 MiB,
// while the 4,096 connections they need already take about 80 MiB: the
// deployment's 128 MiB pod holds at most about 6,000 connections, so the
// pacer has room for most of those a process can keep, and past it each
// refusal costs the client a new connection (Connection: close, HTTP/1.1).
const pacedMax = 4096

func newPacer(delay time.Duration, max int) *pacer {
	if delay <= 0 || max <= 0 {
		return nil
	}
	return &pacer{delay: delay, slots: make(chan struct{}, max)}
}

// wait holds an answer whose Retry-After is after for min(after, delay),
// or until ctx ends, and returns how long it held it. With max answers
// already held it returns at once, full.
func (p *pacer) wait(ctx context.Context, after time.Duration) (held time.Duration, full bool) {
	if p == nil || after <= 0 {
		return 0, false
	}
	select {
	case p.slots <- struct{}{}:
	default:
		return 0, true
	}
	defer func() { <-p.slots }()
	start := time.Now()
	t := time.NewTimer(min(after, p.delay))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
	return time.Since(start), false
}

// pacerKey is the context key of the request's pacer (set by deadline).
type pacerKey struct{}

// pacedKey is the context key of a func told of each answer pace is
// asked to hold, with its Retry-After and how long it was held. Tests set
// it to check the decision without timing; the server never does.
type pacedKey struct{}

// pace holds the answer to r as its pacer says, if it has one, and
// returns how long it held it, and whether the pacer was full.
func pace(r *http.Request, after time.Duration) (held time.Duration, full bool) {
	p, _ := r.Context().Value(pacerKey{}).(*pacer)
	held, full = p.wait(r.Context(), after)
	if seen, ok := r.Context().Value(pacedKey{}).(func(after, held time.Duration)); ok {
		seen(after, held)
	}
	return held, full
}
