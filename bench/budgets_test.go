// Package bench measures the whole gateway, running in-process against the
// embedded broker and the Braze simulator. The budget benchmarks measure how
// much of Braze's rate budgets the gateway uses and how often Braze has to
// refuse it; docs/budgets.md explains the mechanisms and records results.
//
// Run them with
//
//	go test ./bench/ -run '^$' -bench Budget -benchtime 1x
//
// (add -v to see every line each benchmark logs).
package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/internal/gwtest"
)

// The scaled-down shared budget both the simulator and the gateway use:
// 200 requests per clock-aligned 2 s window (Braze's is 250,000 per hour).
const (
	budgetRequests = 200
	budgetWindow   = 2 * time.Second
	perRequest     = 50 // recipients per full request
	// measuredWindows is how many complete windows each figure covers.
	measuredWindows = 4
	// pacerBurst is the calls the gateway's pacer lets go back to back: 1%
	// of the window's allowance (ratelimit.Config.Burst's default), at
	// least one per replica.
	pacerBurst = budgetRequests / 100
)

// Targets (docs/budgets.md). A missed target fails the benchmark.
const (
	targetOneReplica    = 0.98
	targetThreeReplicas = 0.95
	targetShared        = 0.95
	// targetShared429s is the most 429s the gateway may get in one window
	// while another client spends from the same budget.
	targetShared429s = 3
	// targetLaneRise is how much the high lane's p99 may rise under
	// contention: a few pacing intervals (10 ms each).
	targetLaneRise = 250 * time.Millisecond
)

// BenchmarkBudgetOneReplica runs one gateway on a backlog larger than the
// budget and reports the share of each complete window it used and the
// 429s it received.
func BenchmarkBudgetOneReplica(b *testing.B) {
	for range b.N {
		env := budgetEnv(b)
		n := (measuredWindows + 2) * budgetRequests * perRequest
		env.Produce(env.Trigger(), backlog("u", n)...)
		st := watchStalls(b)
		gw := startGateway(b, budgetConfig(env))

		first := firstRequest(b, env.Sim, time.Time{}, nil)
		from := rules.WindowStart(first, budgetWindow).Add(budgetWindow)
		to := from.Add(measuredWindows * budgetWindow)
		waitAnswered(b, env.Sim, to)
		if d := len(env.Sim.Deliveries()); d >= n {
			b.Fatalf("the backlog ran out before the end of the measurement (%d of %d delivered)", d, n)
		}
		st.end()
		stalls := st.summary(from, to)

		reqs := env.Sim.Requests()
		ws := countWindows(reqs, from, to, nil)
		used, low := utilisation(ws)
		all429 := count429(reqs)
		lost := lostToStalls(reqs, from, to, budgetRequests/budgetWindow.Seconds(), pacerBurst)
		b.ReportMetric(100*used, "pct_used")
		b.ReportMetric(100*low, "pct_used_min")
		b.ReportMetric(float64(all429), "429s")
		b.Logf("one replica: %.1f%% of the budget used over %d complete windows (lowest %.1f%%); %d answers 429 in %d requests",
			100*used, len(ws), 100*low, all429, len(reqs))
		b.Logf("one replica: per window %s; %s", describe(ws), describeStalls(stalls, lost))
		gw.stop(b)
		if used < targetOneReplica || all429 > 0 {
			b.Errorf("target: at least %.0f%% used and no 429; got %.1f%% and %d", 100*targetOneReplica, 100*used, all429)
		}
	}
}

