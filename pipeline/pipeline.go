// Package pipeline decides what happens to each consumed record: it
// dead-letters what is not a valid, allowed Braze request (with the first
// reason that applies, DESIGN.md §4b), hands the rest to the dispatcher,
// and records every final outcome (dead-letter topic, results topic) before
// it lets the consumer commit the record.
//
// It is the glue between consumer and dispatcher and knows neither Kafka's
// client nor HTTP: outputs are written through the Recorder interface.
package pipeline

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/routes"
)

// Dispatcher sends events to Braze; *dispatcher.Dispatcher satisfies it.
type Dispatcher interface {
	Submit(ctx context.Context, j *dispatcher.Job) error
}

// Recorder makes outcomes durable. Each method is asynchronous: done is
// called once the write is acknowledged (nil) or has failed for good.
// *deadletter.Writer satisfies it.
type Recorder interface {
	DeadLetter(rec *event.Record, dl *event.DeadLetter, done Acker)
	Result(r *event.Result, done Acker)
}

// Acker is told the outcome of a Recorder's write: nil once it is
// durable, an error once it has failed for good (deadletter.Acker).
type Acker = interface{ Ack(error) }

// ackFunc is a function that is an Acker.
type ackFunc func(error)

func (f ackFunc) Ack(err error) { f(err) }

// Ledger remembers outcomes (rebuilt from the results topic);
// *ledger.Ledger satisfies it.
type Ledger interface {
	// Identity hashes an event's (source, id) once for the two calls
	// below.
	Identity(source, id string) uint64
	SentIdentity(identity uint64) bool
	RecordIdentity(r *event.Result, identity uint64)
	ScheduleID(workspace, key string) (string, bool)
}

// Router turns product events into Braze operations (DESIGN.md §2,
// product events and routes); *routes.Router satisfies it. ok is false
// for a record on a topic no route listens to.
type Router interface {
	// Route may make the first operation's event in room (if not nil),
	// and only when ok. The caller releases the result (Result.Release)
	// once it has taken what it needs.
	Route(rec *event.Record, room *event.Event) (res *routes.Result, ok bool)
}

// Config holds the pipeline's policy.
type Config struct {
	// BroadcastSources lists the event sources allowed to broadcast (send to
	// a segment, an audience or a whole campaign audience). Empty: none.
	BroadcastSources []string `yaml:"broadcast_sources"`
	// Rules tunes request validation (see braze/rules.Options).
	Rules rules.Options `yaml:"-"`
	// ScheduleKeyWait bounds how long an update or delete waits for the
	// results of other replicas before its schedule key counts as unknown.
	ScheduleKeyWait time.Duration `yaml:"-"`
}

// Deps are the pipeline's collaborators.
type Deps struct {
	Dispatcher Dispatcher
	Recorder   Recorder
	// Ledger answers "already sent?" and resolves schedule keys.
	Ledger Ledger
	// Sync waits until the ledger holds every result written so far (all
	// replicas'); nil means it always does.
	Sync func(ctx context.Context) error
	// Router routes the records of the topics routes listen to; nil means
	// every record is a Braze event.
	Router     Router
	Logger     *zap.Logger
	Registerer prometheus.Registerer
}

// Pipeline is the consumer's Handler. It is safe for concurrent use.
type Pipeline struct {
	cfg        Config
	d          Dispatcher
	rec        Recorder
	ledger     Ledger
	sync       func(ctx context.Context) error
	router     Router
	log        *zap.Logger
	m          *metrics
	now        func() time.Time
	broadcasts map[string]bool
}

// New returns a Pipeline. reg receives its metrics (nil: none).
func New(cfg Config, deps Deps) *Pipeline {
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.ScheduleKeyWait <= 0 {
		cfg.ScheduleKeyWait = 5 * time.Second
	}
	p := &Pipeline{cfg: cfg, d: deps.Dispatcher, rec: deps.Recorder, ledger: deps.Ledger, sync: deps.Sync,
		router: deps.Router, log: log.Named("pipeline"), m: newMetrics(deps.Registerer), now: time.Now, broadcasts: map[string]bool{}}
	if p.sync == nil {
		p.sync = func(context.Context) error { return nil }
	}
	for _, s := range cfg.BroadcastSources {
		p.broadcasts[s] = true
	}
	return p
}

