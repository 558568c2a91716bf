package password

import (
	"context"
	"slices"
	"time"
)

// BusyError is ErrBusy (errors.Is(err, ErrBusy) holds) with a hint for the
// client. When the caller's own context ended its wait, it also wraps that
// context's error, so that a client who went away is told apart.
type BusyError struct {
	// RetryAfter estimates how long until a new request, with the usual
	// time (Options.RequestTimeout), would be taken, if no other came.
	RetryAfter time.Duration
	cause      error
}

func (e *BusyError) Error() string {
	if e.cause != nil {
		return ErrBusy.Error() + ": " + e.cause.Error()
	}
	return ErrBusy.Error()
}

// Is makes errors.Is(err, ErrBusy) true.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

func (e *BusyError) Unwrap() error { return e.cause }

// knownTurns is how many slots in a row the known lane takes while an open
// caller that could take one waits; then one goes to the open lane.
const knownTurns = 3

// Lanes. A login that presents a device cookie known for its account
// (KnownDevice) is served from the known lane: it may use every slot,
// and it is served before any other waiter. Every other caller is in the
// open lane, which may hold at most Concurrency - Reserved slots: the
// Reserved ones are the known devices' alone, so that a flood of logins
// from unknown devices (credential stuffing) cannot take the hashing
// capacity from the account owners who have logged in before. Each lane
// has its own line: a full open line refuses no known caller. The known
// line goes first for knownTurns freed slots in a row, then the open one
// gets one (a stream of known callers cannot starve it).

type knownKey struct{}

// KnownDevice returns ctx marking its hash as one of the known lane: the
// password check of a login from a device known for the account.
func KnownDevice(ctx context.Context) context.Context {
	return context.WithValue(ctx, knownKey{}, true)
}

func known(ctx context.Context) bool { v, _ := ctx.Value(knownKey{}).(bool); return v }

// ticket is one caller's place in line.
type ticket struct {
	known    bool // of the known lane
	arrived  time.Time
	deadline time.Time
	start    time.Time     // when it got its slot
	ready    chan struct{} // closed when it gets its slot or is dropped
	granted  bool
	dropped  error // why it was dropped at its turn
}

// Busy reports whether a caller of the open lane arriving now, with the
// time callers usually have (Options.RequestTimeout), would be refused at
// once: its line is full, or its hash could not end in time.
func (h *Hasher) Busy() bool { return h.Refusal(context.Background()) != nil }

// Refusal is what a caller of ctx's lane arriving now, with the time
// callers usually have, would be refused with at once: a *BusyError with
// its RetryAfter, as Hash and Compare would give, or nil if it would be
// let in. Callers ask before doing other work for a request that would end
// in 503 anyway, and return this error, so that the refusal says when to
// come back.
func (h *Hasher) Refusal(ctx context.Context) error {
	k := known(ctx)
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.admits(now, now.Add(h.usual), k) {
		return nil
	}
	return h.busy(now, nil, k)
}

// slots is how many slots a lane may hold.
func (h *Hasher) slots(known bool) int {
	if known {
		return h.conc
	}
	return h.conc - h.reserved
}

// lane is the line of a lane's waiters. h.mu is held.
func (h *Hasher) lane(known bool) *[]*ticket {
	if known {
		return &h.waitingKnown
	}
	return &h.waiting
}

// ahead is how many waiters a new caller of a lane would have before it:
// its lane's, and for the open lane the known ones too, who go first. h.mu
// is held.
func (h *Hasher) ahead(known bool) int {
	if known {
		return len(h.waitingKnown)
	}
	return len(h.waitingKnown) + len(h.waiting)
}

// open is how many running callers hold open slots: the open lane's, and
// the known ones beyond the reserved slots. h.mu is held.
func (h *Hasher) open() int {
	k := 0
	for _, t := range h.running {
		if t.known {
			k++
		}
	}
	return len(h.running) - k + max(k-h.reserved, 0)
}

// canStart reports whether a caller of a lane would find a slot it may
// take, with nobody of its lane or before it waiting. h.mu is held.
func (h *Hasher) canStart(known bool) bool {
	if len(h.running) >= h.conc || h.ahead(known) > 0 {
		return false
	}
	return known || h.open() < h.slots(false)
}

// full reports whether a lane's line has no room. h.mu is held.
func (h *Hasher) full(known bool) bool {
	if known {
		return len(h.waitingKnown) >= h.queue
	}
	return h.open()+len(h.waiting) >= h.limit-h.reserved
}

