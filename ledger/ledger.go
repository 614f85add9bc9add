// Package ledger is the gateway's memory of outcomes, rebuilt from the
// results topic: which events Braze already accepted (so that an event
// delivered again after a crash, a rebalance or a replay is not sent twice)
// and which schedule_id each schedule key stands for (so that producers can
// update and delete schedules without ever seeing Braze's answer).
//
// Every replica reads the whole results topic, so the ledger is shared by
// all replicas through Kafka; the gateway also records its own outcomes as
// soon as they are written, so it never waits for its own writes to come
// back. Memory is bounded: sent-event identities are kept for a look-back
// window and up to a maximum count, as 64-bit hashes, in a FIFO ring and an
// open-addressing index that hold no pointers (the garbage collector never
// scans them). A full ledger takes 12 bytes per identity in the ring (an
// 8-byte hash and a 4-byte completion time) plus 4 bytes per slot of the
// index, a power of two loaded to at most 0.7: 20.4 bytes per identity at
// the default cap of 1 million or at 2 million (load 0.48), between about
// 17.7 and 23.4 for other caps. Below the cap the ring and the index grow by
// doubling, so a quiet gateway holds little; each doubling copies them, and
// until the garbage collector frees the old copy the last one briefly takes
// about 1.5 times the full size.
package ledger

import (
	"hash/maphash"
	"math"
	"math/bits"
	"sync"
	"time"

	"github.com/brazegw/gateway/event"
)

// Config bounds the ledger.
type Config struct {
	// LookBack is how long a sent event's identity is remembered.
	LookBack time.Duration `yaml:"lookback"`
	// MaxEntries caps the remembered identities (oldest forgotten first).
	// At the cap each takes 17.7 to 23.4 bytes, 20.4 at 1 or 2 million
	// (see the package doc). Values above 2^28-1 are taken as 2^28-1.
	MaxEntries int `yaml:"max_entries"`
}

// DefaultConfig remembers sent events for 24 hours, up to 1 million (about
// 20 MB once full: 20.4 bytes per identity). A crash or a rebalance sends
// again at most kafka.max_inflight × partitions events, far fewer; a
// million covers at least the last five minutes at Braze's highest rate
// for one workspace (3,500 recipients a second), hours at usual rates.
func DefaultConfig() Config {
	return Config{LookBack: 24 * time.Hour, MaxEntries: 1_000_000}
}

const (
	// initialRing is the ring's first capacity (less if the cap is lower).
	initialRing = 1 << 10
	// maxRing bounds MaxEntries, so that a ring position and a distance
	// fit in one uint32 index slot.
	maxRing = 1<<(32-distBits) - 1
	// distBits is the width of a slot's distance from its home slot;
	// farDist, its greatest value, stands for farDist or more.
	distBits = 4
	farDist  = 1<<distBits - 1
	// clockEvery is how many Records use the clock as last read before
	// reading it again.
	clockEvery = 64
)

// Ledger is safe for concurrent use.
type Ledger struct {
	cfg        Config
	lookBackNs int64
	seed       maphash.Seed
	clock      func() time.Time // time.Now, but for tests

	mu sync.Mutex

	// Sent-event identities: a FIFO ring, its oldest entry at head, and an
	// index from hash to ring position. The ring starts small and doubles
	// up to cfg.MaxEntries.
	ring []entry
	head int // ring position of the oldest entry
	n    int // entries held
	// index is a linear-probing hash table, its length a power of two,
	// searched from the slot the low bits of a hash select (its home).
	// A slot is 0 when empty; else, from its low bits up, it holds the
	// ring position plus one (posBits), its distance from its home
	// (distBits, farDist meaning "read the ring") and the high bits of the
	// hash (a tag, the rest of the slot). Distance and tag settle nearly
	// every mismatch, and every move on deletion, without reading the
	// ring.
	index   []uint32
	posBits uint
	posMask uint32

	// now is the clock (unix nanoseconds) as last read: by New, by Len,
	// and by every clockEvery-th Record (reading the clock costs more than
	// the rest of a Record). A stale now only makes the ledger accept and
	// keep an identity a little past its look-back, never report one: Sent
	// reads the clock itself.
	now  int64
	tick uint32

	keys map[string]scheduleRef // workspace + "\x00" + schedule key
}

