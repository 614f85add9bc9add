package dispatcher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
)

// waitFor bounds every poll of these tests; the scenarios settle in
// milliseconds, so reaching it means something is stuck.
const waitFor = 10 * time.Second

// testConfig is a configuration with small timings: retries back off for a
// few milliseconds and a pause needs more failures than a test makes unless
// the test says otherwise.
func testConfig() dispatcher.Config {
	return dispatcher.Config{
		MaxRecipients: 50,
		Linger:        20 * time.Millisecond,
		Workers:       4,
		Retry: dispatcher.RetryConfig{
			MaxAttempts:    3,
			MaxElapsed:     time.Minute,
			InitialBackoff: time.Millisecond,
			MaxBackoff:     5 * time.Millisecond,
		},
		Pause: dispatcher.PauseConfig{AfterFailures: 1000, ProbeInterval: 20 * time.Millisecond},
	}
}

// eventually polls cond until it holds or waitFor passes.
func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{waitFor}, args...)...)
		}
		time.Sleep(time.Millisecond)
	}
}

// ---- events ----

// evOpt sets CloudEvent attributes of a test event.
type evOpt func(map[string]any)

func inWorkspace(ws string) evOpt { return func(m map[string]any) { m["brazeworkspace"] = ws } }

func deliverBy(t time.Time) evOpt {
	return func(m map[string]any) { m["brazedeadline"] = t.UTC().Format(time.RFC3339Nano) }
}

// decode builds an event the way the gateway reads one: a structured-mode
// CloudEvent record through event.Decode.
func decode(t testing.TB, typ, id string, data any, opts ...evOpt) *event.Event {
	t.Helper()
	m := map[string]any{"specversion": "1.0", "id": id, "source": "/tests", "type": typ, "data": data}
	for _, o := range opts {
		o(m)
	}
	v, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Decode(&event.Record{Topic: "braze.trigger", Value: v}, event.Limits{})
	if err != nil {
		t.Fatalf("decode %s: %v", id, err)
	}
	return ev
}

// trigger is a campaigns.trigger.send event for users (one recipient object each).
func trigger(t testing.TB, id, campaign string, users []string, opts ...evOpt) *event.Event {
	t.Helper()
	recips := make([]any, 0, len(users))
	for _, u := range users {
		recips = append(recips, map[string]any{"external_user_id": u, "trigger_properties": map[string]any{"event": id}})
	}
	ev := decode(t, "braze.campaigns.trigger.send", id, map[string]any{"campaign_id": campaign, "recipients": recips}, opts...)
	if ev.Batch == nil || len(ev.Batch.Recipients) != len(users) {
		t.Fatalf("event %s is not batchable with %d recipients", id, len(users))
	}
	return ev
}

// emailTrigger is a campaigns.trigger.send event for one recipient named by email.
func emailTrigger(t testing.TB, id, campaign, email string) *event.Event {
	t.Helper()
	return decode(t, "braze.campaigns.trigger.send", id, map[string]any{"campaign_id": campaign,
		"recipients": []any{map[string]any{"email": email}}})
}

// messagesSend is a messages.send event for external ids and aliases (alias names with label "app").
func messagesSend(t testing.TB, id string, ids, aliases []string) *event.Event {
	t.Helper()
	data := map[string]any{"messages": map[string]any{"email": map[string]any{
		"app_id": "a1", "subject": "s", "from": "Shop <shop@example.com>", "body": "hi"}}}
	if len(ids) > 0 {
		data["external_user_ids"] = ids
	}
	var as []any
	for _, a := range aliases {
		as = append(as, map[string]any{"alias_name": a, "alias_label": "app"})
	}
	if len(as) > 0 {
		data["user_aliases"] = as
	}
	ev := decode(t, "braze.messages.send", id, data)
	if ev.Batch == nil {
		t.Fatalf("event %s is not batchable", id)
	}
	return ev
}

// scheduleDelete is an event sent on its own (not batchable).
func scheduleDelete(t testing.TB, id string, opts ...evOpt) *event.Event {
	t.Helper()
	ev := decode(t, "braze.messages.schedule.delete", id, map[string]any{"schedule_id": "s-" + id}, opts...)
	if ev.Batch != nil {
		t.Fatalf("event %s is batchable", id)
	}
	return ev
}

// users returns n user ids prefix00..prefix(n-1).
func users(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i)
	}
	return out
}

// ---- Braze answers ----

// call is one request the fake Sender received.
type call struct {
	N    int // 0-based, in arrival order
	Path string
	Body []byte
	At   time.Time
}

// answerFunc scripts the fake Sender's answer to a call.
type answerFunc func(ctx context.Context, c call) (*braze.Response, error)

// senderFunc adapts a function to dispatcher.Sender.
type senderFunc func(ctx context.Context, path string, body []byte) (*braze.Response, error)

func (f senderFunc) Post(ctx context.Context, path string, body []byte) (*braze.Response, error) {
	return f(ctx, path, body)
}

