package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/gwtest"
)

// These tests drive every Braze operation of the contract (DESIGN.md §2)
// through Kafka, the gateway and the simulator, starting from the example
// events in examples/ (one per type; the simulator's DevConfig knows their
// campaign, Canvas, segment and tag ids).

// opsEvent is a CloudEvent as a producer writes it: its attributes
// (extensions included) and its data.
type opsEvent struct {
	file  string
	attrs map[string]string
	data  json.RawMessage
	// raw is the example file byte for byte; nil once the event is changed.
	raw []byte
}

func (e opsEvent) id() string     { return e.attrs["id"] }
func (e opsEvent) source() string { return e.attrs["source"] }
func (e opsEvent) typ() string    { return e.attrs["type"] }

// spec returns the type's entry in the type table.
func (e opsEvent) spec(t *testing.T) *event.Spec {
	t.Helper()
	s, ok := event.Lookup(e.typ())
	if !ok {
		t.Fatalf("%s: type %q is not in the type table", e.file, e.typ())
	}
	return s
}

// loadOpsExamples reads examples/*.json in file-name order.
func loadOpsExamples(t *testing.T) []opsEvent {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.json"))
	if err != nil {
		t.Fatalf("examples: %v", err)
	}
	slices.Sort(files)
	var out []opsEvent
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("read %s: %v", f, err)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ev := opsEvent{file: filepath.Base(f), attrs: map[string]string{}, data: top["data"], raw: raw}
		for k, v := range top {
			if k == "data" {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				t.Fatalf("%s: attribute %s is not a string: %v", f, k, err)
			}
			ev.attrs[k] = s
		}
		out = append(out, ev)
	}
	return out
}

// opsByType indexes events by type.
func opsByType(t *testing.T, evs []opsEvent) map[string]opsEvent {
	t.Helper()
	m := map[string]opsEvent{}
	for _, e := range evs {
		if _, dup := m[e.typ()]; dup {
			t.Fatalf("two examples of type %s", e.typ())
		}
		m[e.typ()] = e
	}
	return m
}

// with returns a copy of e with id id, from source src (unchanged if
// empty), whose data is changed by change (nil: unchanged).
func (e opsEvent) with(t *testing.T, id, src string, change func(d map[string]any)) opsEvent {
	t.Helper()
	n := opsEvent{file: e.file, attrs: maps.Clone(e.attrs)}
	n.attrs["id"] = id
	if src != "" {
		n.attrs["source"] = src
	}
	d := opsDecode(t, e.data)
	if change != nil {
		change(d)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("encode data: %v", err)
	}
	n.data = b
	return n
}

// opsDecode decodes a JSON object, keeping numbers as written.
func opsDecode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// record encodes e as a Kafka record keyed by its partitionkey, in binary
// or structured mode. An unchanged example travels as its file, byte for byte.
func (e opsEvent) record(t *testing.T, binary bool) kafka.Message {
	t.Helper()
	var key []byte
	if k := e.attrs["partitionkey"]; k != "" {
		key = []byte(k)
	}
	if binary {
		var hs []kafka.Header
		for _, name := range slices.Sorted(maps.Keys(e.attrs)) {
			h := "ce_" + name
			if name == "datacontenttype" {
				h = "content-type"
			}
			hs = append(hs, kafka.Header{Key: h, Value: []byte(e.attrs[name])})
		}
		return kafka.Message{Key: key, Value: e.data, Headers: hs}
	}
	value := e.raw
	if value == nil {
		m := map[string]any{"data": e.data}
		for k, v := range e.attrs {
			m[k] = v
		}
		var err error
		if value, err = json.Marshal(m); err != nil {
			t.Fatalf("encode event: %v", err)
		}
	}
	return kafka.Message{Key: key, Value: value,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
}

// opsTopic is the topic a producer publishes an event of type typ to:
// schedules on the schedule topic, trigger sends on the trigger topic, the
// rest on the send topic.
func opsTopic(t *testing.T, env *gwtest.Env, typ string) string {
	t.Helper()
	s, ok := event.Lookup(typ)
	switch {
	case !ok:
		t.Fatalf("unknown type %q", typ)
	case s.Schedule != event.NotSchedule:
		return env.Schedule()
	case typ == "braze.campaigns.trigger.send" || typ == "braze.canvas.trigger.send":
		return env.Trigger()
	}
	return env.Send()
}

// opsPublish publishes evs, each to its topic, in order; even-numbered
// events travel in mode, odd ones in the other mode when alternate is set.
func opsPublish(t *testing.T, env *gwtest.Env, binary, alternate bool, evs ...opsEvent) {
	t.Helper()
	byTopic := map[string][]kafka.Message{}
	var topics []string
	for i, e := range evs {
		tp := opsTopic(t, env, e.typ())
		if byTopic[tp] == nil {
			topics = append(topics, tp)
		}
		b := binary
		if alternate && i%2 == 1 {
			b = !b
		}
		byTopic[tp] = append(byTopic[tp], e.record(t, b))
	}
	for _, tp := range topics {
		env.Produce(tp, byTopic[tp]...)
	}
}

// opsResults reads the results topic until it holds n records (more fail
// the test) and returns them by results-topic key.
func opsResults(t *testing.T, env *gwtest.Env, n int) map[string]event.Result {
	t.Helper()
	env.ReadAll(env.Results(), n, 60*time.Second)
	msgs := env.ReadNow(env.Results())
	out := map[string]event.Result{}
	for _, m := range msgs {
		var r event.Result
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("results record %q: %v", m.Value, err)
		}
		k := event.ResultKey(r.Source, r.ID)
		if string(m.Key) != k {
			t.Errorf("results record of %s has key %q", k, m.Key)
		}
		if _, dup := out[k]; dup {
			t.Errorf("two results for %s", k)
		}
		out[k] = r
	}
	if len(msgs) != n {
		t.Fatalf("results topic holds %d records, want %d", len(msgs), n)
	}
	return out
}

