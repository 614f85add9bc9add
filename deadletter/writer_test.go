package deadletter

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
)

// TestWriterResults writes results in numbers that fill a produce batch,
// leave a partial one waiting for the linger, a second wave in the buffers
// of the first, and some left for Close (which must send them), and checks
// that every done callback reports success, every record is on the topic
// once with the key source/id and the value json.Marshal gives, and the
// counter counts them.
func TestWriterResults(t *testing.T) {
	const topic = "results-writer"
	k, ctx := startKafka(t, time.Minute, embedded.Topic{Name: topic, Partitions: 3, Compacted: true},
		embedded.Topic{Name: "dlq-writer", Partitions: 3})
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ResultsTopic, cfg.DLQTopic = k.Addrs(), topic, "dlq-writer"
	reg := prometheus.NewRegistry()
	w, err := New(cfg, nil, reg)
	if err != nil {
		t.Fatal(err)
	}

	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	want := map[string]string{}
	var mu sync.Mutex
	var doneErrs []error
	var wg sync.WaitGroup
	var writeID func(id string)
	write := func(i int) { writeID(fmt.Sprintf("e%d", i)) }
	writeID = func(id string) {
		r := &event.Result{ID: id, Source: "/test", Type: "braze.campaigns.trigger.send",
			Outcome: event.OutcomeSent, Attempts: 1, BatchSize: 50, CompletedAt: at, Workspace: "default"}
		v, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want[event.ResultKey(r.Source, r.ID)] = string(v)
		wg.Add(1)
		w.Result(r, AckFunc(func(err error) {
			mu.Lock()
			doneErrs = append(doneErrs, err)
			mu.Unlock()
			wg.Done()
		}))
	}
	n := 0
	for range 3*maxBatch + 10 { // full batches on some partitions, partial ones lingering
		write(n)
		n++
	}
	waitGroup(t, &wg, 30*time.Second)
	// Acknowledged records' buffers are kept (each is put back just after
	// its callback; records of the first wave already reused some)...
	freeBuffers := func() int {
		w.bufs.mu.Lock()
		defer w.bufs.mu.Unlock()
		return len(w.bufs.free)
	}
	for deadline := time.Now().Add(10 * time.Second); freeBuffers() == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("no buffer kept after %d acknowledged results", n)
		}
		time.Sleep(5 * time.Millisecond) // polling: puts follow the callbacks
	}
	// ...so records of this second wave reuse the buffers of acknowledged
	// ones, some with ids too long for them.
	for i := range maxBatch + 7 {
		writeID(fmt.Sprintf("second-%d-%s", i, strings.Repeat("x", i%700)))
		n++
	}
	waitGroup(t, &wg, 30*time.Second)
	for range 3 { // left for Close
		write(n)
		n++
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitGroup(t, &wg, 30*time.Second)
	for _, err := range doneErrs {
		if err != nil {
			t.Fatalf("a result write reported %v", err)
		}
	}
	if len(doneErrs) != n {
		t.Fatalf("%d done callbacks for %d results", len(doneErrs), n)
	}
	if got := testutil.ToFloat64(w.written.WithLabelValues(topic)); got != float64(n) {
		t.Fatalf("braze_gateway_output_records_total{topic=%q} = %v, want %d", topic, got, n)
	}

	got := map[string]string{}
	for p := range 3 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Addrs(), Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		last, err := kafka.DialLeader(ctx, "tcp", k.Addrs()[0], topic, p)
		if err != nil {
			t.Fatal(err)
		}
		end, err := last.ReadLastOffset()
		_ = last.Close()
		if err != nil {
			t.Fatal(err)
		}
		for range end {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := got[string(m.Key)]; dup {
				t.Fatalf("result %s written twice", m.Key)
			}
			got[string(m.Key)] = string(m.Value)
		}
		_ = r.Close()
	}
	if len(got) != len(want) {
		t.Fatalf("%d results on the topic, want %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("result %s = %s, want %s", k, got[k], v)
		}
	}

	// After Close, writes fail at once instead of hanging.
	errc := make(chan error, 1)
	w.Result(&event.Result{ID: "late", Source: "/test", CompletedAt: at}, AckFunc(func(err error) { errc <- err }))
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("a write after Close succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a write after Close never completed")
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("writes not acknowledged within %v", d)
	}
}

// TestFailedWritesWarnOncePerSecond: a burst of failed writes is one
// warning, and the next one counts those it stood for.
func TestFailedWritesWarnOncePerSecond(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	log := zap.New(core)
	o := &output{producer: &producer{topic: "results"}}
	for range 1000 {
		o.warnFailed(log, 1, errors.New("broker away"))
	}
	if n := logs.Len(); n != 1 {
		t.Fatalf("%d warnings for a burst of 1,000 failures, want 1", n)
	}
	o.lastWarn = o.lastWarn.Add(-warnEvery) // a second later
	o.warnFailed(log, 2, errors.New("broker away"))
	entries := logs.All()
	if len(entries) != 2 {
		t.Fatalf("%d warnings, want 2", len(entries))
	}
	if got := entries[1].ContextMap()["failures_not_logged"]; got != int64(999) {
		t.Fatalf("failures_not_logged = %v, want 999", got)
	}
}
