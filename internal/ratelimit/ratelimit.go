// Package ratelimit keeps a token bucket per client key, in memory.
package ratelimit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// MaxKeys bounds a Limiter's memory (about 280 bytes a key: BenchmarkMemoryPerKey), sites included: past it the
// least recently used bucket makes room for the new one.
const MaxKeys = 20_000

// Limiter allows each key a burst, refilled at a steady rate.
type Limiter struct {
	limit rate.Limit
	burst int
	now   func() time.Time
	max   int

	mu        sync.Mutex
	buckets   map[name]*list.Element // of *bucket
	order     *list.List             // most recently used first
	lastSweep time.Time
}

// name names a bucket: a key's, or a site's, apart from every key's.
type name struct {
	site bool
	key  string
}

type bucket struct {
	key  name
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
		buckets: map[name]*list.Element{},
		order:   list.New(),
	}
}

// SiteFactor is how many times a key's burst and rate a site's bucket
// holds (see AllowSite): 16 clients at full speed, of the 65,536 /64s in
// a /48.
const SiteFactor = 16

// Allow takes one token for key. When none is left it reports how long until
// one is.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	return l.AllowSite(key, "")
}

// AllowSite takes one token for key and one for site, a coarser bucket
// that many keys share (SiteFactor times a key's burst and rate), or none
// if either is empty; site "" is no site. Both buckets count against the
// same cap of MaxKeys.
func (l *Limiter) AllowSite(key, site string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	var s *bucket
	if site != "" {
		s = l.bucket(name{site: true, key: site}, SiteFactor, now)
	}
	r := l.bucket(name{key: key}, 1, now).lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	if s != nil {
		rs := s.lim.ReserveN(now, 1)
		if d := rs.DelayFrom(now); d > 0 {
			rs.CancelAt(now)
			r.CancelAt(now)
			return false, d
		}
	}
	return true, 0
}

// bucket is key's bucket, made with factor times the burst and rate if it
// is new, and marked used at now.
func (l *Limiter) bucket(key name, factor int, now time.Time) *bucket {
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
		b = &bucket{key: key, lim: rate.NewLimiter(l.limit*rate.Limit(factor), l.burst*factor)}
		l.buckets[key] = l.order.PushFront(b)
	}
	b.seen = now
	return b
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
