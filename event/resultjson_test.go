package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func resultCases() []Result {
	at := time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)
	return []Result{
		{},
		{ID: "e1", Source: "/auth", Type: "braze.campaigns.trigger.send", Outcome: OutcomeSent, DispatchID: "d-1",
			Attempts: 1, BatchSize: 50, CompletedAt: at, Workspace: "default"},
		{ID: "e2", Source: "/s", Type: "braze.messages.schedule.create", Outcome: OutcomeSent, ScheduleID: "sch-9",
			Attempts: 2, CompletedAt: at.In(time.FixedZone("x", 3600)), Workspace: "eu", ScheduleKey: "k/1"},
		{ID: "e3", Source: "/s", Type: "t", Outcome: OutcomeDeadLettered, Reason: ReasonRejected, Status: 400,
			Attempts: 3, CompletedAt: at.Truncate(time.Second), SendID: "s1"},
		{ID: `quote " and \ back`, Source: "<html>&", Type: "tab\there", Outcome: "é", CompletedAt: at},
		{ID: "line\u2028sep", Source: "bad \xff utf8", Outcome: "ctl \x01", CompletedAt: at},
		{ID: "neg", Status: -1, Attempts: -5, BatchSize: -2, CompletedAt: at},
		{ID: "far", CompletedAt: time.Date(12000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{ID: "bc", CompletedAt: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// TestResultAppendJSON checks that AppendJSON writes what json.Marshal
// writes, errors included.
func TestResultAppendJSON(t *testing.T) {
	for i, r := range resultCases() {
		want, wantErr := json.Marshal(r)
		got, err := r.AppendJSON([]byte("prefix"))
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("case %d: error %v, json.Marshal %v", i, err, wantErr)
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("case %d:\n got %s\nwant prefix%s", i, got, want)
		}
	}
}

// TestResultUnmarshalJSON checks that json.Unmarshal into a Result (which
// uses UnmarshalJSON) reads what it reads without the method, and that the
// fast path takes the records the gateway writes.
func TestResultUnmarshalJSON(t *testing.T) {
	var inputs [][]byte
	for _, r := range resultCases() {
		b, err := json.Marshal(r)
		if err == nil {
			inputs = append(inputs, b)
		}
	}
	for _, s := range []string{
		`{}`, `null`, `[]`, `{"id":null}`, `{"ID":"x"}`, `{"id":"a","id":"b"}`, `{"Id":"a","id":"b"}`, `{"id":"a","Id":"b"}`,
		`{"status":"200"}`, `{"status":1.5}`, `{"status":1e3}`, `{"attempts":99999999999999999999}`,
		`{"completed_at":"not a time"}`, `{"completed_at":5}`, `{"completed_at":null}`, `{"id":"\u00e9"}`,
		`{"unknown":{"nested":[1,2]},"id":"x"}`, `{"st\u0061tus":3}`, `{"outcome":"sent","reason":"x","extra":true}`,
		`{"batch_size":-0,"attempts":0}`, `{"id":5}`, `{"id":"<"}`,
	} {
		inputs = append(inputs, []byte(s))
	}
	for _, in := range inputs {
		checkResultDecode(t, in)
	}
	for _, r := range resultCases()[1:4] {
		b, _ := r.AppendJSON(nil)
		var got Result
		if !got.fastUnmarshal(b) {
			t.Fatalf("the fast path declines a record the gateway writes: %s", b)
		}
	}
}

func checkResultDecode(t *testing.T, in []byte) {
	t.Helper()
	seed := Result{ID: "old", Attempts: 7, CompletedAt: time.Unix(5, 0).UTC()}
	got, want := seed, plainResult(seed)
	gotErr := json.Unmarshal(in, &got)
	wantErr := json.Unmarshal(in, &want)
	if (gotErr != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json %v", in, gotErr, wantErr)
	}
	if !reflect.DeepEqual(plainResult(got), want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", in, got, want)
	}
}

// FuzzResultJSON checks the decoder against encoding/json on any input,
// and the encoder on any strings.
func FuzzResultJSON(f *testing.F) {
	f.Add([]byte(`{"id":"e1","source":"/a","type":"t","outcome":"sent","attempts":1,"completed_at":"2026-03-01T12:00:00Z"}`), "id", 3)
	f.Add([]byte(`{"Status":"x"}`), "<&>", -1)
	f.Fuzz(func(t *testing.T, in []byte, s string, n int) {
		if json.Valid(in) {
			checkResultDecode(t, in)
		}
		r := Result{ID: s, Source: s, Reason: Reason(s), Status: n, Attempts: n, CompletedAt: time.Unix(int64(n), 0)}
		want, wantErr := json.Marshal(r)
		got, err := r.AppendJSON(nil)
		if (err != nil) != (wantErr != nil) || err == nil && !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON = %s, %v; json.Marshal = %s, %v", got, err, want, wantErr)
		}
	})
}

func BenchmarkResultAppendJSON(b *testing.B) {
	r := resultCases()[1]
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf, _ = r.AppendJSON(buf[:0])
	}
}

func BenchmarkResultUnmarshal(b *testing.B) {
	r := resultCases()[1]
	in, _ := json.Marshal(r)
	b.ReportAllocs()
	for b.Loop() {
		var got Result
		if err := json.Unmarshal(in, &got); err != nil {
			b.Fatal(err)
		}
	}
}

// TestResultUnmarshalDirect checks that calling UnmarshalJSON directly
// fails exactly where json.Unmarshal fails, invalid JSON included.
func TestResultUnmarshalDirect(t *testing.T) {
	for _, s := range []string{`{"id":"a"}`, ` {"id":"a"} `, `{"id":"a"`, `{"id":"a"}x`, `{"id":"a",}`, `{"id":'a'}`,
		`{"attempts":01}`, `[]`, `null`, ``, `{"completed_at":"2026-01-01T00:00:00Z"}`} {
		var direct, viaJSON Result
		errDirect := direct.UnmarshalJSON([]byte(s))
		errJSON := json.Unmarshal([]byte(s), &viaJSON)
		if (errDirect == nil) != (errJSON == nil) || !reflect.DeepEqual(direct, viaJSON) {
			t.Fatalf("%q: direct %+v, %v; json.Unmarshal %+v, %v", s, direct, errDirect, viaJSON, errJSON)
		}
	}
}
