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
	h := newHasher(t, Options{Cost: 4, Concurrency: 2})
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
	h := newHasher(t, Options{Cost: 5})
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
	h := newHasher(t, Options{Cost: 6})
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
	h := newHasher(t, Options{Cost: 4, Concurrency: 1, Queue: 1, Wait: 50 * time.Millisecond})
	ctx := context.Background()
	release, err := h.acquire(ctx) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var waited error
	wg.Go(func() { _, waited = h.Hash(ctx, "password1") }) // takes the queue place, times out
	time.Sleep(10 * time.Millisecond)                      // let it queue; a full queue is what is tested below
	if !h.Busy() {
		t.Error("Busy() = false with every slot and queue place taken")
	}
	if _, err := h.Hash(ctx, "password1"); !errors.Is(err, ErrBusy) {
		t.Errorf("with a full queue: %v, want ErrBusy", err)
	}
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
	h := newHasher(t, Options{Cost: 4, Concurrency: 2, Nice: 7, Compare: func(hash, pw []byte) error {
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