// item is one event on its way through the pipeline: a consumed record,
// or one operation derived from a product record by the routes.
type item struct {
	// Record is the consumed record: what goes to the dead-letter topic.
	// It belongs to the consumed message, which outlives the item.
	Record *event.Record
	// Event is the event to send; nil when Err is set.
	Event *event.Event
	// Err is why the event is refused before any check (an *event.Error).
	Err  error
	Lane int32
	// plain is set for an item derived from a plain JSON record.
	plain bool
	// msg is the consumed message of a Braze event read from Kafka; fan
	// is the product record an item derived by a route shares with the
	// other items derived from it.
	msg *consumer.Message
	fan *fanOut
	// route, opKey and opType name the route and operation that derived
	// the item, derivedID its id (empty for a Braze event read from Kafka).
	route, opKey, opType, derivedID string
	// identity is the ledger's hash of the event's source and id, set
	// once the event passed its checks (before that no result of it can
	// mark it delivered).
	identity uint64

	// p is the pipeline the item goes through (the item is its own
	// dispatcher.Completer and Acker of its result).
	p *Pipeline
	// Room for the item's dispatcher job, the schedule_id its key
	// resolved to and its results record: one allocation per event.
	job        dispatcher.Job
	scheduleID string
	res        event.Result
}

// Complete receives the dispatcher's verdict on the item's event
// (dispatcher.Completer).
func (m *item) Complete(r dispatcher.Result) {
	if r.ScheduleID == "" {
		r.ScheduleID = m.scheduleID
	}
	m.p.settle(m, r)
}

// Done reports the item's outcome as durable.
func (m *item) Done() {
	if m.msg != nil {
		m.msg.Done()
		return
	}
	m.fan.finish(false)
}

// HandBack reports that the item gets no outcome from this process.
func (m *item) HandBack() {
	if m.msg != nil {
		m.msg.HandBack()
		return
	}
	m.fan.finish(true)
}

// Handle implements consumer.Handler.
func (p *Pipeline) Handle(ctx context.Context, m *consumer.Message) error {
	if p.router != nil {
		// The router writes the room only when it routes the record, so
		// the Decode below never overwrites a derived event.
		if res, ok := p.router.Route(&m.Record, m.Room()); ok {
			err := p.handleRouted(ctx, &m.Record, m.Lane, m, res)
			res.Release() // the items took what they need
			return err
		}
	}
	// A record read while routes listened to its topic, which a reload
	// has stopped since between its acceptance and now, was not decoded:
	// it is a Braze event after all (see consumer.Message.Decode).
	m.Decode()
	return p.handle(ctx, &item{p: p, Record: &m.Record, Event: m.Event, Err: m.Err, Lane: int32(m.Lane), msg: m})
}

// handle takes one event through the checks to the dispatcher. It returns
// an error only when ctx ended first (the item is then not finished).
func (p *Pipeline) handle(ctx context.Context, m *item) error {
	p.m.inflight.Inc()
	if m.Err != nil {
		reason, ok := event.ReasonOf(m.Err)
		if !ok {
			reason = event.ReasonInvalidEvent
		}
		p.deadLetter(m, "", &event.DeadLetter{Reason: reason, Error: m.Err.Error()})
		return nil
	}
	ev := m.Event
	if err := p.check(ev); err != nil {
		reason, _ := event.ReasonOf(err)
		p.deadLetter(m, "", &event.DeadLetter{Reason: reason, Error: err.Error()})
		return nil
	}
	if p.ledger != nil {
		if m.identity = p.ledger.Identity(ev.Source, ev.ID); p.ledger.SentIdentity(m.identity) {
			// Braze already accepted this event (a redelivery or a replay).
			p.result(m, dispatcher.Result{}, event.OutcomeDuplicate, "", "")
			return nil
		}
	}
	body, scheduleID, err := p.resolveScheduleKey(ctx, ev)
	if err != nil {
		if ctx.Err() != nil {
			p.m.inflight.Dec()
			return ctx.Err()
		}
		p.deadLetter(m, "", &event.DeadLetter{Reason: event.ReasonScheduleKeyUnknown, Error: err.Error()})
		return nil
	}
	if !ev.Deadline.IsZero() && p.now().After(ev.Deadline) {
		p.deadLetter(m, event.OutcomeExpired, &event.DeadLetter{Reason: event.ReasonExpired,
			Error: "deliver-by time " + ev.Deadline.UTC().Format(time.RFC3339) + " passed before the event was read"})
		return nil
	}
	m.scheduleID = scheduleID
	m.job = dispatcher.Job{Event: ev, Body: body, Lane: int(m.Lane), Done: m}
	if err := p.d.Submit(ctx, &m.job); err != nil {
		p.m.inflight.Dec()
		return err
	}
	return nil
}

// check applies the rules that need no Braze call, in the order of
// DESIGN.md §4b after decoding: broadcast guard, then request validation.
func (p *Pipeline) check(ev *event.Event) error {
	if broadcast(ev) && !p.broadcasts[ev.Source] {
		return event.Errorf(event.ReasonBroadcastNotAllowed,
			"the request would message a whole segment, audience or campaign audience and source %q is not allowed to broadcast", truncate(ev.Source, 200))
	}
	opts := p.cfg.Rules
	opts.AllowMissingScheduleID = ev.ScheduleKey != ""
	// Data is validated once: by the decoder for events read from Kafka,
	// by event.Assemble for the events a route derives, here for the few
	// a route reads back from their records (decoded as trusted).
	opts.ValidJSON = ev.DataValid
	if err := rules.Check(ev.Spec.Endpoint, ev.Data, opts); err != nil {
		var v *rules.Violation
		if errors.As(err, &v) {
			return event.Errorf(event.ReasonInvalidRequest, "%s", truncate(v.Error(), 900))
		}
		return event.Errorf(event.ReasonInvalidRequest, "%s", truncate(err.Error(), 900))
	}
	return nil
}

