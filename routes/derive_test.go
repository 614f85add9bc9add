package routes

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

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

// TestAssembledEventIsTheDecodedOne holds the events RouteInto assembles
// from what derive knows to what decoding their records gives, over
// attributes of every origin: times canonical or not and from every
// format, strings copied as read, escaped, or not UTF-8, deadlines as
// strings and timestamps, years RFC 3339 cannot write once in UTC, and
// records over the limits.
func TestAssembledEventIsTheDecodedOne(t *testing.T) {
	tab := mustParse(t, `routes:
  - name: r
    topics: [in]
    emit:
      - type: braze.campaigns.trigger.send
        workspace: data.?ws.orValue("")
        partition_key: data.?pk.orValue(null)
        deliver_by: data.?by.orValue(null)
        body:
          campaign_id: '"c"'
          recipients:
            - external_user_id: data.user
              trigger_properties: {all: data}
      - type: braze.messages.schedule.create
        name: sched
        schedule_key: 'data.user + "/" + type'
        deliver_by: 'has(data.by) ? timestamp("2030-01-02T03:04:05.123456789+02:00") : null'
        body: {broadcast: true, schedule: {time: '"2030-01-01T00:00:00Z"'}, messages: {}}
`)
	ce := func(attrs, data string) *event.Record {
		return &event.Record{Topic: "in", Partition: 1, Offset: 5, Key: []byte("k"),
			Value: []byte(`{"specversion":"1.0","id":"i","source":"/s","type":"t"` + attrs + `,"data":` + data + `}`)}
	}
	recs := []*event.Record{
		ce(`,"time":"2025-03-04T10:15:00Z"`, `{"user":"u1","pk":"p1","ws":"eu"}`),
		ce(`,"time":"2025-03-04T10:15:00.50+01:00"`, `{"user":"u2","pk":"p\"q\u00e9","by":"2031-01-01T00:00:00+05:00"}`),
		ce(`,"time":"2025-03-04T10:15:00.000-00:00"`, `{"user":"u3","pk":"bad`+"\xff"+`","ws":"w\u2028"}`),
		ce(``, `{"user":"\u00e9\ud83d\ude00","pk":"","ws":null,"by":null}`),
		ce(`,"source":"/bad`+"\xff"+`"`, `{"user":"u4"}`),
		ce(``, `{"user":"u5","deep":[[[[[[[[[[1]]]]]]]]]]}`),
		ce(``, `{"user":"u6","big":"`+strings.Repeat("x", 600)+`"}`),
		// years beyond what RFC 3339 writes, once in UTC: the record does not decode
		ce(`,"time":"9999-12-31T23:30:00-01:00"`, `{"user":"u7"}`),
		ce(`,"time":"0000-01-01T00:30:00+01:00"`, `{"user":"u8"}`),
		ce(`,"time":"9999-12-31T23:30:00Z"`, `{"user":"u9","by":"9999-12-31T23:30:00-01:00"}`),
		{Topic: "in", Time: time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC), Value: []byte(`{"user":"plain10001"}`)},
		{Topic: "in", Partition: 3, Offset: 9, Time: time.Unix(1700000000, 123).Local(), Value: []byte(`{"user":"plain","pk":"p"}`)},
		{Topic: "in", Value: []byte(`{"user":"bin"}`), Headers: []event.Header{{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "ce_id", Value: []byte("b1")}, {Key: "ce_source", Value: []byte("/b")}, {Key: "ce_type", Value: []byte("t")},
			{Key: "ce_time", Value: []byte("2025-03-04T10:15:00.123+00:00")}}},
	}
	for _, lim := range []event.Limits{{}, {MaxDepth: 8}, {MaxRecordBytes: 700}} {
		for i, rec := range recs {
			res := tab.Route(rec, lim)
			if res.Err != nil || len(res.Failures) > 0 || len(res.Ops) == 0 {
				t.Fatalf("%d: %+v", i, res)
			}
			for _, op := range res.Ops {
				// Assembled, or decoded as trusted when a string is not
				// UTF-8 (which the record then reads otherwise).
				want, err := event.Decode(&op.Record, event.Limits{MaxDepth: lim.MaxDepth, MaxRecordBytes: lim.MaxRecordBytes, Trusted: op.readBack})
				if (err == nil) != (op.Err == nil) || err != nil && err.Error() != op.Err.Error() || !reflect.DeepEqual(want, op.Event) {
					t.Fatalf("%d (%+v): %s\nassembled %+v, %v\n  decoded %+v, %v", i, lim, op.Record.Value, op.Event, op.Err, want, err)
				}
			}
		}
	}
}

// TestReleaseKeepsWhatTheResultPointsTo releases results and routes other
// events into their storage: what the released results pointed to (the
// derived events, records, bodies and strings) is unchanged, and
// releasing twice, or a copy, is harmless.
func TestReleaseKeepsWhatTheResultPointsTo(t *testing.T) {
	tab, err := Parse("bench.yaml", []byte(benchRoutes))
	if err != nil {
		t.Fatal(err)
	}
	type kept struct {
		ev           *event.Event
		data, value  string
		id, key, src string
	}
	var all []kept
	reused := false
	var last *Result
	for i := range 50 {
		v := strings.Replace(benchEvent, "cust-2001", "cust-"+strconv.Itoa(i), -1)
		res := tab.Route(&event.Record{Topic: "commerce.orders", Value: []byte(v)}, event.Limits{})
		reused = reused || res == last
		if len(res.Ops) != 1 || res.Ops[0].Err != nil || len(res.Matched) != 1 {
			t.Fatalf("%d: %+v", i, res)
		}
		op := res.Ops[0]
		all = append(all, kept{op.Event, string(op.Event.Data), string(op.Record.Value), op.ID, op.Event.PartitionKey, op.Source})
		cp := *res
		cp.Release() // a copy: not the pooled storage
		if res.Version == "" {
			t.Fatal("releasing a copy released the result")
		}
		res.Release()
		res.Release()
		last = res
	}
	if !reused {
		t.Error("no result's storage was used again")
	}
	for i, k := range all {
		want := "cust-" + strconv.Itoa(i)
		if string(k.ev.Data) != k.data || k.ev.PartitionKey != want || k.key != want || k.ev.ID != k.id || k.ev.Source != k.src ||
			!strings.Contains(k.value, `"partitionkey":"`+want+`"`) || k.ev.Batch == nil || k.ev.Batch.Recipients[0].Key != want {
			t.Fatalf("%d: after release %+v (data %s), kept %+v", i, k.ev, k.ev.Data, k)
		}
	}
}
