package deadletter

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
)

// TestWriterWaitsForTheBroker writes results while no broker listens yet:
// every write fails (the topic's partitions cannot be learnt) and is
// retried, none is reported done; once a broker starts on that address,
// every result is acknowledged and on the topic once. Then results of one
// key written one after another are on the topic in that order (the
// latest is what compaction keeps).
func TestWriterWaitsForTheBroker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	const topic = "results-later"
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ResultsTopic, cfg.DLQTopic = []string{addr}, topic, "dlq-later"
	reg := prometheus.NewRegistry()
	w, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	const n = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		// Two sources, so two keys' worth of order to check.
		r := &event.Result{ID: "e" + strconv.Itoa(i), Source: fmt.Sprintf("/src-%d", i%2), Type: "braze.campaigns.trigger.send",
			Outcome: event.OutcomeSent, CompletedAt: at.Add(time.Duration(i) * time.Second), Workspace: "default"}
		wg.Add(1)
		w.Result(r, AckFunc(func(err error) {
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			wg.Done()
		}))
	}
	failures := w.failures.WithLabelValues(topic)
	deadline := time.Now().Add(20 * time.Second)
	for testutil.ToFloat64(failures) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%v failed writes counted, want at least %d before the broker starts", testutil.ToFloat64(failures), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(errs) > 0 {
		t.Fatalf("%d writes reported done before any broker listened: %v", len(errs), errs[0])
	}
	mu.Unlock()

	k, err := embedded.StartKafka(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := embedded.CreateTopics(ctx, k.Addrs(), embedded.Topic{Name: topic, Partitions: 3, Compacted: true}); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, &wg, 30*time.Second)
	for _, err := range errs {
		if err != nil {
			t.Fatalf("a result write reported %v", err)
		}
	}

	// Every result once.
	seen := map[string]int{}
	for _, m := range readAll(ctx, t, addr, topic) {
		seen[string(m.Key)]++
	}
	if len(seen) != n {
		t.Fatalf("%d results on the topic, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("result %s written %d times", k, c)
		}
	}

	// One key, written in order: on the topic in order.
	const same = 200
	wg = sync.WaitGroup{}
	for i := range same {
		r := &event.Result{ID: "again", Source: "/src-order", Type: "braze.campaigns.trigger.send",
			Outcome: event.OutcomeSent, Attempts: i + 1, CompletedAt: at, Workspace: "default"}
		wg.Add(1)
		w.Result(r, AckFunc(func(err error) {
			if err != nil {
				t.Errorf("write %d: %v", i, err)
			}
			wg.Done()
		}))
	}
	waitGroup(t, &wg, 30*time.Second)
	attempts := 0
	for _, m := range readAll(ctx, t, addr, topic) {
		if string(m.Key) != "/src-order/again" {
			continue
		}
		var r event.Result
		if err := r.UnmarshalJSON(m.Value); err != nil {
			t.Fatal(err)
		}
		if r.Attempts != attempts+1 {
			t.Fatalf("result with attempts %d after %d: not in the order written", r.Attempts, attempts)
		}
		attempts = r.Attempts
	}
	if attempts != same {
		t.Fatalf("%d results of the key on the topic, want %d", attempts, same)
	}
}

// readAll reads every record of every partition of topic, partition by
// partition.
func readAll(ctx context.Context, t *testing.T, addr, topic string) []kafka.Message {
	t.Helper()
	var out []kafka.Message
	for p := range 3 {
		conn, err := kafka.DialLeader(ctx, "tcp", addr, topic, p)
		if err != nil {
			t.Fatal(err)
		}
		end, err := conn.ReadLastOffset()
		_ = conn.Close()
		if err != nil {
			t.Fatal(err)
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for range end {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		_ = r.Close()
	}
	return out
}
