package routes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/brazegw/gateway/event"
)

// fanOut is one product event, two routes, three operations.
const fanOut = `routes:
  - name: shipped
    topics: [orders]
    when: type == "order.shipped"
    emit:
      - name: push
        type: braze.campaigns.trigger.send
        partition_key: data.user
        deliver_by: time + duration("1h")
        body:
          campaign_id: '"camp-1"'
          recipients:
            - external_user_id: data.user
              trigger_properties:
                order: data.order
                note: data.?note.orValue(null)
      - type: braze.canvas.trigger.send
        workspace: '"eu"'
        body:
          canvas_id: '"canvas-1"'
          recipients: [{external_user_id: data.user, context: {total: data.total}}]
  - name: audit
    topics: [orders]
    emit:
      - type: braze.sends.id.create
        body: '{"campaign_id": "camp-2", "send_id": "s-" + id}'
`

func mustParse(t *testing.T, src string) *Table {
	t.Helper()
	tab, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return tab
}

func structured(topic, id, typ, data string) *event.Record {
	return &event.Record{Topic: topic, Partition: 2, Offset: 17, Key: []byte("k1"), Value: []byte(
		`{"specversion":"1.0","id":"` + id + `","source":"/shop","type":"` + typ + `","time":"2025-01-02T03:04:05Z","data":` + data + `}`)}
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output %s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// TestFanOut checks that one product event yields every operation of every
// matching route, each a valid Braze event with a stable, distinct id.
func TestFanOut(t *testing.T) {
	tab := mustParse(t, fanOut)
	rec := structured("orders", "ev-1", "order.shipped", `{"user":"u1","order":"o-9","total":12.5}`)
	res := tab.Route(rec, event.Limits{})
	if res.Err != nil || len(res.Failures) > 0 {
		t.Fatalf("Route: err %v, failures %+v", res.Err, res.Failures)
	}
	if got := strings.Join(res.Matched, ","); got != "shipped,audit" {
		t.Errorf("matched %s", got)
	}
	if len(res.Ops) != 3 {
		t.Fatalf("%d operations, want 3", len(res.Ops))
	}
	want := []struct{ route, key, typ, body string }{
		{"shipped", "push", "braze.campaigns.trigger.send", `{"campaign_id":"camp-1","recipients":[{"external_user_id":"u1","trigger_properties":{"order":"o-9"}}]}`},
		{"shipped", "1", "braze.canvas.trigger.send", `{"canvas_id":"canvas-1","recipients":[{"external_user_id":"u1","context":{"total":12.5}}]}`},
		{"audit", "0", "braze.sends.id.create", `{"campaign_id":"camp-2","send_id":"s-ev-1"}`},
	}
	ids := map[string]bool{}
	for i, w := range want {
		op := res.Ops[i]
		if op.Route != w.route || op.Key != w.key || op.Type != w.typ {
			t.Errorf("op %d is %s/%s %s, want %s/%s %s", i, op.Route, op.Key, op.Type, w.route, w.key, w.typ)
		}
		jsonEqual(t, op.Body, w.body)
		if op.Err != nil {
			t.Fatalf("op %d: %v", i, op.Err)
		}
		ev := op.Event
		if ev.ID != op.ID || ev.Source != "/shop" || ev.Type != w.typ || string(ev.Data) != string(op.Body) {
			t.Errorf("op %d decoded as %+v", i, ev)
		}
		if op.Record.Topic != "orders" || op.Record.Partition != 2 || op.Record.Offset != 17 || string(op.Record.Key) != "k1" {
			t.Errorf("op %d record position %+v", i, op.Record)
		}
		if want := DerivedID("ce\x00/shop\x00ev-1", w.route, w.key); op.ID != want {
			t.Errorf("op %d id %s, want %s", i, op.ID, want)
		}
		ids[op.ID] = true
	}
	if len(ids) != 3 {
		t.Errorf("ids are not distinct: %v", ids)
	}
	push := res.Ops[0].Event
	if push.PartitionKey != "u1" || !push.Deadline.Equal(time.Date(2025, 1, 2, 4, 4, 5, 0, time.UTC)) || push.Workspace != "default" {
		t.Errorf("push attributes: key %q deadline %v workspace %q", push.PartitionKey, push.Deadline, push.Workspace)
	}
	if push.Batch == nil {
		t.Error("a single-recipient trigger is not batchable")
	}
	if w := res.Ops[1].Event.Workspace; w != "eu" {
		t.Errorf("canvas workspace %q", w)
	}

	// The same event routed again, by a table reloaded from a changed file
	// with the same route and operation names, gets the same ids.
	again := mustParse(t, strings.Replace(fanOut, `'"camp-1"'`, `'"camp-1b"'`, 1)).Route(rec, event.Limits{})
	for i := range res.Ops {
		if again.Ops[i].ID != res.Ops[i].ID {
			t.Errorf("op %d: id %s after reload, was %s", i, again.Ops[i].ID, res.Ops[i].ID)
		}
	}
	// Another event gets other ids.
	other := tab.Route(structured("orders", "ev-2", "order.shipped", `{"user":"u1","order":"o-9","total":1}`), event.Limits{})
	for i := range other.Ops {
		if other.Ops[i].ID == res.Ops[i].ID {
			t.Errorf("op %d of another event has the same id", i)
		}
	}
}

// TestDerivedIDFormula pins the documented formula (docs/routing.md).
func TestDerivedIDFormula(t *testing.T) {
	sum := sha256.Sum256([]byte("ce\x00/shop\x00ev-1\x00shipped\x00push"))
	if got, want := DerivedID("ce\x00/shop\x00ev-1", "shipped", "push"), hex.EncodeToString(sum[:16]); got != want {
		t.Errorf("DerivedID = %s, want %s", got, want)
	}
}

// TestFormatsAndVariables checks every variable in each of the three
// formats a product event may come in.
func TestFormatsAndVariables(t *testing.T) {
	const src = `routes:
  - name: vars
    topics: [in]
    emit:
      - type: braze.sends.id.create
        body:
          campaign_id: '"c"'
          id: id
          source: source
          type: type
          subject: subject
          time: time
          ext: extensions
          key: key
          header: headers[?"h1"].orValue("none")
          topic: topic
          data: data
`
	tab := mustParse(t, src)
	at := time.Date(2025, 5, 6, 7, 8, 9, 0, time.UTC)
	tests := []struct {
		name   string
		rec    *event.Record
		format Format
		want   string
		source string
	}{
		{
			name: "structured",
			rec: &event.Record{Topic: "in", Key: []byte("K"), Time: at, Headers: []event.Header{{Key: "h1", Value: []byte("v1")}},
				Value: []byte(`{"specversion":"1.0","id":"i1","source":"/s","type":"t.x","subject":"sub","time":"2025-01-01T00:00:00Z","tenant":"acme","rank":3,"data":{"a":[1,"b"]}}`)},
			format: Structured, source: "/s",
			want: `{"campaign_id":"c","id":"i1","source":"/s","type":"t.x","subject":"sub","time":"2025-01-01T00:00:00Z",
				"ext":{"rank":3,"tenant":"acme"},"key":"K","header":"v1","topic":"in","data":{"a":[1,"b"]}}`,
		},
		{
			name: "binary",
			rec: &event.Record{Topic: "in", Time: at, Value: []byte(` {"a":true} `), Headers: []event.Header{
				{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("i2")},
				{Key: "ce_source", Value: []byte("/b")}, {Key: "ce_type", Value: []byte("t.y")},
				{Key: "ce_tenant", Value: []byte("acme")}, {Key: "content-type", Value: []byte("application/json")}}},
			format: Binary, source: "/b",
			want: `{"campaign_id":"c","id":"i2","source":"/b","type":"t.y","subject":"","time":"2025-05-06T07:08:09Z",
				"ext":{"tenant":"acme"},"key":"","header":"none","topic":"in","data":{"a":true}}`,
		},
		{
			name:   "plain JSON",
			rec:    &event.Record{Topic: "in", Partition: 1, Offset: 99, Time: at, Value: []byte(`{"user":"u","n":1.5}`)},
			format: Plain, source: "/routes/vars",
			want: `{"campaign_id":"c","id":"","source":"","type":"","subject":"","time":"2025-05-06T07:08:09Z",
				"ext":{},"key":"","header":"none","topic":"in","data":{"user":"u","n":1.5}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tab.Route(tt.rec, event.Limits{})
			if res.Err != nil || len(res.Failures) > 0 || len(res.Ops) != 1 {
				t.Fatalf("Route: err %v, failures %+v, %d ops", res.Err, res.Failures, len(res.Ops))
			}
			if res.Format != tt.format {
				t.Errorf("format %v, want %v", res.Format, tt.format)
			}
			op := res.Ops[0]
			jsonEqual(t, op.Body, tt.want)
			if op.Source != tt.source {
				t.Errorf("derived source %q, want %q", op.Source, tt.source)
			}
		})
	}
}

// TestPlainRecordIdentity checks that a plain record's operations are
// named by where it was read, or by the origin header of a replayed copy.
func TestPlainRecordIdentity(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: p
    topics: [in]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
`)
	rec := &event.Record{Topic: "in", Partition: 3, Offset: 42, Value: []byte(`{"x":1}`)}
	first := tab.Route(rec, event.Limits{}).Ops[0].ID
	if want := DerivedID("kafka\x00in/3/42", "p", "0"); first != want {
		t.Errorf("id %s, want %s", first, want)
	}
	replayed := &event.Record{Topic: "in", Partition: 3, Offset: 1000, Value: []byte(`{"x":1}`),
		Headers: []event.Header{{Key: OriginHeader, Value: []byte("in/3/42")}}}
	if again := tab.Route(replayed, event.Limits{}).Ops[0].ID; again != first {
		t.Errorf("replayed copy id %s, want %s", again, first)
	}
}

// TestRuntimeFailures checks that an expression failing on an event fails
// its route only, with reason route_error naming the route, and that a
// route produces all its operations or none.
func TestRuntimeFailures(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: good
    topics: [in]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"', send_id: data.id}}]
  - name: half
    topics: [in]
    emit:
      - {type: braze.sends.id.create, body: {campaign_id: '"c"'}}
      - {type: braze.sends.id.create, body: {campaign_id: data.missing}}
  - name: badwhen
    topics: [in]
    when: data.count > 3
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
  - name: badtype
    topics: [in]
    emit: [{type: braze.sends.id.create, workspace: data.num, body: {campaign_id: '"c"'}}]
  - name: notamap
    topics: [in]
    emit: [{type: braze.sends.id.create, body: data.id}]
  - name: badtime
    topics: [in]
    emit: [{type: braze.sends.id.create, deliver_by: data.id, body: {campaign_id: '"c"'}}]
`)
	res := tab.Route(structured("in", "e", "x", `{"id":"abc","num":1}`), event.Limits{})
	if len(res.Ops) != 1 || res.Ops[0].Route != "good" {
		t.Fatalf("ops %+v, want only the good route's", res.Ops)
	}
	want := map[string]string{
		"half":    `route "half", emit[1]: body.campaign_id: no such key: missing`,
		"badwhen": `route "badwhen", when: when: no such key: count`,
		"badtype": `route "badtype", emit[0]: workspace: produced double, want a string`,
		"notamap": `route "notamap", emit[0]: body: produced string, want a map`,
		"badtime": `route "badtime", emit[0]: deliver_by: "abc" is not an RFC 3339 time`,
	}
	if len(res.Failures) != len(want) {
		t.Errorf("%d failures, want %d: %+v", len(res.Failures), len(want), res.Failures)
	}
	for _, f := range res.Failures {
		if r, _ := event.ReasonOf(f.Err); r != event.ReasonRouteError {
			t.Errorf("%s: reason %q", f.Route, r)
		}
		if w, ok := want[f.Route]; !ok || !strings.Contains(f.Err.Error(), w) {
			t.Errorf("%s: error %q, want it to contain %q", f.Route, f.Err, w)
		}
	}
}

// TestUnreadableRecords checks that records that are no product event are
// refused with reason invalid_event.
func TestUnreadableRecords(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"c"'}}]
`)
	tests := []struct {
		name string
		rec  event.Record
		want string
	}{
		{"not JSON", event.Record{Value: []byte(`{"a":`)}, "value is not JSON"},
		{"trailing garbage", event.Record{Value: []byte(`{"a":1} x`)}, "value is not JSON"},
		{"tombstone", event.Record{}, "tombstone"},
		{"wrong specversion", event.Record{Value: []byte(`{"specversion":"0.3","id":"1","source":"s","type":"t"}`)}, "specversion"},
		{"no id", event.Record{Value: []byte(`{"specversion":"1.0","source":"s","type":"t","data":{}}`)}, "id is missing"},
		{"bad time", event.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","time":"yesterday"}`)}, "RFC 3339"},
		{"data_base64", event.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data_base64":"e30="}`)}, "data_base64"},
		{"binary not JSON", event.Record{Value: []byte(`<xml/>`), Headers: []event.Header{{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte("1")}, {Key: "ce_source", Value: []byte("s")}, {Key: "ce_type", Value: []byte("t")}}}, "not JSON"},
		{"binary XML content type", event.Record{Value: []byte(`{}`), Headers: []event.Header{{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte("1")}, {Key: "ce_source", Value: []byte("s")}, {Key: "ce_type", Value: []byte("t")},
			{Key: "content-type", Value: []byte("application/xml")}}}, "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tt.rec
			rec.Topic = "in"
			res := tab.Route(&rec, event.Limits{})
			if r, _ := event.ReasonOf(res.Err); r != event.ReasonInvalidEvent || !strings.Contains(res.Err.Error(), tt.want) {
				t.Errorf("err %v, want invalid_event containing %q", res.Err, tt.want)
			}
			if len(res.Ops) > 0 {
				t.Errorf("operations from an unreadable record: %+v", res.Ops)
			}
		})
	}
}

// TestBodyValues checks the JSON written for each kind of CEL value, and
// that null members and empty optionals are left out.
func TestBodyValues(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: v
    topics: [in]
    emit:
      - type: braze.sends.id.create
        body:
          campaign_id: '"c"'
          int: data.n.size() + 1
          uint: 7u
          double: data.f
          big: 1e21
          small: 0.0000001
          neg: -data.f
          bool: data.f > 1.0
          str: '"quote\" \\ tab\t ctl\u0001 é"'
          bytes: b"hi"
          ts: timestamp("2025-01-02T03:04:05.5Z")
          dur: duration("90m")
          list: '[1, "a", [true]]'
          map: '{"b": 1, "a": {"z": null}}'
          passthrough: data.n
          nullfield: data.z
          none: data.?absent
          some: data.?f
          nested: {drop: null, keep: data.f}
`)
	res := tab.Route(structured("in", "e", "x", `{"n":{"k":[1,2]},"f":2.5,"z":null}`), event.Limits{})
	if len(res.Failures) > 0 || len(res.Ops) != 1 {
		t.Fatalf("failures %+v", res.Failures)
	}
	body := string(res.Ops[0].Body)
	want := `{"campaign_id":"c","int":2,"uint":7,"double":2.5,"big":1e+21,"small":1e-7,"neg":-2.5,"bool":true,` +
		`"str":"quote\" \\ tab\t ctl\u0001 é","bytes":"aGk=","ts":"2025-01-02T03:04:05.5Z","dur":"5400s",` +
		`"list":[1,"a",[true]],"map":{"a":{"z":null},"b":1},"passthrough":{"k":[1,2]},"some":2.5,"nested":{"keep":2.5}}`
	if body != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	if !json.Valid(res.Ops[0].Body) {
		t.Error("body is not valid JSON")
	}
}

// TestOperationCondition checks an operation's own condition.
func TestOperationCondition(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit:
      - {type: braze.sends.id.create, when: data.push, body: {campaign_id: '"push"'}}
      - {type: braze.sends.id.create, body: {campaign_id: '"always"'}}
`)
	res := tab.Route(structured("in", "e", "x", `{"push":false}`), event.Limits{})
	if len(res.Ops) != 1 || res.Ops[0].Key != "1" || len(res.Matched) != 1 {
		t.Errorf("ops %+v matched %v", res.Ops, res.Matched)
	}
}

// TestTooLargeDerivedEvent checks that a derived event over the record
// limit is refused as too_large, like a consumed one.
func TestTooLargeDerivedEvent(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit: [{type: braze.sends.id.create, body: {campaign_id: data.c}}]
`)
	res := tab.Route(structured("in", "e", "x", `{"c":"`+strings.Repeat("x", 600)+`"}`), event.Limits{MaxRecordBytes: 500})
	if len(res.Ops) != 1 {
		t.Fatalf("%d ops", len(res.Ops))
	}
	if r, _ := event.ReasonOf(res.Ops[0].Err); r != event.ReasonTooLarge {
		t.Errorf("err %v, want too_large", res.Ops[0].Err)
	}
}

// TestOtherTopicsAreNotRouted checks Listens.
func TestOtherTopicsAreNotRouted(t *testing.T) {
	tab := mustParse(t, fanOut)
	if !tab.Listens("orders") || tab.Listens("braze.send") {
		t.Errorf("Listens: orders %v, braze.send %v", tab.Listens("orders"), tab.Listens("braze.send"))
	}
	if got := tab.Topics(); len(got) != 1 || got[0] != "orders" {
		t.Errorf("Topics %v", got)
	}
}

// TestRouteIntoRoom checks that RouteInto decodes the first operation's
// event into the room it is given, and the others as Route does.
func TestRouteIntoRoom(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit:
      - {type: braze.sends.id.create, body: {campaign_id: '"c1"'}}
      - {type: braze.sends.id.create, body: {campaign_id: '"c2"'}}
`)
	rec := event.Record{Topic: "in", Value: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":{}}`)}
	var room event.Event
	got := tab.RouteInto(&rec, event.Limits{}, &room)
	want := tab.Route(&rec, event.Limits{})
	if len(got.Ops) != 2 || len(want.Ops) != 2 {
		t.Fatalf("%d and %d operations, want 2", len(got.Ops), len(want.Ops))
	}
	if got.Ops[0].Event != &room {
		t.Fatal("the first operation's event is not in the room")
	}
	for i := range got.Ops {
		if got.Ops[i].Err != nil || !reflect.DeepEqual(got.Ops[i].Event, want.Ops[i].Event) {
			t.Errorf("operation %d: %+v (%v), Route gives %+v", i, got.Ops[i].Event, got.Ops[i].Err, want.Ops[i].Event)
		}
	}
}
