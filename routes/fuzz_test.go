package routes

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/brazegw/gateway/event"
)

// FuzzRoute routes arbitrary record values in each format: routing never
// panics, an unreadable record is invalid_event, and every body produced is
// valid JSON.
func FuzzRoute(f *testing.F) {
	tab, err := Parse("fuzz.yaml", []byte(`routes:
  - name: all
    topics: [in]
    emit:
      - type: braze.sends.id.create
        partition_key: 'type(data) == map && has(data.pk) && type(data.pk) == string ? data.pk : null'
        body:
          campaign_id: '"c"'
          copy: data
          pick: data.?a.orValue(null)
          deep: data.?b.?c.orValue(null)
          ext: extensions
          s: 'type + "/" + id'
          n: 'has(data.n) ? data.n : 0'
`))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		benchEvent,
		`{"a":"x\u00e9\ud83d\ude00","b":{"c":[1,2.5e3,-0,true,null]},"n":"s"}`,
		`{"pk":"p\u00e9\"","a":1}`, "{\"pk\":\"p\xff\"}",
		`{"specversion":"1.0","id":"1","source":"s","type":"t","time":"9999-12-31T23:30:00-01:00","data":{}}`,
		`{"specversion":"1.0","id":"1","source":"s","type":"t","ext":{"k":1},"data":{"a":"\"q\"","b":{}}}`,
		`[1,2,3]`, `"str"`, `12`, `{"a":}`, `{"specversion":1}`, `{"a":"\ud800"}`, ``,
	} {
		f.Add([]byte(seed), false)
		f.Add([]byte(seed), true)
	}
	f.Fuzz(func(t *testing.T, value []byte, binary bool) {
		rec := &event.Record{Topic: "in", Value: value}
		if binary {
			rec.Headers = []event.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_id", Value: []byte("i")},
				{Key: "ce_source", Value: []byte("s")}, {Key: "ce_type", Value: []byte("t")}}
		}
		res := tab.Route(rec, event.Limits{})
		if res.Err != nil {
			if r, _ := event.ReasonOf(res.Err); r != event.ReasonInvalidEvent {
				t.Fatalf("reason %s for %q", r, value)
			}
			return
		}
		if len(value) > 0 && !json.Valid(value) {
			t.Fatalf("invalid JSON %q was routed", value)
		}
		for _, op := range res.Ops {
			if !json.Valid(op.Body) {
				t.Fatalf("body %q from %q is not JSON", op.Body, value)
			}
			// Derived events are assembled from what the route knows of
			// them (event.Assemble): they must be valid JSON, and be what
			// a validating decode of their records reads.
			if !json.Valid(op.Record.Value) {
				t.Fatalf("derived event %q from %q is not JSON", op.Record.Value, value)
			}
			ev, err := event.Decode(&op.Record, event.Limits{})
			if ev != nil && op.Event != nil && op.readBack {
				ev.DataValid = false // decoded as trusted: the pipeline validates data
			}
			if (err == nil) != (op.Err == nil) || err != nil && err.Error() != op.Err.Error() || !reflect.DeepEqual(ev, op.Event) {
				t.Fatalf("derived event %q: made %+v, %v; decoded %+v, %v", op.Record.Value, op.Event, op.Err, ev, err)
			}
		}
	})
}
