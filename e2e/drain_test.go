package e2e

import (
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/internal/gwtest"
)

// TestGracefulDrain: stopping the gateway (SIGTERM's path) while Braze is
// slow lets the events already handed to Braze finish, commits what
// finished, and returns within the drain deadline; a new gateway then
// delivers the rest, and nothing is delivered twice.
func TestGracefulDrain(t *testing.T) {
	t.Parallel()
	sim := gwtest.SimConfig()
	sim.Faults.Latency = brazetest.Latency{Fixed: 300 * time.Millisecond}
	env := gwtest.New(t, sim)
	const n = 3000
	env.Produce(env.Trigger(), triggers("drain", "c-drain", n)...)
	cfg := env.Config()
	cfg.Dispatcher.Workers = 4 // 4 calls of 50 in flight at a time: the backlog outlasts the stop
	cfg.Drain = 5 * time.Second
	gw := env.Start(cfg)
	gwtest.Eventually(t, 30*time.Second, func() bool { return len(env.Sim.Requests()) >= 4 }, "no call started")

	start := time.Now()
	gw.Stop(t)
	took := time.Since(start)
	if took > cfg.Drain+3*time.Second {
		t.Fatalf("stop took %v; drain deadline is %v", took, cfg.Drain)
	}
	delivered := len(env.Sim.Deliveries())
	t.Logf("stopped in %v with %d of %d delivered", took, delivered, n)
	if delivered >= n {
		t.Fatalf("everything was delivered before the stop; the test proves nothing")
	}
	// Every call Braze answered before the stop is committed: the requests
	// in flight at the stop finished (they were not cut off) and their
	// events are not sent again below.
	for _, q := range env.Sim.Requests() {
		if q.Status == 0 {
			t.Errorf("a call was cut off without an answer during the drain (request %d)", q.Index)
		}
	}

	env.Start(cfg)
	gwtest.Eventually(t, 60*time.Second, func() bool { return len(env.Sim.Deliveries()) >= n },
		"delivered %d of %d after restart", len(env.Sim.Deliveries()), n)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	assertOnce(t, env.Sim, n)
}
