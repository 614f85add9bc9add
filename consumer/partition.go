package consumer

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/kafkaread"
)

// partition reads one assigned partition for one generation. Its goroutine
// owns the offset tracker and the ordering gate. Records arrive from the
// fetching goroutine, and completions from whoever calls Message.Done, in
// lists the partition's goroutine takes whole: one wake-up serves many
// records, and neither side ever blocks the other for long.
type partition struct {
	g     *Group
	topic string
	id    int
	start int64
	lane  int
	log   *zap.Logger

	in          inbox[*Message] // fetched (and decoded) records, not yet accepted
	completions inbox[*Message] // finished messages
	committable atomic.Int64    // commit point published for the committer (-1: none)
	fetched     atomic.Int64    // offset after the last record read (-1: none)
	committed   int64           // last committed offset, owned by the committer

	tracker  *tracker
	gate     *gate
	handed   int  // messages given to the handler and not yet done
	stopping bool // no new work is started once set
	ready    []*Message

	// The partition's series, looked up once rather than per record.
	lag      prometheus.Gauge
	consumed map[string]prometheus.Counter // by type label
}

func (g *Group) newPartition(topic string, id int, offset int64) *partition {
	p := &partition{
		g: g, topic: topic, id: id, start: offset, lane: g.lanes[topic],
		log:       g.log.With(zap.String("topic", topic), zap.Int("partition", id)),
		committed: -1,
		tracker:   newTracker(),
		gate:      newGate(),
		lag:       g.m.lag.WithLabelValues(topic, strconv.Itoa(id)),
		consumed:  map[string]prometheus.Counter{},
	}
	p.in.init()
	p.completions.init()
	p.committable.Store(-1)
	p.fetched.Store(-1)
	return p
}