// scheduleRef is the latest known state of a schedule key. Results of one
// key may sit in different partitions of the results topic and be read in
// any order, so the latest completion wins, not the latest read.
type scheduleRef struct {
	id      string
	at      time.Time
	deleted bool
}

// entry is a sent-event identity in the ring: its hash, in two halves so
// that an entry takes 12 bytes (one cache line, mostly), and its completion
// time in unix seconds.
type entry struct{ lo, hi, at uint32 }

func (e *entry) hash() uint64 { return uint64(e.hi)<<32 | uint64(e.lo) }

// New returns an empty ledger.
func New(cfg Config) *Ledger {
	if cfg.LookBack <= 0 {
		cfg.LookBack = DefaultConfig().LookBack
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultConfig().MaxEntries
	}
	cfg.MaxEntries = min(cfg.MaxEntries, maxRing)
	l := &Ledger{
		cfg:        cfg,
		lookBackNs: int64(cfg.LookBack),
		seed:       maphash.MakeSeed(),
		clock:      time.Now,
		keys:       map[string]scheduleRef{},
	}
	l.now = l.clock().UnixNano()
	l.resize(min(cfg.MaxEntries, initialRing))
	return l
}

// hash is the identity of the event (source, id).
func (l *Ledger) hash(source, id string) uint64 {
	// Two string hashes, mixed, rather than a maphash.Hash over source,
	// separator and id: no buffer to fill (a third faster), nothing
	// allocated. For one source the result is a bijection of the id's
	// hash, so its ids collide no more often than maphash's; the mixed-in
	// source hash sets sources apart.
	return maphash.String(l.seed, id) ^ bits.RotateLeft64(maphash.String(l.seed, source)*0x9e3779b97f4a7c15, 32)
}

// Record learns one result: a sent (or duplicate) outcome marks the event
// as delivered; a schedule create, update or delete keeps the schedule-key
// index current.
func (l *Ledger) Record(r *event.Result) {
	var h uint64
	if delivered(r) {
		h = l.hash(r.Source, r.ID)
	}
	l.RecordIdentity(r, h)
}

// RecordIdentity is Record for a result whose event's Identity is h.
func (l *Ledger) RecordIdentity(r *event.Result, h uint64) {
	delivered := delivered(r)
	l.mu.Lock()
	defer l.mu.Unlock()
	if delivered {
		l.recordSent(h, r.CompletedAt)
	}
	if r.ScheduleKey == "" || r.Outcome != event.OutcomeSent {
		return
	}
	spec, ok := event.Lookup(r.Type)
	if !ok {
		return
	}
	k := r.Workspace + "\x00" + r.ScheduleKey
	if cur, ok := l.keys[k]; ok && cur.at.After(r.CompletedAt) {
		return
	}
	switch spec.Schedule {
	case event.ScheduleCreate:
		if r.ScheduleID != "" {
			l.keys[k] = scheduleRef{id: r.ScheduleID, at: r.CompletedAt}
		}
	case event.ScheduleDelete:
		l.keys[k] = scheduleRef{id: r.ScheduleID, at: r.CompletedAt, deleted: true}
	}
}

