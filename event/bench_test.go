package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// benchTriggerData is a single-recipient one-time-code trigger body.
const benchTriggerData = `{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f",` +
	`"recipients":[{"external_user_id":"cust-2001","trigger_properties":{"otp":"482913","first_name":"Ann"}}]}`

func benchDecode(b *testing.B, rec *Record) {
	b.Helper()
	ev, err := Decode(rec, Limits{})
	if err != nil || ev.Batch == nil {
		b.Fatalf("Decode: %v (batch %v)", err, ev != nil && ev.Batch != nil)
	}
	b.SetBytes(int64(ev.Size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(rec, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeStructuredTrigger(b *testing.B) {
	value := `{"specversion":"1.0","id":"9b2f6c1e-4a7d-4f0e-8c3b-2d5e7a9f1b4c","source":"/auth-service",` +
		`"type":"braze.campaigns.trigger.send","time":"2024-05-01T12:00:00Z","partitionkey":"cust-2001",` +
		`"data":` + benchTriggerData + `}`
	benchDecode(b, &Record{Topic: "braze.trigger", Key: []byte("cust-2001"), Value: []byte(value)})
}

// BenchmarkDecodeStructuredTrigger50 decodes a trigger with 50
// recipients: more than the decoder's split keeps on its stack, so the
// batching view splits them itself, as it did before the split existed.
func BenchmarkDecodeStructuredTrigger50(b *testing.B) {
	var data strings.Builder
	data.WriteString(`{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f","recipients":[`)
	for i := range 50 {
		if i > 0 {
			data.WriteByte(',')
		}
		fmt.Fprintf(&data, `{"external_user_id":"cust-%d","trigger_properties":{"otp":"482913","first_name":"Ann"}}`, i)
	}
	data.WriteString(`]}`)
	value := `{"specversion":"1.0","id":"9b2f6c1e-4a7d-4f0e-8c3b-2d5e7a9f1b4c","source":"/auth-service",` +
		`"type":"braze.campaigns.trigger.send","time":"2024-05-01T12:00:00Z","data":` + data.String() + `}`
	benchDecode(b, &Record{Topic: "braze.trigger", Value: []byte(value)})
}

func BenchmarkDecodeBinaryTrigger(b *testing.B) {
	rec := &Record{Topic: "braze.trigger", Key: []byte("cust-2001"), Value: []byte(benchTriggerData), Headers: []Header{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte("9b2f6c1e-4a7d-4f0e-8c3b-2d5e7a9f1b4c")},
		{Key: "ce_source", Value: []byte("/auth-service")},
		{Key: "ce_type", Value: []byte("braze.campaigns.trigger.send")},
		{Key: "ce_time", Value: []byte("2024-05-01T12:00:00Z")},
		{Key: "ce_partitionkey", Value: []byte("cust-2001")},
		{Key: "content-type", Value: []byte("application/json")},
	}}
	benchDecode(b, rec)
}

func BenchmarkAppendBody50(b *testing.B) {
	var first *Batch
	var rs []Recipient
	for i := range 50 {
		data := fmt.Sprintf(`{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f","trigger_properties":{"brand":"Acme"},`+
			`"recipients":[{"external_user_id":"cust-%d","trigger_properties":{"otp":"%06d","first_name":"Ann"}}]}`, 2000+i, i*7919)
		ev, err := Decode(&Record{Value: []byte(envelopeJSON("specversion", "1.0", "id", fmt.Sprint(i), "source", "/auth",
			"type", "braze.campaigns.trigger.send", "data", data))}, Limits{})
		if err != nil || ev.Batch == nil {
			b.Fatalf("Decode: %v", err)
		}
		if first == nil {
			first = ev.Batch
		} else if ev.Batch.Key != first.Key {
			b.Fatal("events do not share a batch key")
		}
		rs = append(rs, ev.Batch.Recipients...)
	}
	body := first.AppendBody(nil, rs)
	if !json.Valid(body) {
		b.Fatalf("body is not JSON: %s", body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	dst := make([]byte, 0, len(body))
	for b.Loop() {
		dst = first.AppendBody(dst[:0], rs)
	}
	if len(dst) != len(body) {
		b.Fatalf("body is %d bytes, want %d", len(dst), len(body))
	}
}
