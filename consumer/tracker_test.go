package consumer

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// trackerStep is one operation on a tracker and what it must report afterwards.
type trackerStep struct {
	add        int64 // offset to add (when finish is false)
	finish     bool
	o          int64 // offset to finish
	wantMoved  bool
	wantCommit int64
	wantPend   int
}

func trackAdd(o, commit int64, pending int) trackerStep {
	return trackerStep{add: o, wantCommit: commit, wantPend: pending}
}

func trackFinish(o int64, moved bool, commit int64, pending int) trackerStep {
	return trackerStep{finish: true, o: o, wantMoved: moved, wantCommit: commit, wantPend: pending}
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name  string
		steps []trackerStep
	}{
		{"nothing added", nil},
		{"in order", []trackerStep{
			trackAdd(0, -1, 1), trackAdd(1, -1, 2), trackAdd(2, -1, 3),
			trackFinish(0, true, 1, 2), trackFinish(1, true, 2, 1), trackFinish(2, true, 3, 0),
		}},
		{"out of order completion waits for the gap", []trackerStep{
			trackAdd(0, -1, 1), trackAdd(1, -1, 2), trackAdd(2, -1, 3), trackAdd(3, -1, 4),
			trackFinish(2, false, -1, 4), trackFinish(3, false, -1, 4), trackFinish(1, false, -1, 4),
			trackFinish(0, true, 4, 0),
		}},
		{"commit point stops at the first unfinished offset", []trackerStep{
			trackAdd(10, -1, 1), trackAdd(11, -1, 2), trackAdd(12, -1, 3), trackAdd(13, -1, 4),
			trackFinish(10, true, 11, 3), trackFinish(12, false, 11, 3), trackFinish(13, false, 11, 3),
			trackFinish(11, true, 14, 0),
		}},
		{"gaps in offsets of a compacted topic", []trackerStep{
			trackAdd(0, -1, 1), trackAdd(1, -1, 2), trackAdd(5, -1, 3), trackAdd(9, -1, 4),
			trackFinish(5, false, -1, 4), trackFinish(0, true, 1, 3), trackFinish(1, true, 6, 1),
			trackFinish(9, true, 10, 0),
		}},
		{"unknown offsets are ignored", []trackerStep{
			trackAdd(0, -1, 1), trackAdd(1, -1, 2), trackAdd(5, -1, 3),
			trackFinish(3, false, -1, 3),  // a gap, never added
			trackFinish(7, false, -1, 3),  // above everything added
			trackFinish(-1, false, -1, 3), // below everything added
			trackFinish(0, true, 1, 2),
			trackFinish(0, false, 1, 2), // already passed
			trackFinish(5, false, 1, 2),
			trackFinish(5, false, 1, 2), // finished twice
			trackFinish(1, true, 6, 0),
			trackFinish(1, false, 6, 0),
		}},
		{"finishing into an empty tracker", []trackerStep{
			trackFinish(0, false, -1, 0),
			trackAdd(4, -1, 1), trackFinish(4, true, 5, 0), trackFinish(4, false, 5, 0),
			trackAdd(6, 5, 1), trackFinish(6, true, 7, 0),
		}},
		{"commit point survives an empty tracker", []trackerStep{
			trackAdd(0, -1, 1), trackFinish(0, true, 1, 0),
			trackAdd(1, 1, 1), trackAdd(2, 1, 2), trackFinish(2, false, 1, 2), trackFinish(1, true, 3, 0),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker()
			if got := tr.commitPoint(); got != -1 {
				t.Fatalf("new tracker: commitPoint() = %d, want -1", got)
			}
			if got := tr.pending(); got != 0 {
				t.Fatalf("new tracker: pending() = %d, want 0", got)
			}
			for i, s := range tt.steps {
				if s.finish {
					if moved := tr.finish(s.o); moved != s.wantMoved {
						t.Fatalf("step %d: finish(%d) = %v, want %v", i, s.o, moved, s.wantMoved)
					}
				} else {
					tr.add(s.add)
				}
				if got := tr.commitPoint(); got != s.wantCommit {
					t.Fatalf("step %d: commitPoint() = %d, want %d", i, got, s.wantCommit)
				}
				if got := tr.pending(); got != s.wantPend {
					t.Fatalf("step %d: pending() = %d, want %d", i, got, s.wantPend)
				}
			}
		})
	}
}

// trackerModel is the obvious implementation of a tracker: every offset
// ever added, never compacted.
type trackerModel struct {
	offsets []int64
	done    []bool
	passed  int // offsets[:passed] are all finished
}

