// Package ratelimit keeps a token bucket per client key, in memory.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys bounds a Limiter's memory (about 235 bytes a key: BenchmarkMemoryPerKey): past it the
// least recently used bucket makes room for the new one.
const MaxKeys = 20_000

// Limiter allows each key a burst, refilled at a steady rate.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	max   int

	mu        sync.Mutex
	buckets   map[string]*list.Element // of *bucket
	order     *list.List               // most recently used first
	lastSweep time.Time
}

type bucket struct {
	key  string
	lim  *rate.Limiter
	seen time.Time
}

// New allows burst requests at once per key and perMinute after that. It
// returns nil (no limit) when perMinute or burst is 0; a nil Limiter allows
// everything.
func New(perMinute, burst int, now func() time.Time) *Limiter {
	if perMinute <= 0 || burst <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		limit:   rate.Limit(float64(perMinute) / 60),
		burst:   burst,
		now:     now,
		max:     MaxKeys,
		buckets: map[string]*list.Element{},
		order:   list.New(),
	}
}

// Allow takes one token for key. When none is left it reports how long until
// one is.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	var b *bucket
	if e := l.buckets[key]; e != nil {
		l.order.MoveToFront(e)
		b = e.Value.(*bucket)
	} else {
		if l.order.Len() >= l.max {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.buckets, oldest.Value.(*bucket).key)
		}
		b = &bucket{key: key, lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = l.order.PushFront(b)
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// sweep drops, once a minute, the buckets idle long enough to be full
// again: they hold nothing a new bucket would not. The least recently used
// are at the back.
func (l *Limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	full := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for e := l.order.Back(); e != nil; {
		b := e.Value.(*bucket)
		if now.Sub(b.seen) <= full {
			break
		}
		prev := e.Prev()
		l.order.Remove(e)
		delete(l.buckets, b.key)
		e = prev
	}
}
