package pipeline

import (
	"bytes"
	"context"
	"hash/fnv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/routes"
)

// fakeDispatcher holds submitted jobs until the test settles them.
type fakeDispatcher struct {
	mu   sync.Mutex
	jobs []*dispatcher.Job
}

func (d *fakeDispatcher) Submit(_ context.Context, j *dispatcher.Job) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, j)
	return nil
}

// fakeRecorder acknowledges every write at once.
type fakeRecorder struct {
	mu      sync.Mutex
	dlq     []event.Record
	reasons []event.Reason
	results []event.Result
}

func (r *fakeRecorder) DeadLetter(rec *event.Record, dl *event.DeadLetter, done Acker) {
	r.mu.Lock()
	r.dlq = append(r.dlq, *rec)
	r.reasons = append(r.reasons, dl.Reason)
	r.mu.Unlock()
	done.Ack(nil)
}

func (r *fakeRecorder) Result(res *event.Result, done Acker) {
	r.mu.Lock()
	r.results = append(r.results, *res)
	r.mu.Unlock()
	done.Ack(nil)
}

// fakeLedger knows the sent events it is told about.
type fakeLedger struct {
	mu   sync.Mutex
	sent map[uint64]bool
}

func (l *fakeLedger) Identity(source, id string) uint64 { return fnvKey(source + "/" + id) }

