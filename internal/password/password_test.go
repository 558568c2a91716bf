package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func newHasher(t *testing.T, o Options) *Hasher {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashCompare(t *testing.T) {
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 2})
	ctx := context.Background()
	pw72 := strings.Repeat("é", 36) // 72 bytes
	hash, err := h.Hash(ctx, pw72)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash string
		pw   string
		want error
	}{
		{"match", hash, pw72, nil},
		{"mismatch", hash, "wrong password", ErrMismatch},
		{"73 bytes sharing the first 72", hash, pw72 + "x", ErrMismatch},
		{"no user", "", pw72, ErrMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := h.Compare(ctx, tt.hash, tt.pw); !errors.Is(got, tt.want) {
				t.Errorf("Compare = %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := h.Hash(ctx, pw72+"x"); !errors.Is(err, ErrTooLong) {
		t.Errorf("Hash(73 bytes) = %v, want ErrTooLong", err)
	}
}

func TestNeedsRehash(t *testing.T) {
	h := newHasher(t, Options{Cost: 5, Wait: 2 * time.Second})
	old, _ := bcrypt.GenerateFromPassword([]byte("password1"), 4)
	cur, _ := bcrypt.GenerateFromPassword([]byte("password1"), 5)
	if !h.NeedsRehash(string(old)) {
		t.Error("cost 4 hash not flagged for rehash at cost 5")
	}
	if h.NeedsRehash(string(cur)) {
		t.Error("current-cost hash flagged for rehash")
	}
}

func TestDummyHashHasCurrentCost(t *testing.T) {
	h := newHasher(t, Options{Cost: 6, Wait: 2 * time.Second})
	dummy, err := h.dummy()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost(dummy); err != nil || c != 6 {
		t.Errorf("dummy cost = %d, %v; want 6", c, err)
	}
}

// TestBusy: with every slot taken and the queue full, callers get ErrBusy
// at once; with room in the queue they wait at most Wait.
func TestBusy(t *testing.T) {
	h := newHasher(t, Options{Cost: 4, Concurrency: 1, Queue: 1, Wait: time.Minute})
	ctx := context.Background()
	release, err := h.acquire(ctx) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	// The waiter takes the queue place and keeps it until it gives up
	// (its context ends below): no timer decides when the queue is full.
	// TestWaitWithoutDeadline has a waiter time out by Wait.
	wctx, giveUp := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var waited error
	wg.Go(func() { _, waited = h.Hash(wctx, "password1") })
	for h.inLine() < 2 { // it is in line; a full queue is what is tested below
		runtime.Gosched()
	}
	if !h.Busy() {
		t.Error("Busy() = false with every slot and queue place taken")
	}
	if _, err := h.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Errorf("with a full queue: %v, want ErrBusy", err)
	}
	giveUp()
	wg.Wait()
	if !errors.Is(waited, ErrBusy) {
		t.Errorf("after waiting: %v, want ErrBusy", waited)
	}
	release()
	if h.Busy() {
		t.Error("Busy() = true with a free slot")
	}
	if _, err := h.Hash(ctx, "password1"); err != nil {
		t.Errorf("after release: %v", err)
	}
}

func TestNiceThreads(t *testing.T) {
	before, err := threadNice()
	if err != nil {
		t.Skip("no per-thread priority here:", err)
	}
	var seen []int
	var mu sync.Mutex
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 2, Nice: 7, Compare: func(hash, pw []byte) error {
		n, err := threadNice()
		if err != nil {
			return err
		}
		mu.Lock()
		seen = append(seen, n)
		mu.Unlock()
		return bcrypt.CompareHashAndPassword(hash, pw)
	}})
	ctx := context.Background()
	hash, err := h.Hash(ctx, "password1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, "password1"); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && (len(seen) != 1 || seen[0] != 7) {
		t.Errorf("compare ran at nice %v, want 7", seen)
	}
	// The caller's thread, and so every other goroutine, keeps its priority.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if after, _ := threadNice(); after != before {
		t.Errorf("caller's nice changed from %d to %d", before, after)
	}
}