// BenchmarkBudgetThreeReplicas runs three gateways in one consumer group
// (share_by_partitions) on one backlog of the trigger topic. One replica
// starts alone, two more join, and once the assignment is stable the three
// are measured; then one leaves and the remaining two are measured. It
// reports the budget used per window by all together and the 429s in each
// phase, and counts the windows in which the replicas together called more
// often than the budget allows.
func BenchmarkBudgetThreeReplicas(b *testing.B) {
	for range b.N {
		env := budgetEnv(b)
		// About 30 s at up to the whole budget; the rest is left over.
		n := 16 * budgetRequests * perRequest
		env.Produce(env.Trigger(), backlog("u", n)...)
		st := watchStalls(b)
		cfg := budgetConfig(env)

		// Phase 1: one replica alone for a complete window.
		gws := []*gateway{startGateway(b, cfg)}
		first := firstRequest(b, env.Sim, time.Time{}, nil)
		alone := rules.WindowStart(first, budgetWindow).Add(budgetWindow)
		waitUntil(alone.Add(budgetWindow))

		// Phase 2: two more join mid-window; the group rebalances and
		// every replica's share becomes 3 of the 9 partitions.
		joined := time.Now()
		gws = append(gws, startGateway(b, cfg), startGateway(b, cfg))
		waitAssigned(b, gws, 3, 3, 3)
		stable := time.Now()
		from := rules.WindowStart(stable, budgetWindow).Add(budgetWindow)
		to := from.Add(measuredWindows * budgetWindow)
		waitAnswered(b, env.Sim, to)
		limits3 := gaugeOf(gws, "braze_gateway_ratelimit_limit")

		// Phase 3: one replica leaves; the other two hold 6 and 3 partitions.
		left := time.Now()
		gws[2].stop(b)
		waitAssigned(b, gws[:2], 6, 3)
		restable := time.Now()
		from2 := rules.WindowStart(restable, budgetWindow).Add(budgetWindow)
		to2 := from2.Add(3 * budgetWindow)
		waitAnswered(b, env.Sim, to2)
		limits2 := gaugeOf(gws[:2], "braze_gateway_ratelimit_limit")
		if d := len(env.Sim.Deliveries()); d >= n {
			b.Fatalf("the backlog ran out before the end of the measurement (%d of %d delivered)", d, n)
		}
		st.end()

		reqs := env.Sim.Requests()
		one := countWindows(reqs, alone, alone.Add(budgetWindow), nil)
		join := countWindows(reqs, alone.Add(budgetWindow), from, nil)
		three := countWindows(reqs, from, to, nil)
		leave := countWindows(reqs, to, from2, nil)
		two := countWindows(reqs, from2, to2, nil)
		used, low := utilisation(three)
		used2, _ := utilisation(two)
		all := countWindows(reqs, rules.WindowStart(first, budgetWindow), to2, nil)
		over := 0
		for _, w := range all {
			if w.accepted+w.limited > budgetRequests {
				over++
			}
		}
		lost := lostToStalls(reqs, from, to, float64(sum(limits3))/budgetWindow.Seconds(), 3)
		lost2 := lostToStalls(reqs, from2, to2, float64(sum(limits2))/budgetWindow.Seconds(), 2)
		b.ReportMetric(100*used, "pct_used")
		b.ReportMetric(100*low, "pct_used_min")
		b.ReportMetric(float64(limited(three)), "429s")
		b.ReportMetric(float64(limited(join)), "429s_joining")
		b.ReportMetric(float64(limited(leave)+limited(two)), "429s_leaving")
		b.ReportMetric(100*used2, "pct_used_two_left")
		b.ReportMetric(float64(over), "windows_over_budget")
		b.Logf("three replicas: %.1f%% of the budget used over %d complete stable windows (lowest %.1f%%), %d 429s; allowances %v = %v of %d per window",
			100*used, len(three), 100*low, limited(three), limits3, sum(limits3), budgetRequests)
		b.Logf("three replicas: per window %s; %s", describe(three), describeStalls(st.summary(from, to), lost))
		b.Logf("one replica alone first: %s; two joined %v after it started sending and all held 3 partitions %v later; joining windows %s",
			describe(one), joined.Sub(first).Round(100*time.Millisecond), stable.Sub(joined).Round(100*time.Millisecond), describe(join))
		b.Logf("one replica left: the other two held 6 and 3 partitions %v later (allowances %v); leaving windows %s; then %.1f%% used: %s; %s",
			restable.Sub(left).Round(100*time.Millisecond), limits2, describe(leave), 100*used2, describe(two), describeStalls(st.summary(from2, to2), lost2))
		b.Logf("windows in which the replicas together called more often than the budget allows: %d of %d", over, len(all))
		for _, gw := range gws[:2] {
			gw.stop(b)
		}
		if used < targetThreeReplicas || limited(three) > 0 || over > 0 {
			b.Errorf("target: at least %.0f%% used, no 429 and no window over the budget; got %.1f%%, %d and %d",
				100*targetThreeReplicas, 100*used, limited(three), over)
		}
	}
}

