//go:build linux

package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/gwtest"
)

// Tests only a real Apache Kafka cluster can give: gateway replicas killed
// and added, a broker restarted, a partition leader moved, min ISR with
// acks=all, and log compaction of the results topic. They run when
// KAFKA_BROKERS, KAFKA_SCRIPT_DIR and KAFKA_NODES describe a cluster started
// by scripts/kafka.sh (see docs/kafka.md); .ci/run starts one node, then
// three, and runs them. Without such a cluster they are skipped: neither
// the embedded broker nor a cluster the test cannot restart can give them.

// clusterSeed returns the seed of a test's random choices (CLUSTER_SEED, or
// the clock) and logs how to repeat it.
func clusterSeed(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CLUSTER_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CLUSTER_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (set CLUSTER_SEED=%d to repeat it)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0xc105))
}

// replicaKey is the Braze API key of gateway replica i. The simulator maps
// each key to its own workspace, named replicaName(i), so every delivery
// says which replica made it.
func replicaKey(i int) string { return fmt.Sprintf("%s-replica-%d", gwtest.APIKey, i) }

func replicaName(i int) string { return fmt.Sprintf("replica-%d", i) }

// replicaSim is a simulator with one workspace per replica that accepts any
// campaign, answers after 2–10 ms and fails 3 % of the calls with 503.
func replicaSim(replicas int) brazetest.Config {
	var cfg brazetest.Config
	for i := 1; i <= replicas; i++ {
		cfg.Workspaces = append(cfg.Workspaces, brazetest.Workspace{
			Name: replicaName(i), APIKeys: []brazetest.APIKey{{Key: replicaKey(i)}}, AcceptUnknownIDs: true})
	}
	cfg.DropBodies = true
	cfg.Faults = brazetest.Faults{
		ErrorRate: map[int]float64{503: 0.03},
		Latency:   brazetest.Latency{Fixed: 2 * time.Millisecond, Jitter: 8 * time.Millisecond},
	}
	return cfg
}

// clusterGatewayConfig is the configuration of a gateway child process on
// a real cluster, calling the simulator as replica i: that of the crash
// test (killedGatewayConfig: short group timeouts, since a killed member
// holds up the next rebalance until its session times out, and
// kafka.max_inflight 200, which bounds the duplicates of a kill).
func clusterGatewayConfig(env *gwtest.Env, replica int) app.Config {
	cfg := killedGatewayConfig(env)
	cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: env.Sim.URL, APIKey: replicaKey(replica), Timeout: 5 * time.Second}}
	return cfg
}

// stream publishes single-recipient trigger events for distinct users,
// keyed by user, a chunk per tick, until stopped: the traffic that flows
// while a test kills, adds and restarts things. A chunk that fails (the
// broker is away) is retried, message by message, until the broker
// acknowledges it, so the events 0..Acked()-1 are all in the topic.
type stream struct {
	prefix string
	stop   chan struct{}
	done   chan struct{}

	mu       sync.Mutex
	acked    int
	failures int
	err      error
}

// startStream starts a stream of chunk events per tick of every, whose
// ids and users begin with prefix; it stops when the test ends at the latest.
func startStream(t *testing.T, env *gwtest.Env, prefix string, chunk int, every time.Duration) *stream {
	t.Helper()
	return startStreamAfter(t, env, prefix, 0, chunk, every)
}

// startStreamAfter publishes a backlog of events first (and waits for the
// broker's acknowledgement), then streams as startStream.
func startStreamAfter(t *testing.T, env *gwtest.Env, prefix string, backlog, chunk int, every time.Duration) *stream {
	t.Helper()
	s := &stream{prefix: prefix, stop: make(chan struct{}), done: make(chan struct{}), acked: backlog}
	if backlog > 0 {
		msgs := make([]kafka.Message, backlog)
		for i := range msgs {
			msgs[i] = gwtest.Trigger(s.id(i), "c-cluster", s.user(i)).Structured(s.user(i))
		}
		env.Produce(env.Trigger(), msgs...)
	}
	w := &kafka.Writer{
		Addr:         kafka.TCP(env.Brokers...),
		Topic:        env.Trigger(),
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    chunk,
		BatchBytes:   16 << 20,
		BatchTimeout: 5 * time.Millisecond,
		MaxAttempts:  3,
	}
	go func() {
		defer close(s.done)
		defer w.Close()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for next := backlog; ; next += chunk {
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
			msgs := make([]kafka.Message, chunk)
			for i := range msgs {
				user := s.user(next + i)
				msgs[i] = gwtest.Trigger(s.id(next+i), "c-cluster", user).Structured(user)
			}
			if err := s.write(w, msgs); err != nil {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			s.mu.Lock()
			s.acked = next + chunk
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

// write writes msgs until each is acknowledged (for at most two minutes).
func (s *stream) write(w *kafka.Writer, msgs []kafka.Message) error {
	deadline := time.Now().Add(2 * time.Minute)
	for len(msgs) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err := w.WriteMessages(ctx, msgs...)
		cancel()
		if err == nil {
			return nil
		}
		s.mu.Lock()
		s.failures++
		s.mu.Unlock()
		if time.Now().After(deadline) {
			return fmt.Errorf("stream: %d events not acknowledged after 2m: %w", len(msgs), err)
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) {
			var left []kafka.Message
			for i, e := range werrs {
				if e != nil {
					left = append(left, msgs[i])
				}
			}
			msgs = left
		}
		time.Sleep(200 * time.Millisecond) // backoff before writing again
	}
	return nil
}

func (s *stream) id(i int) string   { return fmt.Sprintf("%s-%d", s.prefix, i) }
func (s *stream) user(i int) string { return fmt.Sprintf("%s-user-%d", s.prefix, i) }

// Acked is the number of events the broker has acknowledged so far.
func (s *stream) Acked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked
}

// Stop stops the stream after the chunk being written and returns the
// number of events published and the number of failed writes.
func (s *stream) Stop() (int, int, error) {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked, s.failures, s.err
}

// resultWatch follows the results topic for the whole test and notes when
// each result became readable: the moment other replicas' ledgers can learn
// it. kafka-go readers do not expose the broker's append time, so this
// observer's clock stands in for it (it trails by at most a fetch wait).
type resultWatch struct {
	env  *gwtest.Env
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu   sync.Mutex
	seen map[string][]seenResult // by results-topic key
	next map[int]int64           // next offset to read, per partition
}

type seenResult struct {
	r  event.Result
	at time.Time
}

// watchResults starts following the results topic of env until the test ends.
func watchResults(t *testing.T, env *gwtest.Env) *resultWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := &resultWatch{env: env, stop: cancel, seen: map[string][]seenResult{}, next: map[int]int64{}}
	for p := range env.Partitions {
		w.wg.Go(func() { w.follow(ctx, t, p) })
	}
	t.Cleanup(w.Stop)
	return w
}

func (w *resultWatch) follow(ctx context.Context, t *testing.T, p int) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: w.env.Brokers, Topic: w.env.Results(), Partition: p,
		MaxWait: 50 * time.Millisecond, MaxBytes: 16 << 20})
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		at := time.Now()
		var res event.Result
		if err := json.Unmarshal(m.Value, &res); err != nil {
			t.Errorf("results %d/%d: %v", p, m.Offset, err)
		}
		w.mu.Lock()
		k := string(m.Key)
		w.seen[k] = append(w.seen[k], seenResult{r: res, at: at})
		w.next[p] = m.Offset + 1
		w.mu.Unlock()
	}
}

