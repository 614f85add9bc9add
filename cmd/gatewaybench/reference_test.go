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

// TestReferencePipeline runs the reference pipeline over 120 backlog events
// on three partitions: every recipient reaches the simulator once, in
// requests of at most 50, and every offset is committed.
func TestReferencePipeline(t *testing.T) {
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	sim := brazetest.NewServer(brazetest.Config{
		Workspaces: []brazetest.Workspace{{Name: "default", APIKeys: []brazetest.APIKey{{Key: apiKey}}, AcceptUnknownIDs: true}},
	})
	defer sim.Close()
	snk := &sink{next: sim.Handler()}
	srv := httptest.NewServer(snk)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &env{opts: options{users: 1000}, log: io.Discard, brokers: k.Addrs()}
	ts := newTopicSet(3)
	if err := e.createTopics(ctx, ts); err != nil {
		t.Fatal(err)
	}
	const n = 120
	if err := e.preload(ctx, ts, n); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: k.Addrs(), GroupID: ts.baselineGroup, Topic: ts.input,
		MaxWait: 100 * time.Millisecond, CommitInterval: 100 * time.Millisecond, StartOffset: kafka.FirstOffset,
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
	})
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
	for _, d := range sim.Stats().Deliveries {
		users += int(d.Count)
	}
	if users != n {
		t.Errorf("the simulator delivered to %d recipients, want %d", users, n)
	}
	if err := e.waitCommitted(ctx, ts, ts.baselineGroup, n, time.Now().Add(20*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// TestReferencePipelineFailsOnRejection: a request Braze refuses (a wrong
// key) ends the run with its error, not a hang.
func TestReferencePipelineFailsOnRejection(t *testing.T) {
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	sim := brazetest.NewServer(brazetest.Config{
		Workspaces: []brazetest.Workspace{{Name: "default", APIKeys: []brazetest.APIKey{{Key: apiKey}}, AcceptUnknownIDs: true}},
	})
	defer sim.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e := &env{opts: options{users: 1000}, log: io.Discard, brokers: k.Addrs()}
	ts := newTopicSet(1)
	if err := e.createTopics(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if err := e.preload(ctx, ts, 60); err != nil {
		t.Fatal(err)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: k.Addrs(), GroupID: ts.baselineGroup, Topic: ts.input,
		MaxWait: 100 * time.Millisecond, StartOffset: kafka.FirstOffset})
	defer r.Close()
	_, _, err = runReference(ctx, r, 60, &refPoster{url: sim.URL + "/campaigns/trigger/send", key: "wrong", client: http.DefaultClient})
	if err == nil || ctx.Err() != nil {
		t.Fatalf("runReference = %v (context: %v)", err, ctx.Err())
	}
	t.Log(err)
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
