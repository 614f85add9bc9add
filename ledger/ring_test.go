package ledger

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/event"
)

// fakeClock is a settable clock for a ledger under test.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time          { return c.now }
func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// newTest returns a ledger reading clk, which starts at a whole second.
func newTest(cfg Config, clk *fakeClock) *Ledger {
	if clk.now.IsZero() {
		clk.now = time.Unix(1_750_000_000, 0)
	}
	l := New(cfg)
	l.clock = clk.Now
	l.now = clk.now.UnixNano()
	return l
}

// record records a sent outcome of the identity hash h completed at t.
func (l *Ledger) record(h uint64, t time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recordSent(h, t)
}

// held returns the held identities, oldest first, and their times.
func (l *Ledger) held() (hashes []uint64, times []uint32) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.n {
		e := l.ring[(l.head+i)%len(l.ring)]
		hashes = append(hashes, e.hash())
		times = append(times, e.at)
	}
	return hashes, times
}

// checkIndex verifies that the index holds exactly the ring's entries, each
// reachable from its home slot.
func (l *Ledger) checkIndex() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.index)&(len(l.index)-1) != 0 {
		return fmt.Errorf("index length %d is not a power of two", len(l.index))
	}
	if 10*l.n > 7*len(l.index) {
		return fmt.Errorf("index loaded beyond 0.7: %d entries in %d slots", l.n, len(l.index))
	}
	used := 0
	for _, e := range l.index {
		if e != 0 {
			used++
		}
	}
	if used != l.n {
		return fmt.Errorf("%d index slots in use, %d entries held", used, l.n)
	}
	mask := len(l.index) - 1
	for j, e := range l.index {
		if e == 0 {
			continue
		}
		p := int(e&l.posMask) - 1
		if p < 0 || p >= len(l.ring) || (p-l.head+len(l.ring))%len(l.ring) >= l.n {
			return fmt.Errorf("index slot %d holds ring position %d, not held", j, p)
		}
		h := l.ring[p].hash()
		d := (j - l.home(h)) & mask
		if want := l.slot(h, p, d); e != want {
			return fmt.Errorf("index slot %d is %#x, want %#x (distance %d)", j, e, want, d)
		}
	}
	for i := range l.n {
		p := (l.head + i) % len(l.ring)
		if got, _ := l.find(l.ring[p].hash()); got != p {
			return fmt.Errorf("entry %d (ring position %d) found at %d", i, p, got)
		}
	}
	return nil
}

// far counts the index slots whose distance from home is not stored.
func (l *Ledger) far() (n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.index {
		if e != 0 && int(e>>l.posBits)&farDist == farDist {
			n++
		}
	}
	return n
}

