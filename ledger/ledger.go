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
// window and up to a maximum count, as 64-bit hashes.
package ledger

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/brazegw/gateway/event"
)

// Config bounds the ledger.
type Config struct {
	// LookBack is how long a sent event's identity is remembered.
	LookBack time.Duration `yaml:"lookback"`
	// MaxEntries caps the remembered identities (oldest forgotten first).
	MaxEntries int `yaml:"max_entries"`
}

// DefaultConfig remembers sent events for 24 hours, up to 2 million (about
// 64 MB).
func DefaultConfig() Config {
	return Config{LookBack: 24 * time.Hour, MaxEntries: 2_000_000}
}

// Ledger is safe for concurrent use.
type Ledger struct {
	cfg  Config
	seed maphash.Seed

	mu    sync.Mutex
	sent  map[uint64]int64 // identity hash → completion time (unix seconds)
	order []entry          // FIFO of sent identities, for eviction
	head  int
	keys  map[string]scheduleRef // workspace + "\x00" + schedule key
}

// scheduleRef is the latest known state of a schedule key. Results of one
// key may sit in different partitions of the results topic and be read in
// any order, so the latest completion wins, not the latest read.
type scheduleRef struct {
	id      string
	at      time.Time
	deleted bool
}

type entry struct {
	h uint64
	t int64
}

// New returns an empty ledger.
func New(cfg Config) *Ledger {
	if cfg.LookBack <= 0 {
		cfg.LookBack = DefaultConfig().LookBack
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultConfig().MaxEntries
	}
	return &Ledger{cfg: cfg, seed: maphash.MakeSeed(), sent: map[uint64]int64{}, keys: map[string]scheduleRef{}}
}

func (l *Ledger) hash(source, id string) uint64 {
	var h maphash.Hash
	h.SetSeed(l.seed)
	h.WriteString(source)
	h.WriteByte(0)
	h.WriteString(id)
	return h.Sum64()
}

// Record learns one result: a sent (or duplicate) outcome marks the event
// as delivered; a schedule create, update or delete keeps the schedule-key
// index current.
func (l *Ledger) Record(r *event.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Outcome == event.OutcomeSent || r.Outcome == event.OutcomeDuplicate {
		t := r.CompletedAt.Unix()
		if time.Since(r.CompletedAt) <= l.cfg.LookBack {
			h := l.hash(r.Source, r.ID)
			if _, ok := l.sent[h]; !ok {
				l.order = append(l.order, entry{h, t})
			}
			l.sent[h] = t
			l.evict(time.Now())
		}
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

// evict forgets identities past the look-back window or over the cap.
func (l *Ledger) evict(now time.Time) {
	cutoff := now.Add(-l.cfg.LookBack).Unix()
	for l.head < len(l.order) {
		e := l.order[l.head]
		if len(l.sent) <= l.cfg.MaxEntries && e.t >= cutoff {
			break
		}
		if t, ok := l.sent[e.h]; ok && t == e.t {
			delete(l.sent, e.h)
		}
		l.head++
	}
	if l.head > 1024 && l.head*2 > len(l.order) {
		l.order = append(l.order[:0:0], l.order[l.head:]...)
		l.head = 0
	}
}

// Sent reports whether Braze already accepted the event (source, id).
func (l *Ledger) Sent(source, id string) bool {
	h := l.hash(source, id)
	l.mu.Lock()
	defer l.mu.Unlock()
	t, ok := l.sent[h]
	return ok && time.Since(time.Unix(t, 0)) <= l.cfg.LookBack
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

// Len returns how many sent identities and schedule keys are held.
func (l *Ledger) Len() (sent, scheduleKeys int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ref := range l.keys {
		if !ref.deleted {
			scheduleKeys++
		}
	}
	return len(l.sent), scheduleKeys
}
