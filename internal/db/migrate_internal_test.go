package db

import (
	"errors"
	"testing"

	"github.com/golang-migrate/migrate/v4"
)

// TestUpError: a migrator that waited too long for the lock is told to try
// again (ErrUnavailable, which serve retries); a failed migration is not.
func TestUpError(t *testing.T) {
	failed := errors.New("syntax error")
	tests := []struct {
		in          error
		ok, retried bool
	}{
		{nil, true, false},
		{migrate.ErrNoChange, true, false},
		{migrate.ErrLockTimeout, false, true},
		{failed, false, false},
	}
	for _, tt := range tests {
		err := upError(tt.in)
		if got := err == nil; got != tt.ok {
			t.Errorf("upError(%v) = %v, want success %v", tt.in, err, tt.ok)
		}
		if got := errors.Is(err, ErrUnavailable); got != tt.retried {
			t.Errorf("upError(%v) is ErrUnavailable: %v, want %v", tt.in, got, tt.retried)
		}
		if tt.in != nil && !tt.ok && !errors.Is(err, tt.in) {
			t.Errorf("upError(%v) = %v, does not wrap it", tt.in, err)
		}
	}
}