func TestExtraProcs(t *testing.T) {
	if _, err := New(Options{Cost: 4, Nice: 20}); err == nil {
		t.Error("nice 20 accepted")
	}
	if n := ExtraProcs(Options{Concurrency: 3}); n != 0 {
		t.Errorf("ExtraProcs without nice = %d, want 0", n)
	}
	if n := ExtraProcs(Options{Concurrency: 3, Nice: 10}); n != 3 {
		t.Errorf("ExtraProcs(3 hashes at nice 10) = %d, want 3", n)
	}
}

// BenchmarkCompare is one login's password work at each cost (make bench
// uses the configured one for the login ceiling): a direct bcrypt compare,
// no Hasher, so nothing but bcrypt is measured.
func BenchmarkCompare(b *testing.B) {
	for cost := 10; cost <= 14; cost++ {
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			hash, err := bcrypt.GenerateFromPassword([]byte("benchmark-password-1"), cost)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := bcrypt.CompareHashAndPassword(hash, []byte("benchmark-password-1")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// inLine is how many callers hold a slot or wait for one.
func (h *Hasher) inLine() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.running) + len(h.waiting) + len(h.waitingKnown)
}

func (h *Hasher) estimate() (mean, dev time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mean, h.dev
}

// gate is a Compare that blocks until the gate opens and records the
// passwords compared, in order.
type gate struct {
	open    chan struct{}
	entered chan string // each compare, as it starts to wait
	mu      sync.Mutex
	order   []string
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan string, 100)} }

func (g *gate) compare(hash, pw []byte) error {
	g.entered <- string(pw)
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.order = append(g.order, string(pw))
	return nil
}

// caller is one Compare in a goroutine; done gets its result.
type caller struct {
	done chan error
}

// arrive starts a Compare of pw with ctx and returns once the Hasher has
// decided about it: it is in line (len in line grew) or has its answer. The
// test polls; nothing here waits for time to pass.
func arrive(h *Hasher, ctx context.Context, pw string) caller {
	c := caller{done: make(chan error, 1)}
	before := h.inLine()
	go func() { c.done <- h.Compare(ctx, "x", pw) }()
	for h.inLine() == before && len(c.done) == 0 {
		runtime.Gosched()
	}
	return c
}

// TestBurstAdmission: a burst of callers arriving together is admitted
// while each one's hash, after those ahead of it, ends within nine tenths
// of its time; the rest get ErrBusy at once, and everyone admitted is
// served. The clock stands still and the hash time is given, so the
// decisions are exact: with slots c and hash time d, the caller with k
// ahead ends after (k/c + 1) d.
func TestBurstAdmission(t *testing.T) {
	const d = 6 * time.Minute // 54 minutes of an hour's deadline fit 9 rounds
	tests := []struct {
		name           string
		conc, queue, n int
		hashTime       time.Duration
		served         int
		busy           bool          // Busy() after the burst
		retry          time.Duration // BusyError.RetryAfter of the refused
	}{
		{"fits: 17 on 2 slots", 2, 64, 17, d, 17, false, 0},
		{"18 of 25 on 2 slots", 2, 64, 25, d, 18, true, d},
		{"9 of 12 on 1 slot", 1, 64, 12, d, 9, true, d},
		{"the queue holds 3", 2, 3, 10, d, 5, true, d},
		// Not even one fits, but a free slot is always used: a wrong
		// estimate can never stop the hashing, and the next hash corrects it.
		{"a free slot is used", 1, 64, 3, 2 * time.Hour, 1, true, 2*time.Hour + 2*time.Hour - 54*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Now()
			g := newGate()
			h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: tt.conc, Queue: tt.queue, RequestTimeout: time.Hour,
				HashTime: tt.hashTime, Now: func() time.Time { return t0 }, Compare: g.compare})
			ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
			defer cancel()
			if h.Busy() {
				t.Fatal("Busy() before the burst")
			}
			callers := make([]caller, tt.n)
			for i := range callers {
				callers[i] = arrive(h, ctx, fmt.Sprint(i))
			}
			if got := h.inLine(); got != tt.served {
				t.Errorf("in line after the burst: %d, want %d", got, tt.served)
			}
			if got := h.Busy(); got != tt.busy {
				t.Errorf("Busy() after the burst = %v, want %v", got, tt.busy)
			}
			// The refused have their answer while every hash is still held up.
			for i, c := range callers[tt.served:] {
				err := <-c.done
				var be *BusyError
				if !errors.As(err, &be) || !errors.Is(err, ErrBusy) || be.RetryAfter != tt.retry {
					t.Errorf("caller %d: %v, want ErrBusy with RetryAfter %v", tt.served+i, err, tt.retry)
				}
			}
			close(g.open)
			for i, c := range callers[:tt.served] {
				if err := <-c.done; err != nil {
					t.Errorf("caller %d, admitted: %v", i, err)
				}
			}
		})
	}
}

