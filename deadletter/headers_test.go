package deadletter

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/event"
)

func dlqTestRecord() *event.Record {
	return &event.Record{
		Topic: "braze.messages", Partition: 7, Offset: 123456789012,
		Key:   []byte("user-1"),
		Value: []byte(`{"specversion":"1.0"}`),
		Headers: []event.Header{
			{Key: "ce_specversion", Value: []byte("1.0")},
			{Key: "trace", Value: []byte{0, 0xff, '\n'}},
			{Key: "trace", Value: []byte("second value of a repeated header")},
			{Key: "empty", Value: nil},
		},
	}
}

func TestHeaders(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	first := time.Date(2026, 3, 2, 11, 4, 5, 123456789, berlin)
	failed := time.Date(2026, 3, 2, 10, 9, 0, 0, time.UTC)
	rec := dlqTestRecord()
	dl := &event.DeadLetter{
		Reason:       event.ReasonRejected,
		Status:       400,
		Error:        "braze: 400 Bad Request:\n\tinvalid campaign_id",
		Response:     []byte(`{"message":"Invalid campaign_id"}`),
		Attempts:     3,
		FirstAttempt: first,
		FailedAt:     failed,
	}
	got := Headers(rec, dl)
	want := []kafka.Header{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "trace", Value: []byte{0, 0xff, '\n'}},
		{Key: "trace", Value: []byte("second value of a repeated header")},
		{Key: "empty", Value: nil},
		{Key: HeaderReason, Value: []byte("rejected")},
		{Key: HeaderStatus, Value: []byte("400")},
		{Key: HeaderError, Value: []byte("braze: 400 Bad Request: invalid campaign_id")},
		{Key: HeaderResponse, Value: []byte(`{"message":"Invalid campaign_id"}`)},
		{Key: HeaderAttempts, Value: []byte("3")},
		{Key: HeaderTopic, Value: []byte("braze.messages")},
		{Key: HeaderPartition, Value: []byte("7")},
		{Key: HeaderOffset, Value: []byte("123456789012")},
		{Key: HeaderFirstAttemptAt, Value: []byte("2026-03-02T10:04:05.123456789Z")},
		{Key: HeaderFailedAt, Value: []byte("2026-03-02T10:09:00Z")},
	}
	checkHeaders(t, got, want)

	// The record itself is left alone.
	if !sameRecordHeaders(rec.Headers, dlqTestRecord().Headers) {
		t.Fatalf("Headers changed the record's headers: %v", rec.Headers)
	}
	// Times are RFC 3339 in UTC and keep the instant.
	for _, tc := range []struct {
		key  string
		want time.Time
	}{{HeaderFirstAttemptAt, first}, {HeaderFailedAt, failed}} {
		v := string(mustHeader(t, got, tc.key))
		at, err := time.Parse(time.RFC3339, v)
		if err != nil {
			t.Fatalf("%s = %q is not RFC 3339: %v", tc.key, v, err)
		}
		if !strings.HasSuffix(v, "Z") || !at.Equal(tc.want) {
			t.Fatalf("%s = %q, want %v in UTC", tc.key, v, tc.want)
		}
	}
}

// TestHeadersOptional checks the dlq.* headers of an event that never
// reached Braze: no status, response or first attempt, and an empty cause.
func TestHeadersOptional(t *testing.T) {
	rec := &event.Record{Topic: "t", Partition: 0, Offset: 0}
	dl := &event.DeadLetter{Reason: event.ReasonInvalidEvent, FailedAt: time.Unix(0, 0)}
	want := []kafka.Header{
		{Key: HeaderReason, Value: []byte("invalid_event")},
		{Key: HeaderError, Value: []byte("")},
		{Key: HeaderAttempts, Value: []byte("0")},
		{Key: HeaderTopic, Value: []byte("t")},
		{Key: HeaderPartition, Value: []byte("0")},
		{Key: HeaderOffset, Value: []byte("0")},
		{Key: HeaderFailedAt, Value: []byte("1970-01-01T00:00:00Z")},
	}
	checkHeaders(t, Headers(rec, dl), want)
}

