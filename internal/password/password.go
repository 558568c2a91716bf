// Package password hashes and checks passwords with bcrypt under a
// concurrency limit, so a flood of logins cannot starve other requests.
package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// MaxLen is the longest password bcrypt can take whole; longer ones are
// refused rather than silently truncated.
const MaxLen = 72

var (
	// ErrMismatch means the password does not match the hash.
	ErrMismatch = errors.New("password mismatch")
	// ErrBusy means the hash could not be done in time: the Hasher refused
	// the caller at once, or the caller's context ended while it waited.
	// It comes as a *BusyError.
	ErrBusy = errors.New("password hashing busy")
	// ErrTooLong means the password is longer than MaxLen bytes.
	ErrTooLong = errors.New("password longer than 72 bytes")
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

// Options configure a Hasher.
type Options struct {
	Cost        int // bcrypt cost
	Concurrency int // hashes running at once
	// Queue is the most callers waiting for a slot. Fewer wait when their
	// hashes could not end in time: see Hasher.
	Queue int
	// Wait is the time allowed to a caller whose context has no deadline:
	// it is served as if its deadline were Wait after its arrival. 0: 2s.
	Wait time.Duration
	// RequestTimeout is the time callers usually have (the request
	// deadline): Busy and BusyError.RetryAfter are about a new caller with
	// this much time. 0: Wait.
	RequestTimeout time.Duration
	// HashTime is the estimate of one hash's time to start from. 0: a
	// guess from the cost, replaced by the time of the dummy hash computed
	// at start. Every hash then moves the estimate (see Hasher).
	HashTime time.Duration
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// Compare replaces bcrypt.CompareHashAndPassword; tests use it to count
	// and inspect the work done. nil means bcrypt.
	Compare func(hash, pw []byte) error
	// OnWait, if set, is told how long each caller waited for a slot.
	OnWait func(time.Duration)
	// Nice, from 1 to 19, runs each hash on an OS thread of its own with
	// this lower scheduling priority (Linux; elsewhere it is ignored), so
	// that cheap requests get the CPU first and bcrypt takes what is left.
	// The caller must leave the Go scheduler room for that: see
	// ExtraProcs. 0 hashes on the caller's goroutine.
	Nice int
}

// ExtraProcs is how many Go processors (GOMAXPROCS) to add for a Hasher
// with options o, so that its hashes, each holding one while it runs, never
// take the processors the rest of the program needs. Without them a hash
// keeps other goroutines waiting for up to the Go scheduler's 10ms time
// slice, whatever the OS priority of its thread.
func ExtraProcs(o Options) int {
	if o.Nice <= 0 {
		return 0
	}
	return max(o.Concurrency, 1)
}

// Hasher runs bcrypt with at most Concurrency hashes at once, and admits a
// caller only if its hash can end in time.
//
// It keeps an estimate d of one hash's time, as TCP estimates a round
// trip: a moving average of the hashes' times plus their moving mean
// deviation, each hash weighing a quarter in both, so that where the times
// vary d is longer and fewer are let in than the average alone would.
//
// A caller who finds a slot free always starts at once, so that a wrong
// estimate can never stop the hashing (and the next hash corrects it).
// Otherwise it would start when the callers ahead of it have had their
// turns: each slot comes free when its hash has had d (or now, if it has
// had longer), then takes the waiters in order, one d each. If its hash
// would then end within nine tenths of the time the caller has left (its
// context's deadline; the last tenth is for the rest of its request and for
// the estimate's error), and fewer than Queue wait, it joins the queue and
// is served in turn; if not, it gets ErrBusy at once.
//
// A waiter leaves only when its context ends, or when, as hashes end and
// the estimate moves, its own hash could no longer end by its deadline: it
// then gets ErrBusy at once, and its place goes to those behind it.
type Hasher struct {
	cost    int
	conc    int
	limit   int           // most callers in line, running or waiting
	wait    time.Duration // the time of a caller without a deadline
	usual   time.Duration // the time a new caller usually has
	now     func() time.Time
	compare func(hash, pw []byte) error
	onWait  func(time.Duration)
	nice    int
	// dummy is a hash of the current cost, compared when there is no user.
	// It is computed in the background so start-up does not wait for it.
	dummy func() ([]byte, error)
	// padding holds dummy hashes of lower costs (padHash), which make up
	// the work a hash of an older, lower cost lacks.
	padMu   sync.Mutex
	padding map[int][]byte

	mu       sync.Mutex
	mean     time.Duration // moving average of the hashes' times
	dev      time.Duration // moving mean deviation from mean
	measured bool          // mean comes from a hash, not a guess
	running  []*ticket     // callers holding a slot
	waiting  []*ticket     // callers waiting for one, first come first
}

// ticket is one caller's place in line.
type ticket struct {
	arrived  time.Time
	deadline time.Time
	start    time.Time     // when it got its slot
	ready    chan struct{} // closed when it gets its slot or is dropped
	granted  bool
	dropped  error // why it was dropped at its turn
}

// guessPerRound is about what one of bcrypt's 2^cost rounds of key
// expansion takes on a current core (cost 12: about 0.2s).
const guessPerRound = 50 * time.Microsecond

// New builds a Hasher and precomputes its dummy hash.
func New(o Options) (*Hasher, error) {
	if o.Cost < bcrypt.MinCost || o.Cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("bcrypt cost %d out of range", o.Cost)
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Wait <= 0 {
		o.Wait = 2 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = o.Wait
	}
	if o.Compare == nil {
		o.Compare = bcrypt.CompareHashAndPassword
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Nice < 0 || o.Nice > 19 {
		return nil, fmt.Errorf("nice %d out of range 0 to 19", o.Nice)
	}
	h := &Hasher{
		nice:    o.Nice,
		compare: o.Compare,
		onWait:  o.OnWait,
		cost:    o.Cost,
		conc:    o.Concurrency,
		limit:   o.Concurrency + max(o.Queue, 0),
		wait:    o.Wait,
		usual:   o.RequestTimeout,
		now:     o.Now,
		mean:    o.HashTime,
		// A given first estimate is moved by every hash; a guess is
		// replaced by the first one measured.
		measured: o.HashTime > 0,
	}
	if h.mean <= 0 {
		h.mean = time.Duration(1<<o.Cost) * guessPerRound
	}
	h.dummy = sync.OnceValues(func() (b []byte, err error) {
		gen := func() { b, err = bcrypt.GenerateFromPassword([]byte("authd dummy password"), o.Cost) }
		if o.HashTime > 0 {
			h.run(gen)
		} else {
			h.timed(gen) // likely the first measure: it replaces the guess
		}
		return b, err
	})
	go h.dummy()
	return h, nil
}

// Cost returns the configured bcrypt cost.
func (h *Hasher) Cost() int { return h.cost }

// Busy reports whether a caller arriving now, with the time callers usually
// have (Options.RequestTimeout), would be refused at once: the queue is
// full, or its hash could not end in time. Handlers ask before doing other
// work for a request that would end in 503 anyway.
func (h *Hasher) Busy() bool {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.admits(now, now.Add(h.usual))
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

// Hash returns the bcrypt hash of pw.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if len(pw) > MaxLen {
		return "", ErrTooLong
	}
	release, err := h.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	var b []byte
	h.timed(func() { b, err = bcrypt.GenerateFromPassword([]byte(pw), h.cost) })
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(b), nil
}

// Compare checks pw against hash. An empty hash (no such user) is compared
// against the dummy hash, and an over-long password against the real hash,
// so every failure costs the same work. Only nil means a match.
func (h *Hasher) Compare(ctx context.Context, hash, pw string) error {
	release, err := h.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	target := []byte(hash)
	if hash == "" {
		if target, err = h.dummy(); err != nil {
			return fmt.Errorf("dummy hash: %w", err)
		}
	}
	h.timed(func() { err = h.compare(target, []byte(pw)) })
	h.pad(target, pw)
	switch {
	case hash == "" || len(pw) > MaxLen:
		return ErrMismatch
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return ErrMismatch
	case err != nil:
		return fmt.Errorf("compare password: %w", err)
	}
	return nil
}

// pad makes a compare against a hash of an older, lower cost c cost what
// one at the current cost C does, whatever its outcome: it adds one compare
// at each cost from c to C-1 (2^c + 2^c + ... + 2^(C-1) = 2^C), so a known
// account hashed before BCRYPT_COST was raised cannot be told apart by
// time from an unknown email. A hash of a higher cost cannot be made
// cheaper; NeedsRehash brings it to the current cost at the next login.
func (h *Hasher) pad(hash []byte, pw string) {
	c, err := bcrypt.Cost(hash)
	if err != nil {
		return
	}
	for k := max(c, bcrypt.MinCost); k < h.cost; k++ {
		d, err := h.padHash(k)
		if err != nil {
			return
		}
		h.run(func() { _ = h.compare(d, []byte(pw)) })
	}
}

// padHash returns a dummy hash of cost, made on first use.
func (h *Hasher) padHash(cost int) ([]byte, error) {
	h.padMu.Lock()
	defer h.padMu.Unlock()
	if d, ok := h.padding[cost]; ok {
		return d, nil
	}
	var d []byte
	var err error
	h.run(func() { d, err = bcrypt.GenerateFromPassword([]byte("authd padding password"), cost) })
	if err != nil {
		return nil, err
	}
	if h.padding == nil {
		h.padding = map[int][]byte{}
	}
	h.padding[cost] = d
	return d, nil
}

// timed runs f as run does, and lets its time move the estimate.
func (h *Hasher) timed(f func()) {
	start := h.now()
	h.run(f)
	h.observe(h.now().Sub(start))
}

// run calls f, on a thread of lower priority when h.nice is set. The
// goroutine stays locked to its thread and ends there, so the thread ends
// with it: no other goroutine ever runs at that priority, and an
// unprivileged process never needs to raise a priority back.
func (h *Hasher) run(f func()) {
	if h.nice == 0 {
		f()
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		_ = lowerPriority(h.nice) // at worst the hash runs at normal priority
		f()
	}()
	<-done
}

// NeedsRehash reports whether hash was made with a cost other than the
// configured one, so it should be upgraded after a successful login.
func (h *Hasher) NeedsRehash(hash string) bool {
	c, err := bcrypt.Cost([]byte(hash))
	return err == nil && c != h.cost
}