// opsRecordID returns the CloudEvents id of a record in either mode.
func opsRecordID(t *testing.T, m kafka.Message) string {
	t.Helper()
	if id := gwtest.Header(m, "ce_id"); id != "" {
		return id
	}
	var v struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(m.Value, &v); err != nil {
		t.Fatalf("record %q: %v", m.Value, err)
	}
	return v.ID
}

// opsDead is what the dead-letter topic says about an event.
type opsDead struct {
	reason, err string
}

// opsDLQ returns the dead-letter records by event id, and fails the test
// unless the dead-letter topic holds exactly n records. Call it once the
// results topic is complete: an event's dead-letter record is written
// before its result.
func opsDLQ(t *testing.T, env *gwtest.Env, n int) map[string]opsDead {
	t.Helper()
	msgs := env.ReadNow(env.DLQ())
	out := map[string]opsDead{}
	for _, m := range msgs {
		id := opsRecordID(t, m)
		if _, dup := out[id]; dup {
			t.Errorf("event %s dead-lettered twice", id)
		}
		d := opsDead{reason: gwtest.Header(m, deadletter.HeaderReason), err: gwtest.Header(m, deadletter.HeaderError)}
		if d.err == "" || strings.Contains(d.err, gwtest.APIKey) {
			t.Errorf("DLQ record of %s: dlq.error %q", id, d.err)
		}
		out[id] = d
	}
	if len(msgs) != n {
		t.Fatalf("DLQ holds %d records, want %d: %v", len(msgs), n, out)
	}
	return out
}

// opsSameJSON reports whether a and b are the same JSON value.
func opsSameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// opsWithScheduleID returns data with schedule_id set to id.
func opsWithScheduleID(t *testing.T, data []byte, id string) []byte {
	t.Helper()
	d := opsDecode(t, data)
	d["schedule_id"] = id
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	return b
}

// opsCreateEndpoint returns the create endpoint of a schedule family, given
// the path of its update or delete endpoint.
func opsCreateEndpoint(path string) string {
	return path[:strings.LastIndex(path, "/")] + "/create"
}

// opsRequestsByPath groups the simulator's requests by path.
func opsRequestsByPath(reqs []brazetest.Request) map[string][]brazetest.Request {
	m := map[string][]brazetest.Request{}
	for _, r := range reqs {
		m[r.Path] = append(m[r.Path], r)
	}
	return m
}

