package password

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"golang.org/x/crypto/bcrypt"
)

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
