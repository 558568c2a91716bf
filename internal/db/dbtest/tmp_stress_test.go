package dbtest

import (
	"fmt"
	"testing"
)

func TestTmpStress(t *testing.T) {
	for i := range 30 {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			t.Parallel()
			pool := New(t)
			var n int
			if err := pool.QueryRow(t.Context(), "SELECT count(*) FROM users").Scan(&n); err != nil {
				t.Fatal(err)
			}
		})
	}
}