// TestEveryEventTypeEndToEnd publishes the 17 example events (one per
// type, in file-name order, each keyed by its partitionkey, schedule
// update and delete naming their schedule by brazeschedulekey only), in
// each CloudEvents mode, and checks that Braze received exactly the request
// each one describes, with the schedule_id of the matching create filled
// in, and that the results topic records each as sent with what Braze
// answered.
func TestEveryEventTypeEndToEnd(t *testing.T) {
	t.Parallel()
	examples := loadOpsExamples(t)
	byType := opsByType(t, examples)
	for _, s := range event.Specs() {
		if _, ok := byType[s.Type]; !ok {
			t.Errorf("no example of type %s", s.Type)
		}
	}
	if len(examples) != len(event.Specs()) {
		t.Fatalf("%d examples for %d types", len(examples), len(event.Specs()))
	}
	for _, mode := range []string{"structured", "binary"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			env := gwtest.New(t, brazetest.DevConfig(gwtest.APIKey))
			opsPublish(t, env, mode == "binary", false, examples...)
			cfg := env.Config()
			env.Start(cfg)

			results := opsResults(t, env, len(examples))
			env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Send(), env.Trigger(), env.Schedule())
			if dlq := env.ReadNow(env.DLQ()); len(dlq) != 0 {
				t.Errorf("%d events dead-lettered, want none (first: reason %q)", len(dlq), gwtest.Header(dlq[0], deadletter.HeaderReason))
			}
			reqs := env.Sim.Requests()
			if len(reqs) != len(examples) {
				t.Errorf("simulator received %d requests for %d events", len(reqs), len(examples))
			}
			byPath := opsRequestsByPath(reqs)
			for _, ex := range examples {
				spec := ex.spec(t)
				rs := byPath[spec.Endpoint]
				if len(rs) != 1 {
					t.Errorf("%s: %d requests to %s, want 1", ex.file, len(rs), spec.Endpoint)
					continue
				}
				req := rs[0]
				if req.Method != "POST" || req.Status < 200 || req.Status > 299 {
					t.Errorf("%s: %s %s answered %d", ex.file, req.Method, req.Path, req.Status)
				}
				want, wantScheduleID := []byte(ex.data), req.ScheduleID
				if op := spec.Schedule; op == event.ScheduleUpdate || op == event.ScheduleDelete {
					creates := byPath[opsCreateEndpoint(spec.Endpoint)]
					if len(creates) != 1 || creates[0].ScheduleID == "" {
						t.Errorf("%s: no schedule created at %s", ex.file, opsCreateEndpoint(spec.Endpoint))
						continue
					}
					wantScheduleID = creates[0].ScheduleID
					if bytes.Contains(ex.data, []byte(`"schedule_id"`)) {
						t.Fatalf("%s: the example names its schedule_id; it must use brazeschedulekey only", ex.file)
					}
					want = opsWithScheduleID(t, ex.data, wantScheduleID)
				}
				if !opsSameJSON(t, req.Body, want) {
					t.Errorf("%s: Braze received\n%s\nwant\n%s", ex.file, req.Body, want)
				}

				r, ok := results[event.ResultKey(ex.source(), ex.id())]
				switch {
				case !ok:
					t.Errorf("%s: no result record", ex.file)
					continue
				case r.Outcome != event.OutcomeSent || r.Reason != "":
					t.Errorf("%s: outcome %q (reason %q), want sent", ex.file, r.Outcome, r.Reason)
				case r.Type != ex.typ() || r.Attempts != 1 || r.Workspace != "default" || r.ScheduleKey != ex.attrs["brazeschedulekey"]:
					t.Errorf("%s: result %+v", ex.file, r)
				}
				if r.DispatchID != req.DispatchID || r.SendID != req.SendID || r.ScheduleID != wantScheduleID {
					t.Errorf("%s: result has dispatch_id %q, send_id %q, schedule_id %q; Braze answered %q, %q, %q",
						ex.file, r.DispatchID, r.SendID, r.ScheduleID, req.DispatchID, req.SendID, wantScheduleID)
				}
				// Where Braze answers with an id, the result must carry one.
				switch {
				case spec.Schedule == event.ScheduleCreate && r.ScheduleID == "",
					spec.Batchable && r.DispatchID == "",
					spec.Endpoint == "/sends/id/create" && r.SendID != opsDecode(t, ex.data)["send_id"]:
					t.Errorf("%s: result lacks the id Braze returned: %+v", ex.file, r)
				}
			}
			if n := len(env.Sim.Schedules()); n != 0 {
				t.Errorf("%d schedules still live after every create was deleted", n)
			}
		})
	}
}