// BenchmarkBudgetSharedWithAnotherClient runs one gateway on a backlog
// while another client with the same key spends half of every window from
// its start; the gateway learns of it only from the X-RateLimit-* headers.
func BenchmarkBudgetSharedWithAnotherClient(b *testing.B) {
	for range b.N {
		env := budgetEnv(b)
		n := (measuredWindows + 2) * budgetRequests / 2 * perRequest
		env.Produce(env.Trigger(), backlog("u", n)...)

		other, err := braze.New(braze.Config{BaseURL: env.Sim.URL, APIKey: gwtest.APIKey, Timeout: 5 * time.Second}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { spend(ctx, other, budgetRequests/2) })
		gw := startGateway(b, budgetConfig(env))

		isGateway := func(r *brazetest.Request) bool { return r.Path == "/campaigns/trigger/send" }
		isOther := func(r *brazetest.Request) bool { return r.Path == otherPath }
		first := firstRequest(b, env.Sim, time.Time{}, isGateway)
		from := rules.WindowStart(first, budgetWindow).Add(budgetWindow)
		to := from.Add(measuredWindows * budgetWindow)
		waitAnswered(b, env.Sim, to)
		cancel()
		wg.Wait()
		if d := len(env.Sim.Deliveries()); d >= n {
			b.Fatalf("the backlog ran out before the end of the measurement (%d of %d delivered)", d, n)
		}

		reqs := env.Sim.Requests()
		gws := countWindows(reqs, from, to, isGateway)
		others := countWindows(reqs, from, to, isOther)
		total := make([]window, len(gws))
		worst, otherUsed := 0, 0
		for i := range gws {
			total[i] = window{start: gws[i].start, accepted: gws[i].accepted + others[i].accepted}
			worst = max(worst, gws[i].limited)
			otherUsed += others[i].accepted
		}
		used, low := utilisation(total)
		b.ReportMetric(100*used, "pct_used")
		b.ReportMetric(100*low, "pct_used_min")
		b.ReportMetric(float64(limited(gws))/float64(len(gws)), "429s/window")
		b.ReportMetric(float64(worst), "429s_worst_window")
		b.ReportMetric(float64(limited(others)), "other_429s")
		b.Logf("shared budget: %.1f%% used by both over %d complete windows (lowest %.1f%%); the gateway got %d 429s (at most %d in one window); the other client spent %.1f%% and got %d 429s",
			100*used, len(gws), 100*low, limited(gws), worst, 100*float64(otherUsed)/float64(len(gws)*budgetRequests), limited(others))
		b.Logf("shared budget: gateway per window %s; other client %s", describe(gws), describe(others))
		gw.stop(b)
		if used < targetShared || worst > targetShared429s {
			b.Errorf("target: at least %.0f%% used and at most %d 429s per window; got %.1f%% and %d", 100*targetShared, targetShared429s, 100*used, worst)
		}
	}
}

