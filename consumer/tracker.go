package consumer

import "sort"

// tracker follows the offsets of one partition that are in flight and
// finds the commit point: the offset below which every record has a final
// outcome. Records finish in any order; the commit point only moves over an
// unbroken run of finished offsets. It is owned by one goroutine.
type tracker struct {
	offsets []int64 // in flight or finished but not yet passed, ascending
	done    []bool
	head    int   // index of the first entry still tracked
	next    int64 // commit point: every offset below it is finished (-1: none yet)
}

func newTracker() *tracker { return &tracker{next: -1} }

// add starts tracking offset o; offsets are added in increasing order.
func (t *tracker) add(o int64) {
	if t.head > 0 && t.head*2 >= len(t.offsets) {
		n := copy(t.offsets, t.offsets[t.head:])
		copy(t.done, t.done[t.head:])
		t.offsets, t.done, t.head = t.offsets[:n], t.done[:n], 0
	}
	t.offsets = append(t.offsets, o)
	t.done = append(t.done, false)
}

// finish marks offset o finished and reports whether the commit point moved.
func (t *tracker) finish(o int64) bool {
	live := t.offsets[t.head:]
	i := sort.Search(len(live), func(i int) bool { return live[i] >= o })
	if i == len(live) || live[i] != o {
		return false
	}
	t.done[t.head+i] = true
	moved := false
	for t.head < len(t.offsets) && t.done[t.head] {
		t.next = t.offsets[t.head] + 1
		t.head++
		moved = true
	}
	return moved
}

// pending is the number of tracked offsets the commit point has not yet
// passed: those in flight and those finished after an unfinished one.
func (t *tracker) pending() int { return len(t.offsets) - t.head }

// commitPoint returns the offset to commit (the next one to read), or -1
// when nothing has finished yet.
func (t *tracker) commitPoint() int64 { return t.next }
