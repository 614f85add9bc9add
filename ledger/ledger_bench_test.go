package ledger

import (
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// benchCaps are the ledger caps of the benchmarks: one whose ledger fits
// in the CPU caches and one that does not.
var benchCaps = []int{1 << 12, 1 << 20}

// benchIDs holds twice as many distinct event ids as the largest cap, so
// that cycling through 2×cap of them only ever records identities the
// ledger has already forgotten.
var benchIDs = sync.OnceValue(func() []string {
	ids := make([]string, 2*benchCaps[len(benchCaps)-1])
	for i := range ids {
		ids[i] = "evt-" + strconv.Itoa(i)
	}
	return ids
})

// filled returns a ledger at its cap n, holding benchIDs()[:n].
func filled(n int) *Ledger {
	l := New(Config{LookBack: time.Hour, MaxEntries: n})
	r := sent("", time.Now())
	for _, id := range benchIDs()[:n] {
		r.ID = id
		l.Record(r)
	}
	return l
}

// BenchmarkRecord measures Record of a sent outcome on a full ledger:
// "new" records identities it does not hold (insert, evicting the oldest);
// "again" records the ones it holds, oldest first (the gateway's own
// outcomes read back from the results topic).
func BenchmarkRecord(b *testing.B) {
	ids := benchIDs()
	for _, n := range benchCaps {
		b.Run(fmt.Sprintf("new/cap=%d", n), func(b *testing.B) {
			l := filled(n)
			r := sent("", time.Now())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.ID = ids[(n+i)%(2*n)]
				l.Record(r)
			}
		})
		b.Run(fmt.Sprintf("again/cap=%d", n), func(b *testing.B) {
			l := filled(n)
			r := sent("", time.Now())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.ID = ids[i%n]
				l.Record(r)
			}
		})
	}
}

// BenchmarkSent measures Sent on a full ledger for identities it holds
// ("hit") and does not hold ("miss", the common case for incoming events).
func BenchmarkSent(b *testing.B) {
	ids := benchIDs()
	for _, n := range benchCaps {
		l := filled(n)
		b.Run(fmt.Sprintf("hit/cap=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if !l.Sent("/s", ids[i%n]) {
					b.Fatal("a held identity is not reported")
				}
			}
		})
		b.Run(fmt.Sprintf("miss/cap=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if l.Sent("/s", ids[n+i%n]) {
					b.Fatal("an identity never recorded is reported")
				}
			}
		})
	}
}

// heapPerEntry fills a ledger of cap n with n identities and returns the
// live heap it holds, in bytes per entry.
func heapPerEntry(n int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	l := New(Config{LookBack: time.Hour, MaxEntries: n})
	r := sent("", time.Now())
	var buf []byte
	for i := range n {
		buf = strconv.AppendInt(append(buf[:0], "evt-"...), int64(i), 10)
		r.ID = string(buf)
		l.Record(r)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if held, _ := l.Len(); held != n {
		panic(fmt.Sprintf("ledger holds %d identities, want %d", held, n))
	}
	runtime.KeepAlive(l)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// BenchmarkHeapPerEntry reports the live heap of a ledger holding 1,000,000
// identities at its cap, in bytes per entry.
func BenchmarkHeapPerEntry(b *testing.B) {
	var per float64
	for b.Loop() {
		per = heapPerEntry(1_000_000)
	}
	b.ReportMetric(per, "B/entry")
}