// TestHeadersClip checks that long causes and responses are cut to 1 KiB
// and 4 KiB on a rune boundary, and that the cause is one line.
func TestHeadersClip(t *testing.T) {
	tests := []struct {
		name         string
		err          string
		response     string
		wantErr      string
		wantResponse string
	}{
		{
			name:    "cause of exactly 1 KiB",
			err:     strings.Repeat("e", 1024),
			wantErr: strings.Repeat("e", 1024),
		},
		{
			name:    "long cause",
			err:     strings.Repeat("e", 5000),
			wantErr: strings.Repeat("e", 1024),
		},
		{
			name:    "cause with a rune across the limit",
			err:     strings.Repeat("e", 1022) + "€" + "tail",
			wantErr: strings.Repeat("e", 1022),
		},
		{
			name:    "long multi-line cause",
			err:     strings.Repeat("line\n", 400),
			wantErr: strings.TrimSuffix(strings.Repeat("line ", 205), " "),
		},
		{
			name:         "response of exactly 4 KiB",
			response:     strings.Repeat("r", 4096),
			wantResponse: strings.Repeat("r", 4096),
		},
		{
			name:         "long response",
			response:     strings.Repeat("r", 10000),
			wantResponse: strings.Repeat("r", 4096),
		},
		{
			name:         "response with a rune across the limit",
			response:     strings.Repeat("r", 4093) + "😀",
			wantResponse: strings.Repeat("r", 4093),
		},
		{
			name:         "response keeps its lines",
			response:     "{\n  \"message\": \"x\"\n}",
			wantResponse: "{\n  \"message\": \"x\"\n}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &event.Record{Topic: "t"}
			dl := &event.DeadLetter{Reason: event.ReasonRejected, Status: 400, Error: tt.err, Response: []byte(tt.response)}
			hs := Headers(rec, dl)
			gotErr := string(mustHeader(t, hs, HeaderError))
			if gotErr != tt.wantErr {
				t.Fatalf("dlq.error = %q (%d bytes), want %q (%d bytes)", gotErr, len(gotErr), tt.wantErr, len(tt.wantErr))
			}
			if len(gotErr) > 1024 || !utf8.ValidString(gotErr) || strings.ContainsAny(gotErr, "\r\n") {
				t.Fatalf("dlq.error is not one valid line of at most 1 KiB: %q", gotErr)
			}
			if tt.response == "" {
				if v, ok := findHeader(hs, HeaderResponse); ok {
					t.Fatalf("dlq.response = %q for an answer without a body", v)
				}
				return
			}
			gotResp := string(mustHeader(t, hs, HeaderResponse))
			if gotResp != tt.wantResponse {
				t.Fatalf("dlq.response = %q (%d bytes), want %q (%d bytes)", gotResp, len(gotResp), tt.wantResponse, len(tt.wantResponse))
			}
			if len(gotResp) > 4096 || !utf8.ValidString(gotResp) {
				t.Fatalf("dlq.response is not valid UTF-8 of at most 4 KiB: %d bytes", len(gotResp))
			}
		})
	}
}

func TestClip(t *testing.T) {
	const euro = "€"  // 3 bytes
	const smile = "😀" // 4 bytes
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 0, ""},
		{"", 5, ""},
		{"abc", 0, ""},
		{"abc", 3, "abc"},
		{"abc", 5, "abc"},
		{"abcd", 3, "abc"},
		{"a" + euro, 4, "a" + euro},
		{"a" + euro + "b", 4, "a" + euro},
		{"a" + euro, 3, "a"},
		{"a" + euro, 2, "a"},
		{"a" + euro, 1, "a"},
		{euro, 2, ""},
		{"a" + smile, 5, "a" + smile},
		{"a" + smile, 4, "a"},
		{"a" + smile, 3, "a"},
		{"a" + smile, 2, "a"},
		{"a" + smile + "b", 5, "a" + smile},
		{"é" + "é", 3, "é"},
		// Not UTF-8: nothing to keep whole, cut at n.
		{"\x80\x80\x80\x80\x80\x80", 5, "\x80\x80\x80\x80\x80"},
		{"\xff\xff", 1, "\xff"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.s)+"/"+strconv.Itoa(tt.n), func(t *testing.T) {
			got := clip(tt.s, tt.n)
			if got != tt.want {
				t.Fatalf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
			if len(got) > tt.n {
				t.Fatalf("clip(%q, %d) is %d bytes long", tt.s, tt.n, len(got))
			}
		})
	}
}

func TestOneLine(t *testing.T) {
	tests := []struct {
		s, want string
	}{
		{"", ""},
		{"plain cause", "plain cause"},
		{"spaces  kept   as they are", "spaces  kept   as they are"},
		{"a\nb", "a b"},
		{"a\r\n\tb  c", "a b c"},
		{"  leading and trailing\n", "leading and trailing"},
		{"\n\r\n", ""},
		{"tab\tseparated", "tab separated"},
		{"vertical\vtab", "vertical tab"},
		{"form\ffeed", "form feed"},
		{"next\u0085line", "next line"},
		{"line\u2028separator", "line separator"},
		{"paragraph\u2029separator", "paragraph separator"},
		{"ünïcödé\nstays", "ünïcödé stays"},
	}
	for _, tt := range tests {
		t.Run(strconv.Quote(tt.s), func(t *testing.T) {
			if got := oneLine(tt.s); got != tt.want {
				t.Fatalf("oneLine(%q) = %q, want %q", tt.s, got, tt.want)
			}
		})
	}
}

func checkHeaders(t *testing.T, got, want []kafka.Header) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d headers, want %d:\ngot  %s\nwant %s", len(got), len(want), dumpHeaders(got), dumpHeaders(want))
	}
	for i := range want {
		if got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Fatalf("header %d = %s: %q, want %s: %q\ngot  %s", i, got[i].Key, got[i].Value, want[i].Key, want[i].Value, dumpHeaders(got))
		}
	}
}

func sameRecordHeaders(a, b []event.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

func dumpHeaders(hs []kafka.Header) string {
	var b strings.Builder
	for _, h := range hs {
		b.WriteString(h.Key + "=" + strconv.Quote(string(h.Value)) + " ")
	}
	return b.String()
}

func findHeader(hs []kafka.Header, key string) ([]byte, bool) {
	for _, h := range hs {
		if h.Key == key {
			return h.Value, true
		}
	}
	return nil, false
}

func mustHeader(t *testing.T, hs []kafka.Header, key string) []byte {
	t.Helper()
	v, ok := findHeader(hs, key)
	if !ok {
		t.Fatalf("no %s header in %s", key, dumpHeaders(hs))
	}
	return v
}