// Stop stops following.
func (w *resultWatch) Stop() {
	w.stop()
	w.wg.Wait()
}

// CatchUp waits until the watch has read every result written so far.
func (w *resultWatch) CatchUp(t *testing.T) {
	t.Helper()
	ends := w.env.EndOffsets(w.env.Results())
	gwtest.Eventually(t, 30*time.Second, func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for p, end := range ends {
			if w.next[p] < end {
				return false
			}
		}
		return true
	}, "the results watch did not catch up with %v", ends)
}

// sentAt returns when the sent result of event (source, id) answered by
// Braze with dispatchID became readable, or false if it never did.
func (w *resultWatch) sentAt(source, id, dispatchID string) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen[event.ResultKey(source, id)] {
		if s.r.Outcome == event.OutcomeSent && s.r.DispatchID == dispatchID {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// final reports whether event (source, id) has a sent or dead_lettered result.
func (w *resultWatch) final(source, id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.seen[event.ResultKey(source, id)] {
		if s.r.Outcome == event.OutcomeSent || s.r.Outcome == event.OutcomeDeadLettered {
			return true
		}
	}
	return false
}

// killed is a replica killed with SIGKILL.
type killed struct {
	workspace string
	at        time.Time
}

// ledgerLag is how long after a result became readable another replica may
// still send its event again: its ledger follows the results topic with a
// fetch wait of 250 ms, and an event checked against the ledger may wait
// for a batch and a retry or two before its call arrives.
const ledgerLag = 2 * time.Second

// deliveryReport is what became of a stream's events.
type deliveryReport struct {
	delivered, deadLettered, lost int
	// duplicates are deliveries after a recipient's first.
	duplicates int
	// crashDups[k] are the duplicates of events that the replica of kill k
	// had got accepted before the kill without their result being written;
	// crashWindow[k] counts all such accepted events, resent or not.
	crashDups, crashWindow []int
	// byWorkspace counts deliveries per simulator workspace (replica).
	byWorkspace map[string]int
}

// checkDeliveries asserts that each of the n events of s reached Braze or
// the dead-letter topic with a reason, that each has a final result, and
// that each duplicate lies in the window "Braze accepted, result not yet
// written": an event is sent again only while the result of its earlier
// acceptance was not readable (or had been for less than ledgerLag). It
// returns the figures for the caller's bounds.
func checkDeliveries(t *testing.T, env *gwtest.Env, watch *resultWatch, s *stream, n int, kills []killed) deliveryReport {
	t.Helper()
	watch.CatchUp(t)
	rep := deliveryReport{crashDups: make([]int, len(kills)), crashWindow: make([]int, len(kills)), byWorkspace: map[string]int{}}
	workspace := map[int]string{}
	for _, r := range env.Sim.Requests() {
		workspace[r.Index] = r.Workspace
	}
	byRecipient := map[string][]brazetest.Delivery{}
	for _, d := range env.Sim.Deliveries() {
		byRecipient[d.Recipient] = append(byRecipient[d.Recipient], d)
		rep.byWorkspace[workspace[d.Request]]++
	}
	dead := map[string]string{}
	for _, m := range env.ReadNow(env.DLQ()) {
		r := gwtest.Header(m, deadletter.HeaderReason)
		dead[string(m.Key)] = r
		if r != string(event.ReasonRetriesExhausted) {
			t.Errorf("dead letter %s: reason %q (%s), want none or retries_exhausted", m.Key, r, gwtest.Header(m, deadletter.HeaderError))
		}
	}
	unexplained, noResult := 0, 0
	for i := range n {
		user, id := s.user(i), s.id(i)
		ds := byRecipient["external_user_id:"+user]
		switch {
		case len(ds) > 0:
			rep.delivered++
		case dead[user] != "":
			rep.deadLettered++
		default:
			if rep.lost++; rep.lost <= 10 {
				t.Errorf("event %s (user %s) lost: neither delivered nor dead-lettered", id, user)
			}
		}
		if !watch.final("/tests", id) {
			if noResult++; noResult <= 10 {
				t.Errorf("event %s has no sent or dead_lettered result", id)
			}
		}
		slices.SortFunc(ds, func(a, b brazetest.Delivery) int { return a.Time.Compare(b.Time) })
		for k, d := range kills {
			for _, e := range ds {
				if _, ok := watch.sentAt("/tests", id, e.DispatchID); !ok && workspace[e.Request] == d.workspace && !e.Time.After(d.at) {
					rep.crashWindow[k]++
				}
			}
		}
		for j := 1; j < len(ds); j++ {
			rep.duplicates++
			explained, crash := false, -1
			for _, e := range ds[:j] {
				at, ok := watch.sentAt("/tests", id, e.DispatchID)
				if !ok || at.After(ds[j].Time.Add(-ledgerLag)) {
					explained = true
				}
				if ok {
					continue
				}
				for k, d := range kills {
					if workspace[e.Request] == d.workspace && !e.Time.After(d.at) {
						crash = k
					}
				}
			}
			if crash >= 0 {
				rep.crashDups[crash]++
			}
			if !explained {
				if unexplained++; unexplained <= 10 {
					at, _ := watch.sentAt("/tests", id, ds[0].DispatchID)
					t.Errorf("%s sent again at %s by %s although its sent result (from %s at %s) was readable since %s",
						user, ds[j].Time.Format(time.RFC3339Nano), workspace[ds[j].Request], workspace[ds[0].Request],
						ds[0].Time.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
				}
			}
		}
	}
	if rep.lost > 0 || noResult > 0 || unexplained > 0 {
		t.Errorf("of %d events: %d lost, %d without a final result, %d sent again outside the window", n, rep.lost, noResult, unexplained)
	}
	return rep
}

// stopChild stops a gateway child with SIGTERM and expects exit status 0.
func stopChild(t *testing.T, c *gwtest.Child, name string) {
	t.Helper()
	if err := c.Stop(30 * time.Second); err != nil {
		t.Errorf("SIGTERM: %s (pid %d) exited with %v, want status 0", name, c.Pid(), err)
	}
}

// waitFor polls cond every 200 ms until it is true or timeout passes. The
// conditions of these tests scan every delivery so far: polling less often
// than gwtest.Eventually leaves the CPU to the gateways.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// counterRegistry is a metrics registry whose counters a test reads.
type counterRegistry struct{ *prometheus.Registry }

func newCounterRegistry() counterRegistry { return counterRegistry{prometheus.NewRegistry()} }

// value sums the counters named name over their labels.
func (r counterRegistry) value(name string) float64 {
	mfs, err := r.Gather()
	if err != nil {
		return -1
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// warnings summarises the warnings and errors a gateway child logged:
// how many lines of each message, most frequent first.
func warnings(c *gwtest.Child) string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return err.Error()
	}
	count := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		var l struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &l) == nil && (l.Level == "warn" || l.Level == "error") {
			count[l.Level+": "+l.Msg]++
		}
	}
	if len(count) == 0 {
		return "none"
	}
	msgs := slices.Collect(maps.Keys(count))
	slices.SortFunc(msgs, func(a, b string) int { return count[b] - count[a] })
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = fmt.Sprintf("%d× %q", count[m], m)
	}
	return strings.Join(out, ", ")
}