// fakeSender records every call and answers as scripted.
type fakeSender struct {
	answer answerFunc
	mu     sync.Mutex
	calls  []call
}

func (s *fakeSender) post(ctx context.Context, path string, body []byte) (*braze.Response, error) {
	s.mu.Lock()
	c := call{N: len(s.calls), Path: path, Body: bytes.Clone(body), At: time.Now()}
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	return s.answer(ctx, c)
}

func (s *fakeSender) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

func (s *fakeSender) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

// reply answers like braze.Client: the parsed response, plus a *braze.Error
// for a status that is not 2xx.
func reply(c call, status int, body string, rl braze.RateLimit) (*braze.Response, error) {
	r := &braze.Response{Status: status, RateLimit: rl, Body: []byte(body)}
	_ = json.Unmarshal(r.Body, &r.Envelope)
	if status >= 200 && status < 300 {
		return r, nil
	}
	return r, &braze.Error{Endpoint: c.Path, Status: status, Message: r.Message, Body: r.Body, RateLimit: rl}
}

// accepted is a 201 with a dispatch id.
func accepted(c call) (*braze.Response, error) {
	return reply(c, 201, fmt.Sprintf(`{"message":"success","dispatch_id":"d-%d"}`, c.N), braze.RateLimit{})
}

func acceptAll(_ context.Context, c call) (*braze.Response, error) { return accepted(c) }

// status answers every call with status and a small JSON body.
func status(code int) func(call) (*braze.Response, error) {
	return func(c call) (*braze.Response, error) {
		return reply(c, code, fmt.Sprintf(`{"message":"status %d"}`, code), braze.RateLimit{})
	}
}

// sequence answers the i-th call with steps[i], and later calls with the last step.
func sequence(steps ...func(call) (*braze.Response, error)) answerFunc {
	return func(_ context.Context, c call) (*braze.Response, error) {
		return steps[min(c.N, len(steps)-1)](c)
	}
}

// ---- recipients of a recorded body ----

// triggerBody is the part of a trigger request the tests look at.
type triggerBody struct {
	CampaignID string `json:"campaign_id"`
	Recipients []struct {
		ExternalUserID string `json:"external_user_id"`
		Email          string `json:"email"`
	} `json:"recipients"`
}

// recipientsOf decodes a trigger body (failing the test if it is not valid
// JSON) and returns its campaign and recipient ids.
func recipientsOf(t *testing.T, body []byte) (string, []string) {
	t.Helper()
	var b triggerBody
	if err := json.Unmarshal(body, &b); err != nil {
		t.Fatalf("request body is not valid JSON (%v): %q", err, body)
	}
	ids := make([]string, 0, len(b.Recipients))
	for _, r := range b.Recipients {
		ids = append(ids, r.ExternalUserID+r.Email)
	}
	return b.CampaignID, ids
}

// ---- limiter ----

// observation is one Limiter.Observe call.
type observation struct {
	Status    int
	RateLimit braze.RateLimit
}

// fakeLimiter admits every call at once unless onWait says otherwise, and
// records what it is told.
type fakeLimiter struct {
	onWait func(ctx context.Context) error

	mu       sync.Mutex
	lanes    []int
	observed []observation
}

func (l *fakeLimiter) Wait(ctx context.Context, _ string, _ []rules.Charge, lane int) error {
	l.mu.Lock()
	l.lanes = append(l.lanes, lane)
	l.mu.Unlock()
	if l.onWait != nil {
		return l.onWait(ctx)
	}
	return ctx.Err()
}

func (l *fakeLimiter) Observe(_ string, _ []rules.Charge, status int, rl braze.RateLimit) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.observed = append(l.observed, observation{status, rl})
}

func (l *fakeLimiter) Observed() []observation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]observation(nil), l.observed...)
}

func (l *fakeLimiter) Lanes() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.lanes...)
}

// clock is the wall clock shifted by an offset that tests advance.
type clock struct{ offset atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *clock) Advance(d time.Duration) { c.offset.Add(int64(d)) }

// ---- jobs ----

// tracked is one submitted job and what its Done received.
type tracked struct {
	calls atomic.Int32
	done  chan struct{}
	mu    sync.Mutex
	res   dispatcher.Result
}

// tracker creates jobs and counts their Done calls.
type tracker struct {
	mu   sync.Mutex
	jobs map[string]*tracked
}

func newTracker() *tracker { return &tracker{jobs: map[string]*tracked{}} }

// job returns a Job for ev (on lane 0) whose Done is counted.
func (tr *tracker) job(ev *event.Event) *dispatcher.Job { return tr.jobOn(ev, 0) }