// TestInvalidEventPerType publishes, for each of the 17 types, an event
// that breaks a rule of braze-api.md §5 (a required field removed; a
// schedule update that changes nothing; a delete with neither schedule_id
// nor schedule key), plus schedule updates and deletes whose schedule key
// was never created, and one valid event: every bad event is dead-lettered
// with its reason and an error naming the cause, and only the valid one
// reaches Braze.
func TestInvalidEventPerType(t *testing.T) {
	t.Parallel()
	byType := opsByType(t, loadOpsExamples(t))
	type variant struct {
		change func(map[string]any)
		field  string // the field dlq.error must name
	}
	drop := func(field string) variant {
		return variant{field: field, change: func(d map[string]any) {
			if _, ok := d[field]; !ok {
				t.Fatalf("field %s is not in the example", field)
			}
			delete(d, field)
		}}
	}
	invalid := map[string]variant{
		"braze.sends.id.create":                   drop("campaign_id"),
		"braze.messages.send":                     drop("messages"),
		"braze.campaigns.trigger.send":            drop("campaign_id"),
		"braze.canvas.trigger.send":               drop("canvas_id"),
		"braze.messages.schedule.create":          drop("schedule"),
		"braze.messages.schedule.update":          drop("schedule"),       // neither schedule nor messages
		"braze.messages.schedule.delete":          {field: "schedule_id"}, // no schedule_id and no key: see below
		"braze.campaigns.trigger.schedule.create": drop("campaign_id"),
		"braze.campaigns.trigger.schedule.update": drop("schedule"),
		"braze.campaigns.trigger.schedule.delete": drop("campaign_id"),
		"braze.canvas.trigger.schedule.create":    drop("schedule"),
		"braze.canvas.trigger.schedule.update":    drop("canvas_id"),
		"braze.canvas.trigger.schedule.delete":    drop("canvas_id"),
		"braze.campaigns.duplicate":               drop("name"),
		"braze.canvas.duplicate":                  drop("name"),
		"braze.messages.live_activity.start":      drop("content_state"),
		"braze.messages.live_activity.update":     drop("activity_id"),
	}
	if len(invalid) != len(event.Specs()) {
		t.Fatalf("%d invalid variants for %d types", len(invalid), len(event.Specs()))
	}
	var evs []opsEvent
	wantReason := map[string]event.Reason{}
	wantField := map[string]string{}
	for _, s := range event.Specs() {
		v, ok := invalid[s.Type]
		if !ok {
			t.Fatalf("no invalid variant of %s", s.Type)
		}
		ev := byType[s.Type].with(t, "invalid-"+s.Type, "", v.change)
		if s.Type == "braze.messages.schedule.delete" {
			// Without brazeschedulekey the schedule_id is required.
			delete(ev.attrs, "brazeschedulekey")
		}
		evs = append(evs, ev)
		wantReason[ev.id()] = event.ReasonInvalidRequest
		wantField[ev.id()] = v.field
		if s.Schedule == event.ScheduleUpdate || s.Schedule == event.ScheduleDelete {
			// A valid update or delete by a key no create ever used.
			u := byType[s.Type].with(t, "unknown-key-"+s.Type, "", nil)
			u.attrs["brazeschedulekey"] = "never-created-" + s.Type
			u.attrs["partitionkey"] = u.attrs["brazeschedulekey"]
			evs = append(evs, u)
			wantReason[u.id()] = event.ReasonScheduleKeyUnknown
			wantField[u.id()] = u.attrs["brazeschedulekey"]
		}
	}
	// One valid event: the gateway is not refusing everything.
	valid := byType["braze.campaigns.trigger.send"].with(t, "valid-control", "", nil)
	evs = append(evs, valid)

	env := gwtest.New(t, brazetest.DevConfig(gwtest.APIKey))
	opsPublish(t, env, false, true, evs...)
	cfg := env.Config()
	env.Start(cfg)

	results := opsResults(t, env, len(evs))
	dlq := opsDLQ(t, env, len(wantReason))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Send(), env.Trigger(), env.Schedule())
	for _, ev := range evs {
		r := results[event.ResultKey(ev.source(), ev.id())]
		want, bad := wantReason[ev.id()]
		if !bad {
			if r.Outcome != event.OutcomeSent {
				t.Errorf("%s: outcome %q (reason %q), want sent", ev.id(), r.Outcome, r.Reason)
			}
			continue
		}
		if got := dlq[ev.id()]; got.reason != string(want) || !strings.Contains(got.err, wantField[ev.id()]) {
			t.Errorf("%s: DLQ reason %q, error %q; want %q naming %s", ev.id(), got.reason, got.err, want, wantField[ev.id()])
		}
		if r.Outcome != event.OutcomeDeadLettered || r.Reason != want || r.Attempts != 0 {
			t.Errorf("%s: result outcome %q, reason %q, attempts %d; want dead_lettered, %q, 0",
				ev.id(), r.Outcome, r.Reason, r.Attempts, want)
		}
	}
	reqs := env.Sim.Requests()
	if len(reqs) != 1 {
		for _, r := range reqs {
			t.Logf("request %s %s", r.Path, r.Body)
		}
		t.Fatalf("simulator received %d requests, want 1 (the valid event)", len(reqs))
	}
	if reqs[0].Path != "/campaigns/trigger/send" || !opsSameJSON(t, reqs[0].Body, valid.data) {
		t.Errorf("simulator received %s %s, want the valid event", reqs[0].Path, reqs[0].Body)
	}
}

