package testenv

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestClock(t *testing.T) {
	c := NewClock()
	t0 := c.Now()
	if t0.IsZero() || !t0.Equal(t0.Truncate(time.Second)) {
		t.Fatalf("NewClock().Now() = %v, want the current second", t0)
	}
	c.Advance(90 * time.Second)
	if got, want := c.Now(), t0.Add(90*time.Second); !got.Equal(want) {
		t.Errorf("after Advance: %v, want %v", got, want)
	}
}

func TestBuffer(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() { fmt.Fprintf(&b, "%d\n", i) })
	}
	wg.Wait()
	if got := len(b.String()); got != 20 {
		t.Errorf("%d bytes written, want 20", got)
	}
}

func TestMissing(t *testing.T) {
	t.Setenv("CI", "")
	var skipped bool
	t.Run("local", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Need(t, false, "no such tool")
	})
	if !skipped {
		t.Error("without CI a missing tool does not skip")
	}
}