// recordSent remembers that the identity h was delivered at t, unless t
// is past the look-back. An identity held already keeps its place in the
// ring and the later of its two times. l.mu is held.
func (l *Ledger) recordSent(h uint64, t time.Time) {
	if l.tick++; l.tick == clockEvery {
		l.tick = 0
		l.now = l.clock().UnixNano()
	}
	sec := t.Unix()
	if sec < 0 {
		return // before 1970: past any look-back the ledger can hold
	}
	ns := int64(t.Nanosecond())
	if sec > math.MaxUint32 {
		sec, ns = math.MaxUint32, 0
	}
	if l.now-(sec*1e9+ns) > l.lookBackNs {
		return
	}
	at := uint32(sec)
	pos, slot := l.find(h)
	if pos >= 0 {
		l.ring[pos].at = max(l.ring[pos].at, at)
		return
	}
	moved := l.expire()
	if l.n == len(l.ring) {
		if l.n < l.cfg.MaxEntries {
			l.resize(min(2*l.n, l.cfg.MaxEntries))
		} else {
			l.evictOldest()
		}
		moved = true
	}
	pos = l.head + l.n
	if pos >= len(l.ring) {
		pos -= len(l.ring)
	}
	l.ring[pos] = entry{lo: uint32(h), hi: uint32(h >> 32), at: at}
	if moved {
		l.add(h, pos)
	} else {
		l.index[slot] = l.slot(h, pos, (slot-l.home(h))&(len(l.index)-1))
	}
	l.n++
}

// expired reports whether a completion time is past the look-back at now.
func (l *Ledger) expired(at uint32, now int64) bool {
	return now-int64(at)*1e9 > l.lookBackNs
}

// expire forgets the oldest identities while they are past the look-back
// (as of l.now), and reports whether it forgot any. Identities further on
// that are past it too are forgotten when they become the oldest; Sent
// never reports them meanwhile.
func (l *Ledger) expire() bool {
	forgot := false
	for l.n > 0 && l.expired(l.ring[l.head].at, l.now) {
		l.evictOldest()
		forgot = true
	}
	return forgot
}

// evictOldest forgets the oldest identity. l.n > 0.
func (l *Ledger) evictOldest() {
	l.remove(l.indexOf(l.ring[l.head].hash(), l.head))
	l.ring[l.head] = entry{}
	if l.head++; l.head == len(l.ring) {
		l.head = 0
	}
	l.n--
}

// home is the index slot where the search for h starts.
func (l *Ledger) home(h uint64) int { return int(h) & (len(l.index) - 1) }

// tag is the part of an index slot that h determines: its high bits.
func (l *Ledger) tag(h uint64) uint32 {
	return uint32(h>>(32+l.posBits+distBits)) << (l.posBits + distBits)
}

// slot is the index slot of h at ring position pos, d slots from its home.
func (l *Ledger) slot(h uint64, pos, d int) uint32 {
	return l.tag(h) | uint32(min(d, farDist))<<l.posBits | uint32(pos+1)
}

// dist returns the distance of the index entry e at slot j from its home.
func (l *Ledger) dist(e uint32, j int) int {
	if d := int(e>>l.posBits) & farDist; d < farDist {
		return d
	}
	return (j - l.home(l.ring[e&l.posMask-1].hash())) & (len(l.index) - 1)
}

// find returns the ring position of h and its index slot, or -1 and the
// empty slot where h would go.
func (l *Ledger) find(h uint64) (pos, slot int) {
	mask := len(l.index) - 1
	tagMask := ^uint32(0) << (l.posBits + distBits)
	tag := l.tag(h)
	for i, d := l.home(h), 0; ; i, d = (i+1)&mask, d+1 {
		e := l.index[i]
		if e == 0 {
			return -1, i
		}
		// Only an entry with the same home (the same distance) and the
		// same tag may be h.
		if e&tagMask == tag && int(e>>l.posBits)&farDist == min(d, farDist) {
			if p := int(e&l.posMask) - 1; l.ring[p].hash() == h {
				return p, i
			}
		}
	}
}

// indexOf returns the index slot of h, held at ring position pos.
func (l *Ledger) indexOf(h uint64, pos int) int {
	mask := len(l.index) - 1
	want := uint32(pos + 1)
	i := l.home(h)
	for l.index[i]&l.posMask != want {
		i = (i + 1) & mask
	}
	return i
}

