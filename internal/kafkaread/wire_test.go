package kafkaread

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadKeepsEveryPartOfARecord: null and empty keys and values, a value
// larger than the connection's buffer, more headers than fit on the stack,
// null header values, and timestamps; the parts stay valid after deliver
// returns.
func TestReadKeepsEveryPartOfARecord(t *testing.T) {
	k := startKafka(t, "127.0.0.1:0", "parts")
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	var many []kafka.Header
	for i := range 11 {
		many = append(many, kafka.Header{Key: fmt.Sprint("h", i), Value: []byte(fmt.Sprint("value ", i))})
	}
	many[3].Value = nil
	at := time.UnixMilli(1764979200123)
	want := []kafka.Message{
		{Key: nil, Value: []byte("no key"), Time: at},
		{Key: []byte("k"), Value: nil, Time: at.Add(time.Second)},
		{Key: []byte(""), Value: []byte(""), Time: at},
		{Key: []byte("big"), Value: big, Headers: many, Time: at},
		{Key: []byte("after"), Value: []byte("the big one"), Headers: []kafka.Header{{Key: "h0", Value: []byte("x")}}, Time: at},
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.Addrs()...), Topic: "parts", Balancer: toPartition(1),
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, BatchBytes: 1 << 20}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, want...); err != nil {
		t.Fatal(err)
	}

	var got []kafka.Message
	err := Read(ctx, config(k.Addrs(), "parts"), kafka.FirstOffset, func(r *Record) bool {
		got = append(got, kafka.Message{Offset: r.Offset, Key: r.Key, Value: r.Value, Time: r.Time,
			Headers: append([]kafka.Header(nil), r.Headers...)})
		return len(got) < len(want)
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range got {
		w := want[i]
		if m.Offset != int64(i) || !sameBytes(m.Key, w.Key) || !sameBytes(m.Value, w.Value) || !m.Time.Equal(w.Time) {
			t.Errorf("record %d: offset %d key %q value %.20q time %v, want key %q value %.20q time %v",
				i, m.Offset, m.Key, m.Value, m.Time, w.Key, w.Value, w.Time)
		}
		if len(m.Headers) != len(w.Headers) {
			t.Fatalf("record %d: headers %v, want %v", i, m.Headers, w.Headers)
		}
		for j, h := range m.Headers {
			if h.Key != w.Headers[j].Key || !sameBytes(h.Value, w.Headers[j].Value) {
				t.Errorf("record %d header %d: %s=%q, want %s=%q", i, j, h.Key, h.Value, w.Headers[j].Key, w.Headers[j].Value)
			}
		}
	}
}

// sameBytes tells null from empty, as Kafka does.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// TestReadStepsOverTransactionMarkers: the commit and abort markers that
// transactions write take offsets but hold no records; a reader delivers
// the records around them (read uncommitted, as before) and does not stop
// at a marker that ends the partition.
func TestReadStepsOverTransactionMarkers(t *testing.T) {
	k := startKafka(t, "127.0.0.1:0", "tx")
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.TransactionalID("kafkaread-test"),
		kgo.DefaultProduceTopic("tx"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	txn := func(commit bool, values ...string) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if err := cl.ProduceSync(ctx, &kgo.Record{Partition: 1, Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "v0", "v1", "v2")
	txn(false, "v3")

	type read struct {
		value  string
		offset int64
	}
	got := make(chan read, 10)
	atEnd := make(chan int64, 100)
	cfg := config(k.Addrs(), "tx")
	cfg.Next = func(_ context.Context, offset int64, end bool) (int64, error) {
		if end {
			select {
			case atEnd <- offset:
			default:
			}
		}
		return offset, nil
	}
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- Read(ctx, cfg, kafka.FirstOffset, func(r *Record) bool {
			got <- read{string(r.Value), r.Offset}
			n++
			return n < 5
		})
	}()
	var reads []read
	next := func() {
		t.Helper()
		select {
		case r := <-got:
			reads = append(reads, r)
		case <-ctx.Done():
			t.Fatalf("only %v read", reads)
		}
	}
	for range 4 {
		next()
	}
	// The partition ends with the abort marker (offset 5): the reader
	// is at its end, past the marker, before anything more is written.
	for {
		select {
		case o := <-atEnd:
			if o != 6 {
				continue
			}
		case <-ctx.Done():
			t.Fatal("the reader never reached the end past the marker")
		}
		break
	}
	txn(true, "v4")
	next()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if want := "[{v0 0} {v1 1} {v2 2} {v3 4} {v4 6}]"; fmt.Sprint(reads) != want {
		t.Fatalf("read %v, want %s", reads, want)
	}
}

// FuzzDecodeRecords: no body makes the decoder panic or read out of
// bounds; what it delivers lies within the body.
func FuzzDecodeRecords(f *testing.F) {
	var rec []byte
	rec = append(rec, 0)               // attributes
	rec = binary.AppendVarint(rec, 5)  // timestamp delta
	rec = binary.AppendVarint(rec, 0)  // offset delta
	rec = binary.AppendVarint(rec, 1)  // key length
	rec = append(rec, 'k')             //
	rec = binary.AppendVarint(rec, 2)  // value length
	rec = append(rec, "vv"...)         //
	rec = binary.AppendVarint(rec, 1)  // headers
	rec = binary.AppendVarint(rec, 1)  // header key length
	rec = append(rec, 'h')             //
	rec = binary.AppendVarint(rec, -1) // null header value
	body := binary.AppendVarint(nil, int64(len(rec)))
	body = append(body, rec...)
	f.Add(body, 1)
	f.Add(body[:len(body)-1], 1)
	f.Add([]byte{0x7f}, 3)
	f.Fuzz(func(t *testing.T, body []byte, count int) {
		bt := batch{base: 10, count: count}
		var r Record
		_ = decodeRecords(body, &bt, &r, interner{}, func(r *Record) error {
			if len(r.Key)+len(r.Value) > len(body) {
				t.Fatalf("a record of %d bytes from a body of %d", len(r.Key)+len(r.Value), len(body))
			}
			return nil
		})
	})
}