func (tr *tracker) jobOn(ev *event.Event, lane int) *dispatcher.Job {
	tj := &tracked{done: make(chan struct{})}
	tr.mu.Lock()
	if _, dup := tr.jobs[ev.ID]; dup {
		tr.mu.Unlock()
		panic("test bug: event id used twice: " + ev.ID)
	}
	tr.jobs[ev.ID] = tj
	tr.mu.Unlock()
	return &dispatcher.Job{Event: ev, Lane: lane, Done: dispatcher.CompleteFunc(func(r dispatcher.Result) {
		if tj.calls.Add(1) == 1 {
			tj.mu.Lock()
			tj.res = r
			tj.mu.Unlock()
			close(tj.done)
		}
	})}
}

func (tr *tracker) get(t *testing.T, id string) *tracked {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tj, ok := tr.jobs[id]
	if !ok {
		t.Fatalf("no job %s", id)
	}
	return tj
}

// settled reports whether id's Done was called.
func (tr *tracker) settled(t *testing.T, id string) bool {
	t.Helper()
	select {
	case <-tr.get(t, id).done:
		return true
	default:
		return false
	}
}

// result waits for id's Result.
func (tr *tracker) result(t *testing.T, id string) dispatcher.Result {
	t.Helper()
	tj := tr.get(t, id)
	select {
	case <-tj.done:
	case <-time.After(waitFor):
		t.Fatalf("event %s got no result within %v", id, waitFor)
	}
	tj.mu.Lock()
	defer tj.mu.Unlock()
	return tj.res
}

// all waits for every job's Result.
func (tr *tracker) all(t *testing.T) map[string]dispatcher.Result {
	t.Helper()
	out := map[string]dispatcher.Result{}
	for _, id := range tr.ids() {
		out[id] = tr.result(t, id)
	}
	return out
}

func (tr *tracker) ids() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ids := make([]string, 0, len(tr.jobs))
	for id := range tr.jobs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// checkOnce fails the test unless every job's Done was called exactly once.
func (tr *tracker) checkOnce(t *testing.T) {
	t.Helper()
	for _, id := range tr.ids() {
		if n := tr.get(t, id).calls.Load(); n != 1 {
			t.Errorf("event %s: Done called %d times, want exactly once", id, n)
		}
	}
}

// ---- harness ----

// harness is a Dispatcher wired to fakes, with a fresh metrics registry.
type harness struct {
	d      *dispatcher.Dispatcher
	sender *fakeSender
	lim    *fakeLimiter
	clock  *clock
	reg    *prometheus.Registry
	jobs   *tracker

	cancel  context.CancelFunc
	runDone chan struct{}
}

// depsOpt changes the Dispatcher's dependencies before New.
type depsOpt func(*dispatcher.Deps)

func withLogger(l *zap.Logger) depsOpt { return func(d *dispatcher.Deps) { d.Logger = l } }

// newHarness builds a Dispatcher whose workspaces "default" and "eu" both
// answer with answer; it does not start Run. At the end of the test Run is
// stopped and every job must have had exactly one Result.
func newHarness(t *testing.T, cfg dispatcher.Config, answer answerFunc, lim *fakeLimiter, opts ...depsOpt) *harness {
	t.Helper()
	if lim == nil {
		lim = &fakeLimiter{}
	}
	h := &harness{sender: &fakeSender{answer: answer}, lim: lim, clock: &clock{},
		reg: prometheus.NewRegistry(), jobs: newTracker()}
	deps := dispatcher.Deps{
		Senders:    map[string]dispatcher.Sender{event.DefaultWorkspace: senderFunc(h.sender.post), "eu": senderFunc(h.sender.post)},
		Limiter:    lim,
		Registerer: h.reg,
		Now:        h.clock.Now,
	}
	for _, o := range opts {
		o(&deps)
	}
	d, err := dispatcher.New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.d = d
	t.Cleanup(func() {
		h.stop(t)
		h.jobs.checkOnce(t)
	})
	return h
}

// start builds a harness and starts Run.
func start(t *testing.T, cfg dispatcher.Config, answer answerFunc, lim *fakeLimiter, opts ...depsOpt) *harness {
	t.Helper()
	h := newHarness(t, cfg, answer, lim, opts...)
	h.run()
	return h
}

func (h *harness) run() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.runDone = cancel, make(chan struct{})
	go func() {
		defer close(h.runDone)
		_ = h.d.Run(ctx)
	}()
}

func (h *harness) stop(t *testing.T) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case <-h.runDone:
	case <-time.After(waitFor):
		t.Errorf("Run did not return within %v of its context ending", waitFor)
	}
	h.cancel = nil
}

// submit submits ev as a new job (lane 0).
func (h *harness) submit(t *testing.T, ev *event.Event) {
	t.Helper()
	h.submitCtx(t, context.Background(), h.jobs.job(ev))
}

func (h *harness) submitCtx(t *testing.T, ctx context.Context, j *dispatcher.Job) {
	t.Helper()
	if err := h.d.Submit(ctx, j); err != nil {
		t.Fatalf("Submit %s: %v", j.Event.ID, err)
	}
}

// metric returns the value of a counter or gauge, or the sample count of a
// histogram, with exactly the given labels (0 if the series does not exist).
func (h *harness) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
