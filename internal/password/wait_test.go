package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWaitWithoutDeadline: a caller whose context has no deadline waits
// at most Wait for a slot that never frees, then gets ErrBusy and leaves
// the line. Nothing here depends on how fast the test runs: the slot is
// held throughout.
func TestWaitWithoutDeadline(t *testing.T) {
	h := newHasher(t, Options{Cost: 4, Concurrency: 1, Queue: 1, Wait: 20 * time.Millisecond, HashTime: time.Microsecond})
	release, err := h.acquire(context.Background()) // the only slot, held throughout
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, err := h.Hash(context.Background(), "password1"); !errors.Is(err, ErrBusy) {
		t.Errorf("after Wait: %v, want ErrBusy", err)
	}
	if n := h.inLine(); n != 1 {
		t.Errorf("%d in line after the waiter gave up, want 1", n)
	}
}
