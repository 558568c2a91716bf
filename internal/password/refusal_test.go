package password

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRefusal: with every slot and queue place taken, Refusal is the
// *BusyError a caller arriving now would get, with the same positive
// RetryAfter; with a free slot it is nil.
func TestRefusal(t *testing.T) {
	h := newHasher(t, Options{Cost: 4, Concurrency: 1, Queue: 0, Wait: time.Second, HashTime: 50 * time.Millisecond})
	if err := h.Refusal(context.Background()); err != nil {
		t.Fatalf("Refusal() with a free slot = %v, want nil", err)
	}
	release, err := h.acquire(context.Background()) // the only slot
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	err = h.Refusal(context.Background())
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) || be.RetryAfter <= 0 {
		t.Fatalf("Refusal() with hashing full = %#v, want a *BusyError with a positive RetryAfter", err)
	}
	_, hashErr := h.Hash(context.Background(), "password1")
	var got *BusyError
	if !errors.As(hashErr, &got) || got.RetryAfter != be.RetryAfter {
		t.Errorf("Hash refused with %v, want the RetryAfter Refusal gave, %s", hashErr, be.RetryAfter)
	}
}