// settle records the dispatcher's verdict on an event.
func (p *Pipeline) settle(m *item, r dispatcher.Result) {
	if r.Outcome == dispatcher.HandedBack {
		p.m.inflight.Dec()
		m.HandBack()
		return
	}
	if r.Outcome == dispatcher.Sent {
		p.result(m, r, event.OutcomeSent, "", r.ScheduleID)
		return
	}
	outcome := event.OutcomeDeadLettered
	if r.Outcome == dispatcher.Expired {
		outcome = event.OutcomeExpired
	}
	dl := &event.DeadLetter{Reason: r.Reason, Status: r.Status, Error: r.Err, Response: r.Response,
		Attempts: r.Attempts, FirstAttempt: r.FirstAttempt}
	p.deadLetterResult(m, outcome, dl, r)
}

func (p *Pipeline) deadLetter(m *item, outcome string, dl *event.DeadLetter) {
	p.deadLetterResult(m, outcome, dl, dispatcher.Result{})
}

// deadLetterResult writes the record to the dead-letter topic, then its
// result (for valid events), then lets the record be committed.
func (p *Pipeline) deadLetterResult(m *item, outcome string, dl *event.DeadLetter, r dispatcher.Result) {
	if outcome == "" {
		outcome = event.OutcomeDeadLettered
	}
	dl.FailedAt = p.now()
	p.log.Debug("dead-lettering event", zap.String("reason", string(dl.Reason)), zap.String("topic", m.Record.Topic),
		zap.Int("partition", m.Record.Partition), zap.Int64("offset", m.Record.Offset), zap.String("error", dl.Error))
	p.rec.DeadLetter(m.deadLetterRecord(), dl, ackFunc(func(err error) {
		if err != nil {
			// The record stays uncommitted and is read again after a restart.
			p.log.Error("dead-letter write failed; the record will be read again", zap.Error(err))
			return
		}
		if m.Event == nil {
			p.complete(m, typeLabel(m), outcome, dl.Reason)
			return
		}
		r.Status, r.Attempts = dl.Status, dl.Attempts
		p.result(m, r, outcome, dl.Reason, r.ScheduleID)
	}))
}

// result writes an event's result record, then lets it be committed.
func (p *Pipeline) result(m *item, r dispatcher.Result, outcome string, reason event.Reason, scheduleID string) {
	ev := m.Event
	res := &m.res
	*res = event.Result{ID: ev.ID, Source: ev.Source, Type: ev.Type, Outcome: outcome, Reason: reason,
		DispatchID: r.DispatchID, ScheduleID: scheduleID, SendID: r.SendID, Status: r.Status,
		Attempts: r.Attempts, BatchSize: r.BatchSize, CompletedAt: p.now().UTC(),
		Workspace: ev.Workspace, ScheduleKey: ev.ScheduleKey}
	p.rec.Result(res, m)
}

// Ack is told that the item's result record was written (an Acker): the
// item's event is then final.
func (m *item) Ack(err error) {
	p, res := m.p, &m.res
	if err != nil {
		p.log.Error("result write failed; the record will be read again", zap.Error(err))
		return
	}
	if p.ledger != nil {
		p.ledger.RecordIdentity(res, m.identity)
	}
	ev := m.Event
	timed := !ev.Time.IsZero()
	var latency float64
	if timed {
		latency = p.now().Sub(ev.Time).Seconds()
	}
	p.m.final(ev.Spec, res.Type, res.Outcome, res.Reason, timed, latency)
	p.release(m)
}

// complete counts an outcome and lets the item's record be committed.
func (p *Pipeline) complete(m *item, typ, outcome string, reason event.Reason) {
	p.m.done(typ, outcome, reason)
	p.release(m)
}

// release ends the item's time in flight: its record may be committed.
func (p *Pipeline) release(m *item) {
	p.m.inflight.Dec()
	m.Done()
}

func typeLabel(m *item) string {
	if m.Event != nil {
		return m.Event.Type
	}
	switch r, _ := event.ReasonOf(m.Err); {
	case r == event.ReasonUnknownType:
		return "unknown"
	case r == event.ReasonRouteError || r == event.ReasonNoRoute:
		return productType
	case m.opType != "":
		return m.opType
	}
	return "invalid"
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
