package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/embedded"
)

// refWorld is a broker with n backlog events pre-loaded on partitions,
// and the simulator.
type refWorld struct {
	k   *embedded.Kafka
	sim *brazetest.Server
	e   *env
	ts  topicSet
}

func newRefWorld(t *testing.T, ctx context.Context, partitions, n int) *refWorld {
	t.Helper()
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	sim := brazetest.NewServer(brazetest.Config{
		Workspaces: []brazetest.Workspace{{Name: "default", APIKeys: []brazetest.APIKey{{Key: apiKey}}, AcceptUnknownIDs: true}},
	})
	t.Cleanup(sim.Close)
	w := &refWorld{k: k, sim: sim, e: &env{opts: options{users: 1000}, log: io.Discard, brokers: k.Addrs()}, ts: newTopicSet(partitions)}
	if err := w.e.createTopics(ctx, w.ts); err != nil {
		t.Fatal(err)
	}
	if err := w.e.preload(ctx, w.ts, n); err != nil {
		t.Fatal(err)
	}
	return w
}

// reader is the reader the reference pipeline runs with in the bench.
func (w *refWorld) reader() *kafka.Reader {
	return newChildReader(strings.Join(w.k.Addrs(), ","), w.ts.input, w.ts.baselineGroup)
}

// TestReferencePipeline runs the reference pipeline over 120 backlog events
// on three partitions: every recipient reaches the simulator once, in
// requests of at most 50, and every offset is committed.
func TestReferencePipeline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 120
	w := newRefWorld(t, ctx, 3, n)
	snk := &sink{next: w.sim.Handler()}
	srv := httptest.NewServer(snk)
	defer srv.Close()
	r := w.reader()
	first, last, err := runReference(ctx, r, n, &refPoster{url: srv.URL + "/campaigns/trigger/send", key: apiKey, client: http.DefaultClient})
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if !last.After(first) {
		t.Errorf("first %v, last %v", first, last)
	}
	if got := snk.recipients.Load(); got != n {
		t.Errorf("the simulator received %d recipients, want %d", got, n)
	}
	if req := snk.requests.Load(); req < n/refBatch+1 || req > n/refBatch+3 {
		t.Errorf("%d requests for %d recipients", req, n)
	}
	var users int
	for _, d := range w.sim.Stats().Deliveries {
		users += int(d.Count)
	}
	if users != n {
		t.Errorf("the simulator delivered to %d recipients, want %d", users, n)
	}
	if err := w.e.waitCommitted(ctx, w.ts, w.ts.baselineGroup, n, time.Now().Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestReferencePipelineFailsOnRejection: a request Braze refuses (a wrong
// key) ends the run with its error, not a hang.
func TestReferencePipelineFailsOnRejection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newRefWorld(t, ctx, 1, 60)
	r := w.reader()
	defer r.Close()
	_, _, err := runReference(ctx, r, 60, &refPoster{url: w.sim.URL + "/campaigns/trigger/send", key: "wrong", client: http.DefaultClient})
	if err == nil || !strings.Contains(err.Error(), "401") || ctx.Err() != nil {
		t.Fatalf("runReference = %v (context: %v)", err, ctx.Err())
	}
}

// TestReferencePipelineStopped: when the caller's context ends before
// every event is committed (here Braze never answers), the run fails; it
// never reports success for what it did not deliver.
func TestReferencePipelineStopped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newRefWorld(t, ctx, 1, 60)
	stuck := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		select {
		case <-stuck:
		case <-req.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(stuck)
	r := w.reader()
	defer r.Close()
	short, stop := context.WithTimeout(ctx, 2*time.Second)
	defer stop()
	_, _, err := runReference(short, r, 60, &refPoster{url: srv.URL + "/campaigns/trigger/send", key: apiKey, client: http.DefaultClient})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("runReference = %v (context: %v)", err, ctx.Err())
	}
}

// TestReportAgainstReference: the report sets each gateway run against the
// reference pipeline of the same run, and neither the baseline nor the
// reference against themselves.
func TestReportAgainstReference(t *testing.T) {
	mk := func(name string, perEvent time.Duration, active time.Duration) result {
		return result{name: name, n: 1000, cpu: 1000 * perEvent, active: active, peakRSS: 100 << 20}
	}
	out := printReport(io.Discard, "test machine", []result{
		mk("baseline", 3*time.Microsecond, 250*time.Millisecond),
		mk("reference", 20*time.Microsecond, 2*time.Second),
		mk("backlog", 9*time.Microsecond, time.Second),
	})
	_, ref, ok := strings.Cut(out, "Against the reference pipeline")
	if !ok {
		t.Fatalf("no comparison with the reference:\n%s", out)
	}
	if !strings.Contains(ref, "| backlog | 2.00 | 0.45 | 1.00 |") {
		t.Errorf("backlog against the reference is wrong:\n%s", out)
	}
	if strings.Contains(ref, "| reference |") || strings.Contains(ref, "| baseline |") {
		t.Errorf("the reference or the baseline is compared with the reference:\n%s", out)
	}
	if _, base, _ := strings.Cut(out, "Ratios to the kafka-go baseline"); strings.Contains(base, "| reference |") {
		t.Errorf("the reference is reported as a gateway run:\n%s", out)
	}
	// Two references around the gateway's run are pooled: 20 and 16 µs
	// per event over 1,000 events each make 18.
	out = printReport(io.Discard, "test machine", []result{
		mk("reference", 20*time.Microsecond, 2*time.Second),
		mk("backlog", 9*time.Microsecond, time.Second),
		mk("reference", 16*time.Microsecond, 2*time.Second),
	})
	if !strings.Contains(out, "| backlog | 2.00 | 0.50 | 1.00 |") || !strings.Contains(out, "reference, 18.00 µs per event") {
		t.Errorf("two references are not pooled:\n%s", out)
	}
}