// TestScheduleLifecycleAcrossRestart creates a schedule of each family
// with a schedule key, restarts the gateway, then updates and deletes each
// schedule by its key alone: the simulator's schedules are created, moved
// to the new time and deleted. After another restart, an update by a
// deleted key is dead-lettered as schedule_key_unknown.
func TestScheduleLifecycleAcrossRestart(t *testing.T) {
	t.Parallel()
	byType := opsByType(t, loadOpsExamples(t))
	families := []struct {
		name, prefix, newTime string
	}{
		{"messages", "braze.messages.schedule", "2033-03-01T10:00:00Z"},
		{"campaigns", "braze.campaigns.trigger.schedule", "2033-03-02T11:30:00Z"},
		{"canvas", "braze.canvas.trigger.schedule", "2033-03-03T12:45:00Z"},
	}
	keyed := func(typ, id, key string, change func(map[string]any)) opsEvent {
		e := byType[typ].with(t, id, "/lifecycle", change)
		e.attrs["brazeschedulekey"], e.attrs["partitionkey"] = key, key
		if bytes.Contains(e.data, []byte(`"schedule_id"`)) {
			t.Fatalf("%s names a schedule_id", id)
		}
		return e
	}
	env := gwtest.New(t, brazetest.DevConfig(gwtest.APIKey))
	cfg := env.Config()
	topics := []string{env.Send(), env.Trigger(), env.Schedule()}

	// 1. Create, then stop.
	var creates []opsEvent
	for _, f := range families {
		creates = append(creates, keyed(f.prefix+".create", "create-"+f.name, "lifecycle-"+f.name, nil))
	}
	opsPublish(t, env, false, true, creates...)
	gw := env.Start(cfg)
	results := opsResults(t, env, len(families))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, topics...)
	gw.Stop(t)

	live := map[string]brazetest.Schedule{}
	for _, s := range env.Sim.Schedules() {
		live[s.ScheduleID] = s
	}
	scheduleIDs := map[string]string{} // family → schedule_id
	for _, c := range creates {
		r := results[event.ResultKey(c.source(), c.id())]
		if r.Outcome != event.OutcomeSent || r.ScheduleID == "" {
			t.Fatalf("%s: result %+v, want sent with a schedule_id", c.id(), r)
		}
		if _, ok := live[r.ScheduleID]; !ok {
			t.Fatalf("%s: schedule %s is not live in the simulator", c.id(), r.ScheduleID)
		}
		scheduleIDs[strings.TrimPrefix(c.id(), "create-")] = r.ScheduleID
	}

	// 2. A new gateway updates and deletes by key only.
	gw = env.Start(cfg)
	var updates, deletes []opsEvent
	for _, f := range families {
		updates = append(updates, keyed(f.prefix+".update", "update-"+f.name, "lifecycle-"+f.name,
			func(d map[string]any) { d["schedule"] = map[string]any{"time": f.newTime} }))
		deletes = append(deletes, keyed(f.prefix+".delete", "delete-"+f.name, "lifecycle-"+f.name, nil))
	}
	opsPublish(t, env, true, true, updates...)
	results = opsResults(t, env, 2*len(families))
	live = map[string]brazetest.Schedule{}
	for _, s := range env.Sim.Schedules() {
		live[s.ScheduleID] = s
	}
	for _, f := range families {
		id := scheduleIDs[f.name]
		r := results[event.ResultKey("/lifecycle", "update-"+f.name)]
		if r.Outcome != event.OutcomeSent || r.ScheduleID != id {
			t.Errorf("update-%s: result %+v, want sent for schedule %s", f.name, r, id)
		}
		s, ok := live[id]
		want, _ := time.Parse(time.RFC3339, f.newTime)
		switch {
		case !ok:
			t.Errorf("%s: schedule %s is gone after the update", f.name, id)
		case !s.Time.Equal(want):
			t.Errorf("%s: schedule %s is due at %v after the update, want %v", f.name, id, s.Time, want)
		}
	}
	opsPublish(t, env, false, true, deletes...)
	results = opsResults(t, env, 3*len(families))
	for _, f := range families {
		r := results[event.ResultKey("/lifecycle", "delete-"+f.name)]
		if r.Outcome != event.OutcomeSent || r.ScheduleID != scheduleIDs[f.name] {
			t.Errorf("delete-%s: result %+v, want sent for schedule %s", f.name, r, scheduleIDs[f.name])
		}
	}
	if n := len(env.Sim.Schedules()); n != 0 {
		t.Errorf("%d schedules live after the deletes, want 0", n)
	}
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, topics...)
	gw.Stop(t)

	// Braze received the producer's update and delete bodies with the
	// created schedule_id filled in, and nothing else.
	byPath := opsRequestsByPath(env.Sim.Requests())
	for _, e := range slices.Concat(updates, deletes) {
		path := e.spec(t).Endpoint
		rs := byPath[path]
		family := e.id()[strings.Index(e.id(), "-")+1:]
		want := opsWithScheduleID(t, e.data, scheduleIDs[family])
		if len(rs) != 1 || rs[0].Status/100 != 2 || !opsSameJSON(t, rs[0].Body, want) {
			var got []string
			for _, r := range rs {
				got = append(got, fmt.Sprintf("%d %s", r.Status, r.Body))
			}
			t.Errorf("%s: Braze received %d requests at %s %q, want one 2xx with\n%s", e.id(), len(rs), path, got, want)
		}
	}

	// 3. After a restart, the deleted keys are still known to be deleted.
	env.Start(cfg)
	var stale []opsEvent
	for _, f := range families {
		stale = append(stale, keyed(f.prefix+".update", "update-after-delete-"+f.name, "lifecycle-"+f.name,
			func(d map[string]any) { d["schedule"] = map[string]any{"time": "2034-01-01T00:00:00Z"} }))
	}
	opsPublish(t, env, false, true, stale...)
	opsResults(t, env, 4*len(families))
	dlq := opsDLQ(t, env, len(stale))
	for _, e := range stale {
		if got := dlq[e.id()]; got.reason != string(event.ReasonScheduleKeyUnknown) {
			t.Errorf("%s: DLQ reason %q (%s), want schedule_key_unknown", e.id(), got.reason, got.err)
		}
	}
	if n := len(env.Sim.Requests()); n != 3*len(families) {
		t.Errorf("simulator received %d requests, want %d", n, 3*len(families))
	}
}

