package deadletter

import "testing"

// TestAckedNext: acknowledged ranges are stepped over where the reader
// meets them, adjacent ones as one, gaps (another writer's records) are
// not, and ranges behind the reader are forgotten.
func TestAckedNext(t *testing.T) {
	a := newAcked()
	a.add(0, 0, 10)
	a.add(0, 10, 5) // adjacent: [0, 15)
	a.add(0, 20, 5) // after another writer's 15-19
	a.add(0, 30, 5)
	a.add(1, 7, 3)

	steps := []struct {
		p         int
		off, want int64
	}{
		{0, 0, 15},  // over [0, 15)
		{0, 15, 15}, // another writer's record
		{0, 18, 18},
		{0, 20, 25},
		{0, 27, 27}, // [20, 25) is forgotten; 30 is ahead
		{0, 31, 35}, // a reader inside a range steps to its end
		{0, 35, 35},
		{1, 0, 0},
		{1, 7, 10},
	}
	for _, s := range steps {
		if got := a.next(s.p, s.off); got != s.want {
			t.Fatalf("next(%d, %d) = %d, want %d", s.p, s.off, got, s.want)
		}
	}
	if len(a.spans[0]) != 0 || len(a.spans[1]) != 0 {
		t.Fatalf("ranges left: %v", a.spans)
	}

	// A lagging reader: the oldest ranges go first.
	for i := range maxSpans + 2 {
		a.add(2, int64(2*i), 1) // not adjacent
	}
	if n := len(a.spans[2]); n != maxSpans {
		t.Fatalf("%d ranges kept, want %d", n, maxSpans)
	}
	if got := a.next(2, 0); got != 0 {
		t.Fatalf("next(2, 0) = %d after the first range was dropped, want 0", got)
	}
	if got := a.next(2, 4); got != 5 {
		t.Fatalf("next(2, 4) = %d, want 5", got)
	}
}
