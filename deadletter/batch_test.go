package deadletter

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestAppendBatch decodes an encoded batch with franz-go's kmsg (another
// implementation of the format) and checks its header, its CRC-32C and
// every record: null and empty keys and values, headers with null values,
// lengths that take one, two and three varint bytes, times given and not.
func TestAppendBatch(t *testing.T) {
	now := time.UnixMilli(1764979200500)
	at := time.UnixMilli(1764979200000)
	msgs := []kafka.Message{
		{Key: []byte("k0"), Value: []byte("v0"), Time: at},
		{Key: nil, Value: nil},
		{Key: []byte{}, Value: []byte{}, Headers: []kafka.Header{{Key: "h", Value: nil}, {Key: "", Value: []byte("x")}}},
		{Key: []byte("big"), Value: []byte(strings.Repeat("v", 200)), Time: at.Add(time.Second)},
		{Key: []byte("bigger"), Value: []byte(strings.Repeat("w", 20000)), Headers: []kafka.Header{{Key: "dlq.reason", Value: []byte("invalid_event")}}},
	}
	b := appendBatch([]byte("prefix"), msgs, now)
	if string(b[:6]) != "prefix" {
		t.Fatal("appendBatch overwrote what it appends to")
	}
	b = b[6:]
	if size := int(binary.BigEndian.Uint32(b)); size != len(b)-4 {
		t.Fatalf("size prefix %d, batch of %d bytes", size, len(b)-4)
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(b[4:]); err != nil {
		t.Fatal(err)
	}
	if int(rb.Length) != len(b)-4-12 || rb.Magic != 2 || rb.Attributes != 0 || rb.FirstOffset != 0 ||
		rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 || rb.PartitionLeaderEpoch != -1 {
		t.Fatalf("header %+v", rb)
	}
	if crc := crc32.Checksum(b[4+21:], crc32.MakeTable(crc32.Castagnoli)); uint32(rb.CRC) != crc {
		t.Fatalf("crc %08x, want %08x", uint32(rb.CRC), crc)
	}
	if rb.NumRecords != int32(len(msgs)) || rb.LastOffsetDelta != int32(len(msgs)-1) {
		t.Fatalf("%d records, last offset delta %d", rb.NumRecords, rb.LastOffsetDelta)
	}
	if rb.FirstTimestamp != at.UnixMilli() || rb.MaxTimestamp != now.UnixMilli()+500 {
		t.Fatalf("timestamps %d..%d", rb.FirstTimestamp, rb.MaxTimestamp)
	}
	recs := rb.Records
	for i, m := range msgs {
		l, n := binary.Varint(recs)
		if n <= 0 || int(l)+n > len(recs) {
			t.Fatalf("record %d: length %d of %d bytes left", i, l, len(recs))
		}
		var r kmsg.Record
		if err := r.ReadFrom(recs[:n+int(l)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		recs = recs[n+int(l):]
		wantTime := now
		if !m.Time.IsZero() {
			wantTime = m.Time
		}
		if int(r.OffsetDelta) != i || rb.FirstTimestamp+r.TimestampDelta64 != wantTime.UnixMilli() {
			t.Errorf("record %d: offset delta %d, time %d", i, r.OffsetDelta, rb.FirstTimestamp+r.TimestampDelta64)
		}
		if !sameBytes(r.Key, m.Key) || !sameBytes(r.Value, m.Value) {
			t.Errorf("record %d: key %q value %.20q, want %q %.20q", i, r.Key, r.Value, m.Key, m.Value)
		}
		if len(r.Headers) != len(m.Headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(m.Headers))
		}
		for j, h := range r.Headers {
			if h.Key != m.Headers[j].Key || !sameBytes(h.Value, m.Headers[j].Value) {
				t.Errorf("record %d header %d: %s=%q", i, j, h.Key, h.Value)
			}
		}
	}
	if len(recs) != 0 {
		t.Fatalf("%d bytes after the last record", len(recs))
	}
}

// sameBytes tells null from empty, as Kafka does.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// BenchmarkAppendBatch500 encodes a full batch of results-sized records.
func BenchmarkAppendBatch500(b *testing.B) {
	msgs := make([]kafka.Message, 500)
	for i := range msgs {
		msgs[i] = kafka.Message{Key: []byte("/bench/bench." + strings.Repeat("1", 7)),
			Value: bytes.Repeat([]byte("x"), 300), Headers: []kafka.Header{{Key: "gateway.instance", Value: []byte("0123456789abcdef")}}}
	}
	now := time.Now()
	buf := appendBatch(nil, msgs, now)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendBatch(buf[:0], msgs, now)
	}
}