// TestBroadcastGuard publishes requests that would message a whole
// segment, audience or campaign audience, once from a source that is not
// allowed to broadcast and once from one that is: the first are
// dead-lettered as broadcast_not_allowed and never reach Braze, the second
// are sent as written. Requests that name their users are not broadcasts,
// whatever their source.
func TestBroadcastGuard(t *testing.T) {
	t.Parallel()
	const denied, allowed = "/checkout-service", "/marketing"
	push := map[string]any{"android_push": map[string]any{"title": "Flash sale", "alert": "Everything 20% off today"}}
	audience := map[string]any{"custom_attribute": map[string]any{
		"custom_attribute_name": "plan", "comparison": "equals", "value": "pro"}}
	cases := []struct {
		name, typ string
		data      map[string]any
	}{
		{"segment-send", "braze.messages.send", map[string]any{
			"segment_id": brazetest.DevSegmentID, "broadcast": true, "messages": push}},
		{"campaign-broadcast", "braze.campaigns.trigger.send", map[string]any{
			"campaign_id": brazetest.DevTriggerCampaignID, "broadcast": true,
			"trigger_properties": map[string]any{"sale": "flash"}}},
		{"canvas-audience", "braze.canvas.trigger.send", map[string]any{
			"canvas_id": brazetest.DevCanvasID, "broadcast": true, "audience": audience}},
		{"scheduled-broadcast", "braze.campaigns.trigger.schedule.create", map[string]any{
			"campaign_id": brazetest.DevTriggerCampaignID, "broadcast": true,
			"schedule": map[string]any{"time": "2032-06-01T10:00:00Z"}}},
		{"segment-live-activity", "braze.messages.live_activity.start", map[string]any{
			"app_id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d", "activity_id": "flash-sale",
			"activity_attributes_type": "SaleActivity", "activity_attributes": map[string]any{"sale": "flash"},
			"content_state": map[string]any{"left": 100}, "notification": map[string]any{
				"alert": map[string]any{"title": "Flash sale", "body": "Starts now"}},
			"segment_id": brazetest.DevSegmentID}},
	}
	mk := func(id, src, typ string, data map[string]any) opsEvent {
		b, err := json.Marshal(data)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		return opsEvent{file: id, data: b, attrs: map[string]string{
			"specversion": "1.0", "id": id, "source": src, "type": typ, "partitionkey": id}}
	}
	var evs, sent []opsEvent
	deniedIDs := map[string]bool{}
	for _, c := range cases {
		d := mk("denied-"+c.name, denied, c.typ, c.data)
		a := mk("allowed-"+c.name, allowed, c.typ, c.data)
		evs = append(evs, d, a)
		sent = append(sent, a)
		deniedIDs[d.id()] = true
	}
	// A segment-only send without the broadcast flag breaks a Braze rule
	// too, but the guard comes first (DESIGN.md §4b.2).
	noFlag := mk("denied-segment-no-flag", denied, "braze.messages.send", map[string]any{
		"segment_id": brazetest.DevSegmentID, "messages": push})
	evs = append(evs, noFlag)
	deniedIDs[noFlag.id()] = true
	// Named users narrowed by a segment: not a broadcast, from any source.
	narrowed := mk("denied-source-named-users", denied, "braze.messages.send", map[string]any{
		"external_user_ids": []string{"user-2001"}, "segment_id": brazetest.DevSegmentID, "messages": push})
	evs = append(evs, narrowed)
	sent = append(sent, narrowed)

	env := gwtest.New(t, brazetest.DevConfig(gwtest.APIKey))
	opsPublish(t, env, false, true, evs...)
	cfg := env.Config()
	cfg.Broadcast.AllowedSources = []string{allowed}
	env.Start(cfg)

	results := opsResults(t, env, len(evs))
	dlq := opsDLQ(t, env, len(deniedIDs))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Send(), env.Trigger(), env.Schedule())
	for id := range deniedIDs {
		if got := dlq[id]; got.reason != string(event.ReasonBroadcastNotAllowed) {
			t.Errorf("%s: DLQ reason %q (%s), want broadcast_not_allowed", id, got.reason, got.err)
		}
		if r := results[event.ResultKey(denied, id)]; r.Outcome != event.OutcomeDeadLettered || r.Reason != event.ReasonBroadcastNotAllowed {
			t.Errorf("%s: result outcome %q, reason %q", id, r.Outcome, r.Reason)
		}
	}

	// Each sent event matches one request, field for field; no request is left over.
	reqs := env.Sim.Requests()
	used := make([]bool, len(reqs))
	for _, e := range sent {
		path := e.spec(t).Endpoint
		match := -1
		for i, r := range reqs {
			if !used[i] && r.Path == path && opsSameJSON(t, r.Body, e.data) {
				match = i
				break
			}
		}
		if match < 0 {
			t.Errorf("%s: Braze never received %s %s", e.id(), path, e.data)
			continue
		}
		used[match] = true
		req := reqs[match]
		r := results[event.ResultKey(e.source(), e.id())]
		if req.Status/100 != 2 || r.Outcome != event.OutcomeSent || r.DispatchID != req.DispatchID ||
			r.ScheduleID != req.ScheduleID || r.SendID != req.SendID {
			t.Errorf("%s: Braze answered %d (dispatch %q, schedule %q, send %q); result %+v",
				e.id(), req.Status, req.DispatchID, req.ScheduleID, req.SendID, r)
		}
	}
	for i, r := range reqs {
		if !used[i] {
			t.Errorf("unexpected request %s %s", r.Path, r.Body)
		}
	}
}