// BenchmarkBudgetLanes feeds a steady trickle of /messages/send events to
// the highest lane (braze.send, 20 events/s) and, after a baseline with the
// budget idle, a backlog larger than the budget to a lower lane
// (braze.trigger), and reports the latency from producing an event to its
// arrival at Braze, per lane.
func BenchmarkBudgetLanes(b *testing.B) {
	const (
		trickleEvery = 50 * time.Millisecond
		baseline     = 2 * time.Second
		contended    = 8 * time.Second
	)
	for range b.N {
		env := budgetEnv(b)
		gw := startGateway(b, budgetConfig(env))
		ctx, cancel := context.WithCancel(context.Background())
		tr := &trickle{env: env, sent: map[string]time.Time{}}
		var wg sync.WaitGroup
		wg.Go(func() { tr.run(ctx, trickleEvery) })
		first := firstRequest(b, env.Sim, time.Time{}, nil)
		waitUntil(first.Add(baseline))

		n := (int(contended/budgetWindow) + 3) * budgetRequests * perRequest
		msgs := backlog("lo", n)
		backlogAt := time.Now()
		env.Produce(env.Trigger(), msgs...)
		isLow := func(r *brazetest.Request) bool { return r.Path == "/campaigns/trigger/send" }
		firstLow := firstRequest(b, env.Sim, backlogAt, isLow)
		// Contention starts once the lower lane has filled the queues.
		contStart := firstLow.Add(time.Second)
		contEnd := contStart.Add(contended)
		waitUntil(contStart)
		w0 := laneWaits(gw.reg)
		waitUntil(contEnd)
		w1 := laneWaits(gw.reg)
		inflight := gauge(gw.reg, "braze_gateway_inflight_events")
		cancel()
		wg.Wait()
		if err := tr.error(); err != nil {
			b.Fatal(err)
		}
		sent := tr.snapshot()
		gwtest.Eventually(b, 30*time.Second, func() bool {
			for id := range sent {
				if env.Sim.DeliveryCount("external_user_id:"+id) == 0 {
					return false
				}
			}
			return true
		}, "not every braze.send event reached the simulator")

		var highIdle, highBusy, low []time.Duration
		for _, d := range env.Sim.Deliveries() {
			id := strings.TrimPrefix(d.Recipient, "external_user_id:")
			if at, ok := sent[id]; ok {
				switch {
				case !at.Before(first) && at.Before(backlogAt):
					highIdle = append(highIdle, d.Time.Sub(at))
				case !at.Before(contStart) && at.Before(contEnd):
					highBusy = append(highBusy, d.Time.Sub(at))
				}
			} else if strings.HasPrefix(id, "lo-") {
				low = append(low, d.Time.Sub(backlogAt))
			}
		}
		if len(low) >= n {
			b.Fatalf("the lower lane's backlog ran out during the measurement")
		}
		if len(highIdle) == 0 || len(highBusy) == 0 || len(low) == 0 {
			b.Fatalf("too few samples: %d idle and %d contended high-lane events, %d low-lane", len(highIdle), len(highBusy), len(low))
		}
		reqs := env.Sim.Requests()
		ws := countWindows(reqs, rules.WindowStart(contStart, budgetWindow).Add(budgetWindow), rules.WindowStart(contEnd, budgetWindow), nil)
		used, _ := utilisation(ws)
		hi50, hi99 := percentile(highIdle, 0.5), percentile(highIdle, 0.99)
		hb50, hb99 := percentile(highBusy, 0.5), percentile(highBusy, 0.99)
		l50, l99 := percentile(low, 0.5), percentile(low, 0.99)
		b.ReportMetric(ms(hi50), "high_p50_idle_ms")
		b.ReportMetric(ms(hi99), "high_p99_idle_ms")
		b.ReportMetric(ms(hb50), "high_p50_ms")
		b.ReportMetric(ms(hb99), "high_p99_ms")
		b.ReportMetric(ms(l50), "low_p50_ms")
		b.ReportMetric(ms(l99), "low_p99_ms")
		b.ReportMetric(100*used, "pct_used")
		b.Logf("lanes: braze.send (lane 0) produce→Braze p50/p99 %v/%v with the budget idle (%d events), %v/%v under contention (%d events)",
			hi50.Round(time.Millisecond), hi99.Round(time.Millisecond), len(highIdle), hb50.Round(time.Millisecond), hb99.Round(time.Millisecond), len(highBusy))
		b.Logf("lanes: braze.trigger (lane 1) backlog p50/p99 %v/%v (%d recipients sent); %.1f%% of the budget used during the contention: %s",
			l50.Round(time.Millisecond), l99.Round(time.Millisecond), len(low), 100*used, describe(ws))
		wait0, wait1 := w1[0].minus(w0[0]), w1[1].minus(w0[1])
		b.ReportMetric(ms(wait0.mean()), "high_wait_in_limiter_ms")
		b.Logf("lanes: under contention a call waited in the rate limiter %v on average in lane 0 (%d calls), %v in lane 1 (%d calls); the rest of lane 0's latency is spent before the limiter; %.0f events in flight at the end",
			wait0.mean().Round(time.Millisecond), wait0.count, wait1.mean().Round(time.Millisecond), wait1.count, inflight)
		gw.stop(b)
		if hb99 > hi99+targetLaneRise {
			b.Errorf("target: the high lane's p99 under contention within %v of its idle p99 (%v); got %v",
				targetLaneRise, hi99.Round(time.Millisecond), hb99.Round(time.Millisecond))
		}
	}
}

