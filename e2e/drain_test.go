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

// TestDrainWhileRateLimited: a stop while every budget waits for Braze's
// reset (a 429 storm with a reset an hour away) still ends within the drain
// deadline; nothing is dead-lettered and the events are read again later.
func TestDrainWhileRateLimited(t *testing.T) {
	t.Parallel()
	sim := gwtest.SimConfig()
	sim.Faults.Storm429 = &brazetest.Storm{Until: time.Now().Add(time.Hour)}
	env := gwtest.New(t, sim)
	env.Produce(env.Trigger(), triggers("ratedrain", "c-ratedrain", 200)...)
	cfg := env.Config()
	cfg.Drain = 3 * time.Second
	gw := env.Start(cfg)
	gwtest.Eventually(t, 30*time.Second, func() bool {
		for _, q := range env.Sim.Requests() {
			if q.Status == 429 {
				return true
			}
		}
		return false
	}, "no 429 answered")
	start := time.Now()
	gw.Stop(t)
	if took := time.Since(start); took > cfg.Drain+3*time.Second {
		t.Fatalf("stop took %v with budgets paused; drain deadline is %v", took, cfg.Drain)
	}
	if dl := env.ReadNow(env.DLQ()); len(dl) != 0 {
		t.Fatalf("%d events dead-lettered for a rate limit", len(dl))
	}
}
