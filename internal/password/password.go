// Package password hashes and checks passwords with bcrypt under a
// concurrency limit, so a flood of logins cannot starve other requests.
package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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
	// ErrBusy means no hashing slot became free in time.
	ErrBusy = errors.New("password hashing busy")
	// ErrTooLong means the password is longer than MaxLen bytes.
	ErrTooLong = errors.New("password longer than 72 bytes")
)

// Options configure a Hasher.
type Options struct {
	Cost        int           // bcrypt cost
	Concurrency int           // hashes running at once
	Queue       int           // callers allowed to wait for a slot
	Wait        time.Duration // longest wait for a slot
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

// Hasher runs bcrypt with at most Concurrency hashes at once.
type Hasher struct {
	cost    int
	slots   chan struct{}
	queue   chan struct{}
	wait    time.Duration
	compare func(hash, pw []byte) error
	onWait  func(time.Duration)
	nice    int
	// dummy is a hash of the current cost, compared when there is no user.
	// It is computed in the background so start-up does not wait for it.
	dummy func() ([]byte, error)
}

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
	if o.Compare == nil {
		o.Compare = bcrypt.CompareHashAndPassword
	}
	if o.Nice < 0 || o.Nice > 19 {
		return nil, fmt.Errorf("nice %d out of range 0 to 19", o.Nice)
	}
	h := &Hasher{
		nice:    o.Nice,
		compare: o.Compare,
		onWait:  o.OnWait,
		cost:    o.Cost,
		slots:   make(chan struct{}, o.Concurrency),
		queue:   make(chan struct{}, o.Concurrency+max(o.Queue, 0)),
		wait:    o.Wait,
		dummy: sync.OnceValues(func() ([]byte, error) {
			return bcrypt.GenerateFromPassword([]byte("authd dummy password"), o.Cost)
		}),
	}
	go h.dummy()
	return h, nil
}

// Cost returns the configured bcrypt cost.
func (h *Hasher) Cost() int { return h.cost }

// Busy reports whether a caller arriving now would be refused at once
// (every slot taken and the queue full). Handlers ask before doing other
// work for a request that would end in 503 anyway.
func (h *Hasher) Busy() bool { return len(h.queue) == cap(h.queue) }

// acquire takes a hashing slot, waiting at most h.wait, and only if the
// queue of waiters is not full.
func (h *Hasher) acquire(ctx context.Context) (release func(), err error) {
	select {
	case h.queue <- struct{}{}:
	default:
		return nil, ErrBusy
	}
	start := time.Now()
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		if h.onWait != nil {
			h.onWait(time.Since(start))
		}
		return func() { <-h.slots; <-h.queue }, nil
	case <-t.C:
		<-h.queue
		return nil, ErrBusy
	case <-ctx.Done():
		<-h.queue
		return nil, ErrBusy
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
	h.run(func() { b, err = bcrypt.GenerateFromPassword([]byte(pw), h.cost) })
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
	h.run(func() { err = h.compare(target, []byte(pw)) })
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
	return err == nil && c < h.cost
}