func (m *trackerModel) index(o int64) int {
	for i := m.passed; i < len(m.offsets); i++ {
		if m.offsets[i] == o {
			return i
		}
	}
	return -1
}

func (m *trackerModel) finish(o int64) bool {
	i := m.index(o)
	if i < 0 {
		return false
	}
	m.done[i] = true
	before := m.passed
	for m.passed < len(m.offsets) && m.done[m.passed] {
		m.passed++
	}
	return m.passed != before
}

func (m *trackerModel) commitPoint() int64 {
	if m.passed == 0 {
		return -1
	}
	return m.offsets[m.passed-1] + 1
}

// TestTrackerRandom adds 100,000 offsets with random gaps and finishes them
// in random order, sometimes finishing unknown or already finished ones, and
// checks every answer against trackerModel. It also checks that the
// tracker's slice stays proportional to the offsets in flight, however many
// have passed.
func TestTrackerRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 42))
			tr := newTracker()
			model := &trackerModel{}
			const total = 100_000
			window := 1 + rng.IntN(200) // most offsets unfinished at once
			var (
				next     int64
				inflight []int64 // added, not yet finished
				maxPend  int
			)
			check := func(op string, o int64, moved, wantMoved bool) {
				t.Helper()
				if moved != wantMoved {
					t.Fatalf("%s(%d) = %v, want %v", op, o, moved, wantMoved)
				}
				if got, want := tr.commitPoint(), model.commitPoint(); got != want {
					t.Fatalf("after %s(%d): commitPoint() = %d, want %d", op, o, got, want)
				}
				if got, want := tr.pending(), len(model.offsets)-model.passed; got != want {
					t.Fatalf("after %s(%d): pending() = %d, want %d", op, o, got, want)
				}
				maxPend = max(maxPend, tr.pending())
				if limit := 2*maxPend + 2; len(tr.offsets) > limit || len(tr.done) != len(tr.offsets) {
					t.Fatalf("after %s(%d): tracker holds %d offsets (%d flags), want at most %d for %d pending",
						op, o, len(tr.offsets), len(tr.done), limit, maxPend)
				}
			}
			for added := 0; added < total || len(inflight) > 0; {
				switch r := rng.IntN(20); {
				case added < total && (len(inflight) < window && r < 10 || len(inflight) == 0):
					if rng.IntN(4) == 0 {
						next += 1 + int64(rng.IntN(5)) // a gap, as in a compacted topic
					}
					tr.add(next)
					model.offsets = append(model.offsets, next)
					model.done = append(model.done, false)
					inflight = append(inflight, next)
					added++
					next++
					check("add", next-1, false, false)
				case r == 0:
					// An offset the tracker does not hold (or no longer
					// holds as unfinished).
					o := next - 1 - int64(rng.IntN(int(min(next, 1000))+1))
					if model.index(o) >= 0 && !model.done[model.index(o)] {
						continue
					}
					check("finish", o, tr.finish(o), false)
				default:
					i := rng.IntN(len(inflight))
					o := inflight[i]
					inflight[i] = inflight[len(inflight)-1]
					inflight = inflight[:len(inflight)-1]
					want := model.finish(o)
					check("finish", o, tr.finish(o), want)
				}
			}
			if got, want := tr.commitPoint(), next; got != want {
				t.Fatalf("all finished: commitPoint() = %d, want %d", got, want)
			}
			if got := tr.pending(); got != 0 {
				t.Fatalf("all finished: pending() = %d, want 0", got)
			}
		})
	}
}

// TestTrackerCompactsInOrder checks that a tracker that never has more than
// a handful of offsets in flight keeps a small slice over a long run.
func TestTrackerCompactsInOrder(t *testing.T) {
	tr := newTracker()
	for o := range int64(100_000) {
		tr.add(o)
		if o >= 3 {
			if !tr.finish(o - 3) {
				t.Fatalf("finish(%d) did not move the commit point", o-3)
			}
		}
		if cap(tr.offsets) > 64 {
			t.Fatalf("after %d offsets the tracker's slice has capacity %d", o+1, cap(tr.offsets))
		}
	}
	if got := tr.commitPoint(); got != 100_000-3 {
		t.Fatalf("commitPoint() = %d, want %d", got, 100_000-3)
	}
	if got := tr.pending(); got != 3 {
		t.Fatalf("pending() = %d, want 3", got)
	}
}
