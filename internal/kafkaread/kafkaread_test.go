package kafkaread

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/embedded"
)

func startKafka(t *testing.T, addr string, topics ...string) *embedded.Kafka {
	t.Helper()
	k, err := embedded.StartKafka(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, topic := range topics {
		if err := embedded.CreateTopics(ctx, k.Addrs(), embedded.Topic{Name: topic, Partitions: 2}); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

// produce writes n records to partition 1 of topic, values "v<i>" from
// first on, in batches of batch records (compressed when codec is set).
func produce(t *testing.T, brokers []string, topic string, first, n, batch int, codec kafka.Compression) {
	t.Helper()
	w := &kafka.Writer{Addr: kafka.TCP(brokers...), Topic: topic, Balancer: toPartition(1), BatchSize: batch,
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll, Compression: codec}
	defer w.Close()
	msgs := make([]kafka.Message, 0, n)
	for i := first; i < first+n; i++ {
		msgs = append(msgs, kafka.Message{Key: []byte(fmt.Sprint("k", i%7)), Value: []byte(fmt.Sprint("v", i)),
			Headers: []kafka.Header{{Key: "h", Value: []byte(fmt.Sprint(i))}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
}

type toPartition int

func (p toPartition) Balance(kafka.Message, ...int) int { return int(p) }

func config(brokers []string, topic string) Config {
	return Config{Brokers: brokers, Topic: topic, Partition: 1, MinBytes: 1, MaxBytes: 64 << 10, MaxWait: 100 * time.Millisecond}
}

// collect reads until want records have arrived and returns their values
// and offsets.
func collect(t *testing.T, cfg Config, offset int64, want int) (values []string, offsets []int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := Read(ctx, cfg, offset, func(m *Record) bool {
		values = append(values, string(m.Value))
		offsets = append(offsets, m.Offset)
		if len(m.Headers) != 1 || string(m.Headers[0].Value) != string(m.Value[1:]) {
			t.Errorf("record %s has headers %v", m.Value, m.Headers)
		}
		return len(values) < want
	})
	if err != nil {
		t.Fatalf("Read: %v after %d records", err, len(values))
	}
	return values, offsets
}

// TestReadDeliversEveryRecordInOrder: plain and compressed batches, from
// the first offset, from an offset inside the partition and from its end.
func TestReadDeliversEveryRecordInOrder(t *testing.T) {
	k := startKafka(t, "127.0.0.1:0", "plain", "snappy", "gzip", "lz4", "zstd")
	for _, tc := range []struct {
		topic string
		codec kafka.Compression
	}{{"plain", 0}, {"snappy", kafka.Snappy}, {"gzip", kafka.Gzip}, {"lz4", kafka.Lz4}, {"zstd", kafka.Zstd}} {
		t.Run(tc.topic, func(t *testing.T) {
			produce(t, k.Addrs(), tc.topic, 0, 3000, 100, tc.codec)
			cfg := config(k.Addrs(), tc.topic)

			values, offsets := collect(t, cfg, kafka.FirstOffset, 3000)
			for i := range values {
				if values[i] != fmt.Sprint("v", i) || offsets[i] != int64(i) {
					t.Fatalf("record %d is %s at offset %d", i, values[i], offsets[i])
				}
			}

			// From inside a (compressed) batch: nothing before it.
			values, offsets = collect(t, cfg, 1234, 10)
			if values[0] != "v1234" || offsets[9] != 1243 {
				t.Fatalf("from 1234: %v at %v", values, offsets)
			}

			// From the end: only what is written afterwards.
			done := make(chan []string, 1)
			go func() {
				v, _ := collect(t, cfg, kafka.LastOffset, 5)
				done <- v
			}()
			// When the reader resolves the end is up to it, so records are
			// written five at a time until it has five: they must be one
			// whole later write.
			for i := 0; ; i++ {
				produce(t, k.Addrs(), tc.topic, 3000+5*i, 5, 5, tc.codec)
				select {
				case v := <-done:
					var n int
					if _, err := fmt.Sscanf(v[0], "v%d", &n); err != nil || n < 3000 || (n-3000)%5 != 0 {
						t.Fatalf("from the end: %v is not one later write", v)
					}
					for j := range v {
						if v[j] != fmt.Sprint("v", n+j) {
							t.Fatalf("from the end: %v is not one later write", v)
						}
					}
					return
				case <-time.After(200 * time.Millisecond):
				}
			}
		})
	}
}

// TestReadRetriesUntilTheBrokerAnswers: a reader started before any
// broker listens reports its failures, keeps trying, and delivers once a
// broker with the records is up; an offset past the end is waited on.
func TestReadRetriesUntilTheBrokerAnswers(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	var failures atomic.Int32
	cfg := config([]string{addr}, "late")
	cfg.OnError = func(error) { failures.Add(1) }
	type result struct {
		values []string
		err    error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		var values []string
		err := Read(ctx, cfg, 10, func(m *Record) bool {
			values = append(values, string(m.Value))
			return len(values) < 3
		})
		done <- result{values, err}
	}()
	for failures.Load() < 2 {
		select {
		case r := <-done:
			t.Fatalf("Read returned %v before any broker listened", r)
		case <-time.After(10 * time.Millisecond):
		}
	}
	k := startKafka(t, addr, "late")
	produce(t, k.Addrs(), "late", 0, 5, 5, 0) // offsets 0-4: the reader waits for 10
	produce(t, k.Addrs(), "late", 5, 10, 5, 0)
	r := <-done
	if r.err != nil || len(r.values) != 3 || r.values[0] != "v10" || r.values[2] != "v12" {
		t.Fatalf("Read = %v, %v; want v10 v11 v12", r.values, r.err)
	}
}

// TestReadEndsWithItsContext: a fetch the broker holds open ends as soon
// as the context does.
func TestReadEndsWithItsContext(t *testing.T) {
	k := startKafka(t, "127.0.0.1:0", "idle")
	cfg := config(k.Addrs(), "idle")
	cfg.MaxWait = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var delivered atomic.Int32
	go func() {
		done <- Read(ctx, cfg, kafka.FirstOffset, func(*Record) bool { delivered.Add(1); return true })
	}()
	produce(t, k.Addrs(), "idle", 0, 1, 1, 0)
	// Once the record is delivered, the reader waits on an empty fetch.
	for deadline := time.Now().Add(10 * time.Second); delivered.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the record was not delivered in 10 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read still waits on its fetch 10 s after its context ended")
	}
}

// TestReadWaitsOnASlowReceiver: a receiver that holds records back for
// longer than the read timeout (a paused partition) costs no failed read,
// no refetch and no record.
func TestReadWaitsOnASlowReceiver(t *testing.T) {
	defer func(d time.Duration) { readTimeout = d }(readTimeout)
	readTimeout = 200 * time.Millisecond
	k := startKafka(t, "127.0.0.1:0", "slow")
	// 2,000 records of 1 KB: a fetch (1 MB) is many reads of the
	// connection, some of them after the receiver held records back.
	w := &kafka.Writer{Addr: kafka.TCP(k.Addrs()...), Topic: "slow", Balancer: toPartition(1), BatchSize: 100,
		BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll}
	defer w.Close()
	msgs := make([]kafka.Message, 2000)
	for i := range msgs {
		msgs[i].Value = make([]byte, 1000)
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	cfg := config(k.Addrs(), "slow")
	cfg.MaxBytes = 1 << 20
	var failures atomic.Int32
	cfg.OnError = func(err error) { failures.Add(1); t.Logf("read failed: %v", err) }
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n int
	err := Read(ctx, cfg, kafka.FirstOffset, func(m *Record) bool {
		if m.Offset != int64(n) {
			t.Fatalf("record %d has offset %d", n, m.Offset)
		}
		n++
		if n == 1 || n == 300 || n == 1500 {
			time.Sleep(2 * readTimeout) // the receiver's backpressure, not synchronisation
		}
		return n < 2000
	})
	if err != nil || n != 2000 {
		t.Fatalf("Read = %v after %d of 2000 records", err, n)
	}
	if f := failures.Load(); f != 0 {
		t.Fatalf("%d reads failed while the receiver was slow", f)
	}
}

// TestReadStepsOverWhatNextSays: Next moves the start of a fetch forward
// (the records between are not delivered) and is told when the reader has
// reached the partition's end.
func TestReadStepsOverWhatNextSays(t *testing.T) {
	k := startKafka(t, "127.0.0.1:0", "steps")
	produce(t, k.Addrs(), "steps", 0, 100, 10, 0)
	cfg := config(k.Addrs(), "steps")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type call struct {
		offset int64
		atEnd  bool
	}
	var calls []call
	cfg.Next = func(_ context.Context, offset int64, atEnd bool) (int64, error) {
		calls = append(calls, call{offset, atEnd})
		if atEnd {
			cancel() // everything is read
		}
		if offset < 50 {
			return 50, nil
		}
		return offset, nil
	}
	var offsets []int64
	err := Read(ctx, cfg, kafka.FirstOffset, func(m *Record) bool {
		offsets = append(offsets, m.Offset)
		return true
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v", err)
	}
	if len(offsets) != 50 || offsets[0] != 50 || offsets[49] != 99 {
		t.Fatalf("delivered offsets %v, want 50 to 99", offsets)
	}
	if calls[0] != (call{0, false}) || calls[len(calls)-1] != (call{100, true}) {
		t.Fatalf("Next calls %v: want (0, false) first and (100, true) last", calls)
	}
}
