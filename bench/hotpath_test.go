package bench

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
)

// record is a structured-mode single-recipient trigger event, the shape of
// cmd/gatewaybench's backlog (about 330 bytes).
func record(i int) *event.Record {
	user := fmt.Sprintf("user-%07d", i)
	v := `{"specversion":"1.0","id":"bench.` + strconv.Itoa(i) + `","source":"/bench","type":"braze.campaigns.trigger.send",` +
		`"time":"2026-03-01T12:00:00.123456789Z","partitionkey":"` + user + `","data":{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f",` +
		`"recipients":[{"external_user_id":"` + user + `","trigger_properties":{"otp":"` + strconv.Itoa(100000+i) +
		`","first_name":"Ann","sent_ns":1772366400123456789}}]}}`
	return &event.Record{Topic: "braze.trigger", Key: []byte(user), Value: []byte(v),
		Headers: []event.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
}

func decode(tb testing.TB, rec *event.Record) *event.Event {
	tb.Helper()
	ev, err := event.Decode(rec, event.Limits{})
	if err != nil || ev.Batch == nil {
		tb.Fatalf("Decode: %v (batchable %v)", err, ev != nil && ev.Batch != nil)
	}
	return ev
}

// batch50 decodes 50 events and returns the first one's batch view and all
// their recipients, as the dispatcher holds them.
func batch50(tb testing.TB) (*event.Batch, []event.Recipient) {
	tb.Helper()
	var b *event.Batch
	var rs []event.Recipient
	for i := range 50 {
		ev := decode(tb, record(i))
		if b == nil {
			b = ev.Batch
		} else if ev.Batch.Key != b.Key {
			tb.Fatal("the events do not share a batching key")
		}
		rs = append(rs, ev.Batch.Recipients...)
	}
	return b, rs
}

func result(i int) *event.Result {
	return &event.Result{ID: "bench." + strconv.Itoa(i), Source: "/bench", Type: "braze.campaigns.trigger.send",
		Outcome: event.OutcomeSent, DispatchID: "d-7f3a", Attempts: 1, BatchSize: 50,
		CompletedAt: time.Date(2026, 3, 1, 12, 0, 0, 987654321, time.UTC), Workspace: "default"}
}

// BenchmarkDecode is event.Decode of one record: envelope, attributes,
// batching key and recipient.
func BenchmarkDecode(b *testing.B) {
	rec := record(1)
	decode(b, rec)
	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.Decode(rec, event.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck is the request validation the pipeline runs per event.
func BenchmarkCheck(b *testing.B) {
	ev := decode(b, record(1))
	for _, valid := range []bool{false, true} {
		// The pipeline checks with ValidJSON: the decoder validated data.
		b.Run(fmt.Sprintf("ValidJSON=%v", valid), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := rules.Check(ev.Spec.Endpoint, ev.Data, rules.Options{ValidJSON: valid}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildRequest50 builds one full request and finds its budgets,
// as the dispatcher does once per 50 events (a batch lists its recipients,
// so its budgets are known without reading the body back).
func BenchmarkBuildRequest50(b *testing.B) {
	batch, rs := batch50(b)
	body := batch.AppendBody(nil, rs)
	if err := rules.Check(rules.PathCampaignsTriggerSend, body, rules.Options{}); err != nil {
		b.Fatalf("the built body is not a valid request: %v", err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		body = batch.AppendBody(make([]byte, 0, 64+len(rs)*96), rs)
		if ch := rules.ClassifyListed("POST", rules.PathCampaignsTriggerSend); len(ch) != 1 || ch[0].Budget != rules.BudgetShared {
			b.Fatalf("ClassifyListed = %v", ch)
		}
	}
}

// BenchmarkResultEncode is the results record written per event.
func BenchmarkResultEncode(b *testing.B) {
	r := result(1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.AppendJSON(make([]byte, 0, 384)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkResultDecode is the results record read back per event (the
// ledger follows the results topic).
func BenchmarkResultDecode(b *testing.B) {
	v, err := result(1).AppendJSON(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var r event.Result
		if err := json.Unmarshal(v, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPerEvent is the library part of one event's path: decode,
// validate, a fiftieth of building and classifying its request, encode and
// read back its result. Kafka, HTTP, the dispatcher's and the pipeline's
// own bookkeeping come on top (cmd/gatewaybench measures those).
func BenchmarkPerEvent(b *testing.B) {
	const n = 50
	recs := make([]*event.Record, n)
	for i := range recs {
		recs[i] = record(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		var batch *event.Batch
		rs := make([]event.Recipient, 0, n)
		for i, rec := range recs {
			ev, err := event.Decode(rec, event.Limits{})
			if err != nil {
				b.Fatal(err)
			}
			if err := rules.Check(ev.Spec.Endpoint, ev.Data, rules.Options{}); err != nil {
				b.Fatal(err)
			}
			if batch == nil {
				batch = ev.Batch
			}
			rs = append(rs, ev.Batch.Recipients...)
			v, err := result(i).AppendJSON(make([]byte, 0, 384))
			if err != nil {
				b.Fatal(err)
			}
			var back event.Result
			if err := json.Unmarshal(v, &back); err != nil {
				b.Fatal(err)
			}
		}
		_ = batch.AppendBody(make([]byte, 0, 64+len(rs)*96), rs)
		_ = rules.ClassifyListed("POST", rules.PathCampaignsTriggerSend)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// TestPerEventAllocations keeps the library part of the per-event path
// within its allocation budget (measured: about 14 per event, 9 of them reading
// the results record back through encoding/json).
func TestPerEventAllocations(t *testing.T) {
	recs := make([]*event.Record, 50)
	for i := range recs {
		recs[i] = record(i)
	}
	res := result(1)
	perEvent := testing.AllocsPerRun(20, func() {
		var batch *event.Batch
		var rs []event.Recipient
		for _, rec := range recs {
			ev, err := event.Decode(rec, event.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := rules.Check(ev.Spec.Endpoint, ev.Data, rules.Options{}); err != nil {
				t.Fatal(err)
			}
			if batch == nil {
				batch = ev.Batch
			}
			rs = append(rs, ev.Batch.Recipients...)
			v, _ := res.AppendJSON(make([]byte, 0, 384))
			var back event.Result
			if err := json.Unmarshal(v, &back); err != nil {
				t.Fatal(err)
			}
		}
		_ = rules.ClassifyListed("POST", rules.PathCampaignsTriggerSend)
		_ = batch.AppendBody(nil, rs)
	}) / 50
	t.Logf("%.1f allocations per event", perEvent)
	if perEvent > 20 {
		t.Fatalf("%.1f allocations per event on the library path, want at most 20", perEvent)
	}
}