// admits reports whether a caller of a lane arriving at now with deadline
// would be let in line. h.mu is held.
func (h *Hasher) admits(now, deadline time.Time, known bool) bool {
	switch {
	case h.canStart(known):
		return true // a free slot: it starts at once
	case h.full(known):
		return false
	}
	end := h.startAt(now, h.ahead(known), known).Add(h.d())
	return !end.After(now.Add(nineTenths(deadline.Sub(now))))
}

// nineTenths is the part of a caller's time its hash may take: the last
// tenth is for the rest of its request and for the estimate's error.
func nineTenths(d time.Duration) time.Duration { return d - d/10 }

// startAt estimates when a waiter of a lane with k waiters ahead of it
// gets its slot: the lane's slot i is next free at freeAt's i-th time, and
// from then on takes one waiter per hash. h.mu is held.
func (h *Hasher) startAt(now time.Time, k int, known bool) time.Time {
	n := h.slots(known)
	return h.freeAt(now, known)[k%n].Add(time.Duration(k/n) * h.d())
}

// endAt estimates when the i-th caller of a lane (those holding its slots
// first, earliest end first, then the waiters in order) ends its hash.
// h.mu is held.
func (h *Hasher) endAt(now time.Time, i int, known bool) time.Time {
	free := h.freeAt(now, known)
	if held := h.held(known); i < len(held) {
		return free[i]
	}
	return h.startAt(now, i-len(h.held(known)), known).Add(h.d())
}

// held is the running callers that hold a lane's slots: all of them for
// the known lane; for the open lane its own and the known ones beyond the
// reserved slots (those that end last: the reserved slots free first, as
// far as the estimate goes). h.mu is held.
func (h *Hasher) held(known bool) []*ticket {
	if known || h.reserved == 0 {
		return h.running
	}
	var open, kn []*ticket
	for _, t := range h.running {
		if t.known {
			kn = append(kn, t)
		} else {
			open = append(open, t)
		}
	}
	if extra := len(kn) - h.reserved; extra > 0 {
		slices.SortFunc(kn, func(a, b *ticket) int { return a.start.Compare(b.start) })
		open = append(open, kn[len(kn)-extra:]...)
	}
	return open
}

// freeAt is when each of a lane's slots is next free, earliest first: now
// for a free slot, else when its hash has had d (or now, if it has had
// longer). h.mu is held.
func (h *Hasher) freeAt(now time.Time, known bool) []time.Time {
	held := h.held(known)
	free := make([]time.Time, h.slots(known))
	for i := range free {
		free[i] = now
		if i < len(held) {
			free[i] = later(held[i].start.Add(h.d()), now)
		}
	}
	slices.SortFunc(free, time.Time.Compare)
	return free
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// busy is the refusal of a caller arriving at now, with its hint: how long
// until a new caller with the usual time would be let in, if no other
// came. That is when the line has drained enough for its hash to end in
// time, and when enough have left for the queue to have room. h.mu is held.
func (h *Hasher) busy(now time.Time, cause error, known bool) *BusyError {
	at := now
	if !h.canStart(known) {
		at = h.startAt(now, h.ahead(known), known).Add(h.d()).Add(-nineTenths(h.usual))
		if known {
			if over := len(h.waitingKnown) - h.queue; over >= 0 {
				at = later(at, h.endAt(now, len(h.held(true))+over, true))
			}
		} else if over := h.open() + len(h.waiting) - (h.limit - h.reserved); over >= 0 {
			at = later(at, h.endAt(now, over, false))
		}
	}
	return &BusyError{RetryAfter: max(at.Sub(now), h.d()), cause: cause}
}

// d is the estimate of one hash's time: the average and its deviation.
// h.mu is held.
func (h *Hasher) d() time.Duration { return h.mean + h.dev }

// observe moves the estimate toward one hash's time t. The first measure
// replaces a guess, and its deviation starts at half of it (as TCP's does).
func (h *Hasher) observe(t time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.measured {
		h.mean, h.dev, h.measured = t, t/2, true
		return
	}
	diff := t - h.mean
	h.dev += (diff.Abs() - h.dev) / 4
	h.mean += diff / 4
}

// acquire admits the caller, or refuses it at once, and waits for its
// slot. The caller must release the slot.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	t, err := h.enqueue(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.await(ctx, t); err != nil {
		return nil, err
	}
	if h.onWait != nil {
		h.onWait(t.start.Sub(t.arrived))
	}
	return func() { h.release(t) }, nil
}