func TestEvictionAtCap(t *testing.T) {
	for _, tc := range []struct {
		cap, records int
	}{
		{cap: 1, records: 1},
		{cap: 1, records: 5},
		{cap: 3, records: 3},
		{cap: 3, records: 4},
		{cap: 1000, records: 999},
		{cap: 1000, records: 1001},
		{cap: 1000, records: 3007},
		{cap: 5000, records: 4097}, // grown past initialRing, not full
		{cap: 5000, records: 15011},
	} {
		t.Run(fmt.Sprintf("cap=%d,records=%d", tc.cap, tc.records), func(t *testing.T) {
			clk := &fakeClock{}
			l := newTest(Config{LookBack: time.Hour, MaxEntries: tc.cap}, clk)
			for i := range tc.records {
				l.Record(sent(fmt.Sprint(i), clk.now))
			}
			held := min(tc.records, tc.cap)
			if n, _ := l.Len(); n != held {
				t.Fatalf("Len = %d, want %d", n, held)
			}
			for i := range tc.records {
				if got, want := l.Sent("/s", fmt.Sprint(i)), i >= tc.records-held; got != want {
					t.Fatalf("Sent(%d) = %v, want %v (the oldest go first)", i, got, want)
				}
			}
			if err := l.checkIndex(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLookBackExpiry(t *testing.T) {
	const lookBack = time.Hour
	for _, tc := range []struct {
		name    string
		age     time.Duration // of the outcome when recorded
		later   time.Duration // until Sent is asked
		sent    bool
		heldNow int // by Len, after later
	}{
		{name: "fresh", age: 0, later: 0, sent: true, heldNow: 1},
		{name: "at the edge", age: 0, later: lookBack, sent: true, heldNow: 1},
		{name: "just past", age: 0, later: lookBack + time.Second, sent: false, heldNow: 0},
		{name: "recorded old, still within", age: lookBack - time.Second, later: time.Second, sent: true, heldNow: 1},
		{name: "recorded old, then past", age: lookBack - time.Second, later: 2 * time.Second, sent: false, heldNow: 0},
		{name: "recorded past the look-back", age: lookBack + time.Second, later: 0, sent: false, heldNow: 0},
		{name: "from the future", age: -time.Hour, later: lookBack, sent: true, heldNow: 1},
		{name: "zero time", age: time.Duration(1 << 62), later: 0, sent: false, heldNow: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{}
			l := newTest(Config{LookBack: lookBack, MaxEntries: 10}, clk)
			at := clk.now.Add(-tc.age)
			if tc.name == "zero time" {
				at = time.Time{}
			}
			l.Record(sent("a", at))
			clk.advance(tc.later)
			// Sent reads the clock itself, whatever the ledger last saw.
			if got := l.Sent("/s", "a"); got != tc.sent {
				t.Fatalf("Sent = %v, want %v", got, tc.sent)
			}
			if n, _ := l.Len(); n != tc.heldNow {
				t.Fatalf("Len = %d, want %d", n, tc.heldNow)
			}
		})
	}

	t.Run("expired identities are forgotten, not just hidden", func(t *testing.T) {
		clk := &fakeClock{}
		l := newTest(Config{LookBack: lookBack, MaxEntries: 100}, clk)
		for i := range 50 {
			l.Record(sent(fmt.Sprint(i), clk.now))
			clk.advance(time.Minute)
		}
		// Now at +50m: identities 0..9 completed more than an hour ago
		// once the clock reaches +70m.
		clk.advance(20 * time.Minute)
		if n, _ := l.Len(); n != 40 {
			t.Fatalf("Len = %d after 10 of 50 expired, want 40", n)
		}
		// Records refresh the ledger's clock and forget the expired too.
		clk.advance(10 * time.Minute)
		for i := range clockEvery {
			l.Record(sent(fmt.Sprint("new", i), clk.now))
		}
		hashes, _ := l.held()
		if len(hashes) != 30+clockEvery {
			t.Fatalf("%d held, want %d", len(hashes), 30+clockEvery)
		}
		for i := range 50 {
			if got, want := l.Sent("/s", fmt.Sprint(i)), i >= 20; got != want {
				t.Fatalf("Sent(%d) = %v, want %v", i, got, want)
			}
		}
	})
}

func TestReRecord(t *testing.T) {
	const lookBack = time.Hour
	for _, tc := range []struct {
		name          string
		first, second time.Duration // completions, from the start
		outcome2      string        // of the second
		sentAt, notAt time.Duration // Sent is true at sentAt, false at notAt
	}{
		{name: "same time", first: 0, second: 0, outcome2: event.OutcomeSent, sentAt: lookBack, notAt: lookBack + time.Second},
		{name: "later time wins", first: 0, second: 30 * time.Minute, outcome2: event.OutcomeSent, sentAt: lookBack + 30*time.Minute, notAt: lookBack + 31*time.Minute},
		{name: "earlier time does not shorten", first: 30 * time.Minute, second: 0, outcome2: event.OutcomeSent, sentAt: lookBack + 30*time.Minute, notAt: lookBack + 31*time.Minute},
		{name: "a duplicate outcome counts", first: 0, second: 30 * time.Minute, outcome2: event.OutcomeDuplicate, sentAt: lookBack + 30*time.Minute, notAt: lookBack + 31*time.Minute},
		{name: "a dead letter does not", first: 0, second: 30 * time.Minute, outcome2: event.OutcomeDeadLettered, sentAt: lookBack, notAt: lookBack + time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1_750_000_000, 0)}
			start := clk.now
			l := newTest(Config{LookBack: lookBack, MaxEntries: 10}, clk)
			clk.now = start.Add(max(tc.first, tc.second))
			l.Len() // the ledger sees the clock
			l.Record(sent("a", start.Add(tc.first)))
			r := sent("a", start.Add(tc.second))
			r.Outcome = tc.outcome2
			l.Record(r)
			if n, _ := l.Len(); n != 1 {
				t.Fatalf("Len = %d, want 1", n)
			}
			clk.now = start.Add(tc.sentAt)
			if !l.Sent("/s", "a") {
				t.Fatalf("not sent at +%v", tc.sentAt)
			}
			clk.now = start.Add(tc.notAt)
			if l.Sent("/s", "a") {
				t.Fatalf("still sent at +%v", tc.notAt)
			}
		})
	}

	t.Run("keeps its place in the ring", func(t *testing.T) {
		clk := &fakeClock{}
		l := newTest(Config{LookBack: lookBack, MaxEntries: 2}, clk)
		l.Record(sent("a", clk.now))
		l.Record(sent("b", clk.now))
		l.Record(sent("a", clk.now.Add(time.Second)))
		l.Record(sent("c", clk.now))
		if l.Sent("/s", "a") || !l.Sent("/s", "b") || !l.Sent("/s", "c") {
			t.Fatal("recording a held identity again must not move it in the ring")
		}
	})
}

// model is the ledger's specified behaviour for sent identities, kept
// simply: a FIFO of hashes and a map of their completion times.
type model struct {
	lookBack int64 // ns
	cap      int
	fifo     []uint64
	at       map[uint64]uint32
}

func (m *model) expired(at uint32, now int64) bool { return now-int64(at)*1e9 > m.lookBack }

func (m *model) expire(now int64) {
	for len(m.fifo) > 0 && m.expired(m.at[m.fifo[0]], now) {
		delete(m.at, m.fifo[0])
		m.fifo = m.fifo[1:]
	}
}

func (m *model) record(h uint64, t time.Time, now int64) {
	if t.UnixNano() < now-m.lookBack {
		return
	}
	at := uint32(t.Unix())
	if old, ok := m.at[h]; ok {
		m.at[h] = max(old, at)
		return
	}
	m.expire(now)
	if len(m.fifo) == m.cap {
		delete(m.at, m.fifo[0])
		m.fifo = m.fifo[1:]
	}
	m.fifo = append(m.fifo, h)
	m.at[h] = at
}

func (m *model) sent(h uint64, now int64) bool {
	at, ok := m.at[h]
	return ok && !m.expired(at, now)
}

// TestRandomAgainstModel runs 200,000 random operations on a ledger and on
// the model, and compares them as it goes: at a cap of 1000 the ring wraps
// around hundreds of times and tens of thousands of inserts evict; at 5000
// it grows first.
func TestRandomAgainstModel(t *testing.T) {
	const ops = 200_000
	random := func(r *rand.Rand) uint64 { return r.Uint64() }
	for _, tc := range []struct {
		name       string
		maxEntries int
		lookBack   time.Duration
		hash       func(r *rand.Rand) uint64
		far        bool // whether the index must hold slots far from home
	}{
		{name: "random hashes", maxEntries: 1000, lookBack: 10 * time.Minute, hash: random},
		// Homes from 64 of 2048 slots: long runs, many backward shifts,
		// distances too far to store.
		{name: "crowded homes", maxEntries: 1000, lookBack: 10 * time.Minute, far: true,
			hash: func(r *rand.Rand) uint64 { return r.Uint64()&^0x7ff | r.Uint64N(64)<<5 }},
		// Equal tags: every probe reads the ring to compare.
		{name: "equal tags", maxEntries: 1000, lookBack: 10 * time.Minute,
			hash: func(r *rand.Rand) uint64 { return 0xabcdef12<<32 | r.Uint64()&0xffffffff }},
		{name: "growing", maxEntries: 5000, lookBack: 20 * time.Minute, hash: random},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lookBack := tc.lookBack
			rng := rand.New(rand.NewPCG(1, 2))
			clk := &fakeClock{}
			l := newTest(Config{LookBack: lookBack, MaxEntries: tc.maxEntries}, clk)
			m := &model{lookBack: int64(lookBack), cap: tc.maxEntries, at: map[uint64]uint32{}}
			var capEvictions, expiries, far int
			var seen []uint64 // every hash ever recorded
			pick := func() uint64 {
				if len(seen) == 0 || rng.IntN(4) == 0 {
					return tc.hash(rng)
				}
				if len(m.fifo) > 0 && rng.IntN(2) == 0 {
					return m.fifo[rng.IntN(len(m.fifo))] // held
				}
				return seen[rng.IntN(len(seen))] // maybe forgotten
			}
			for op := range ops {
				now := clk.now.UnixNano()
				switch k := rng.IntN(100); {
				case k < 60: // record, completed up to a bit past the look-back ago
					h := pick()
					at := clk.now.Add(-time.Duration(rng.Int64N(int64(lookBack + time.Minute))))
					held := len(m.fifo)
					l.record(h, at)
					m.record(h, at, now)
					seen = append(seen, h)
					if held == tc.maxEntries && len(m.fifo) == held && m.fifo[held-1] == h {
						capEvictions++
					}
				case k < 90:
					h := pick()
					if got, want := l.sent(h), m.sent(h, now); got != want {
						t.Fatalf("op %d: sent(%#x) = %v, want %v", op, h, got, want)
					}
				case k < 99: // the clock moves; Len lets the ledger see it
					clk.advance(time.Duration(rng.Int64N(int64(2 * time.Second))))
					held := len(m.fifo)
					m.expire(clk.now.UnixNano())
					expiries += held - len(m.fifo)
					if n, _ := l.Len(); n != len(m.fifo) {
						t.Fatalf("op %d: Len = %d, want %d", op, n, len(m.fifo))
					}
				default:
					hashes, times := l.held()
					want := make([]uint32, len(m.fifo))
					for i, h := range m.fifo {
						want[i] = m.at[h]
					}
					if !slices.Equal(hashes, m.fifo) || !slices.Equal(times, want) {
						t.Fatalf("op %d: ring differs from the model", op)
					}
					if err := l.checkIndex(); err != nil {
						t.Fatalf("op %d: %v", op, err)
					}
					far = max(far, l.far())
				}
			}
			if err := l.checkIndex(); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d records, %d evicted at the cap, %d expired by Len, up to %d slots far from home",
				len(seen), capEvictions, expiries, far)
			if capEvictions < 10_000 || expiries < 1000 || len(l.ring) != tc.maxEntries || tc.far && far == 0 {
				t.Fatal("the operations do not exercise the ledger enough")
			}
		})
	}
}

