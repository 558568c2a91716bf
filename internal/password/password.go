// Package password hashes and checks passwords with bcrypt under a
// concurrency limit, so a flood of logins cannot starve other requests.
//
// admission.go decides who may hash and when (slots, the queue, the
// estimate of a hash's time, Busy); bcrypt.go does the hashing (Hash,
// Compare, the dummy and padding hashes, NeedsRehash).
package password

import (
	"errors"
	"fmt"
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

// Options configure a Hasher.
type Options struct {
	Cost        int // bcrypt cost
	Concurrency int // hashes running at once
	// Queue is the most callers waiting for a slot in each lane. Fewer
	// wait when their hashes could not end in time: see Hasher.
	Queue int
	// Reserved is how many of the Concurrency slots only the known lane
	// may use (KnownDevice), 0 to Concurrency-1.
	Reserved int
	// Wait is the time allowed to a caller whose context has no deadline:
	// it is served as if its deadline were Wait after its arrival. Required
	// (HASH_WAIT).
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
	cost     int
	conc     int
	reserved int           // slots of the known lane alone
	queue    int           // most waiters of each lane
	limit    int           // most callers in line, running or waiting
	wait     time.Duration // the time of a caller without a deadline
	usual    time.Duration // the time a new caller usually has
	now      func() time.Time
	compare  func(hash, pw []byte) error
	onWait   func(time.Duration)
	nice     int
	// dummy is a hash of the current cost, compared when there is no user.
	// It is computed in the background so start-up does not wait for it.
	dummy func() ([]byte, error)
	// padding holds dummy hashes of lower costs (padHash), which make up
	// the work a hash of an older, lower cost lacks.
	padMu   sync.Mutex
	padding map[int][]byte

	mu           sync.Mutex
	mean         time.Duration // moving average of the hashes' times
	dev          time.Duration // moving mean deviation from mean
	measured     bool          // mean comes from a hash, not a guess
	running      []*ticket     // callers holding a slot
	waiting      []*ticket     // the open lane's waiters, first come first
	waitingKnown []*ticket     // the known lane's, served first
	knownStreak  int           // slots in a row the known lane took while an open caller waited
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
		return nil, fmt.Errorf("wait %s is not positive", o.Wait)
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
	if o.Reserved < 0 || o.Reserved >= o.Concurrency {
		return nil, fmt.Errorf("reserved slots %d out of range 0 to %d", o.Reserved, o.Concurrency-1)
	}
	if o.Nice < 0 || o.Nice > 19 {
		return nil, fmt.Errorf("nice %d out of range 0 to 19", o.Nice)
	}
	h := &Hasher{
		nice:     o.Nice,
		compare:  o.Compare,
		onWait:   o.OnWait,
		cost:     o.Cost,
		conc:     o.Concurrency,
		reserved: o.Reserved,
		queue:    max(o.Queue, 0),
		limit:    o.Concurrency + max(o.Queue, 0),
		wait:     o.Wait,
		usual:    o.RequestTimeout,
		now:      o.Now,
		mean:     o.HashTime,
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