// budgetEnv starts a simulator that enforces the scaled-down budget.
func budgetEnv(b *testing.B) *gwtest.Env {
	b.Helper()
	sim := gwtest.SimConfig()
	sim.Limits = map[rules.Budget]rules.Limit{
		rules.BudgetShared: {Budget: rules.BudgetShared, Requests: budgetRequests, Window: budgetWindow},
	}
	sim.DropBodies = true
	return gwtest.New(b, sim)
}

// budgetConfig is a gateway configuration with the same budget.
func budgetConfig(env *gwtest.Env) app.Config {
	cfg := env.Config()
	cfg.RateLimit.Limits = map[string]app.LimitConfig{
		string(rules.BudgetShared): {Requests: budgetRequests, Window: budgetWindow},
	}
	// The backlog left at the end is abandoned: do not wait long for it.
	cfg.Drain = 500 * time.Millisecond
	return cfg
}

// gateway is a gateway running in-process. Unlike gwtest's, it logs only
// errors, so that the expected warnings of a stop with a backlog (events
// handed back) do not crowd out the benchmark's own lines.
type gateway struct {
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

func startGateway(b *testing.B, cfg app.Config) *gateway {
	b.Helper()
	reg := prometheus.NewRegistry()
	g, err := app.New(cfg, zaptest.NewLogger(b, zaptest.Level(zap.ErrorLevel)), reg)
	if err != nil {
		b.Fatalf("gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw := &gateway{reg: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { gw.done <- g.Run(ctx) }()
	b.Cleanup(func() { gw.stop(b) })
	return gw
}

func (gw *gateway) stop(b *testing.B) {
	b.Helper()
	if gw.stopped {
		return
	}
	gw.stopped = true
	gw.cancel()
	select {
	case err := <-gw.done:
		if err != nil {
			b.Errorf("gateway returned %v", err)
		}
	case <-time.After(30 * time.Second):
		b.Errorf("gateway did not stop within 30s")
	}
}

// waitAssigned waits until the gateways hold the given numbers of
// partitions, in any order.
func waitAssigned(b *testing.B, gws []*gateway, want ...int) {
	b.Helper()
	slices.Sort(want)
	gwtest.Eventually(b, 90*time.Second, func() bool {
		got := make([]int, len(gws))
		for i, gw := range gws {
			got[i] = int(gauge(gw.reg, "braze_gateway_assigned_partitions"))
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	}, "the replicas did not settle on %v partitions", want)
}

// backlog returns n single-recipient trigger events of one campaign for
// distinct users prefix-0 … prefix-(n-1), keyed by user, so that the
// gateway can fill every request with 50 recipients.
func backlog(prefix string, n int) []kafka.Message {
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		user := fmt.Sprintf("%s-%d", prefix, i)
		msgs[i] = gwtest.Trigger("ev-"+user, "campaign-budget", user).Structured(user)
	}
	return msgs
}

// firstRequest waits for the first request at or after since that keep
// accepts (any request when keep is nil) and returns its arrival time.
func firstRequest(b *testing.B, sim *brazetest.Server, since time.Time, keep func(*brazetest.Request) bool) time.Time {
	b.Helper()
	var at time.Time
	gwtest.Eventually(b, 60*time.Second, func() bool {
		for _, r := range sim.Requests() {
			if !r.Time.Before(since) && (keep == nil || keep(&r)) {
				at = r.Time
				return true
			}
		}
		return false
	}, "no request reached the simulator")
	return at
}

// waitAnswered waits until the clock has passed t and every request that
// arrived before t has been answered.
func waitAnswered(b *testing.B, sim *brazetest.Server, t time.Time) {
	b.Helper()
	waitUntil(t)
	gwtest.Eventually(b, 10*time.Second, func() bool {
		for _, r := range sim.Requests() {
			if r.Time.Before(t) && r.Status == 0 {
				return false
			}
		}
		return true
	}, "requests made before %v are still unanswered", t)
}

// waitUntil returns once the clock has reached t: the measurements cover
// fixed periods of the wall clock, as Braze's windows do.
func waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		<-time.After(d)
	}
}

// window is what the simulator answered in one budget window.
type window struct {
	start    time.Time
	accepted int // 2xx: charged to the budget
	limited  int // 429
	other    int // any other answer (none expected)
}

// countWindows counts the requests that keep accepts (all if nil) per
// window, for the windows in [from, to).
func countWindows(reqs []brazetest.Request, from, to time.Time, keep func(*brazetest.Request) bool) []window {
	var ws []window
	for s := from; s.Before(to); s = s.Add(budgetWindow) {
		ws = append(ws, window{start: s})
	}
	for i := range reqs {
		r := &reqs[i]
		if r.Time.Before(from) || !r.Time.Before(to) || (keep != nil && !keep(r)) {
			continue
		}
		w := &ws[int(r.Time.Sub(from)/budgetWindow)]
		switch {
		case r.Status >= 200 && r.Status < 300:
			w.accepted++
		case r.Status == 429:
			w.limited++
		default:
			w.other++
		}
	}
	return ws
}

// count429 counts the 429 answers among reqs.
func count429(reqs []brazetest.Request) int {
	n := 0
	for i := range reqs {
		if reqs[i].Status == 429 {
			n++
		}
	}
	return n
}

// limited sums the 429s of ws.
func limited(ws []window) int {
	n := 0
	for _, w := range ws {
		n += w.limited
	}
	return n
}

// utilisation returns the mean and the lowest share of the budget accepted
// per window.
func utilisation(ws []window) (mean, lowest float64) {
	if len(ws) == 0 {
		return 0, 0
	}
	lowest = math.Inf(1)
	total := 0
	for _, w := range ws {
		total += w.accepted
		lowest = min(lowest, float64(w.accepted)/budgetRequests)
	}
	return float64(total) / float64(len(ws)*budgetRequests), lowest
}

// describe lists the accepted calls and 429s of each window, e.g.
// "[200 198/1]" (198 accepted and one 429 in the second window).
func describe(ws []window) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprint(w.accepted)
		if w.limited > 0 {
			parts[i] += fmt.Sprintf("/%d", w.limited)
		}
		if w.other > 0 {
			parts[i] += fmt.Sprintf("(+%d other)", w.other)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// lostToStalls estimates, per window in [from, to), the calls the gateway's
// pacer could not make because no call left the process: a gap g between
// two arrivals at the simulator (or a window's edge) held g·rate calls of
// pacing, of which the token bucket keeps only burst.
func lostToStalls(reqs []brazetest.Request, from, to time.Time, rate float64, burst int) []int {
	var lost []int
	for s := from; s.Before(to); s = s.Add(budgetWindow) {
		end := s.Add(budgetWindow)
		times := []time.Time{s}
		for _, r := range reqs {
			if !r.Time.Before(s) && r.Time.Before(end) {
				times = append(times, r.Time)
			}
		}
		slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
		times = append(times, end)
		n := 0
		for i := 1; i < len(times); i++ {
			n += max(int(times[i].Sub(times[i-1]).Seconds()*rate)-burst, 0)
		}
		lost = append(lost, n)
	}
	return lost
}

// stallWatch measures how late a 5 ms timer fires in this process: when the
// process does not get the CPU (the machine is shared), neither does the
// gateway's pacer.
type stallWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	stalls []stall
}

type stall struct {
	at   time.Time
	late time.Duration
}

// stallSummary counts the stalls longer than the pacer's burst (20 ms)
// in a measured period.
type stallSummary struct {
	count   int
	total   time.Duration
	longest time.Duration
}

func watchStalls(b *testing.B) *stallWatch {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stallWatch{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		const tick = 5 * time.Millisecond
		t := time.NewTimer(tick)
		defer t.Stop()
		for {
			start := time.Now()
			t.Reset(tick)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if late := time.Since(start) - tick; late > 20*time.Millisecond {
				s.mu.Lock()
				s.stalls = append(s.stalls, stall{start, late})
				s.mu.Unlock()
			}
		}
	}()
	b.Cleanup(s.end)
	return s
}

// end stops the watch.
func (s *stallWatch) end() {
	s.cancel()
	<-s.done
}

// summary summarises the stalls that began in [from, to).
func (s *stallWatch) summary(from, to time.Time) stallSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sum stallSummary
	for _, st := range s.stalls {
		if !st.at.Before(from) && st.at.Before(to) {
			sum.count++
			sum.total += st.late
			sum.longest = max(sum.longest, st.late)
		}
	}
	return sum
}