// TestCancelledWaiterLeaves: a waiter whose context ends leaves the line at
// once, with an error that is ErrBusy and its context's; its place goes to
// the next caller and its password is never compared.
func TestCancelledWaiterLeaves(t *testing.T) {
	t0 := time.Now()
	g := newGate()
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 1, Queue: 2, RequestTimeout: time.Hour,
		HashTime: time.Minute, Now: func() time.Time { return t0 }, Compare: g.compare})
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
	defer cancel()
	a := arrive(h, ctx, "a")
	bctx, cancelB := context.WithCancel(ctx)
	b := arrive(h, bctx, "b")
	c := arrive(h, ctx, "c")
	if !h.Busy() || h.inLine() != 3 {
		t.Fatalf("Busy() = %v with %d in line, want true with 3 (slot and queue full)", h.Busy(), h.inLine())
	}
	cancelB()
	if err := <-b.done; !errors.Is(err, ErrBusy) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v, want ErrBusy and context.Canceled", err)
	}
	if h.Busy() || h.inLine() != 2 {
		t.Errorf("after the cancel: Busy() = %v with %d in line, want false with 2", h.Busy(), h.inLine())
	}
	d := arrive(h, ctx, "d")
	close(g.open)
	for name, w := range map[string]caller{"a": a, "c": c, "d": d} {
		if err := <-w.done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if got := strings.Join(g.order, " "); got != "a c d" {
		t.Errorf("compared %q, want \"a c d\"", got)
	}
}

// TestLateWaiterDropped: when a hash overruns the estimate, a waiter whose
// deadline is then less than one hash away is answered ErrBusy at its turn
// instead of starting a hash that could not end in time; the next waiter
// gets the slot.
func TestLateWaiterDropped(t *testing.T) {
	t0 := time.Now()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	g := newGate()
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 1, Queue: 2, RequestTimeout: time.Hour,
		HashTime: 6 * time.Minute, Now: clock, Compare: g.compare})
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
	defer cancel()
	a := arrive(h, ctx, "a")
	<-g.entered // a's hash has started (its time is measured from t0)
	// b ends after 12 minutes, within 18 of its 20: admitted.
	bctx, cancelB := context.WithDeadline(ctx, t0.Add(20*time.Minute))
	defer cancelB()
	b := arrive(h, bctx, "b")
	c := arrive(h, ctx, "c")
	if h.inLine() != 3 {
		t.Fatalf("%d in line, want 3", h.inLine())
	}
	mu.Lock()
	now = t0.Add(15 * time.Minute) // a's hash took 15 minutes, not 6
	mu.Unlock()
	close(g.open)
	if err := <-a.done; err != nil {
		t.Errorf("a: %v", err)
	}
	// b's turn came at 15 minutes with 5 left, less than a hash (now 8¼
	// minutes on average, deviation 2¼).
	if err := <-b.done; !errors.Is(err, ErrBusy) || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("b, late at its turn: %v, want ErrBusy (and not its context's error)", err)
	}
	if err := <-c.done; err != nil {
		t.Errorf("c: %v", err)
	}
	if got := strings.Join(g.order, " "); got != "a c" {
		t.Errorf("compared %q, want \"a c\"", got)
	}
}