// run reads the partition until ctx (shutdown) or genCtx (rebalance) ends,
// then waits for handed-out messages (drain on shutdown, RevokeDrain on a
// rebalance). Messages still held back by the ordering gate are not started:
// they and anything unfinished are handed back uncommitted.
func (p *partition) run(ctx, genCtx context.Context, drain time.Duration) {
	workCtx, cancelWork := context.WithCancel(ctx)
	defer cancelWork()
	fetchCtx, stopFetch := context.WithCancel(context.Background())
	fetchDone := make(chan struct{})
	go p.fetch(fetchCtx, fetchDone)
	p.log.Debug("partition started", zap.Int64("offset", p.start))

	// While paused, a ticker wakes the loop to look again.
	pausedTick := time.NewTicker(100 * time.Millisecond)
	defer pausedTick.Stop()
	// fetched holds records taken from the inbox; those from next on are
	// not accepted yet: at most max_inflight records are ever unfinished,
	// which bounds what a crash can make Kafka deliver again.
	var fetched []*Message
	next := 0
	var done []*Message
	for !p.stopping {
		room := !p.g.paused()
		for ; next < len(fetched) && room && p.tracker.pending() < p.g.cfg.MaxInflight && !p.stopping; next++ {
			p.accept(workCtx, fetched[next])
			fetched[next] = nil
		}
		var in <-chan struct{}
		if next == len(fetched) && room && p.tracker.pending() < p.g.cfg.MaxInflight {
			in = p.in.ready
		}
		select {
		case <-pausedTick.C:
		case <-in:
			// Every record of fetched was accepted and cleared: its
			// array goes back to the inbox.
			fetched, next = p.in.take(fetched[:0]), 0
		case <-p.completions.ready:
			done = p.completions.take(done[:0])
			for i, m := range done {
				p.complete(workCtx, m)
				done[i] = nil
			}
		case <-ctx.Done():
			p.stopping = true
		case <-genCtx.Done():
			p.stopping = true
		}
	}
	stopFetch()
	wait := p.g.cfg.RevokeDrain
	if ctx.Err() != nil {
		wait = drain
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for p.handed > 0 {
		select {
		case <-p.completions.ready:
			done = p.completions.take(done[:0])
			for _, m := range done {
				p.complete(workCtx, m)
			}
			continue
		case <-timer.C:
		}
		break
	}
	if p.handed > 0 {
		p.log.Warn("handing back unfinished events", zap.Int("events", p.handed))
	}
	<-fetchDone
}

// fetchBatch is how many fetched records wait for the partition's
// goroutine at most; the fetching goroutine waits while that many do.
const fetchBatch = 64

// fetch reads records from p.start and passes them on until ctx ends.
func (p *partition) fetch(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	cfg := kafkaread.Config{
		Brokers: p.g.cfg.Brokers, Topic: p.topic, Partition: p.id, Dialer: p.g.cfg.Dialer,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: p.g.cfg.MaxWait,
		Logger: p.g.log, OnError: func(error) { p.g.m.fetchErrors.Inc() },
	}
	_ = kafkaread.Read(ctx, cfg, p.start, func(r *kafkaread.Record) bool {
		return p.in.addWhenRoom(ctx, p.message(r), fetchBatch)
	})
}

// message makes the Message of a record read, decoded, with its ordering
// keys (on the fetching goroutine).
func (p *partition) message(r *kafkaread.Record) *Message {
	m := &Message{
		Record: event.Record{
			Topic: p.topic, Partition: p.id, Offset: r.Offset,
			Key: r.Key, Value: r.Value, Time: r.Time,
		},
		Lane: p.lane,
		p:    p,
	}
	if len(r.Headers) > 0 {
		m.Record.Headers = m.headers[:0]
		for _, h := range r.Headers {
			m.Record.Headers = append(m.Record.Headers, event.Header{Key: h.Key, Value: h.Value})
		}
	}
	if len(m.Record.Key) > 0 {
		m.addKey(kafkaKey(m.Record.Key))
	}
	// Decoding here, while the record's bytes are still in this core's
	// cache, costs less than on the partition's goroutine.
	if !p.g.raw(p.topic) {
		p.decode(m)
	}
	return m
}

// decode decodes m's record and adds the ordering key of its schedule key.
func (p *partition) decode(m *Message) {
	m.decode(p.g.limits())
	if m.Event != nil && m.Event.ScheduleKey != "" {
		m.addKey(scheduleKey(m.Event.Workspace, m.Event.ScheduleKey))
	}
}

// accept tracks a fetched and decoded record and hands it on when its
// ordering keys allow.
func (p *partition) accept(ctx context.Context, m *Message) {
	if m.Event == nil && m.Err == nil && !p.g.raw(p.topic) {
		// Read raw, and a routes reload has stopped routing its topic
		// since: decoded now, before it takes its place in the order.
		p.decode(m)
	}
	p.tracker.add(m.Record.Offset)
	p.fetched.Store(m.Record.Offset + 1)
	p.countConsumed(m)
	if p.gate.enter(m) {
		p.handle(ctx, m)
	}
}

// countConsumed counts a read record by its type label.
func (p *partition) countConsumed(m *Message) {
	typ := typeLabel(m)
	c, ok := p.consumed[typ]
	if !ok {
		c = p.g.m.consumedVec.WithLabelValues(p.topic, typ)
		if len(p.consumed) < maxCachedTypes { // unknown types are bounded by the type table
			p.consumed[typ] = c
		}
	}
	c.Inc()
}

func (p *partition) handle(ctx context.Context, m *Message) {
	p.handed++
	if err := p.g.handler.Handle(ctx, m); err != nil {
		// ctx ended before the handler took it: it stays unfinished and is
		// handed back uncommitted.
		p.handed--
	}
}

// complete records a finished message, publishes the new commit point and
// starts the messages it held back.
func (p *partition) complete(ctx context.Context, m *Message) {
	p.handed--
	if m.handedBack {
		// No outcome: the offset stays uncommitted, and so do later ones of
		// its keys (they are not started).
		p.stopping = true
		return
	}
	if p.tracker.finish(m.Record.Offset) {
		p.committable.Store(p.tracker.commitPoint())
	}
	p.ready = p.gate.leave(m, p.ready[:0])
	if p.stopping {
		return
	}
	for _, next := range p.ready {
		p.handle(ctx, next)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
