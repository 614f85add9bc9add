package routes

import (
	"encoding/json"
	"testing"

	"github.com/brazegw/gateway/event"
)

// benchDerived is what BenchmarkRoute derives from benchEvent, byte for
// byte.
const benchDerived = `{"specversion":"1.0","id":"fc561edff31d1d6f0a45ca09a26ecfcf","source":"/commerce/orders",` +
	`"type":"braze.campaigns.trigger.send","time":"2025-03-04T10:15:00Z","partitionkey":"cust-2001",` +
	`"data":{"campaign_id":"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b","recipients":[{"external_user_id":"cust-2001",` +
	`"trigger_properties":{"order_id":"ORD-100234","carrier":"DHL","tracking_url":"https://track.example/ORD-100234"}}]}}`

func TestBenchEventDerived(t *testing.T) {
	tab, err := Parse("bench.yaml", []byte(benchRoutes))
	if err != nil {
		t.Fatal(err)
	}
	rec := &event.Record{Topic: "commerce.orders", Key: []byte("cust-2001"), Value: []byte(benchEvent)}
	for i := 0; i < 3; i++ { // the input's storage is recycled
		op := tab.Route(rec, event.Limits{}).Ops[0]
		if got := string(op.Record.Value); got != benchDerived {
			t.Fatalf("derived\n got %s\nwant %s", got, benchDerived)
		}
		if op.ID != "fc561edff31d1d6f0a45ca09a26ecfcf" || op.Source != "/commerce/orders" || cap(op.Record.Value) != len(op.Record.Value) {
			t.Fatalf("id %q source %q cap %d", op.ID, op.Source, cap(op.Record.Value))
		}
	}
}

// TestDerivedIdentityAcrossEvents routes events of changing sources, in
// every format, through one table (one recycled input): each operation's
// id and source are its event's, they agree with the derived record, and
// earlier results are not changed by later events.
func TestDerivedIdentityAcrossEvents(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit:
      - type: braze.sends.id.create
        body: {campaign_id: '"c"'}
`)
	ce := func(id, source string) *event.Record {
		b, _ := json.Marshal(source)
		return &event.Record{Topic: "in", Value: []byte(`{"specversion":"1.0","id":"` + id + `","source":` + string(b) +
			`,"type":"t","data":{}}`)}
	}
	binary := func(id, source string) *event.Record {
		return &event.Record{Topic: "in", Value: []byte(`{}`), Headers: []event.Header{{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte(id)}, {Key: "ce_source", Value: []byte(source)}, {Key: "ce_type", Value: []byte("t")}}}
	}
	type want struct{ identity, source string }
	recs := []*event.Record{
		ce("1", "/a"), ce("2", "/a"), ce("3", "/b"), binary("4", "/b"), binary("5", `/q"é`), ce("6", `/q"é`),
		ce("7", "/caf\u00e9"), {Topic: "in", Partition: 1, Offset: 9, Value: []byte(`{"x":1}`)}, ce("8", "/a"),
		binary("9", "/bad\xff"), ce("10", "/a/longer/source/than/the/others/0123456789"), ce("11", "/a"),
	}
	wants := []want{
		{"ce\x00/a\x001", "/a"}, {"ce\x00/a\x002", "/a"}, {"ce\x00/b\x003", "/b"}, {"ce\x00/b\x004", "/b"},
		{"ce\x00/q\"é\x005", `/q"é`}, {"ce\x00/q\"é\x006", `/q"é`}, {"ce\x00/café\x007", "/café"},
		{"kafka\x00in/1/9", "/routes/r"}, {"ce\x00/a\x008", "/a"}, {"ce\x00/bad\xff\x009", "/bad\xff"},
		{"ce\x00/a/longer/source/than/the/others/0123456789\x0010", "/a/longer/source/than/the/others/0123456789"},
		{"ce\x00/a\x0011", "/a"},
	}
	var ops []Op
	for i, rec := range recs {
		res := tab.Route(rec, event.Limits{})
		if res.Err != nil || len(res.Ops) != 1 {
			t.Fatalf("%d: %+v", i, res)
		}
		ops = append(ops, res.Ops[0])
	}
	for i, op := range ops {
		w := wants[i]
		if op.ID != DerivedID(w.identity, "r", "0") || op.Source != w.source {
			t.Errorf("%d: id %s source %q, want %s %q", i, op.ID, op.Source, DerivedID(w.identity, "r", "0"), w.source)
		}
		var got struct{ ID, Source string }
		if err := json.Unmarshal(op.Record.Value, &got); err != nil {
			t.Fatalf("%d: %s: %v", i, op.Record.Value, err)
		}
		if got.ID != op.ID || (got.Source != op.Source && w.source != "/bad\xff") {
			t.Errorf("%d: record says %+v, op %s %q", i, got, op.ID, op.Source)
		}
		if op.Event == nil || op.Event.ID != op.ID {
			t.Errorf("%d: decoded %+v", i, op.Event)
		}
	}
}
