package consumer

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/brazegw/gateway/event"
)

// gateKeys remembers the keys the tests gave each message, by name.
var gateKeys = map[*Message][]string{}

func gateMessage(offset int64, keys ...string) *Message {
	m := &Message{Record: event.Record{Offset: offset}}
	for _, k := range keys {
		m.addKey(kafkaKey([]byte(k)))
	}
	gateKeys[m] = keys
	return m
}

func gateOffsets(ms []*Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Record.Offset
	}
	return out
}

func TestGateSameKeyInOrder(t *testing.T) {
	g := newGate()
	a0, a1, a2 := gateMessage(0, "k:a"), gateMessage(1, "k:a"), gateMessage(2, "k:a")
	if !g.enter(a0) {
		t.Fatal("first message of key a was held")
	}
	if g.enter(a1) || g.enter(a2) {
		t.Fatal("a later message of key a went while the first is unfinished")
	}
	if got := g.held(); got != 1 {
		t.Fatalf("held() = %d, want 1", got)
	}
	if got := gateOffsets(g.leave(a0, nil)); !slices.Equal(got, []int64{1}) {
		t.Fatalf("leave(0) released %v, want [1]", got)
	}
	if got := gateOffsets(g.leave(a1, nil)); !slices.Equal(got, []int64{2}) {
		t.Fatalf("leave(1) released %v, want [2]", got)
	}
	if got := g.leave(a2, nil); len(got) != 0 {
		t.Fatalf("leave(2) released %v, want nothing", gateOffsets(got))
	}
	if got := g.held(); got != 0 {
		t.Fatalf("held() = %d after everything finished, want 0", got)
	}
	// The key's queue is gone: its next message goes at once.
	if !g.enter(gateMessage(3, "k:a")) {
		t.Fatal("message of key a was held although nothing of a is in flight")
	}
}

func TestGateOtherKeysFlow(t *testing.T) {
	g := newGate()
	a0, a1 := gateMessage(0, "k:a"), gateMessage(1, "k:a")
	b2, none3, none4 := gateMessage(2, "k:b"), gateMessage(3), gateMessage(4)
	for _, tc := range []struct {
		m    *Message
		want bool
	}{{a0, true}, {a1, false}, {b2, true}, {none3, true}, {none4, true}} {
		if got := g.enter(tc.m); got != tc.want {
			t.Fatalf("enter(%d) = %v, want %v", tc.m.Record.Offset, got, tc.want)
		}
	}
	if got := g.held(); got != 2 {
		t.Fatalf("held() = %d, want 2 (keys a and b)", got)
	}
	// Keyless messages leave nothing behind and release nothing.
	if got := g.leave(none4, nil); len(got) != 0 {
		t.Fatalf("leave of a keyless message released %v", gateOffsets(got))
	}
	if got := g.leave(b2, nil); len(got) != 0 {
		t.Fatalf("leave(b) released %v, want nothing", gateOffsets(got))
	}
	if got := gateOffsets(g.leave(a0, nil)); !slices.Equal(got, []int64{1}) {
		t.Fatalf("leave(a0) released %v, want [1]", got)
	}
}

// TestGateTwoKeys checks a message with a Kafka key and a schedule key: it
// waits until the earlier messages of both keys have finished, and holds
// back later messages of either key.
func TestGateTwoKeys(t *testing.T) {
	tests := []struct {
		name       string
		leaveOrder []int // the order in which the first two messages finish
	}{
		{"kafka key finishes first", []int{0, 1}},
		{"schedule key finishes first", []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			k0 := gateMessage(0, "k:a")
			s1 := gateMessage(1, "s:ws/sched")
			both := gateMessage(2, "k:a", "s:ws/sched")
			k3 := gateMessage(3, "k:a")
			s4 := gateMessage(4, "s:ws/sched")
			for _, m := range []*Message{k0, s1} {
				if !g.enter(m) {
					t.Fatalf("enter(%d) held a message with no earlier one of its key", m.Record.Offset)
				}
			}
			for _, m := range []*Message{both, k3, s4} {
				if g.enter(m) {
					t.Fatalf("enter(%d) let a message go past an unfinished one of its key", m.Record.Offset)
				}
			}
			first := []*Message{k0, s1}
			if got := g.leave(first[tt.leaveOrder[0]], nil); len(got) != 0 {
				t.Fatalf("first leave released %v; the two-key message must wait for both keys", gateOffsets(got))
			}
			if got := gateOffsets(g.leave(first[tt.leaveOrder[1]], nil)); !slices.Equal(got, []int64{2}) {
				t.Fatalf("second leave released %v, want [2]", got)
			}
			got := gateOffsets(g.leave(both, nil))
			slices.Sort(got)
			if !slices.Equal(got, []int64{3, 4}) {
				t.Fatalf("leave of the two-key message released %v, want [3 4]", got)
			}
		})
	}
}