// add indexes h, not indexed, at ring position pos.
func (l *Ledger) add(h uint64, pos int) {
	mask := len(l.index) - 1
	i, d := l.home(h), 0
	for l.index[i] != 0 {
		i, d = (i+1)&mask, d+1
	}
	l.index[i] = l.slot(h, pos, d)
}

// remove empties index slot i, shifting back the entries after it that
// would otherwise no longer be found (no tombstones).
func (l *Ledger) remove(i int) {
	mask := len(l.index) - 1
	for j := (i + 1) & mask; ; j = (j + 1) & mask {
		e := l.index[j]
		if e == 0 {
			break
		}
		// The entry at j may fill the hole at i unless its home lies
		// cyclically in (i, j]: unless it is nearer its home than to i.
		if d, gap := l.dist(e, j), (j-i)&mask; d >= gap {
			nd := min(d-gap, farDist)
			l.index[i] = e&^(farDist<<l.posBits) | uint32(nd)<<l.posBits
			i = j
		}
	}
	l.index[i] = 0
}

// indexLen is the index length for a ring of capacity c: the least power
// of two loaded to at most 0.7 by c entries.
func indexLen(c int) int {
	n := uint64(2)
	for 10*uint64(c) > 7*n {
		n *= 2
	}
	return int(n)
}

// resize moves the ring, oldest first, to a capacity of c ≥ l.n, and
// rebuilds the index for it.
func (l *Ledger) resize(c int) {
	ring := make([]entry, c)
	k := copy(ring, l.ring[l.head:min(l.head+l.n, len(l.ring))])
	copy(ring[k:l.n], l.ring)
	l.ring, l.head = ring, 0
	l.index = make([]uint32, indexLen(c))
	l.posBits = uint(bits.Len(uint(c)))
	l.posMask = uint32(1)<<l.posBits - 1
	for pos := range l.ring[:l.n] {
		l.add(l.ring[pos].hash(), pos)
	}
}

// delivered reports whether r's outcome means Braze has the event.
func delivered(r *event.Result) bool {
	return r.Outcome == event.OutcomeSent || r.Outcome == event.OutcomeDuplicate
}

// Identity returns the hash the ledger knows the event (source, id) by. A
// caller that asks SentIdentity and later calls RecordIdentity for one
// event hashes it once.
func (l *Ledger) Identity(source, id string) uint64 { return l.hash(source, id) }

// Sent reports whether Braze already accepted the event (source, id).
func (l *Ledger) Sent(source, id string) bool {
	return l.sent(l.hash(source, id))
}

// SentIdentity is Sent for the event whose Identity is h.
func (l *Ledger) SentIdentity(h uint64) bool { return l.sent(h) }

// sent reports whether the identity h is held and within the look-back.
// Only a held identity costs a clock read: most events are new.
func (l *Ledger) sent(h uint64) bool {
	l.mu.Lock()
	pos, _ := l.find(h)
	var at uint32
	if pos >= 0 {
		at = l.ring[pos].at
	}
	l.mu.Unlock()
	return pos >= 0 && !l.expired(at, l.clock().UnixNano())
}

// ScheduleID returns the schedule_id a schedule key of a workspace stands for.
func (l *Ledger) ScheduleID(workspace, key string) (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ref, ok := l.keys[workspace+"\x00"+key]
	if !ok || ref.deleted {
		return "", false
	}
	return ref.id, true
}

// Len returns how many sent identities and schedule keys are held. It
// first forgets the oldest identities past the look-back.
func (l *Ledger) Len() (sent, scheduleKeys int) {
	now := l.clock().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = now
	l.expire()
	for _, ref := range l.keys {
		if !ref.deleted {
			scheduleKeys++
		}
	}
	return l.n, scheduleKeys
}
