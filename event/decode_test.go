package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// triggerData is a campaigns.trigger.send body with one recipient.
const triggerData = `{"campaign_id":"c-1","trigger_properties":{"coupon":"SPRING15"},` +
	`"recipients":[{"external_user_id":"u1","trigger_properties":{"first_item":"Trail shoe"}}]}`

// structuredRecord returns a structured-mode record holding value.
func structuredRecord(value string, hs ...Header) *Record {
	return &Record{Topic: "braze.trigger", Key: []byte("u1"), Value: []byte(value), Headers: hs}
}

// binaryRecord returns a binary-mode record: attrs are name/value pairs that
// become ce_-prefixed headers (ce_specversion 1.0 is added unless named).
func binaryRecord(value string, attrs ...string) *Record {
	rec := &Record{Topic: "braze.trigger", Key: []byte("u1")}
	if value != "\x00nil" {
		rec.Value = []byte(value)
	}
	hasVersion := false
	for i := 0; i+1 < len(attrs); i += 2 {
		k := attrs[i]
		if k == "specversion" {
			hasVersion = true
		}
		if k != "content-type" && !strings.HasPrefix(k, "x-") {
			k = "ce_" + k
		}
		rec.Headers = append(rec.Headers, Header{Key: k, Value: []byte(attrs[i+1])})
	}
	if !hasVersion {
		rec.Headers = append([]Header{{Key: "ce_specversion", Value: []byte("1.0")}}, rec.Headers...)
	}
	return rec
}

// envelopeJSON builds a structured-mode event from attribute/value pairs;
// values are written as given (raw JSON) for "data" and quoted otherwise.
func envelopeJSON(pairs ...string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q:", pairs[i])
		if pairs[i] == "data" || pairs[i] == "data_base64" || strings.HasPrefix(pairs[i+1], "\x00") {
			b.WriteString(strings.TrimPrefix(pairs[i+1], "\x00"))
		} else {
			fmt.Fprintf(&b, "%q", pairs[i+1])
		}
	}
	b.WriteByte('}')
	return b.String()
}

// base is a valid structured trigger event with the given attributes added or
// replaced (a pair whose name is already present replaces its value).
func base(over ...string) string { return without("", over...) }

// without is base(over...) minus the attribute drop.
func without(drop string, over ...string) string {
	pairs := []string{"specversion", "1.0", "id", "e-1", "source", "/checkout", "type", "braze.campaigns.trigger.send", "data", triggerData}
	for i := 0; i+1 < len(over); i += 2 {
		found := false
		for j := 0; j+1 < len(pairs); j += 2 {
			if pairs[j] == over[i] {
				pairs[j+1], found = over[i+1], true
			}
		}
		if !found {
			pairs = append(pairs, over[i], over[i+1])
		}
	}
	kept := pairs[:0]
	for j := 0; j+1 < len(pairs); j += 2 {
		if pairs[j] != drop {
			kept = append(kept, pairs[j], pairs[j+1])
		}
	}
	return envelopeJSON(kept...)
}

