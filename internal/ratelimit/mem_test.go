package ratelimit

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkMemoryPerKey reports the heap a full Limiter holds per bucket,
// with IPv6-prefix-sized keys.
func BenchmarkMemoryPerKey(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		l := New(30, 10, func() time.Time { return time.Unix(1_700_000_000, 0) })
		for i := range MaxKeys {
			l.Allow(fmt.Sprintf("2001:db8:%x:%x::/64", i>>16, i&0xffff))
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(l.Len()), "bytes/key")
		runtime.KeepAlive(l)
	}
}