// deliveredBy counts the deliveries made through workspace ws.
func deliveredBy(sim *brazetest.Server, ws string) int {
	n := 0
	ok := map[int]bool{}
	for _, r := range sim.Requests() {
		if r.Workspace == ws {
			ok[r.Index] = true
		}
	}
	for _, d := range sim.Deliveries() {
		if ok[d.Request] {
			n++
		}
	}
	return n
}

// TestClusterReplicasKillAndAdd runs three gateway binaries in one consumer
// group while events flow; kills one with SIGKILL at a random moment once
// all three deliver; adds a fourth once the survivors have taken over; and
// stops the rest with SIGTERM. Every event must reach Braze (or the DLQ
// with a reason), each replica must have delivered while it held
// partitions, and the duplicates the kill causes must stay within the
// window "Braze accepted, result not yet written" (DESIGN.md §4.2), bounded
// as in TestCrashNothingLost by max_inflight × partitions.
func TestClusterReplicasKillAndAdd(t *testing.T) {
	cluster := gwtest.RealCluster(t, 0)
	t.Parallel()
	rng := clusterSeed(t)
	env := gwtest.New(t, replicaSim(4))
	bin := gwtest.BuildGateway(t)
	watch := watchResults(t, env)
	cfgs := make([]string, 5)
	var cfg app.Config
	for i := 1; i <= 4; i++ {
		cfg = clusterGatewayConfig(env, i)
		cfgs[i] = env.WriteConfig(t, cfg)
	}
	perKill := cfg.Kafka.MaxInflight * env.Partitions
	t.Logf("%d-node cluster %v; group %s", cluster.Nodes, cluster.Brokers, cfg.Kafka.GroupID)

	started := time.Now()
	children := map[int]*gwtest.Child{}
	for i := 1; i <= 3; i++ {
		children[i] = gwtest.StartChild(t, bin, cfgs[i])
	}
	s := startStream(t, env, "replicas", 200, 100*time.Millisecond)
	alive := func(ids ...int) {
		t.Helper()
		for _, i := range ids {
			select {
			case <-children[i].Done():
				t.Fatalf("%s (pid %d) exited on its own: %v", replicaName(i), children[i].Pid(), children[i].Wait(0))
			default:
			}
		}
	}
	waitFor(t, 90*time.Second, func() bool {
		alive(1, 2, 3)
		return deliveredBy(env.Sim, replicaName(1)) > 0 && deliveredBy(env.Sim, replicaName(2)) > 0 && deliveredBy(env.Sim, replicaName(3)) > 0
	}, "not all three replicas delivered (%d, %d, %d)",
		deliveredBy(env.Sim, replicaName(1)), deliveredBy(env.Sim, replicaName(2)), deliveredBy(env.Sim, replicaName(3)))
	t.Logf("all three replicas delivering after %v; %d events published", time.Since(started).Round(time.Millisecond), s.Acked())

	// The kill: at a random moment while all three deliver.
	time.Sleep(time.Duration(rng.Int64N(int64(500 * time.Millisecond))))
	victim := 1 + rng.IntN(3)
	children[victim].Kill(t)
	kill := killed{workspace: replicaName(victim), at: time.Now()}
	survivors := []int{}
	for i := 1; i <= 3; i++ {
		if i != victim {
			survivors = append(survivors, i)
		}
	}
	t.Logf("killed %s (pid %d) at %v; %d events published", kill.workspace, children[victim].Pid(),
		time.Since(started).Round(time.Millisecond), s.Acked())

	// The survivors take over the victim's partitions once its session
	// has timed out: every event published from now on reaches Braze.
	mark := s.Acked()
	waitFor(t, 90*time.Second, func() bool {
		alive(survivors...)
		return s.Acked() >= mark+2000 && allDelivered(env.Sim, s, mark, mark+2000)
	}, "the survivors did not take over: events %d..%d not all delivered", mark, mark+2000)
	t.Logf("survivors took over after %v", time.Since(kill.at).Round(time.Millisecond))

	// A fourth replica joins mid-stream and takes a share.
	children[4] = gwtest.StartChild(t, bin, cfgs[4])
	added := time.Now()
	waitFor(t, 90*time.Second, func() bool {
		alive(append(survivors, 4)...)
		return deliveredBy(env.Sim, replicaName(4)) > 0
	}, "the added replica delivered nothing")
	t.Logf("%s delivering %v after it started", replicaName(4), time.Since(added).Round(time.Millisecond))
	mark = s.Acked()
	waitFor(t, 90*time.Second, func() bool {
		alive(append(survivors, 4)...)
		return s.Acked() >= mark+2000 && allDelivered(env.Sim, s, mark, mark+2000)
	}, "events %d..%d not all delivered after the fourth replica joined", mark, mark+2000)

	n, failures, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	env.WaitCommitted(t, cfg.Kafka.GroupID, 120*time.Second, env.Trigger())
	for _, i := range append(survivors, 4) {
		stopChild(t, children[i], replicaName(i))
	}
	elapsed := time.Since(started)

	rep := checkDeliveries(t, env, watch, s, n, []killed{kill})
	t.Logf("%d events (%d failed produce attempts) in %v; deliveries by replica %v; %d dead-lettered",
		n, failures, elapsed.Round(time.Millisecond), rep.byWorkspace, rep.deadLettered)
	t.Logf("duplicates: %d (%.2f %% of events); %d caused by the kill, whose window held %d events accepted by %s "+
		"without a result written; bound per kill %d = max_inflight %d × %d partitions",
		rep.duplicates, 100*float64(rep.duplicates)/float64(n), rep.crashDups[0], rep.crashWindow[0], kill.workspace,
		perKill, cfg.Kafka.MaxInflight, env.Partitions)
	if rep.crashDups[0] > perKill {
		t.Errorf("the kill caused %d duplicates, more than the %d its window can hold", rep.crashDups[0], perKill)
	}
	for _, i := range append(survivors, 4) {
		if rep.byWorkspace[replicaName(i)] == 0 {
			t.Errorf("%s delivered nothing", replicaName(i))
		}
	}
}