// TestGateReuseReady checks that leave appends to the slice it is given,
// as partition.complete reuses one.
func TestGateReuseReady(t *testing.T) {
	g := newGate()
	a0, a1 := gateMessage(0, "k:a"), gateMessage(1, "k:a")
	g.enter(a0)
	g.enter(a1)
	prev := gateMessage(99)
	ready := g.leave(a0, []*Message{prev})
	if got := gateOffsets(ready); !slices.Equal(got, []int64{99, 1}) {
		t.Fatalf("leave appended to give %v, want [99 1]", got)
	}
}

// TestGateRandom enters messages with random ordering keys (none, a Kafka
// key, a schedule key or both) in offset order and finishes released ones in
// random order. After every step it checks the gate against a model:
// exactly the messages with no earlier unfinished message sharing a key have
// been released, so per key the messages go one at a time in offset order
// and none is held without cause; at the end everything has been released.
func TestGateRandom(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run("seed "+strconv.FormatUint(seed, 10), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			const total = 5000
			nKafka, nSched := 1+rng.IntN(12), 1+rng.IntN(4)
			window := 1 + rng.IntN(64)

			g := newGate()
			var (
				entered  []*Message // unfinished, in offset order
				released = map[*Message]bool{}
				running  []*Message           // released, not finished
				lastGone = map[string]int64{} // per key, offset of the latest release
				finished int
			)
			release := func(m *Message) {
				t.Helper()
				if released[m] {
					t.Fatalf("offset %d released twice", m.Record.Offset)
				}
				released[m] = true
				running = append(running, m)
				for _, k := range gateKeys[m] {
					if last, ok := lastGone[k]; ok && last >= m.Record.Offset {
						t.Fatalf("key %s: offset %d released after offset %d", k, m.Record.Offset, last)
					}
					lastGone[k] = m.Record.Offset
				}
			}
			check := func() {
				t.Helper()
				busy := map[string]*Message{} // per key, the earliest unfinished message
				for _, m := range entered {
					free := true
					for _, k := range gateKeys[m] {
						if other, ok := busy[k]; ok {
							free = false
							if released[m] {
								t.Fatalf("key %s: offset %d released while offset %d is unfinished",
									k, m.Record.Offset, other.Record.Offset)
							}
						} else {
							busy[k] = m
						}
					}
					if free && !released[m] {
						t.Fatalf("offset %d (keys %v) held although no earlier message of its keys is unfinished",
							m.Record.Offset, gateKeys[m])
					}
				}
				distinct := map[string]bool{}
				for _, m := range entered {
					for _, k := range gateKeys[m] {
						distinct[k] = true
					}
				}
				if got := g.held(); got != len(distinct) {
					t.Fatalf("held() = %d, want %d", got, len(distinct))
				}
			}

			for next := int64(0); next < total || len(entered) > 0; {
				if next < total && (len(entered) < window && rng.IntN(2) == 0 || len(running) == 0) {
					var keys []string
					if rng.IntN(5) > 0 {
						keys = append(keys, "k:"+strconv.Itoa(rng.IntN(nKafka)))
					}
					if rng.IntN(3) == 0 {
						keys = append(keys, "s:ws/"+strconv.Itoa(rng.IntN(nSched)))
					}
					m := gateMessage(next, keys...)
					next++
					entered = append(entered, m)
					if g.enter(m) {
						release(m)
					}
				} else {
					if len(running) == 0 {
						t.Fatalf("%d messages entered and none running: the gate is stuck", len(entered))
					}
					i := rng.IntN(len(running))
					m := running[i]
					running = slices.Delete(running, i, i+1)
					entered = slices.DeleteFunc(entered, func(e *Message) bool { return e == m })
					finished++
					for _, r := range g.leave(m, nil) {
						release(r)
					}
				}
				check()
			}
			if finished != total || len(released) != total {
				t.Fatalf("finished %d and released %d of %d messages", finished, len(released), total)
			}
			if got := g.held(); got != 0 {
				t.Fatalf("held() = %d at the end, want 0", got)
			}
		})
	}
}