// TestGrowWrapped grows a ring whose oldest entry is not at its start.
func TestGrowWrapped(t *testing.T) {
	clk := &fakeClock{}
	l := newTest(Config{LookBack: time.Hour, MaxEntries: 5000}, clk)
	id := func(i int) string { return fmt.Sprint(i) }
	for i := range 500 {
		l.Record(sent(id(i), clk.now.Add(-time.Hour+time.Second)))
	}
	for i := 500; i < initialRing; i++ {
		l.Record(sent(id(i), clk.now))
	}
	clk.advance(2 * time.Second)
	if n, _ := l.Len(); n != initialRing-500 || l.head != 500 {
		t.Fatalf("Len = %d, head %d; want %d, 500", n, l.head, initialRing-500)
	}
	for i := initialRing; i < initialRing+1000; i++ {
		l.Record(sent(id(i), clk.now))
	}
	if len(l.ring) != 2*initialRing {
		t.Fatalf("ring of %d, want %d", len(l.ring), 2*initialRing)
	}
	for i := range initialRing + 1000 {
		if got, want := l.Sent("/s", id(i)), i >= 500; got != want {
			t.Fatalf("Sent(%d) = %v, want %v", i, got, want)
		}
	}
	if err := l.checkIndex(); err != nil {
		t.Fatal(err)
	}
	hashes, _ := l.held()
	for i, h := range hashes {
		if h != l.hash("/s", id(500+i)) {
			t.Fatalf("ring entry %d is not identity %d: the order is lost", i, 500+i)
		}
	}
}