// allDelivered reports whether the events from..to-1 of s have all reached
// the simulator.
func allDelivered(sim *brazetest.Server, s *stream, from, to int) bool {
	for i := from; i < to; i++ {
		if sim.DeliveryCount("external_user_id:"+s.user(i)) == 0 {
			return false
		}
	}
	return true
}

// TestClusterBrokerRestart stops the only broker of a single-node cluster
// while a gateway binary works through a backlog and a stream of events,
// and starts it again. The gateway must ride it out on its own (no exit,
// no restart), deliver the events published after the broker came back,
// lose nothing, and exit 0 on SIGTERM. The duplicates must lie in the
// window "Braze accepted, result not yet written": while the broker is away
// no result can be written, so the calls answered in that time may be sent
// again.
func TestClusterBrokerRestart(t *testing.T) {
	cluster := gwtest.RealCluster(t, 1)
	env, cfg := slowGatewayEnv(t)
	bin := gwtest.BuildGateway(t)
	watch := watchResults(t, env)
	s := startStreamAfter(t, env, "restart", 30_000, 50, 100*time.Millisecond)
	child := gwtest.StartChild(t, bin, env.WriteConfig(t, cfg))
	alive := func() {
		t.Helper()
		select {
		case <-child.Done():
			t.Fatalf("the gateway (pid %d) exited: %v", child.Pid(), child.Wait(0))
		default:
		}
	}
	waitFor(t, 90*time.Second, func() bool { alive(); return deliveredBy(env.Sim, replicaName(1)) >= 3000 },
		"the gateway delivered %d events", deliveredBy(env.Sim, replicaName(1)))

	down := time.Now()
	cluster.StopNode(t, 1)
	stopped, published := deliveredBy(env.Sim, replicaName(1)), s.Acked()
	if stopped >= published {
		t.Fatalf("the gateway had delivered all %d events published when the broker stopped: nothing was interrupted", published)
	}
	cluster.StartNode(t, 1)
	outage := time.Since(down)
	t.Logf("broker away for %v; %d events published and %d delivered when it stopped", outage.Round(time.Millisecond), published, stopped)

	// Reconnected: the events published after the broker came back are
	// delivered too.
	mark := s.Acked()
	waitFor(t, 120*time.Second, func() bool {
		alive()
		return s.Acked() >= mark+1000 && allDelivered(env.Sim, s, mark, mark+1000)
	}, "events %d..%d published after the restart not all delivered (%d delivered in all)", mark, mark+1000, deliveredBy(env.Sim, replicaName(1)))
	t.Logf("delivering again %v after the broker stopped", time.Since(down).Round(time.Millisecond))

	n, failures, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	env.WaitCommitted(t, cfg.Kafka.GroupID, 120*time.Second, env.Trigger())
	alive()
	stopChild(t, child, "the gateway")
	t.Logf("the gateway's warnings and errors: %s", warnings(child))
	rep := checkDeliveries(t, env, watch, s, n, nil)
	t.Logf("%d events (%d produce attempts failed while the broker was away); %d delivered, %d dead-lettered; "+
		"duplicates %d (%.2f %% of events)", n, failures, rep.delivered, rep.deadLettered, rep.duplicates,
		100*float64(rep.duplicates)/float64(n))
}