// TestEstimateMoves: each hash moves the average a quarter of the way to
// its own time, and the deviation a quarter of the way to its distance from
// the average.
func TestEstimateMoves(t *testing.T) {
	var mu sync.Mutex
	now, took := time.Now(), time.Duration(0)
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, HashTime: 8 * time.Second,
		Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now },
		Compare: func(hash, pw []byte) error {
			mu.Lock()
			defer mu.Unlock()
			now = now.Add(took) // the hash takes took
			return nil
		}})
	for _, tt := range []struct{ took, mean, dev time.Duration }{
		{16 * time.Second, 10 * time.Second, 2 * time.Second},       // 8 off: dev 0 + 8/4
		{2 * time.Second, 8 * time.Second, 3500 * time.Millisecond}, // 8 off: dev 2 + (8-2)/4
		{8 * time.Second, 8 * time.Second, 2625 * time.Millisecond}, // 0 off: dev 3.5 - 3.5/4
	} {
		mu.Lock()
		took = tt.took
		mu.Unlock()
		if err := h.Compare(context.Background(), "x", "pw"); err != nil {
			t.Fatal(err)
		}
		if mean, dev := h.estimate(); mean != tt.mean || dev != tt.dev {
			t.Errorf("after a hash of %v: average %v, deviation %v; want %v, %v", tt.took, mean, dev, tt.mean, tt.dev)
		}
	}
}

// TestGrownEstimateDropsTail: when a hash overruns and the estimate grows,
// the waiters at the back whose hashes could no longer end by their
// deadlines are told ErrBusy at once, not near their deadlines; those that
// still can keep their places and are served.
func TestGrownEstimateDropsTail(t *testing.T) {
	t0 := time.Now()
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	next := make(chan struct{}) // one send lets one compare end
	entered := make(chan string, 16)
	h := newHasher(t, Options{Cost: 4, Wait: 2 * time.Second, Concurrency: 1, Queue: 64, RequestTimeout: time.Hour,
		HashTime: 6 * time.Minute, Now: clock, Compare: func(hash, pw []byte) error {
			entered <- string(pw)
			<-next
			return nil
		}})
	ctx, cancel := context.WithDeadline(context.Background(), t0.Add(time.Hour))
	defer cancel()
	// With 6 minutes a hash and 54 of the hour, a and 8 waiters are let in.
	callers := map[string]caller{}
	for _, name := range strings.Fields("a b c d e f g h i j") {
		callers[name] = arrive(h, ctx, name)
	}
	if err := <-callers["j"].done; !errors.Is(err, ErrBusy) {
		t.Fatalf("j, 9 waiting ahead: %v, want ErrBusy", err)
	}
	if got := <-entered; got != "a" {
		t.Fatalf("first hash: %s", got)
	}
	mu.Lock()
	now = t0.Add(15 * time.Minute) // a's hash took 15 minutes
	mu.Unlock()
	next <- struct{}{}
	// The estimate is now 8¼ + 2¼ = 10½ minutes. b starts at 15 and ends at
	// 25½; c, d and e end at 36, 46½ and 57, within the hour; f would end
	// at 67½: f to i are told now.
	if got := <-entered; got != "b" {
		t.Fatalf("second hash: %s", got)
	}
	for _, name := range strings.Fields("f g h i") {
		if err := <-callers[name].done; !errors.Is(err, ErrBusy) {
			t.Errorf("%s: %v, want ErrBusy", name, err)
		}
	}
	if got := h.inLine(); got != 4 {
		t.Errorf("in line: %d, want 4 (b running; c, d, e waiting)", got)
	}
	close(next)
	for _, name := range strings.Fields("a b c d e") {
		if err := <-callers[name].done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
