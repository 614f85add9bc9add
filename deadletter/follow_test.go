package deadletter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
)

// TestSyncWaitsForTheTopic: Sync keeps asking while the results topic
// cannot answer (here: it does not exist yet, as on a real broker for a
// moment after it is created) and returns once it can; it gives up only
// when its context ends.
func TestSyncWaitsForTheTopic(t *testing.T) {
	k, _ := startKafka(t, time.Minute)

	tests := []struct {
		name   string
		create bool // create the topic once Sync has failed once
		want   error
	}{
		{name: "topic appears", create: true, want: nil},
		{name: "context ends", create: false, want: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := "sync-" + tc.name
			failed := make(chan struct{}, 1)
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel), zap.Hooks(func(e zapcore.Entry) error {
				if e.Level == zapcore.WarnLevel {
					select {
					case failed <- struct{}{}:
					default:
					}
				}
				return nil
			}))
			f := NewFollower(k.Addrs(), topic, nil, func(*event.Result) {}, log)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.Sync(ctx) }()

			select {
			case <-failed:
			case err := <-done:
				t.Fatalf("Sync returned %v before the topic could answer", err)
			}
			if tc.create {
				if err := embedded.CreateTopics(ctx, k.Addrs(), embedded.Topic{Name: topic, Partitions: 2, Compacted: true}); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Sync = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestFollowerAppliesOthersResults: the follower hands over every result
// written by other processes (and by writers that do not say who they
// are), in each partition's order, skips its own and records that are not
// results, and Sync returns once all of it has been read — also for a
// partition whose records span several fetches.
func TestFollowerAppliesOthersResults(t *testing.T) {
	const topic = "results-follow"
	k, ctx := startKafka(t, 30*time.Second, embedded.Topic{Name: topic, Partitions: 2, Compacted: true})
	own := newTestWriter(t, k, topic)
	me := own.Instance()

	// Partition 0: a mix of writers and of records that are not results.
	// Partition 1: enough results of another process for several fetches.
	var want []string
	var msgs []kafka.Message
	result := func(p int, id, instance string) {
		v, err := (&event.Result{ID: id, Source: "/s", Type: "t", Outcome: event.OutcomeSent, Attempts: 1}).AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := kafka.Message{Topic: topic, Partition: p, Key: []byte("/s/" + id), Value: v}
		if instance != "" {
			m.Headers = []kafka.Header{{Key: HeaderInstance, Value: []byte(instance)}}
		}
		msgs = append(msgs, m)
		if instance != me {
			want = append(want, id)
		}
	}
	result(0, "a1", "other")
	result(0, "a2", me)
	result(0, "a3", "")
	msgs = append(msgs, kafka.Message{Topic: topic, Partition: 0, Key: []byte("junk"), Value: []byte("not json")},
		kafka.Message{Topic: topic, Partition: 0, Key: []byte("tombstone")})
	result(0, "a4", "other")
	for i := range 3000 {
		result(1, fmt.Sprintf("b%04d-%s", i, strings.Repeat("x", 2000)), "other")
	}
	w := &kafka.Writer{Addr: kafka.TCP(k.Addrs()...), Balancer: manual{}, BatchSize: 100, RequiredAcks: kafka.RequireAll}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()

	_, got := followToEnd(t, ctx, k, topic, own)

	// The two partitions are read concurrently: compare each one's order.
	split := func(ids []string) (p0, p1 []string) {
		for _, id := range ids {
			if id[0] == 'a' {
				p0 = append(p0, id)
			} else {
				p1 = append(p1, id)
			}
		}
		return p0, p1
	}
	g0, g1 := split(got)
	w0, w1 := split(want)
	if !slices.Equal(g0, w0) {
		t.Errorf("partition 0: applied %v, want %v", g0, w0)
	}
	if !slices.Equal(g1, w1) {
		t.Errorf("partition 1: applied %d results, want %d in order", len(g1), len(w1))
	}
}

// manual sends each message to the partition it names.
type manual struct{}

func (manual) Balance(m kafka.Message, _ ...int) int { return m.Partition }

// followToEnd runs a Follower of topic that ignores own's results until
// Sync returns, stops it, and returns it with the ids of the results it
// applied, in the order it applied them.
func followToEnd(t *testing.T, ctx context.Context, k *embedded.Kafka, topic string, own *Writer) (*Follower, []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	f := NewFollower(k.Addrs(), topic, nil, func(r *event.Result) {
		mu.Lock()
		got = append(got, r.ID)
		mu.Unlock()
	}, nil)
	f.IgnoreOwn(own)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- f.Run(runCtx) }()
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return f, got
}

// newTestWriter returns a Writer of results to topic (it writes nothing
// unless told).
func newTestWriter(t *testing.T, k *embedded.Kafka, topic string) *Writer {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Brokers, cfg.ResultsTopic = k.Addrs(), topic
	w, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// TestFollowerStepsOverOwnResults: the results this process's writer had
// acknowledged before the follower reached them are not read at all; the
// others are read (own ones known by their header), and another
// process's results are applied in order.
func TestFollowerStepsOverOwnResults(t *testing.T) {
	const topic = "results-steps"
	k, ctx := startKafka(t, 30*time.Second, embedded.Topic{Name: topic, Partitions: 1, Compacted: true})
	own := newTestWriter(t, k, topic)
	writeOwn := func(from, n int) {
		errs := make(chan error, n)
		for i := range n {
			own.Result(&event.Result{ID: fmt.Sprint("own", from+i), Source: "/s", Type: "t", Outcome: event.OutcomeSent, Attempts: 1},
				AckFunc(func(err error) { errs <- err }))
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
	var others []string
	writeOthers := func(n int) {
		w := &kafka.Writer{Addr: kafka.TCP(k.Addrs()...), Topic: topic, RequiredAcks: kafka.RequireAll}
		defer w.Close()
		msgs := make([]kafka.Message, n)
		for i := range msgs {
			id := fmt.Sprint("other", len(others))
			others = append(others, id)
			v, err := (&event.Result{ID: id, Source: "/s", Type: "t", Outcome: event.OutcomeSent, Attempts: 1}).AppendJSON(nil)
			if err != nil {
				t.Fatal(err)
			}
			msgs[i] = kafka.Message{Key: []byte("/s/" + id), Value: v, Headers: []kafka.Header{{Key: HeaderInstance, Value: []byte("other")}}}
		}
		if err := w.WriteMessages(ctx, msgs...); err != nil {
			t.Fatal(err)
		}
	}
	writeOwn(0, 300)   // offsets 0-299: stepped over
	writeOthers(50)    // 300-349: applied
	writeOwn(300, 200) // 350-549: read in the same fetch as the others', known by their header

	f, got := followToEnd(t, ctx, k, topic, own)
	if !slices.Equal(got, others) {
		t.Errorf("applied %v, want %v", got, others)
	}
	if n := f.stepped.Load(); n != 300 {
		t.Errorf("stepped over %d records, want 300", n)
	}
}