// slowGatewayEnv is the world of the broker-restart and leader-change
// tests: one gateway whose Braze answers in 20–30 ms and who calls it with
// 2 workers, so that a backlog of 30,000 events takes it several seconds
// and the broker trouble strikes mid-stream.
func slowGatewayEnv(t *testing.T) (*gwtest.Env, app.Config) {
	t.Helper()
	sim := replicaSim(1)
	sim.Faults.Latency = brazetest.Latency{Fixed: 20 * time.Millisecond, Jitter: 10 * time.Millisecond}
	env := gwtest.New(t, sim)
	cfg := clusterGatewayConfig(env, 1)
	cfg.Dispatcher.Workers = 2
	return env, cfg
}

// TestClusterLeaderChange moves the leader of the partitions a gateway
// reads while it delivers a stream of events, twice: it stops the node
// leading trigger partition 0 (every partition it leads, the group
// coordinator perhaps, moves to another node), starts it again, and then
// moves leadership back with Kafka's preferred leader election. Nothing may
// be lost and the duplicates must lie in the window "result not yet
// written".
func TestClusterLeaderChange(t *testing.T) {
	cluster := gwtest.RealCluster(t, 3)
	env, cfg := slowGatewayEnv(t)
	bin := gwtest.BuildGateway(t)
	for _, topic := range []string{env.Trigger(), env.Results(), env.DLQ()} {
		if p := cluster.Partition(t, topic, 0, 30*time.Second); len(p.Replicas) != 3 {
			t.Fatalf("%s/0 has %d replicas, want 3 (default.replication.factor of the 3-node cluster)", topic, len(p.Replicas))
		}
	}
	watch := watchResults(t, env)
	s := startStreamAfter(t, env, "leader", 30_000, 50, 100*time.Millisecond)
	child := gwtest.StartChild(t, bin, env.WriteConfig(t, cfg))
	alive := func() {
		t.Helper()
		select {
		case <-child.Done():
			t.Fatalf("the gateway (pid %d) exited: %v", child.Pid(), child.Wait(0))
		default:
		}
	}
	delivering := func(what string) {
		t.Helper()
		mark := s.Acked()
		waitFor(t, 120*time.Second, func() bool {
			alive()
			return s.Acked() >= mark+500 && allDelivered(env.Sim, s, mark, mark+500)
		}, "%s: events %d..%d not all delivered", what, mark, mark+500)
	}
	waitFor(t, 90*time.Second, func() bool { alive(); return deliveredBy(env.Sim, replicaName(1)) >= 3000 },
		"the gateway delivered %d events", deliveredBy(env.Sim, replicaName(1)))

	// 1. The leader of trigger partition 0 goes away mid-backlog.
	before := cluster.Partition(t, env.Trigger(), 0, 30*time.Second)
	leader := before.Leader.ID
	cluster.StopNode(t, leader)
	if stopped, published := deliveredBy(env.Sim, replicaName(1)), s.Acked(); stopped >= published {
		t.Fatalf("the gateway had delivered all %d events published when node %d stopped: nothing was interrupted", published, leader)
	}
	after := cluster.Partition(t, env.Trigger(), 0, 30*time.Second)
	if after.Leader.ID == leader {
		t.Fatalf("%s/0 still led by stopped node %d", env.Trigger(), leader)
	}
	t.Logf("%s/0: leader %d stopped, node %d leads now", env.Trigger(), leader, after.Leader.ID)
	delivering("one node down")
	cluster.StartNode(t, leader)
	delivering("node back")

	// 2. Preferred leader election moves leadership back to the first
	// replica of every partition.
	now := cluster.Partition(t, env.Trigger(), 0, 30*time.Second)
	preferred := now.Replicas[0].ID
	cluster.RunClass(t, "org.apache.kafka.tools.LeaderElectionCommand", "--bootstrap-server", strings.Join(cluster.Brokers, ","),
		"--election-type", "PREFERRED", "--all-topic-partitions")
	gwtest.Eventually(t, 30*time.Second, func() bool {
		return cluster.Partition(t, env.Trigger(), 0, 30*time.Second).Leader.ID == preferred
	}, "%s/0 not led by its preferred replica %d after the election", env.Trigger(), preferred)
	t.Logf("%s/0: preferred leader election: leader %d → %d", env.Trigger(), now.Leader.ID, preferred)
	delivering("after the election")

	n, failures, err := s.Stop()
	if err != nil {
		t.Fatal(err)
	}
	env.WaitCommitted(t, cfg.Kafka.GroupID, 120*time.Second, env.Trigger())
	alive()
	stopChild(t, child, "the gateway")
	t.Logf("the gateway's warnings and errors: %s", warnings(child))
	rep := checkDeliveries(t, env, watch, s, n, nil)
	t.Logf("%d events (%d produce attempts failed); %d delivered, %d dead-lettered; duplicates %d (%.2f %% of events)",
		n, failures, rep.delivered, rep.deadLettered, rep.duplicates, 100*float64(rep.duplicates)/float64(n))
}

