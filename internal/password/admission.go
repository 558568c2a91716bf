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

// ticket is one caller's place in line.
type ticket struct {
	arrived  time.Time
	deadline time.Time
	start    time.Time     // when it got its slot
	ready    chan struct{} // closed when it gets its slot or is dropped
	granted  bool
	dropped  error // why it was dropped at its turn
}

// Busy reports whether a caller arriving now, with the time callers usually
// have (Options.RequestTimeout), would be refused at once: the queue is
// full, or its hash could not end in time.
func (h *Hasher) Busy() bool { return h.Refusal() != nil }

// Refusal is what a caller arriving now, with the time callers usually
// have, would be refused with at once: a *BusyError with its RetryAfter, as
// Hash and Compare would give, or nil if it would be let in. Callers ask
// before doing other work for a request that would end in 503 anyway, and
// return this error, so that the refusal says when to come back.
func (h *Hasher) Refusal() error {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.admits(now, now.Add(h.usual)) {
		return nil
	}
	return h.busy(now, nil)
}

// admits reports whether a caller arriving at now with deadline would be
// let in line. h.mu is held.
func (h *Hasher) admits(now, deadline time.Time) bool {
	switch {
	case len(h.running) < h.conc:
		return true // a free slot: it starts at once
	case len(h.running)+len(h.waiting) >= h.limit:
		return false
	}
	end := h.startAt(now, len(h.waiting)).Add(h.d())
	return !end.After(now.Add(nineTenths(deadline.Sub(now))))
}

// nineTenths is the part of a caller's time its hash may take: the last
// tenth is for the rest of its request and for the estimate's error.
func nineTenths(d time.Duration) time.Duration { return d - d/10 }

// startAt estimates when the waiter with k waiters ahead of it gets its
// slot: slot i is next free at freeAt's i-th time, and from then on takes
// one waiter per hash. h.mu is held.
func (h *Hasher) startAt(now time.Time, k int) time.Time {
	return h.freeAt(now)[k%h.conc].Add(time.Duration(k/h.conc) * h.d())
}

// endAt estimates when the i-th caller in line (those running first,
// earliest end first, then the waiters in order) ends its hash. h.mu is
// held.
func (h *Hasher) endAt(now time.Time, i int) time.Time {
	if i < len(h.running) {
		return h.freeAt(now)[i]
	}
	return h.startAt(now, i-len(h.running)).Add(h.d())
}

// freeAt is when each slot is next free, earliest first: now for a free
// slot, else when its hash has had d (or now, if it has had longer). h.mu
// is held.
func (h *Hasher) freeAt(now time.Time) []time.Time {
	free := make([]time.Time, h.conc)
	for i := range free {
		free[i] = now
		if i < len(h.running) {
			free[i] = later(h.running[i].start.Add(h.d()), now)
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
func (h *Hasher) busy(now time.Time, cause error) *BusyError {
	at := now
	if len(h.running) >= h.conc {
		at = h.startAt(now, len(h.waiting)).Add(h.d()).Add(-nineTenths(h.usual))
		if over := len(h.running) + len(h.waiting) - h.limit; over >= 0 {
			at = later(at, h.endAt(now, over))
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
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, h.busy(now, err)
	}
	if !h.admits(now, deadline) {
		return nil, h.busy(now, nil)
	}
	t := &ticket{arrived: now, deadline: deadline, ready: make(chan struct{})}
	if len(h.running) < h.conc { // then nobody waits: dispatch keeps no slot free while anyone does
		t.granted, t.start = true, now
		h.running = append(h.running, t)
		close(t.ready)
		return t, nil
	}
	h.waiting = append(h.waiting, t)
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
		h.remove(&h.waiting, t)
	}
	return h.busy(now, cause)
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
	for len(h.running) < h.conc && len(h.waiting) > 0 {
		t := h.waiting[0]
		h.waiting = slices.Delete(h.waiting, 0, 1)
		if now.Add(d).After(t.deadline) {
			dropped = append(dropped, t)
			continue
		}
		t.granted, t.start = true, now
		h.running = append(h.running, t)
		close(t.ready)
	}
	if len(h.waiting) > 0 {
		free, k := h.freeAt(now), 0
		h.waiting = slices.DeleteFunc(h.waiting, func(t *ticket) bool {
			if free[k%h.conc].Add(time.Duration(k/h.conc+1) * d).After(t.deadline) {
				dropped = append(dropped, t)
				return true
			}
			k++
			return false
		})
	}
	for _, t := range dropped {
		t.dropped = h.busy(now, nil)
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