func recordSize(rec *Record) int {
	n := len(rec.Key) + len(rec.Value)
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestDecodeValid(t *testing.T) {
	scheduleData := `{"schedule_id":"s-1","schedule":{"time":"2030-01-01T10:00:00Z"}}`
	sendData := `{"external_user_ids":["u1"],"messages":{"sms":{"subscription_group_id":"g","message_variation_id":"v","body":"hi"}}}`
	tests := []struct {
		name string
		rec  *Record
		want Event
		// batch says whether the event must have a batching view.
		batch bool
	}{
		{
			name: "structured trigger with every attribute",
			rec: structuredRecord(base(
				"time", "2024-05-01T12:00:00.123456789Z",
				"datacontenttype", "application/json",
				"brazeworkspace", "eu",
				"partitionkey", "u1",
				"brazedeadline", "2024-05-01T12:10:00+02:00",
				"brazeschedulekey", "k-1",
			)),
			want: Event{
				ID: "e-1", Source: "/checkout", Type: "braze.campaigns.trigger.send",
				Workspace: "eu", PartitionKey: "u1", ScheduleKey: "k-1",
				Data: json.RawMessage(triggerData), Mode: Structured,
			},
			batch: true,
		},
		{
			name: "structured schedule update in the default workspace",
			rec: structuredRecord(base("type", "braze.messages.schedule.update", "data", scheduleData,
				"brazeschedulekey", "order-42-reminder")),
			want: Event{
				ID: "e-1", Source: "/checkout", Type: "braze.messages.schedule.update",
				Workspace: DefaultWorkspace, ScheduleKey: "order-42-reminder",
				Data: json.RawMessage(scheduleData), Mode: Structured,
			},
		},
		{
			name: "structured messages.send with cloudevents content-type header",
			rec: structuredRecord(base("type", "braze.messages.send", "data", sendData),
				Header{Key: "content-type", Value: []byte("application/cloudevents+json; charset=UTF-8")}),
			want: Event{
				ID: "e-1", Source: "/checkout", Type: "braze.messages.send",
				Workspace: DefaultWorkspace, Data: json.RawMessage(sendData), Mode: Structured,
			},
			batch: true,
		},
		{
			name: "structured with null extensions and data_base64 null",
			rec: structuredRecord(base("brazeworkspace", "\x00null", "data_base64", "null",
				"datacontenttype", "application/vnd.braze+json")),
			want: Event{
				ID: "e-1", Source: "/checkout", Type: "braze.campaigns.trigger.send",
				Workspace: DefaultWorkspace, Data: json.RawMessage(triggerData), Mode: Structured,
			},
			batch: true,
		},
		{
			name: "structured duplicate sends.id.create",
			rec:  structuredRecord(base("type", "braze.sends.id.create", "data", `{"campaign_id":"c","send_id":"s"}`)),
			want: Event{
				ID: "e-1", Source: "/checkout", Type: "braze.sends.id.create",
				Workspace: DefaultWorkspace, Data: json.RawMessage(`{"campaign_id":"c","send_id":"s"}`), Mode: Structured,
			},
		},
		{
			name: "binary canvas trigger with every attribute",
			rec: binaryRecord(" \n"+`{"canvas_id":"cv","recipients":[{"user_alias":{"alias_name":"n","alias_label":"l"}}]}`+"\n",
				"id", "e-2", "source", "/crm", "type", "braze.canvas.trigger.send",
				"time", "2024-05-01T12:00:00Z", "brazeworkspace", "us", "partitionkey", "alias-n",
				"brazedeadline", "2024-05-01T12:10:00Z", "brazeschedulekey", "sk",
				"content-type", "application/json", "x-trace", "abc"),
			want: Event{
				ID: "e-2", Source: "/crm", Type: "braze.canvas.trigger.send",
				Workspace: "us", PartitionKey: "alias-n", ScheduleKey: "sk",
				Data: json.RawMessage(`{"canvas_id":"cv","recipients":[{"user_alias":{"alias_name":"n","alias_label":"l"}}]}`),
				Mode: Binary,
			},
			batch: true,
		},
		{
			name: "binary messages.send with only required attributes",
			rec:  binaryRecord(sendData, "id", "e-3", "source", "/s", "type", "braze.messages.send"),
			want: Event{
				ID: "e-3", Source: "/s", Type: "braze.messages.send",
				Workspace: DefaultWorkspace, Data: json.RawMessage(sendData), Mode: Binary,
			},
			batch: true,
		},
		{
			name: "binary live activity with uppercase content-type header name",
			rec: binaryRecord(`{"app_id":"a","activity_id":"x","content_state":{},"end_activity":true}`,
				"id", "e-4", "source", "/s", "type", "braze.messages.live_activity.update",
				"Content-Type", "application/json"),
			want: Event{
				ID: "e-4", Source: "/s", Type: "braze.messages.live_activity.update",
				Workspace: DefaultWorkspace,
				Data:      json.RawMessage(`{"app_id":"a","activity_id":"x","content_state":{},"end_activity":true}`),
				Mode:      Binary,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.rec, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			w := tt.want
			if ev.ID != w.ID || ev.Source != w.Source || ev.Type != w.Type {
				t.Errorf("identity = %q %q %q, want %q %q %q", ev.ID, ev.Source, ev.Type, w.ID, w.Source, w.Type)
			}
			if ev.Workspace != w.Workspace || ev.PartitionKey != w.PartitionKey || ev.ScheduleKey != w.ScheduleKey {
				t.Errorf("extensions = %q %q %q, want %q %q %q",
					ev.Workspace, ev.PartitionKey, ev.ScheduleKey, w.Workspace, w.PartitionKey, w.ScheduleKey)
			}
			if !bytes.Equal(ev.Data, w.Data) {
				t.Errorf("Data = %s, want %s", ev.Data, w.Data)
			}
			if ev.Mode != w.Mode {
				t.Errorf("Mode = %v, want %v", ev.Mode, w.Mode)
			}
			if ev.Size != recordSize(tt.rec) {
				t.Errorf("Size = %d, want %d", ev.Size, recordSize(tt.rec))
			}
			if ev.Spec == nil || ev.Spec.Type != ev.Type {
				t.Fatalf("Spec = %+v, want the entry of %q", ev.Spec, ev.Type)
			}
			if (ev.Batch != nil) != tt.batch {
				t.Errorf("Batch = %+v, want present=%v", ev.Batch, tt.batch)
			}
		})
	}
}

func TestDecodeTimes(t *testing.T) {
	tests := []struct {
		name               string
		rec                *Record
		wantTime, wantDead string // empty: zero
	}{
		{"structured both", structuredRecord(base("time", "2024-05-01T12:00:00.5Z", "brazedeadline", "2024-05-01T14:10:00+02:00")),
			"2024-05-01T12:00:00.5Z", "2024-05-01T12:10:00Z"},
		{"structured neither", structuredRecord(base()), "", ""},
		{"structured deadline only", structuredRecord(base("brazedeadline", "2030-01-01T00:00:00Z")), "", "2030-01-01T00:00:00Z"},
		{"binary both", binaryRecord(triggerData, "id", "1", "source", "/s", "type", "braze.campaigns.trigger.send",
			"time", "2024-05-01T12:00:00-07:00", "brazedeadline", "2024-05-01T20:00:00.000001Z"),
			"2024-05-01T19:00:00Z", "2024-05-01T20:00:00.000001Z"},
		{"binary neither", binaryRecord(triggerData, "id", "1", "source", "/s", "type", "braze.campaigns.trigger.send"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.rec, Limits{})
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			check := func(what string, got time.Time, want string) {
				if want == "" {
					if !got.IsZero() {
						t.Errorf("%s = %v, want zero", what, got)
					}
					return
				}
				if w := mustTime(t, want); !got.Equal(w) {
					t.Errorf("%s = %v, want %v", what, got, w)
				}
			}
			check("Time", ev.Time, tt.wantTime)
			check("Deadline", ev.Deadline, tt.wantDead)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	bin := func(value string, attrs ...string) *Record {
		all := append([]string{"id", "e-1", "source", "/s", "type", "braze.campaigns.trigger.send"}, attrs...)
		return binaryRecord(value, all...)
	}
	binWithout := func(name string) *Record {
		rec := bin(triggerData)
		hs := rec.Headers[:0]
		for _, h := range rec.Headers {
			if h.Key != "ce_"+name {
				hs = append(hs, h)
			}
		}
		rec.Headers = hs
		return rec
	}
	tombstone := structuredRecord("")
	tombstone.Value = nil
	tests := []struct {
		name string
		rec  *Record
		lim  Limits
		want Reason
	}{
		{"malformed JSON", structuredRecord(`{"specversion":"1.0",`), Limits{}, ReasonInvalidEvent},
		{"not JSON at all", structuredRecord(`hello`), Limits{}, ReasonInvalidEvent},
		{"value is a JSON array", structuredRecord(`[1,2]`), Limits{}, ReasonInvalidEvent},
		{"value is JSON null", structuredRecord(`null`), Limits{}, ReasonInvalidEvent},
		{"trailing garbage", structuredRecord(base() + `x`), Limits{}, ReasonInvalidEvent},
		{"tombstone", tombstone, Limits{}, ReasonInvalidEvent},
		{"empty value", structuredRecord(""), Limits{}, ReasonInvalidEvent},
		{"missing id", structuredRecord(without("id")), Limits{}, ReasonInvalidEvent},
		{"empty id", structuredRecord(base("id", "")), Limits{}, ReasonInvalidEvent},
		{"id not a string", structuredRecord(base("id", "\x0042")), Limits{}, ReasonInvalidEvent},
		{"missing source", structuredRecord(without("source")), Limits{}, ReasonInvalidEvent},
		{"missing type", structuredRecord(without("type")), Limits{}, ReasonInvalidEvent},
		{"missing specversion", structuredRecord(without("specversion")), Limits{}, ReasonInvalidEvent},
		{"specversion 0.3", structuredRecord(base("specversion", "0.3")), Limits{}, ReasonInvalidEvent},
		{"data missing", structuredRecord(without("data")), Limits{}, ReasonInvalidEvent},
		{"data array", structuredRecord(base("data", `[{"campaign_id":"c"}]`)), Limits{}, ReasonInvalidEvent},
		{"data string", structuredRecord(base("data", `"{\"campaign_id\":\"c\"}"`)), Limits{}, ReasonInvalidEvent},
		{"data null", structuredRecord(base("data", `null`)), Limits{}, ReasonInvalidEvent},
		{"data number", structuredRecord(base("data", `42`)), Limits{}, ReasonInvalidEvent},
		{"data_base64", structuredRecord(without("data", "data_base64", `"e30="`)), Limits{}, ReasonInvalidEvent},
		{"data and data_base64", structuredRecord(base("data_base64", `"e30="`)), Limits{}, ReasonInvalidEvent},
		{"bad time", structuredRecord(base("time", "yesterday")), Limits{}, ReasonInvalidEvent},
		{"time without zone", structuredRecord(base("time", "2024-05-01T12:00:00")), Limits{}, ReasonInvalidEvent},
		{"bad brazedeadline", structuredRecord(base("brazedeadline", "in ten minutes")), Limits{}, ReasonInvalidEvent},
		{"brazedeadline as a number", structuredRecord(base("brazedeadline", "\x001714564800")), Limits{}, ReasonInvalidEvent},
		{"non-JSON datacontenttype", structuredRecord(base("datacontenttype", "text/plain")), Limits{}, ReasonInvalidEvent},
		{"unknown type", structuredRecord(base("type", "braze.users.track")), Limits{}, ReasonUnknownType},
		{"unknown type, Braze path spelling", structuredRecord(base("type", "/campaigns/trigger/send")), Limits{}, ReasonUnknownType},
		{"invalid envelope wins over unknown type", structuredRecord(base("type", "braze.users.track", "specversion", "0.3")), Limits{}, ReasonInvalidEvent},
		{"too large", structuredRecord(base()), Limits{MaxRecordBytes: 100}, ReasonTooLarge},
		{"invalid_event wins over too_large", structuredRecord(base("time", "nope")), Limits{MaxRecordBytes: 100}, ReasonInvalidEvent},
		{"unknown_type wins over too_large", structuredRecord(base("type", "braze.nope")), Limits{MaxRecordBytes: 100}, ReasonUnknownType},
		{"binary invalid JSON value", bin(`{"campaign_id":`), Limits{}, ReasonInvalidEvent},
		{"binary tombstone", bin("\x00nil"), Limits{}, ReasonInvalidEvent},
		{"binary missing ce_id", binWithout("id"), Limits{}, ReasonInvalidEvent},
		{"binary missing ce_source", binWithout("source"), Limits{}, ReasonInvalidEvent},
		{"binary missing ce_type", binWithout("type"), Limits{}, ReasonInvalidEvent},
		{"binary empty ce_specversion", bin(triggerData, "specversion", ""), Limits{}, ReasonInvalidEvent},
		{"binary specversion 0.3", bin(triggerData, "specversion", "0.3"), Limits{}, ReasonInvalidEvent},
		{"binary data array", bin(`[]`), Limits{}, ReasonInvalidEvent},
		{"binary data null", bin(`null`), Limits{}, ReasonInvalidEvent},
		{"binary data whitespace", bin(" \n "), Limits{}, ReasonInvalidEvent},
		{"binary non-JSON content-type", bin(triggerData, "content-type", "text/plain"), Limits{}, ReasonInvalidEvent},
		{"binary bad brazedeadline", bin(triggerData, "brazedeadline", "2024-13-01T00:00:00Z"), Limits{}, ReasonInvalidEvent},
		{"binary unknown type", bin(triggerData, "type", "braze.users.delete"), Limits{}, ReasonUnknownType},
		{"binary too large", bin(triggerData), Limits{MaxRecordBytes: 64}, ReasonTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := Decode(tt.rec, tt.lim)
			if err == nil {
				t.Fatalf("Decode accepted the record: %+v", ev)
			}
			if ev != nil {
				t.Errorf("Decode returned an event with its error: %+v", ev)
			}
			got, ok := ReasonOf(err)
			if !ok {
				t.Fatalf("error %v carries no reason", err)
			}
			if got != tt.want {
				t.Errorf("reason = %s, want %s (error: %v)", got, tt.want, err)
			}
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(e.Error(), string(tt.want)+": ") {
				t.Errorf("error %q does not start with its reason", err)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error %q is not one line", err)
			}
			if strings.Contains(err.Error(), "SPRING15") || strings.Contains(err.Error(), "Trail shoe") {
				t.Errorf("error %q echoes the event's data", err)
			}
		})
	}
}

func TestDecodeSizeLimit(t *testing.T) {
	// The key pads the record to an exact size: Size counts key, value and headers.
	padded := func(size int) *Record {
		rec := structuredRecord(base(), Header{Key: "traceparent", Value: []byte("00-abc-def-01")})
		rec.Key = nil
		rec.Key = bytes.Repeat([]byte("k"), size-recordSize(rec))
		return rec
	}
	tests := []struct {
		name string
		size int
		lim  Limits
		ok   bool
	}{
		{"default limit, exactly 1 MiB", 1 << 20, Limits{}, true},
		{"default limit, one byte over", 1<<20 + 1, Limits{}, false},
		{"negative limit means default", 1<<20 + 1, Limits{MaxRecordBytes: -1}, false},
		{"configured limit, at it", 4096, Limits{MaxRecordBytes: 4096}, true},
		{"configured limit, one byte over", 4097, Limits{MaxRecordBytes: 4096}, false},
		{"configured limit above the default", 2 << 20, Limits{MaxRecordBytes: 2 << 20}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := padded(tt.size)
			ev, err := Decode(rec, tt.lim)
			if tt.ok {
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if ev.Size != tt.size {
					t.Errorf("Size = %d, want %d", ev.Size, tt.size)
				}
				return
			}
			if r, _ := ReasonOf(err); r != ReasonTooLarge {
				t.Fatalf("reason = %q (error %v), want %s", r, err, ReasonTooLarge)
			}
		})
	}
}

func TestDecodeBinaryIgnoresValueShapeOfStructured(t *testing.T) {
	// A binary record's value is data even when it looks like a structured
	// event: its envelope attributes are not read.
	rec := binaryRecord(base(), "id", "bin", "source", "/b", "type", "braze.canvas.duplicate")
	ev, err := Decode(rec, Limits{})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if ev.Mode != Binary || ev.ID != "bin" || ev.Type != "braze.canvas.duplicate" {
		t.Errorf("got mode %v id %q type %q, want binary bin braze.canvas.duplicate", ev.Mode, ev.ID, ev.Type)
	}
	if string(ev.Data) != base() {
		t.Errorf("Data = %s, want the record value", ev.Data)
	}
}

func TestModeString(t *testing.T) {
	if Structured.String() != "structured" || Binary.String() != "binary" {
		t.Errorf("Mode strings = %q, %q", Structured, Binary)
	}
}

func TestReasonOf(t *testing.T) {
	e := Errorf(ReasonExpired, "deadline %s passed", "x")
	tests := []struct {
		name   string
		err    error
		want   Reason
		wantOK bool
	}{
		{"direct", e, ReasonExpired, true},
		{"wrapped", fmt.Errorf("dispatch: %w", e), ReasonExpired, true},
		{"joined", errors.Join(errors.New("other"), e), ReasonExpired, true},
		{"plain error", errors.New("boom"), "", false},
		{"nil", nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ReasonOf(tt.err)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ReasonOf = %q, %v; want %q, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
	if e.Error() != "expired: deadline x passed" {
		t.Errorf("Error() = %q", e.Error())
	}
}

func TestReasons(t *testing.T) {
	// DESIGN.md §3: the dlq.reason values.
	want := []Reason{"invalid_event", "unknown_type", "too_large", "broadcast_not_allowed", "invalid_request",
		"schedule_key_unknown", "expired", "rejected", "retries_exhausted", "route_error", "no_route"}
	got := Reasons()
	if len(got) != len(want) {
		t.Fatalf("Reasons() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Reasons()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}

func TestDecodeDepthLimit(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	mk := func(data string) *Record {
		return &Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"braze.sends.id.create","data":` + data + `}`)}
	}
	for _, trusted := range []bool{false, true} { // a trusted decode measures depth too
		if _, err := Decode(mk(deep(64)), Limits{Trusted: trusted}); err != nil {
			t.Fatalf("64 levels (trusted %v): %v", trusted, err)
		}
		_, err := Decode(mk(deep(65)), Limits{Trusted: trusted})
		if r, _ := ReasonOf(err); r != ReasonTooLarge {
			t.Fatalf("65 levels (trusted %v): err %v, want too_large", trusted, err)
		}
		if _, err := Decode(mk(deep(65)), Limits{MaxDepth: 100, Trusted: trusted}); err != nil {
			t.Fatalf("65 levels with MaxDepth 100 (trusted %v): %v", trusted, err)
		}
		// Arrays count as objects do: 1 + 2 + 61 levels pass, one more does not.
		if _, err := Decode(mk(`{"x":[[`+deep(61)+`]]}`), Limits{Trusted: trusted}); err != nil {
			t.Fatalf("64 levels with arrays (trusted %v): %v", trusted, err)
		}
		_, err = Decode(mk(`{"x":[[`+deep(62)+`]]}`), Limits{Trusted: trusted})
		if r, _ := ReasonOf(err); r != ReasonTooLarge {
			t.Fatalf("65 levels with arrays (trusted %v): err %v, want too_large", trusted, err)
		}
		// So do a recipients array and its objects, which the scan splits:
		// data, array, recipient, then 61 levels pass, one more does not.
		if _, err := Decode(mk(`{"recipients":[{"x":`+deep(61)+`}]}`), Limits{Trusted: trusted}); err != nil {
			t.Fatalf("64 levels through recipients (trusted %v): %v", trusted, err)
		}
		_, err = Decode(mk(`{"recipients":[{"x":`+deep(62)+`}]}`), Limits{Trusted: trusted})
		if r, _ := ReasonOf(err); r != ReasonTooLarge {
			t.Fatalf("65 levels through recipients (trusted %v): err %v, want too_large", trusted, err)
		}
		_, err = Decode(mk(`{"recipients":[1,[`+deep(62)+`]]}`), Limits{Trusted: trusted})
		if r, _ := ReasonOf(err); r != ReasonTooLarge {
			t.Fatalf("65 levels through recipients that are not objects (trusted %v): err %v, want too_large", trusted, err)
		}
		// Brackets inside strings do not count.
		if _, err := Decode(mk(`{"s":"`+strings.Repeat("[{", 200)+`"}`), Limits{Trusted: trusted}); err != nil {
			t.Fatalf("brackets in a string (trusted %v): %v", trusted, err)
		}
	}
}

// TestDecodeDeeperThanTheScanner: data nested deeper than the validating
// scanner follows (200) takes the fall-back path; with white space before
// the event, its attributes are still cut in the right place, and its
// depth is still held to MaxDepth.
func TestDecodeDeeperThanTheScanner(t *testing.T) {
	deep := strings.Repeat("[", 250) + strings.Repeat("]", 250)
	value := ` {"specversion":"1.0","id":"abc","source":"/s","type":"braze.campaigns.trigger.send",` +
		`"data":{"campaign_id":"c","broadcast":true,"trigger_properties":{"x":` + deep + `}}}`
	rec := &Record{Topic: "t", Value: []byte(value)}
	ev, err := Decode(rec, Limits{MaxDepth: 300})
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if ev.ID != "abc" || ev.Source != "/s" || ev.Type != "braze.campaigns.trigger.send" {
		t.Fatalf("attributes %q %q %q", ev.ID, ev.Source, ev.Type)
	}
	for _, trusted := range []bool{false, true} {
		if _, err := Decode(rec, Limits{Trusted: trusted}); err == nil {
			t.Fatalf("data 252 deep passed the default MaxDepth of 64 (trusted %v)", trusted)
		} else if r, _ := ReasonOf(err); r != ReasonTooLarge {
			t.Fatalf("reason %s (%v), want %s", r, err, ReasonTooLarge)
		}
	}
	if tev, err := Decode(rec, Limits{MaxDepth: 300, Trusted: true}); err != nil || tev.ID != "abc" || tev.Type != ev.Type {
		t.Fatalf("trusted decode: %+v, %v", tev, err)
	}
}

// TestRecipientsSplitOnce: the recipient objects the validating scan split
// give the batching view that splitting data again gives, and a malformed
// recipient, or a repeated recipients field, still leaves the event
// without one.
func TestRecipientsSplitOnce(t *testing.T) {
	mk := func(data string) *Record {
		return &Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"braze.campaigns.trigger.send","data":` + data + `}`)}
	}
	for _, tc := range []struct {
		data  string
		batch bool
		keys  []string
	}{
		{`{"campaign_id":"c","recipients":[{"external_user_id":"a","trigger_properties":{"x":[1,{"y":2}]}},{"email":"B@x.io"}]}`, true, []string{"a", "b@x.io"}},
		// Parsers differ on a repeated field: such an event is not batched.
		{`{"recipients":[{"external_user_id":"a"}],"campaign_id":"c","recipients":[{"braze_id":"z"}]}`, false, nil},
		{`{"campaign_id":"c","recipients":[{"external_user_id":"a"},"b"]}`, false, nil},
		{`{"campaign_id":"c","recipients":[{"external_user_id":"a","email":"a@x.io"}]}`, false, nil},
		{`{"campaign_id":"c","recipients":[]}`, false, nil},
		{`{"campaign_id":"c","recipients":{"external_user_id":"a"}}`, false, nil},
	} {
		for _, trusted := range []bool{false, true} {
			ev, err := Decode(mk(tc.data), Limits{Trusted: trusted})
			if err != nil {
				t.Fatalf("%s: %v", tc.data, err)
			}
			if (ev.Batch != nil) != tc.batch {
				t.Fatalf("%s (trusted %v): batch %+v, want one: %v", tc.data, trusted, ev.Batch, tc.batch)
			}
			var resplit Batch
			if ok := resplit.init(ev, split{}); ok != tc.batch {
				t.Fatalf("%s: splitting again gives %v", tc.data, ok)
			}
			if !tc.batch {
				continue
			}
			var keys []string
			for _, r := range ev.Batch.Recipients {
				keys = append(keys, r.Key)
			}
			if !reflect.DeepEqual(keys, tc.keys) || !reflect.DeepEqual(ev.Batch.Recipients, resplit.Recipients) {
				t.Fatalf("%s (trusted %v): recipients %+v, splitting again %+v", tc.data, trusted, ev.Batch.Recipients, resplit.Recipients)
			}
		}
	}
}

// TestRepeatedUserIDsFieldIsNotBatched: on /messages/send, a repeated
// external_user_ids or user_aliases field leaves the event unbatched; the
// two fields once each are batched.
func TestRepeatedUserIDsFieldIsNotBatched(t *testing.T) {
	mk := func(data string) *Record {
		return &Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"braze.messages.send","data":` + data + `}`)}
	}
	for data, batch := range map[string]bool{
		`{"external_user_ids":["a"],"user_aliases":[{"alias_name":"n","alias_label":"l"}],"messages":{}}`:               true,
		`{"external_user_ids":["a"],"messages":{},"external_user_ids":["b"]}`:                                           false,
		`{"user_aliases":[{"alias_name":"n","alias_label":"l"}],"user_aliases":[{"alias_name":"m","alias_label":"l"}]}`: false,
	} {
		ev, err := Decode(mk(data), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if (ev.Batch != nil) != batch {
			t.Errorf("%s: batch %+v, want one: %v", data, ev.Batch, batch)
		}
	}
}

// TestRecipientsSplitByTheScan: the decoding scan itself splits a
// recipients array of objects that fits its buffers (so the batching view
// does not scan it again), and leaves a longer one, or one with other
// elements, to the batching view, without growing its buffers.
func TestRecipientsSplitByTheScan(t *testing.T) {
	recipients := func(n int) string {
		var b strings.Builder
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"external_user_id":"u%d","trigger_properties":{"n":%d}}`, i, i)
		}
		return "[" + b.String() + "]"
	}
	for _, tc := range []struct {
		recipients string
		split      int // objects the scan split; -1 for none
	}{
		{recipients(1), 1},
		{recipients(4), 4},
		{recipients(5), -1}, // more objects than the buffer holds
		{`[{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9},{"j":1,"k":2,"l":3,"m":4,"n":5,"o":6,"p":7,"q":8}]`, -1}, // more members
		{`[{"external_user_id":"a"},2]`, -1},
		{`[]`, 0},
	} {
		value := []byte(`{"specversion":"1.0","data":{"campaign_id":"c","recipients":` + tc.recipients + `}}`)
		for _, trusted := range []bool{false, true} {
			var rm [16]member
			var objs [4]splitObject
			_, sp, ok := validMembersSplitting(nil, value, `"data"`, split{rmembers: rm[:0], objects: objs[:0]}, trusted)
			if !ok {
				t.Fatalf("%s: the scan failed", tc.recipients)
			}
			if cap(sp.rmembers) != len(rm) || cap(sp.objects) != len(objs) {
				t.Fatalf("%s (trusted %v): the scan grew its buffers", tc.recipients, trusted)
			}
			if got := len(sp.objects); tc.split < 0 && sp.recipients != nil || tc.split >= 0 && (sp.recipients == nil || got != tc.split) {
				t.Fatalf("%s (trusted %v): split %d objects (recipients %q), want %d", tc.recipients, trusted, got, sp.recipients, tc.split)
			}
		}
		// Either way, the batching view is the one splitting data again gives.
		ev, err := Decode(&Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"/s","type":"braze.campaigns.trigger.send","data":{"campaign_id":"c","recipients":` + tc.recipients + `}}`)}, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		var resplit Batch
		if ok := resplit.init(ev, split{}); ok != (ev.Batch != nil) || ok && !reflect.DeepEqual(resplit.Recipients, ev.Batch.Recipients) {
			t.Fatalf("%s: batching view %+v, splitting again %+v", tc.recipients, ev.Batch, resplit.Recipients)
		}
	}
}