// TestClusterResultsTopicCompacts: `gateway topics -create` creates the
// results topic compacted; on the real broker it really compacts (several
// results written by the gateway's writer for the same event leave only
// the latest); and a gateway started on the compacted topic still knows
// what it needs: an event whose latest result is sent is not sent again,
// one whose latest result is dead_lettered is delivered when published
// again, and a schedule key created before the compaction still resolves.
func TestClusterResultsTopicCompacts(t *testing.T) {
	cluster := gwtest.RealCluster(t, 0)
	t.Parallel()
	simCfg := brazetest.DevConfig(gwtest.APIKey)
	simCfg.Workspaces[0].AcceptUnknownIDs = true
	env := gwtest.New(t, simCfg)
	bin := gwtest.BuildGateway(t)
	cfg := env.Config()
	cfg.Outputs.ResultsTopic = env.Prefix + "compacted.results"
	cfgPath := env.WriteConfig(t, cfg)

	// 1. The gateway's own command creates the results topic, compacted.
	out, err := exec.Command(bin, "topics", "-config", cfgPath, "-create").CombinedOutput()
	if err != nil {
		t.Fatalf("gateway topics -create: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "ok             "+cfg.Outputs.ResultsTopic) {
		t.Fatalf("gateway topics -create did not report %s ok:\n%s", cfg.Outputs.ResultsTopic, out)
	}
	if p := cluster.TopicConfig(t, cfg.Outputs.ResultsTopic, "cleanup.policy"); p != "compact" {
		t.Fatalf("%s: cleanup.policy %q, want compact", cfg.Outputs.ResultsTopic, p)
	}
	// Segments roll every 100 ms and any dirt is worth cleaning, so the
	// broker compacts within seconds (docs/kafka.md).
	cluster.SetTopicConfig(t, cfg.Outputs.ResultsTopic, "segment.ms", "100", "min.cleanable.dirty.ratio", "0.01")

	// 2. A gateway creates a schedule by key; its result is in the topic.
	byType := opsByType(t, loadOpsExamples(t))
	keyed := func(typ, id, key string) opsEvent {
		e := byType[typ].with(t, id, "/compaction", nil)
		e.attrs["brazeschedulekey"], e.attrs["partitionkey"] = key, key
		return e
	}
	// The gateways run as child processes: this test process's kafka-go
	// clients share a metadata cache that may not know the topic the
	// command above created for a few seconds.
	gw := gwtest.StartChild(t, bin, cfgPath)
	opsPublish(t, env, false, false, keyed("braze.messages.schedule.create", "compact-create", "compact-key"))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 60*time.Second, env.Schedule())
	stopChild(t, gw, "the first gateway")
	schedules := env.Sim.Schedules()
	if len(schedules) != 1 {
		t.Fatalf("the simulator holds %d schedules, want 1", len(schedules))
	}
	scheduleID := schedules[0].ScheduleID

	// 3. The gateway's writer records several results for two events, in
	// rounds far enough apart for each round to land in its own segment:
	// compact-sent ends sent (dead-lettered, replayed, delivered);
	// compact-dead stays dead_lettered. Filler results, one per
	// partition, close the last segments so that they can be cleaned.
	// A transport of its own: the process-wide one may not know the new
	// topic yet, and the writer gives up on a record whose topic its
	// metadata lacks (see docs/kafka.md).
	w, err := deadletter.New(deadletter.Config{Brokers: env.Brokers, DLQTopic: env.DLQ(), ResultsTopic: cfg.Outputs.ResultsTopic,
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	written := 1 // the schedule create's result
	write := func(rs ...*event.Result) {
		t.Helper()
		written += len(rs)
		errs := make(chan error, len(rs))
		for _, r := range rs {
			w.Result(r, deadletter.AckFunc(func(err error) { errs <- err }))
		}
		for range rs {
			select {
			case err := <-errs:
				if err != nil {
					t.Fatalf("write result: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("a result write was not acknowledged within 30s")
			}
		}
	}
	result := func(id, outcome string, attempt int) *event.Result {
		r := &event.Result{ID: id, Source: "/tests", Type: "braze.campaigns.trigger.send", Outcome: outcome,
			Attempts: attempt, CompletedAt: time.Now()}
		if outcome == event.OutcomeDeadLettered {
			r.Reason, r.Status = event.ReasonRejected, 400
		} else {
			r.DispatchID, r.Status = fmt.Sprintf("dispatch-%d", attempt), 201
		}
		return r
	}
	fillers := fillerIDs(t, cluster, cfg.Outputs.ResultsTopic)
	const rounds = 5
	tick := time.NewTicker(150 * time.Millisecond) // longer than segment.ms
	defer tick.Stop()
	for round := 1; round <= rounds+2; round++ {
		<-tick.C
		switch {
		case round < rounds:
			write(result("compact-sent", event.OutcomeDeadLettered, round), result("compact-dead", event.OutcomeDeadLettered, round))
		case round == rounds:
			write(result("compact-sent", event.OutcomeSent, round), result("compact-dead", event.OutcomeDeadLettered, round))
		default:
			var rs []*event.Result
			for _, id := range fillers {
				rs = append(rs, result(id, event.OutcomeSent, round))
			}
			write(rs...)
		}
	}

	// 4. The broker compacts: one record per key remains, the latest.
	compactStart := time.Now()
	var latest map[string][]event.Result
	gwtest.Eventually(t, 90*time.Second, func() bool {
		latest = map[string][]event.Result{}
		for _, m := range env.ReadNow(cfg.Outputs.ResultsTopic) {
			var r event.Result
			if err := json.Unmarshal(m.Value, &r); err != nil {
				t.Fatalf("result %s: %v", m.Key, err)
			}
			latest[string(m.Key)] = append(latest[string(m.Key)], r)
		}
		return len(latest["/tests/compact-sent"]) == 1 && len(latest["/tests/compact-dead"]) == 1
	}, "not compacted: %d results for compact-sent, %d for compact-dead", len(latest["/tests/compact-sent"]), len(latest["/tests/compact-dead"]))
	left := 0
	for _, rs := range latest {
		left += len(rs)
	}
	t.Logf("%d results written, %d left after compaction (seen %v after the last write)", written, left, time.Since(compactStart).Round(time.Millisecond))
	if r := latest["/tests/compact-sent"][0]; r.Outcome != event.OutcomeSent || r.Attempts != rounds {
		t.Errorf("compact-sent kept %+v, want the latest: sent, attempt %d", r, rounds)
	}
	if r := latest["/tests/compact-dead"][0]; r.Outcome != event.OutcomeDeadLettered || r.Attempts != rounds {
		t.Errorf("compact-dead kept %+v, want the latest: dead_lettered, attempt %d", r, rounds)
	}
	if rs := latest["/compaction/compact-create"]; len(rs) != 1 || rs[0].ScheduleID != scheduleID {
		t.Errorf("the schedule create's result: %+v, want one for %s", rs, scheduleID)
	}

	// 5. A new gateway learns from the compacted topic.
	env.Sim.Reset()
	gw = gwtest.StartChild(t, bin, cfgPath)
	env.Produce(env.Trigger(),
		gwtest.Trigger("compact-sent", "c-compact", "compact-user-sent").Structured("compact-user-sent"),
		gwtest.Trigger("compact-dead", "c-compact", "compact-user-dead").Structured("compact-user-dead"),
		gwtest.Trigger("compact-new", "c-compact", "compact-user-new").Structured("compact-user-new"))
	opsPublish(t, env, false, false, keyed("braze.messages.schedule.delete", "compact-delete", "compact-key"))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 60*time.Second, env.Trigger(), env.Schedule())
	stopChild(t, gw, "the second gateway")
	for user, want := range map[string]int{"compact-user-sent": 0, "compact-user-dead": 1, "compact-user-new": 1} {
		if got := env.Sim.DeliveryCount("external_user_id:" + user); got != want {
			t.Errorf("%s delivered %d times, want %d", user, got, want)
		}
	}
	if s := env.Sim.Schedules(); len(s) != 0 {
		t.Errorf("schedule %s not deleted by key after the compaction: live schedules %+v", scheduleID, s)
	}
}

// fillerIDs returns event ids whose results land on each partition of
// topic, one per partition, as the gateway's writer partitions them.
func fillerIDs(t *testing.T, cluster *gwtest.Cluster, topic string) []string {
	t.Helper()
	cl, done := cluster.Client()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 {
		t.Fatalf("metadata %s: %v", topic, err)
	}
	parts := make([]int, len(md.Topics[0].Partitions))
	for i, p := range md.Topics[0].Partitions {
		parts[i] = p.ID
	}
	slices.Sort(parts)
	byPartition := map[int]string{}
	for i := 0; len(byPartition) < len(parts); i++ {
		id := fmt.Sprintf("compact-filler-%d", i)
		p := (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(event.ResultKey("/tests", id))}, parts...)
		if _, ok := byPartition[p]; !ok {
			byPartition[p] = id
		}
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		out = append(out, byPartition[p])
	}
	return out
}

// TestClusterDeadLettersNeedAllInSyncReplicas: the gateway writes dead
// letters with acks=all (kafka-go RequireAll). With min.insync.replicas=2 on
// a topic replicated three times, a write succeeds while one broker of
// three is down; raised to 3, the same write is refused (a write with
// acks=1 still passes, so it is acks=all that waits for the replicas) and
// retried until the replicas suffice again, then acknowledged. kafka-go has
// no idempotent producer, so the records carry no producer id: a write
// retried after a lost acknowledgement can store a dead letter twice (the
// replay's duplicate detection keeps Braze from seeing it twice).
func TestClusterDeadLettersNeedAllInSyncReplicas(t *testing.T) {
	cluster := gwtest.RealCluster(t, 3)
	env := gwtest.New(t, gwtest.SimConfig())
	dlq := env.Prefix + "isr.dlq"
	cl, done := cluster.Client()
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := cl.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{
		Topic: dlq, NumPartitions: 1, ReplicationFactor: 3,
		ConfigEntries: []kafka.ConfigEntry{{ConfigName: "min.insync.replicas", ConfigValue: "2"}}}}})
	if err != nil || resp.Errors[dlq] != nil {
		t.Fatalf("create %s: %v %v", dlq, err, resp)
	}
	part := cluster.Partition(t, dlq, 0, 30*time.Second)
	if len(part.Replicas) != 3 {
		t.Fatalf("%s/0 has %d replicas, want 3", dlq, len(part.Replicas))
	}

	reg := newCounterRegistry()
	w, err := deadletter.New(deadletter.Config{Brokers: env.Brokers, DLQTopic: dlq, ResultsTopic: env.Results(),
		BatchTimeout: time.Millisecond, Transport: &kafka.Transport{}}, nil, reg.Registry)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	deadLetter := func(i int) chan error {
		done := make(chan error, 1)
		rec := &event.Record{Topic: env.Trigger(), Partition: 0, Offset: int64(i), Key: []byte(fmt.Sprintf("isr-user-%d", i)),
			Value: []byte(fmt.Sprintf(`{"n":%d}`, i))}
		w.DeadLetter(rec, &event.DeadLetter{Reason: event.ReasonRejected, Status: 400, Error: "rejected", Attempts: 1, FailedAt: time.Now()},
			deadletter.AckFunc(func(err error) { done <- err }))
		return done
	}
	acked := func(done chan error, within time.Duration, what string) {
		t.Helper()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		case <-time.After(within):
			t.Fatalf("%s: not acknowledged within %v", what, within)
		}
	}

	// All three up.
	acked(deadLetter(0), 30*time.Second, "dead letter with 3 of 3 brokers")

	// One of three down (not the leader, then the leader: both must work).
	down := part.Replicas[2].ID
	if down == part.Leader.ID {
		down = part.Replicas[1].ID
	}
	cluster.StopNode(t, down)
	gwtest.Eventually(t, 30*time.Second, func() bool {
		return len(cluster.Partition(t, dlq, 0, 30*time.Second).Isr) == 2
	}, "the ISR of %s/0 did not shrink to 2 after node %d stopped", dlq, down)
	acked(deadLetter(1), 30*time.Second, "dead letter with 2 of 3 brokers, min.insync.replicas=2")

	// acks=all against min.insync.replicas=3 with two replicas in sync:
	// refused and retried, not acknowledged.
	cluster.SetTopicConfig(t, dlq, "min.insync.replicas", "3")
	pending := deadLetter(2)
	gwtest.Eventually(t, 60*time.Second, func() bool {
		select {
		case err := <-pending:
			t.Fatalf("dead letter acknowledged (%v) with 2 in-sync replicas and min.insync.replicas=3: not acks=all", err)
		default:
		}
		return reg.value("braze_gateway_output_write_errors_total") >= 1
	}, "no failed write reported")
	one := &kafka.Writer{Addr: kafka.TCP(env.Brokers...), Topic: dlq, RequiredAcks: kafka.RequireOne, BatchTimeout: time.Millisecond,
		Transport: &kafka.Transport{}}
	if err := one.WriteMessages(ctx, kafka.Message{Key: []byte("acks-1"), Value: []byte("{}")}); err != nil {
		t.Errorf("a write with acks=1 failed too (%v): the refusal is not about acks=all", err)
	}
	_ = one.Close()
	select {
	case err := <-pending:
		t.Fatalf("dead letter acknowledged (%v) with min.insync.replicas=3", err)
	default:
	}
	t.Logf("with min.insync.replicas=3 and 2 in-sync replicas: %v failed write attempts, none acknowledged; acks=1 accepted",
		reg.value("braze_gateway_output_write_errors_total"))

	// The replicas suffice again: the retried write is acknowledged.
	cluster.SetTopicConfig(t, dlq, "min.insync.replicas", "2")
	acked(pending, 60*time.Second, "the retried dead letter after min.insync.replicas=2")
	cluster.StartNode(t, down)

	msgs := env.ReadNow(dlq)
	got := map[string]int{}
	for _, m := range msgs {
		got[string(m.Key)]++
		if string(m.Key) != "acks-1" && gwtest.Header(m, deadletter.HeaderReason) != string(event.ReasonRejected) {
			t.Errorf("dead letter %s without its reason header: %v", m.Key, m.Headers)
		}
	}
	for i := range 3 {
		if got[fmt.Sprintf("isr-user-%d", i)] == 0 {
			t.Errorf("dead letter isr-user-%d missing from %s: %v", i, dlq, got)
		}
	}

	// No idempotent producer: the batches carry producer id -1.
	leader := cluster.Partition(t, dlq, 0, 30*time.Second).Leader.ID
	dump := cluster.RunClass(t, "kafka.tools.DumpLogSegments", "--files",
		fmt.Sprintf("%s/node-%d/data/%s-0/00000000000000000000.log", cluster.Dir, leader, dlq))
	batches, anonymous := 0, 0
	for _, l := range strings.Split(dump, "\n") {
		if strings.HasPrefix(l, "baseOffset:") {
			batches++
			if strings.Contains(l, " producerId: -1 ") {
				anonymous++
			}
		}
	}
	if batches == 0 || anonymous != batches {
		t.Errorf("%s: %d of %d batches without a producer id, want all (kafka-go writes are not idempotent):\n%s", dlq, anonymous, batches, dump)
	}
	t.Logf("%s: %d batches, none with a producer id or sequence number", dlq, batches)
}