// enqueue puts the caller in line, holding a slot if one is free, or
// refuses it at once with a *BusyError.
func (h *Hasher) enqueue(ctx context.Context) (*ticket, error) {
	now := h.now()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = now.Add(h.wait)
	}
	k := known(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, h.busy(now, err, k)
	}
	if !h.admits(now, deadline, k) {
		return nil, h.busy(now, nil, k)
	}
	t := &ticket{known: k, arrived: now, deadline: deadline, ready: make(chan struct{})}
	if h.canStart(k) {
		t.granted, t.start = true, now
		h.running = append(h.running, t)
		close(t.ready)
		return t, nil
	}
	line := h.lane(k)
	*line = append(*line, t)
	return t, nil
}

// await waits until t has its slot. It fails if t was dropped at its turn,
// or if ctx ends (or, without a deadline, h.wait passes) first: t then
// leaves the line, and a slot it got meanwhile goes to the next.
func (h *Hasher) await(ctx context.Context, t *ticket) error {
	select {
	case <-t.ready: // it found a slot free
		return t.dropped
	default:
	}
	var timeout <-chan time.Time
	if _, ok := ctx.Deadline(); !ok {
		timer := time.NewTimer(t.deadline.Sub(t.arrived))
		defer timer.Stop()
		timeout = timer.C
	}
	var cause error
	select {
	case <-t.ready:
		return t.dropped
	case <-ctx.Done():
		cause = ctx.Err()
	case <-timeout:
	}
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case t.dropped != nil:
	case t.granted:
		h.remove(&h.running, t)
		h.dispatch(now)
	default:
		h.remove(h.lane(t.known), t)
	}
	return h.busy(now, cause, t.known)
}

// release gives t's slot to the next waiter.
func (h *Hasher) release(t *ticket) {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(&h.running, t)
	h.dispatch(now)
}

// dispatch gives free slots to the waiters, first come first. Then it
// tells every waiter whose hash, by the estimate as it is now, could no
// longer end by its deadline (the estimate has grown since it was let in,
// or its turn came late): it gets ErrBusy now rather than near its
// deadline, and those behind it move up. A waiter is let in only if its
// hash ends within nine tenths of its time, and dropped only if it cannot
// end within the whole, so small changes of the estimate drop nobody. h.mu
// is held.
func (h *Hasher) dispatch(now time.Time) {
	d := h.d()
	var dropped []*ticket
	for len(h.running) < h.conc {
		openCan := len(h.waiting) > 0 && h.open() < h.slots(false)
		var line *[]*ticket
		switch {
		case len(h.waitingKnown) > 0 && (!openCan || h.knownStreak < knownTurns):
			// The known lane first, but not for ever: being known is
			// cheap (anyone's own account and its device cookie), so a
			// stream of known callers must not starve the open lane.
			line = &h.waitingKnown
			if openCan {
				h.knownStreak++
			}
		case openCan:
			line = &h.waiting
			h.knownStreak = 0
		}
		if line == nil {
			break
		}
		t := (*line)[0]
		*line = slices.Delete(*line, 0, 1)
		if now.Add(d).After(t.deadline) {
			dropped = append(dropped, t)
			continue
		}
		t.granted, t.start = true, now
		h.running = append(h.running, t)
		close(t.ready)
	}
	for _, k := range []bool{true, false} {
		line := h.lane(k)
		if len(*line) == 0 {
			continue
		}
		n, free, i := h.slots(k), h.freeAt(now, k), 0
		if !k {
			i = len(h.waitingKnown) // they go first
		}
		*line = slices.DeleteFunc(*line, func(t *ticket) bool {
			if free[i%n].Add(time.Duration(i/n+1) * d).After(t.deadline) {
				dropped = append(dropped, t)
				return true
			}
			i++
			return false
		})
	}
	for _, t := range dropped {
		t.dropped = h.busy(now, nil, t.known)
		close(t.ready)
	}
}

func (h *Hasher) remove(line *[]*ticket, t *ticket) {
	if i := slices.Index(*line, t); i >= 0 {
		*line = slices.Delete(*line, i, i+1)
	}
}

// timed runs f as run does, and lets its time move the estimate.
func (h *Hasher) timed(f func()) {
	start := h.now()
	h.run(f)
	h.observe(h.now().Sub(start))
}