func describeStalls(s stallSummary, lost []int) string {
	return fmt.Sprintf("process stalls over 20 ms: %d, %v in all, longest %v; calls the pacer lost to gaps (estimate) %v",
		s.count, s.total.Round(time.Millisecond), s.longest.Round(time.Millisecond), lost)
}

// otherPath is the endpoint the other client calls: it draws from the same
// shared budget as the gateway's /campaigns/trigger/send, and its path tells
// the two clients' requests apart in the simulator's record.
const otherPath = "/canvas/trigger/send"

// spend is another system using the same API key: from the start of every
// window it makes one call every 10 ms until quota calls were accepted,
// and it waits for the reset after a 429.
func spend(ctx context.Context, c *braze.Client, quota int) {
	body := []byte(`{"canvas_id":"canvas-other","recipients":[{"external_user_id":"other-client"}]}`)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var win, pausedUntil time.Time
	accepted := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		now := time.Now()
		if w := rules.WindowStart(now, budgetWindow); !w.Equal(win) {
			win, accepted = w, 0
		}
		if accepted >= quota || now.Before(pausedUntil) {
			continue
		}
		_, err := c.Post(ctx, otherPath, body)
		var be *braze.Error
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &be) && be.RateLimited():
			if at, ok := be.RetryAt(time.Now()); ok {
				pausedUntil = at
			}
		}
	}
}