func TestMemoryBounded(t *testing.T) {
	for _, limit := range []int{1, 7, 1000, 1024, 1500, 5000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			clk := &fakeClock{}
			l := newTest(Config{LookBack: time.Hour, MaxEntries: limit}, clk)
			rng := rand.New(rand.NewPCG(3, 4))
			for i := range 3 * limit {
				l.record(rng.Uint64(), clk.now)
				if i == 9 && (len(l.ring) > initialRing || len(l.index) > indexLen(initialRing)) {
					t.Fatalf("10 identities take a ring of %d and an index of %d", len(l.ring), len(l.index))
				}
				if cap(l.ring) > limit || cap(l.index) > indexLen(limit) {
					t.Fatalf("after %d records: ring %d, index %d; bound %d, %d", i+1, cap(l.ring), cap(l.index), limit, indexLen(limit))
				}
			}
			if n, _ := l.Len(); n != limit {
				t.Fatalf("Len = %d, want %d", n, limit)
			}
			if err := l.checkIndex(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestHeapPerEntry checks the documented 20.4 bytes per identity at a cap
// of 1,000,000.
func TestHeapPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a ledger of 1,000,000")
	}
	per := heapPerEntry(1_000_000)
	t.Logf("%.2f bytes per entry", per)
	if per > 21.5 {
		t.Fatalf("%.2f bytes per entry, want about 20.4", per)
	}
}

func TestNoAllocations(t *testing.T) {
	l := New(Config{MaxEntries: 1000})
	r := sent("a", time.Now())
	l.Record(r)
	if n := testing.AllocsPerRun(100, func() { l.Record(r) }); n != 0 {
		t.Errorf("Record allocates %v times", n)
	}
	if n := testing.AllocsPerRun(100, func() { l.Sent("/s", "a"); l.Sent("/s", "b") }); n != 0 {
		t.Errorf("Sent allocates %v times", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	l := New(Config{LookBack: time.Hour, MaxEntries: 500})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				id := fmt.Sprint(g, "-", i)
				l.Record(sent(id, time.Now()))
				l.Sent("/s", id)
				if i%100 == 0 {
					l.Len()
				}
			}
		})
	}
	wg.Wait()
	if n, _ := l.Len(); n != 500 {
		t.Fatalf("Len = %d, want 500", n)
	}
	if err := l.checkIndex(); err != nil {
		t.Fatal(err)
	}
}
