package deadletter

import "sync"

// acked holds, per partition, the offsets at which a topic acknowledged
// this process's records, as ranges in offset order, until the follower
// has stepped over them: a replica need not read back the results it
// wrote (it recorded them when they were acknowledged), and reading them
// cost kafka-go five allocations and a copy per record.
type acked struct {
	mu    sync.Mutex
	spans map[int][]span
}

// span is the offsets [from, to).
type span struct{ from, to int64 }

// maxSpans bounds the ranges kept per partition for a follower that lags;
// the oldest go first (the follower then reads those records and knows
// them by their instance header).
const maxSpans = 4096

func newAcked() *acked { return &acked{spans: map[int][]span{}} }

// add notes that partition p acknowledged n records from offset from on.
// Acknowledgements of a partition arrive in offset order (one request in
// flight per partition).
func (a *acked) add(p int, from int64, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.spans[p]
	to := from + int64(n)
	if k := len(s); k > 0 && s[k-1].to == from {
		s[k-1].to = to
	} else {
		if len(s) == maxSpans {
			s = append(s[:0], s[1:]...)
		}
		s = append(s, span{from, to})
	}
	a.spans[p] = s
}

// next returns the first offset of partition p from off on that is not
// one of this process's acknowledged records, and forgets the ranges
// before it.
func (a *acked) next(p int, off int64) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.spans[p]
	i := 0
	for ; i < len(s); i++ {
		if s[i].from > off {
			break
		}
		off = max(off, s[i].to)
	}
	a.spans[p] = append(s[:0], s[i:]...)
	return off
}
