package verify

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultMaxDenied is the default cap of a DenySet: at about 150 bytes
// an entry, 100,000 revoked sessions take some 15 MB.
const DefaultMaxDenied = 100_000

// DenyMargin is how long a DenySet keeps a session past the expiry of its
// last access token, for the clock skew between authd and this service
// and the Verifier's leeway (at most MaxLeeway).
const DenyMargin = time.Minute

// DenyOptions configure a DenySet.
type DenyOptions struct {
	// Max is the most sessions held at once; 0 means DefaultMaxDenied.
	// When full, adding a session evicts the one whose tokens expire
	// soonest (counted by Evicted), so the cap costs the least protection.
	Max int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DenySet is an in-memory set of revoked sessions (authd's sid claim),
// each held until its last access token has expired (plus DenyMargin):
// after that the token is refused for its exp anyway. So it holds only the
// sessions revoked within one access-token lifetime, and never more than
// its cap. It is safe for concurrent use. Feed it with Handler (authd's
// session.revoked webhooks) or Add; give it to a Verifier in Options.Deny.
//
// It lives in one process: each replica of a service receives the
// webhooks itself (one endpoint per replica), or the replicas share a
// deny-set of their own making.
type DenySet struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	byID    map[string]*denied
	order   denyHeap // soonest expiry first
	evicted uint64
}

// denied is one revoked session.
type denied struct {
	sid   string
	until time.Time // access_expires_by + DenyMargin
	index int       // in the heap
}

// NewDenySet returns an empty DenySet.
func NewDenySet(o DenyOptions) *DenySet {
	d := &DenySet{max: o.Max, now: o.Now, byID: map[string]*denied{}}
	if d.max <= 0 {
		d.max = DefaultMaxDenied
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Add holds session sid until accessExpiresBy (the session.revoked
// event's access_expires_by) plus DenyMargin. A session already held
// keeps the later of the two times. A time already past adds nothing.
func (d *DenySet) Add(sid string, accessExpiresBy time.Time) {
	until := accessExpiresBy.Add(DenyMargin)
	now := d.now()
	if !until.After(now) || sid == "" {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if e, ok := d.byID[sid]; ok {
		if until.After(e.until) {
			e.until = until
			heap.Fix(&d.order, e.index)
		}
		return
	}
	for len(d.byID) >= d.max {
		e := heap.Pop(&d.order).(*denied)
		delete(d.byID, e.sid)
		d.evicted++
	}
	e := &denied{sid: sid, until: until}
	heap.Push(&d.order, e)
	d.byID[sid] = e
}

// Denied reports whether session sid is held.
func (d *DenySet) Denied(sid string) bool {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.byID[sid]
	return ok && e.until.After(now)
}

// Len is how many sessions are held, expired ones dropped first.
func (d *DenySet) Len() int {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	return len(d.byID)
}

// Evicted counts the sessions dropped before their time because the set
// was full: a non-zero value means Max is too small for the revocation
// rate, and some revoked tokens were accepted again until they expired.
func (d *DenySet) Evicted() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.evicted
}

// expire drops the entries whose time has passed. d.mu is held.
func (d *DenySet) expire(now time.Time) {
	for len(d.order) > 0 && !d.order[0].until.After(now) {
		e := heap.Pop(&d.order).(*denied)
		delete(d.byID, e.sid)
	}
}

// denyHeap orders entries by until (container/heap).
type denyHeap []*denied

func (h denyHeap) Len() int           { return len(h) }
func (h denyHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h denyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *denyHeap) Push(x any) {
	e := x.(*denied)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *denyHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