func fnvKey(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

func (l *fakeLedger) SentIdentity(identity uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sent[identity]
}
func (l *fakeLedger) ScheduleID(string, string) (string, bool) { return "", false }
func (l *fakeLedger) RecordIdentity(r *event.Result, identity uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.Outcome == event.OutcomeSent {
		if identity != l.Identity(r.Source, r.ID) {
			panic("RecordIdentity: the identity is not the result's")
		}
		l.sent[identity] = true
	}
}

// tableRouter routes with a fixed table.
type tableRouter struct {
	t          *routes.Table
	deadLetter bool
}

func (r tableRouter) Route(rec *event.Record, room *event.Event) (*routes.Result, bool) {
	if !r.t.Listens(rec.Topic) {
		return nil, false
	}
	res := r.t.RouteInto(rec, event.Limits{}, room)
	if r.deadLetter && res.Err == nil && len(res.Matched) == 0 && len(res.Failures) == 0 {
		res.Err = event.Errorf(event.ReasonNoRoute, "no route")
	}
	return res, true
}

const testRoutes = `routes:
  - name: shipped
    topics: [orders]
    when: type == "order.shipped"
    emit:
      - name: push
        type: braze.campaigns.trigger.send
        body:
          campaign_id: '"camp"'
          recipients: [{external_user_id: data.user}]
      - name: email
        type: braze.canvas.trigger.send
        body:
          canvas_id: '"canvas"'
          recipients: [{external_user_id: data.user}]
  - name: fragile
    topics: [orders]
    when: type == "order.cancelled"
    emit:
      - type: braze.sends.id.create
        body: {campaign_id: data.missing}
  - name: refused
    topics: [orders]
    when: type == "order.refunded"
    emit:
      - type: braze.campaigns.trigger.send
        body: {campaign_id: '"camp"', segment_id: '"everyone"', broadcast: true}
`

type routedEnv struct {
	p    *Pipeline
	d    *fakeDispatcher
	rec  *fakeRecorder
	reg  *prometheus.Registry
	done int
	back int
	mu   sync.Mutex
}

func newRoutedEnv(t *testing.T, deadLetterUnmatched bool, sent ...string) *routedEnv {
	t.Helper()
	tab, err := routes.Parse("test.yaml", []byte(testRoutes))
	if err != nil {
		t.Fatal(err)
	}
	e := &routedEnv{d: &fakeDispatcher{}, rec: &fakeRecorder{}, reg: prometheus.NewRegistry()}
	l := &fakeLedger{sent: map[uint64]bool{}}
	for _, s := range sent { // "source/id"
		l.sent[fnvKey(s)] = true
	}
	e.p = New(Config{}, Deps{Dispatcher: e.d, Recorder: e.rec, Ledger: l, Registerer: e.reg,
		Router: tableRouter{t: tab, deadLetter: deadLetterUnmatched}})
	return e
}

// handle passes a product record through the pipeline as the consumer would.
func (e *routedEnv) handle(t *testing.T, rec event.Record) {
	t.Helper()
	res, ok := e.p.router.Route(&rec, nil)
	if !ok {
		t.Fatalf("topic %s is not routed", rec.Topic)
	}
	if err := e.p.handleRouted(context.Background(), &rec, 0, e, res); err != nil {
		t.Fatal(err)
	}
}

// Done and HandBack count the product records' outcomes.
func (e *routedEnv) Done()     { e.mu.Lock(); e.done++; e.mu.Unlock() }
func (e *routedEnv) HandBack() { e.mu.Lock(); e.back++; e.mu.Unlock() }

func (e *routedEnv) finished() (done, back int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.done, e.back
}

func product(id, typ, data string, headers ...event.Header) event.Record {
	return event.Record{Topic: "orders", Partition: 1, Offset: 7, Key: []byte("u1"), Headers: headers,
		Value: []byte(`{"specversion":"1.0","id":"` + id + `","source":"/shop","type":"` + typ + `","data":` + data + `}`)}
}

// TestRoutedRecordDoneWhenAllOperationsAre checks the count-down: the
// product record is done once, after every derived operation's outcome is
// durable, and each operation has its own result under its derived id.
func TestRoutedRecordDoneWhenAllOperationsAre(t *testing.T) {
	e := newRoutedEnv(t, false)
	rec := product("ev-1", "order.shipped", `{"user":"u1"}`)
	rec.Value = bytes.Replace(rec.Value, []byte(`"source"`), []byte(`"time":"2026-03-01T12:00:00Z","source"`), 1)
	e.handle(t, rec)
	if len(e.d.jobs) != 2 {
		t.Fatalf("%d jobs submitted, want 2", len(e.d.jobs))
	}
	e.d.jobs[0].Done.Complete(dispatcher.Result{Outcome: dispatcher.Sent, DispatchID: "d1", Attempts: 1})
	if done, _ := e.finished(); done != 0 {
		t.Fatal("the product record is done before its second operation")
	}
	e.d.jobs[1].Done.Complete(dispatcher.Result{Outcome: dispatcher.Sent, DispatchID: "d2", Attempts: 1})
	if done, back := e.finished(); done != 1 || back != 0 {
		t.Fatalf("done %d, handed back %d; want done once", done, back)
	}
	if len(e.rec.results) != 2 || len(e.rec.dlq) != 0 {
		t.Fatalf("results %d, dead letters %d", len(e.rec.results), len(e.rec.dlq))
	}
	want := map[string]string{
		routes.DerivedID("ce\x00/shop\x00ev-1", "shipped", "push"):  "braze.campaigns.trigger.send",
		routes.DerivedID("ce\x00/shop\x00ev-1", "shipped", "email"): "braze.canvas.trigger.send",
	}
	for _, r := range e.rec.results {
		if want[r.ID] != r.Type || r.Source != "/shop" || r.Outcome != event.OutcomeSent {
			t.Errorf("result %+v", r)
		}
	}
	for _, typ := range []string{"braze.campaigns.trigger.send", "braze.canvas.trigger.send"} {
		if n := testutil.ToFloat64(e.p.m.completed.WithLabelValues(typ, event.OutcomeSent, "")); n != 1 {
			t.Errorf("completed{%s, sent} = %v", typ, n)
		}
	}
	if n := testutil.ToFloat64(e.p.m.inflight); n != 0 {
		t.Errorf("inflight %v after every outcome", n)
	}
	var hist dto.Metric
	if err := e.p.m.latency.WithLabelValues("braze.canvas.trigger.send").(prometheus.Metric).Write(&hist); err != nil {
		t.Fatal(err)
	}
	if n := hist.GetHistogram().GetSampleCount(); n != 1 {
		t.Errorf("latency{canvas} has %d samples, want 1", n)
	}
}

// TestRoutedDuplicatesAreSkipped checks that an operation already sent
// (a redelivered or replayed product event) is not submitted again.
func TestRoutedDuplicatesAreSkipped(t *testing.T) {
	e := newRoutedEnv(t, false, "/shop/"+routes.DerivedID("ce\x00/shop\x00ev-1", "shipped", "push"))
	e.handle(t, product("ev-1", "order.shipped", `{"user":"u1"}`))
	if len(e.d.jobs) != 1 || e.d.jobs[0].Event.Type != "braze.canvas.trigger.send" {
		t.Fatalf("jobs %d, want only the email", len(e.d.jobs))
	}
	e.d.jobs[0].Done.Complete(dispatcher.Result{Outcome: dispatcher.Sent})
	if done, _ := e.finished(); done != 1 {
		t.Fatalf("done %d", done)
	}
	outcomes := map[string]int{}
	for _, r := range e.rec.results {
		outcomes[r.Outcome]++
	}
	if outcomes[event.OutcomeDuplicate] != 1 || outcomes[event.OutcomeSent] != 1 {
		t.Errorf("outcomes %v", outcomes)
	}
}

// TestRoutedDeadLetterIsTheProductRecord checks what goes to the DLQ for a
// derived operation: the product record byte for byte, plus headers naming
// the route and operation.
func TestRoutedDeadLetterIsTheProductRecord(t *testing.T) {
	e := newRoutedEnv(t, false)
	rec := product("ev-2", "order.shipped", `{"user":"u1"}`, event.Header{Key: "trace", Value: []byte("t1")})
	e.handle(t, rec)
	e.d.jobs[0].Done.Complete(dispatcher.Result{Outcome: dispatcher.DeadLettered, Reason: event.ReasonRejected, Status: 400, Attempts: 1})
	e.d.jobs[1].Done.Complete(dispatcher.Result{Outcome: dispatcher.Sent})
	if done, _ := e.finished(); done != 1 {
		t.Fatalf("done %d", done)
	}
	if len(e.rec.dlq) != 1 || e.rec.reasons[0] != event.ReasonRejected {
		t.Fatalf("dead letters %d (%v)", len(e.rec.dlq), e.rec.reasons)
	}
	dl := e.rec.dlq[0]
	if string(dl.Value) != string(rec.Value) || string(dl.Key) != "u1" || dl.Offset != 7 {
		t.Errorf("dead letter is not the product record: %+v", dl)
	}
	headers := map[string]string{}
	for _, h := range dl.Headers {
		headers[h.Key] = string(h.Value)
	}
	want := map[string]string{"trace": "t1", HeaderRoute: "shipped", HeaderRouteOperation: "push:braze.campaigns.trigger.send",
		HeaderRouteEventID: routes.DerivedID("ce\x00/shop\x00ev-2", "shipped", "push")}
	for k, v := range want {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	if _, ok := headers[routes.OriginHeader]; ok {
		t.Error("a CloudEvent got an origin header")
	}
	if len(rec.Headers) != 1 {
		t.Error("the consumed record's headers were changed")
	}
}

// TestRoutedChecksApply checks that derived operations go through the
// same checks as direct events (here the broadcast guard), and that the
// rest of the product event still flows.
func TestRoutedChecksApply(t *testing.T) {
	e := newRoutedEnv(t, false)
	e.handle(t, product("ev-3", "order.refunded", `{}`))
	if len(e.d.jobs) != 0 || len(e.rec.dlq) != 1 || e.rec.reasons[0] != event.ReasonBroadcastNotAllowed {
		t.Fatalf("jobs %d, dead letters %v", len(e.d.jobs), e.rec.reasons)
	}
	if done, _ := e.finished(); done != 1 {
		t.Errorf("done %d", done)
	}
}

// TestRouteErrorIsDeadLettered checks route_error, its headers and label.
func TestRouteErrorIsDeadLettered(t *testing.T) {
	e := newRoutedEnv(t, false)
	e.handle(t, product("ev-4", "order.cancelled", `{}`))
	if len(e.rec.dlq) != 1 || e.rec.reasons[0] != event.ReasonRouteError {
		t.Fatalf("dead letters %v", e.rec.reasons)
	}
	found := false
	for _, h := range e.rec.dlq[0].Headers {
		found = found || (h.Key == HeaderRoute && string(h.Value) == "fragile")
	}
	if !found {
		t.Errorf("no %s header naming the route: %+v", HeaderRoute, e.rec.dlq[0].Headers)
	}
	if n := testutil.ToFloat64(e.p.m.completed.WithLabelValues(productType, event.OutcomeDeadLettered, string(event.ReasonRouteError))); n != 1 {
		t.Errorf("completed{product, route_error} = %v", n)
	}
	if done, _ := e.finished(); done != 1 {
		t.Errorf("done %d", done)
	}
}

// TestUnmatchedProductEvents checks both policies and unreadable records.
func TestUnmatchedProductEvents(t *testing.T) {
	tests := []struct {
		name       string
		deadLetter bool
		rec        event.Record
		want       event.Reason // "" : skipped
	}{
		{"skipped", false, product("ev-5", "order.placed", `{}`), ""},
		{"dead-lettered", true, product("ev-6", "order.placed", `{}`), event.ReasonNoRoute},
		{"unreadable", false, event.Record{Topic: "orders", Value: []byte("not json")}, event.ReasonInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newRoutedEnv(t, tt.deadLetter)
			e.handle(t, tt.rec)
			if done, _ := e.finished(); done != 1 {
				t.Errorf("done %d", done)
			}
			switch {
			case tt.want == "" && len(e.rec.dlq)+len(e.rec.results) != 0:
				t.Errorf("a skipped event wrote %d dead letters, %d results", len(e.rec.dlq), len(e.rec.results))
			case tt.want != "" && (len(e.rec.dlq) != 1 || e.rec.reasons[0] != tt.want):
				t.Errorf("dead letters %v, want one %s", e.rec.reasons, tt.want)
			}
			if tt.want != "" && string(e.rec.dlq[0].Value) != string(tt.rec.Value) {
				t.Error("the dead letter is not the record")
			}
		})
	}
}

// TestPlainRecordDeadLetterKeepsOrigin checks that a dead-lettered plain
// record carries where it was read, so that its replay keeps its ids.
func TestPlainRecordDeadLetterKeepsOrigin(t *testing.T) {
	tab, err := routes.Parse("p.yaml", []byte(`routes:
  - name: plain
    topics: [signups]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"', send_id: data.s}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	rec := &fakeRecorder{}
	d := &fakeDispatcher{}
	p := New(Config{}, Deps{Dispatcher: d, Recorder: rec, Router: tableRouter{t: tab}})
	product := event.Record{Topic: "signups", Partition: 2, Offset: 40, Value: []byte(`{"s":"x"}`)}
	res, _ := p.router.Route(&product, nil)
	if err := p.handleRouted(context.Background(), &product, 0, &routedEnv{}, res); err != nil {
		t.Fatal(err)
	}
	d.jobs[0].Done.Complete(dispatcher.Result{Outcome: dispatcher.DeadLettered, Reason: event.ReasonRetriesExhausted})
	var origin string
	for _, h := range rec.dlq[0].Headers {
		if h.Key == routes.OriginHeader {
			origin = string(h.Value)
		}
	}
	if origin != "signups/2/40" {
		t.Errorf("origin header %q", origin)
	}
	// The replayed copy, read elsewhere, derives the same id.
	replayed := rec.dlq[0]
	replayed.Offset = 900
	again, _ := p.router.Route(&replayed, nil)
	if again.Ops[0].ID != res.Ops[0].ID {
		t.Errorf("replayed id %s, first %s", again.Ops[0].ID, res.Ops[0].ID)
	}
}

// TestRoutedHandBack checks that a product record whose operation is
// handed back (the gateway is stopping) is handed back, not done.
func TestRoutedHandBack(t *testing.T) {
	e := newRoutedEnv(t, false)
	e.handle(t, product("ev-7", "order.shipped", `{"user":"u1"}`))
	e.d.jobs[0].Done.Complete(dispatcher.Result{Outcome: dispatcher.HandedBack})
	e.d.jobs[1].Done.Complete(dispatcher.Result{Outcome: dispatcher.Sent})
	if done, back := e.finished(); done != 0 || back != 1 {
		t.Errorf("done %d, handed back %d; want handed back once", done, back)
	}
}

// TestDirectEventsAreNotRouted checks that topics no route listens to keep
// the direct path.
func TestDirectEventsAreNotRouted(t *testing.T) {
	e := newRoutedEnv(t, false)
	rec := event.Record{Topic: "braze.trigger", Value: []byte(`{}`)}
	if _, ok := e.p.router.Route(&rec, nil); ok {
		t.Fatal("braze.trigger is routed")
	}
}

// TestRecordOfATopicNoLongerRouted: a record read while routes listened to
// its topic (so not decoded) and handled after a reload stopped that is a
// Braze event after all: it is decoded and sent, not taken for a decoded
// one without an event.
func TestRecordOfATopicNoLongerRouted(t *testing.T) {
	e := newRoutedEnv(t, false)
	m := &consumer.Message{Record: event.Record{Topic: "braze.trigger", Offset: 3, Value: []byte(
		`{"specversion":"1.0","id":"e1","source":"/s","type":"braze.campaigns.trigger.send",` +
			`"data":{"campaign_id":"c","recipients":[{"external_user_id":"u1"}]}}`)}}
	if err := e.p.Handle(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	if len(e.d.jobs) != 1 || e.d.jobs[0].Event == nil || e.d.jobs[0].Event.ID != "e1" {
		t.Fatalf("jobs %v, want the decoded event e1", e.d.jobs)
	}
}

// TestTrustedEventsAreValidated: an event decoded as trusted (as routes
// decode derived events) has data that nothing validated yet, so the
// request check validates it rather than skipping values.
func TestTrustedEventsAreValidated(t *testing.T) {
	e := newRoutedEnv(t, false)
	rec := event.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"braze.campaigns.trigger.send",` +
		`"data":{"campaign_id":"c","recipients":[{"external_user_id":"u","trigger_properties":{"x":tru}}]}}`)}
	ev, err := event.Decode(&rec, event.Limits{Trusted: true})
	if err != nil {
		t.Fatalf("trusted decode: %v", err)
	}
	if err := e.p.check(ev); err == nil {
		t.Fatal("invalid JSON in a trusted event's data passed the request check")
	} else if r, _ := event.ReasonOf(err); r != event.ReasonInvalidRequest {
		t.Fatalf("reason %s (%v), want %s", r, err, event.ReasonInvalidRequest)
	}
}
