package kafkaread

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
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

// batchBytes encodes a record batch (format v2, uncompressed) of the
// given values from base on, with the given attributes.
func batchBytes(base int64, attrs int16, values ...string) []byte {
	var recs []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                          // attributes
		r = binary.AppendVarint(r, int64(i))      // timestamp delta
		r = binary.AppendVarint(r, int64(i))      // offset delta
		r = binary.AppendVarint(r, -1)            // null key
		r = binary.AppendVarint(r, int64(len(v))) // value
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		recs = binary.AppendVarint(recs, int64(len(r)))
		recs = append(recs, r...)
	}
	var b []byte
	b = binary.BigEndian.AppendUint64(b, uint64(base))
	b = binary.BigEndian.AppendUint32(b, uint32(v2Header+len(recs)))
	b = binary.BigEndian.AppendUint32(b, 0) // leader epoch
	b = append(b, 2)                        // magic
	b = binary.BigEndian.AppendUint32(b, 0) // crc (not checked)
	b = binary.BigEndian.AppendUint16(b, uint16(attrs))
	b = binary.BigEndian.AppendUint32(b, uint32(max(len(values)-1, 0)))
	b = binary.BigEndian.AppendUint64(b, 1764979200000) // first timestamp
	b = binary.BigEndian.AppendUint64(b, uint64(1764979200000+len(values)))
	b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // producer id -1
	b = binary.BigEndian.AppendUint16(b, ^uint16(0))
	b = binary.BigEndian.AppendUint32(b, ^uint32(0))
	b = binary.BigEndian.AppendUint32(b, uint32(len(values)))
	return append(b, recs...)
}

// TestReadBatchesEdges: what a response's records can hold besides plain
// batches — a control batch, a batch the size limit cut, a batch in a
// format older than v2 — read from bytes, without a broker.
func TestReadBatchesEdges(t *testing.T) {
	type read struct {
		value  string
		offset int64
	}
	run := func(t *testing.T, records []byte) ([]read, []int64, error) {
		t.Helper()
		rs := response{r: bufio.NewReaderSize(bytes.NewReader(records), 64), n: len(records)}
		var got []read
		var ends []int64
		var rec Record
		err := rs.readBatches(len(records), &rec, interner{}, func(r *Record) error {
			got = append(got, read{string(r.Value), r.Offset})
			return nil
		}, func(last int64) { ends = append(ends, last) })
		if err == nil && rs.n != 0 {
			t.Fatalf("%d bytes left unread", rs.n)
		}
		return got, ends, err
	}

	t.Run("control batch and a batch cut short", func(t *testing.T) {
		var records []byte
		records = append(records, batchBytes(10, 0, "a", "b")...)
		records = append(records, batchBytes(12, controlBatch, "marker")...)
		records = append(records, batchBytes(13, 0, strings.Repeat("c", 100))...) // longer than the reader's buffer
		cut := batchBytes(14, 0, "d", "e")
		records = append(records, cut[:len(cut)-3]...)
		got, ends, err := run(t, records)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprintf("[{a 10} {b 11} {%s 13}]", strings.Repeat("c", 100)) {
			t.Fatalf("read %v", got)
		}
		if fmt.Sprint(ends) != "[11 12 13]" {
			t.Fatalf("batch ends %v, want [11 12 13] (the cut batch is read by the next fetch)", ends)
		}
	})

	t.Run("format v1", func(t *testing.T) {
		b := batchBytes(20, 0, "x")
		b[16] = 1 // magic
		if _, _, err := run(t, b); !errors.Is(err, errFormat) {
			t.Fatalf("err = %v, want %v", err, errFormat)
		}
	})

	t.Run("malformed record", func(t *testing.T) {
		b := batchBytes(30, 0, "x")
		b[len(b)-3] = 0x7e // the value's length (63), now past the record's end
		if _, _, err := run(t, b); !errors.Is(err, errRecord) {
			t.Fatalf("err = %v, want %v", err, errRecord)
		}
	})
}
