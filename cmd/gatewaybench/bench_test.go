package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/benchdata"
	"github.com/brazegw/gateway/routes"
)

// TestRoutedEventIsTheBacklogEvent checks that the routed scenario sends
// what the backlog scenario sends: benchdata.OTPRoutes turns each product event
// into the trigger appendEvent writes, recipients, properties and
// batching key alike.
func TestRoutedEventIsTheBacklogEvent(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	tab, err := routes.Parse("bench.yaml", benchdata.OTPRoutes("in", campaignID))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		user := userID(i)
		res := tab.Route(&event.Record{Topic: "in", Key: user, Value: appendProductEvent(nil, "benchx.", i, user, now)}, event.Limits{})
		if res.Err != nil || len(res.Failures) != 0 || len(res.Ops) != 1 || res.Ops[0].Err != nil {
			t.Fatalf("event %d: routed to %+v", i, res)
		}
		routed := res.Ops[0].Event
		direct, err := event.Decode(&event.Record{Key: user, Value: appendEvent(nil, "benchx.", i, user, now)}, event.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if routed.Spec != direct.Spec || routed.Batch.Key != direct.Batch.Key || routed.PartitionKey != direct.PartitionKey {
			t.Fatalf("event %d: routed %s/%s/%s, direct %s/%s/%s", i, routed.Spec.Type, routed.Batch.Key, routed.PartitionKey,
				direct.Spec.Type, direct.Batch.Key, direct.PartitionKey)
		}
		// Equal as JSON values: CEL reads sent_ns, a 19-digit number, as a
		// double, as JSON numbers are (the sink's latency is off by less
		// than a microsecond).
		var rv, dv any
		if err := json.Unmarshal(routed.Data, &rv); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(direct.Data, &dv); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(rv, dv) {
			t.Fatalf("event %d: routed data\n%s\ndirect data\n%s", i, routed.Data, direct.Data)
		}
	}
}

// TestAppendEvent checks that the generated events are valid, batchable
// messaging events that all share one batching key, so that a backlog can
// fill every request.
func TestAppendEvent(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	var key string
	for i := range 3 {
		user := userID(i)
		v := appendEvent(nil, "benchx.", i, user, now)
		ev, err := event.Decode(&event.Record{Key: user, Value: v}, event.Limits{})
		if err != nil {
			t.Fatalf("event %d does not decode: %v\n%s", i, err, v)
		}
		if ev.Batch == nil || len(ev.Batch.Recipients) != 1 {
			t.Fatalf("event %d is not a single-recipient batchable event", i)
		}
		if got, want := ev.Batch.Recipients[0].ID(), "external_user_id:"+string(user); got != want {
			t.Fatalf("recipient = %q, want %q", got, want)
		}
		if err := rules.Check(ev.Spec.Endpoint, ev.Data, rules.Options{}); err != nil {
			t.Fatalf("event %d is not a valid Braze request: %v", i, err)
		}
		if i == 0 {
			key = ev.Batch.Key
		} else if ev.Batch.Key != key {
			t.Fatalf("event %d has another batching key", i)
		}
		if !ev.Time.Equal(now) {
			t.Fatalf("time = %v, want %v", ev.Time, now)
		}
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"plain", "1234 (gateway) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0 100 0 0", 3200 * time.Millisecond, true},
		{"command with spaces and parens", "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond, true},
		{"truncated", "77 (x) R 1 2 3", 0, false},
		{"no command", "garbage", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU(tt.line)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if got != tt.want {
				t.Fatalf("cpu = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPercentiles(t *testing.T) {
	var l []time.Duration
	for i := 100; i >= 1; i-- {
		l = append(l, time.Duration(i)*time.Millisecond)
	}
	got := percentiles(l, 50, 99, 100)
	want := []time.Duration{50 * time.Millisecond, 99 * time.Millisecond, 100 * time.Millisecond}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("percentiles = %v, want %v", got, want)
		}
	}
	if got := percentiles(nil, 99); got[0] != 0 {
		t.Fatalf("percentile of nothing = %v, want 0", got[0])
	}
}

// TestSink checks the sink's counts and latencies and that the simulator
// behind it still receives the body.
func TestSink(t *testing.T) {
	var seen []byte
	s := &sink{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		seen = buf.Bytes()
	})}
	s.reset(true)
	sent := time.Now().Add(-30 * time.Millisecond).UnixNano()
	var b bytes.Buffer
	b.WriteString(`{"campaign_id":"c","recipients":[`)
	for i := range 50 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"external_user_id":"u","trigger_properties":{"sent_ns":`)
		b.WriteString(strconv.FormatInt(sent, 10))
		b.WriteString(`}}`)
	}
	b.WriteString(`]}`)
	want := b.String()
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/campaigns/trigger/send", strings.NewReader(want)))
	if string(seen) != want {
		t.Fatal("the simulator did not receive the body unchanged")
	}
	if s.requests.Load() != 1 || s.full.Load() != 1 || s.recipients.Load() != 50 {
		t.Fatalf("requests %d, full %d, recipients %d; want 1, 1, 50", s.requests.Load(), s.full.Load(), s.recipients.Load())
	}
	if n := len(s.latencies); n != 50 {
		t.Fatalf("%d latencies recorded, want 50", n)
	}
	if p := s.percentiles(50); p[0] < 30*time.Millisecond || p[0] > 10*time.Second {
		t.Fatalf("p50 latency = %v, want at least 30ms", p[0])
	}
	s.reset(false)
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/campaigns/trigger/send", strings.NewReader(want)))
	if n := len(s.latencies); n != 0 {
		t.Fatalf("%d latencies recorded while not recording", n)
	}
}