// trickle produces single-recipient /messages/send events to braze.send at
// a steady pace, each stamped with its produce time.
type trickle struct {
	env *gwtest.Env

	mu   sync.Mutex
	sent map[string]time.Time // user → produce time
	err  error
}

func (tr *trickle) run(ctx context.Context, every time.Duration) {
	w := &kafka.Writer{
		Addr:         kafka.TCP(tr.env.Brokers...),
		Topic:        tr.env.Send(),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchTimeout: time.Millisecond,
	}
	defer w.Close()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		user := fmt.Sprintf("hi-%d", i)
		now := time.Now()
		ev := gwtest.Event{ID: "ev-" + user, Source: "/bench", Type: "braze.messages.send", Time: now,
			Data: map[string]any{
				"external_user_ids": []string{user},
				"messages":          map[string]any{"apple_push": map[string]any{"alert": "Your parcel is on its way."}},
			}}
		wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := w.WriteMessages(wctx, ev.Structured(user))
		cancel()
		tr.mu.Lock()
		if err != nil {
			tr.err = fmt.Errorf("produce %s: %w", user, err)
			tr.mu.Unlock()
			return
		}
		tr.sent[user] = now
		tr.mu.Unlock()
	}
}

func (tr *trickle) error() error {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.err
}

func (tr *trickle) snapshot() map[string]time.Time {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make(map[string]time.Time, len(tr.sent))
	for k, v := range tr.sent {
		out[k] = v
	}
	return out
}

// gauge sums every series of the metric name in reg (a counter or gauge).
func gauge(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return math.NaN()
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			total += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return total
}

// waits is a snapshot of the rate-limit wait histogram of one lane.
type waits struct {
	sum   float64 // seconds
	count uint64
}

func (w waits) minus(o waits) waits { return waits{w.sum - o.sum, w.count - o.count} }

func (w waits) mean() time.Duration {
	if w.count == 0 {
		return 0
	}
	return time.Duration(w.sum / float64(w.count) * float64(time.Second))
}

// laneWaits reads braze_gateway_ratelimit_wait_seconds per lane (0 and 1).
func laneWaits(reg *prometheus.Registry) [2]waits {
	var out [2]waits
	mfs, err := reg.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "braze_gateway_ratelimit_wait_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "lane" && (l.GetValue() == "0" || l.GetValue() == "1") {
					i := int(l.GetValue()[0] - '0')
					out[i].sum += m.GetHistogram().GetSampleSum()
					out[i].count += m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return out
}

// gaugeOf reads gauge name of each gateway.
func gaugeOf(gws []*gateway, name string) []int {
	out := make([]int, len(gws))
	for i, gw := range gws {
		out[i] = int(gauge(gw.reg, name))
	}
	return out
}

func sum(xs []int) int {
	t := 0
	for _, x := range xs {
		t += x
	}
	return t
}

// percentile returns the q-quantile of ds (nearest rank).
func percentile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
