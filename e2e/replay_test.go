package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/gwtest"
)

// runReplay runs deadletter.Replay with a deadline and fails the test on error.
func runReplay(t *testing.T, cfg deadletter.ReplayConfig) deadletter.ReplayStats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stats, err := deadletter.Replay(ctx, cfg)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return stats
}

// replayedFrom returns the records of msgs that carry a replay.of header.
func replayedFrom(msgs []kafka.Message) []kafka.Message {
	var out []kafka.Message
	for _, m := range msgs {
		if gwtest.Header(m, deadletter.HeaderReplayOf) != "" {
			out = append(out, m)
		}
	}
	return out
}

// withoutPrefixes returns m's headers whose keys have none of the prefixes.
func withoutPrefixes(hs []kafka.Header, prefixes ...string) []kafka.Header {
	var out []kafka.Header
	for _, h := range hs {
		keep := true
		for _, p := range prefixes {
			if strings.HasPrefix(h.Key, p) {
				keep = false
			}
		}
		if keep {
			out = append(out, h)
		}
	}
	return out
}

// headerList formats headers as key=value pairs for failure messages.
func headerList(hs []kafka.Header) string {
	s := make([]string, len(hs))
	for i, h := range hs {
		s[i] = h.Key + "=" + string(h.Value)
	}
	return strings.Join(s, " ")
}

func sameHeaders(a, b []kafka.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Key != b[i].Key || !bytes.Equal(a[i].Value, b[i].Value) {
			return false
		}
	}
	return true
}

// TestReplayDeliversOnce: two events Braze rejected are dead-lettered; once
// Braze accepts them again, a replay republishes them (original key, value
// and headers, no dlq.* headers, replay.id and replay.of added, same
// partition) and the gateway delivers each exactly once. A second run with
// the same group replays nothing; a forced run with a new group republishes
// them again, and the gateway recognises them as already sent.
func TestReplayDeliversOnce(t *testing.T) {
	t.Parallel()
	sim := gwtest.SimConfig()
	sim.Faults.Reject = []string{"replay-user-3", "replay-user-7"}
	env := gwtest.New(t, sim)
	const n = 10
	msgs := triggers("replay", "c-replay", n)
	msgs[7] = gwtest.Trigger("replay-7", "c-replay", "replay-user-7").Binary("replay-user-7")
	env.Produce(env.Trigger(), msgs...)
	cfg := env.Config()
	env.Start(cfg)

	dl := env.ReadAll(env.DLQ(), 2, 30*time.Second)
	gwtest.Eventually(t, 30*time.Second, func() bool { return len(env.Sim.Deliveries()) >= n-2 },
		"delivered %d of %d", len(env.Sim.Deliveries()), n-2)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	for _, m := range dl {
		if r := gwtest.Header(m, deadletter.HeaderReason); r != "rejected" {
			t.Fatalf("%s dead-lettered as %q, want rejected", m.Key, r)
		}
	}

	env.Sim.SetFaults(brazetest.Faults{}) // the fix
	group := env.Prefix + "replay"
	var progress bytes.Buffer
	stats := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group, Progress: &progress})
	if stats.Read != 2 || stats.Replayed != 2 || stats.Skipped != 0 || stats.ByReason["rejected"] != 2 {
		t.Fatalf("replay stats %+v, want 2 read and replayed, both rejected", stats)
	}
	if !strings.Contains(progress.String(), "read 2, replayed 2, skipped 0") {
		t.Errorf("summary %q does not give the counts", progress.String())
	}
	for _, u := range []string{"replay-user-3", "replay-user-7"} {
		gwtest.Eventually(t, 30*time.Second, func() bool { return env.Sim.DeliveryCount("external_user_id:"+u) == 1 },
			"%s not delivered after the replay", u)
	}
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	env.WaitCommitted(t, group, 10*time.Second, env.DLQ())
	assertOnce(t, env.Sim, n)

	// The republished records.
	byPos := map[string]kafka.Message{}
	for _, m := range dl {
		byPos[fmt.Sprintf("%s/%d/%d", m.Topic, m.Partition, m.Offset)] = m
	}
	rep := replayedFrom(env.ReadNow(env.Trigger()))
	if len(rep) != 2 {
		t.Fatalf("%d republished records in %s, want 2", len(rep), env.Trigger())
	}
	for _, m := range rep {
		orig, ok := byPos[gwtest.Header(m, deadletter.HeaderReplayOf)]
		if !ok {
			t.Fatalf("replay.of %q names no dead letter (have %v)", gwtest.Header(m, deadletter.HeaderReplayOf), byPos)
		}
		if id := gwtest.Header(m, deadletter.HeaderReplayID); id != stats.RunID || id == "" {
			t.Errorf("replay.id %q, want the run id %q", id, stats.RunID)
		}
		if !bytes.Equal(m.Key, orig.Key) || !bytes.Equal(m.Value, orig.Value) {
			t.Errorf("republished key %q / value %q, want the original %q / %q", m.Key, m.Value, orig.Key, orig.Value)
		}
		for _, h := range m.Headers {
			if strings.HasPrefix(h.Key, "dlq.") {
				t.Errorf("republished record of %s carries %s", m.Key, h.Key)
			}
		}
		if got, want := withoutPrefixes(m.Headers, "replay."), withoutPrefixes(orig.Headers, "dlq."); !sameHeaders(got, want) {
			t.Errorf("republished headers %s, want the original %s", headerList(got), headerList(want))
		}
		if p := strconv.Itoa(m.Partition); p != gwtest.Header(orig, deadletter.HeaderPartition) {
			t.Errorf("republished to partition %s, originally read from %s", p, gwtest.Header(orig, deadletter.HeaderPartition))
		}
	}

	// Same group again: nothing left to replay.
	again := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group})
	if again.Read != 0 || again.Replayed != 0 {
		t.Fatalf("second run %+v, want nothing read or replayed", again)
	}
	if got := len(env.ReadNow(env.Trigger())); got != n+2 {
		t.Fatalf("%s holds %d records after the second run, want %d", env.Trigger(), got, n+2)
	}

	// Forced re-run with a new group: republished again, sent nothing twice.
	forced := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: env.Prefix + "forced"})
	if forced.Replayed != 2 || forced.RunID == stats.RunID {
		t.Fatalf("forced run %+v, want 2 replayed under a new run id", forced)
	}
	env.ReadAll(env.Trigger(), n+4, 10*time.Second)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	assertOnce(t, env.Sim, n)
	last := map[string]string{}
	for _, m := range env.ReadNow(env.Results()) {
		var r event.Result
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("result %s: %v", m.Value, err)
		}
		last[r.ID] = r.Outcome
	}
	for _, id := range []string{"replay-3", "replay-7"} {
		if last[id] != event.OutcomeDuplicate {
			t.Errorf("last outcome of %s is %q, want %q", id, last[id], event.OutcomeDuplicate)
		}
	}
	if d := len(env.ReadNow(env.DLQ())); d != 2 {
		t.Errorf("%d dead letters after the forced run, want still 2", d)
	}
}

// TestReplayFilters builds a DLQ holding five reasons' worth of dead
// letters and checks what each filter selects (in dry runs, which publish
// and commit nothing), then replays one selection for real: the rest is
// skipped, and committed all the same.
func TestReplayFilters(t *testing.T) {
	t.Parallel()
	sim := gwtest.SimConfig()
	sim.Faults.Reject = []string{"filt-rej-1", "filt-rej-2"}
	env := gwtest.New(t, sim)

	rej1 := gwtest.Trigger("filt-1", "c-filt", "filt-rej-1")
	rej2 := gwtest.Trigger("filt-2", "c-filt", "filt-rej-2")
	rej2.Source = "/billing"
	unknown := gwtest.Trigger("filt-unknown", "c-filt", "filt-unknown")
	unknown.Type = "braze.nope"
	big := gwtest.Trigger("filt-big", "c-filt", "filt-big")
	big.Data.(map[string]any)["recipients"] = []any{map[string]any{
		"external_user_id": "filt-big", "trigger_properties": map[string]any{"blob": strings.Repeat("x", 8000)}}}
	before := time.Now()
	inputs := []kafka.Message{
		rej1.Structured("filt-rej-1"),
		rej2.Binary("filt-rej-2"),
		{Key: []byte("filt-bad"), Value: []byte("not json")},
		unknown.Structured("filt-unknown"),
		big.Structured("filt-big"),
	}
	env.Produce(env.Trigger(), inputs...)
	cfg := env.Config()
	cfg.Kafka.MaxRecordBytes = 4096
	env.Start(cfg)
	dl := env.ReadAll(env.DLQ(), len(inputs), 30*time.Second)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	reasons := map[string]string{}
	for _, m := range dl {
		reasons[string(m.Key)] = gwtest.Header(m, deadletter.HeaderReason)
	}
	wantReasons := map[string]string{"filt-rej-1": "rejected", "filt-rej-2": "rejected", "filt-bad": "invalid_event",
		"filt-unknown": "unknown_type", "filt-big": "too_large"}
	for k, r := range wantReasons {
		if reasons[k] != r {
			t.Fatalf("dead letters %v, want %v", reasons, wantReasons)
		}
	}

	dry := env.Prefix + "dry"
	tests := []struct {
		name string
		cfg  deadletter.ReplayConfig
		want int
	}{
		{"defaults skip unfixable reasons", deadletter.ReplayConfig{}, 2},
		{"include unfixable", deadletter.ReplayConfig{IncludeUnfixable: true}, 5},
		{"reason", deadletter.ReplayConfig{Reasons: []string{"rejected"}}, 2},
		{"naming an unfixable reason asks for it", deadletter.ReplayConfig{Reasons: []string{"too_large", "unknown_type"}}, 2},
		{"type", deadletter.ReplayConfig{Types: []string{"braze.nope"}, IncludeUnfixable: true}, 1},
		{"type skips records that do not decode", deadletter.ReplayConfig{Types: []string{"braze.campaigns.trigger.send"}, IncludeUnfixable: true}, 3},
		{"source of a binary-mode event", deadletter.ReplayConfig{Sources: []string{"/billing"}}, 1},
		{"status", deadletter.ReplayConfig{Statuses: []int{400}}, 2},
		{"status none match", deadletter.ReplayConfig{Statuses: []int{500}}, 0},
		{"since", deadletter.ReplayConfig{Since: before}, 2},
		{"until", deadletter.ReplayConfig{Until: before}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := tt.cfg
			rc.Brokers, rc.DLQTopic, rc.GroupID, rc.DryRun = env.Brokers, env.DLQ(), dry, true
			var out bytes.Buffer
			rc.Progress = &out
			s := runReplay(t, rc)
			if s.Read != len(inputs) || s.Replayed != tt.want || s.Skipped != len(inputs)-tt.want {
				t.Errorf("dry run %+v, want %d read, %d would be replayed", s, len(inputs), tt.want)
			}
			if !strings.Contains(out.String(), "would replay "+strconv.Itoa(tt.want)) {
				t.Errorf("summary %q", out.String())
			}
		})
	}
	if got := len(env.ReadNow(env.Trigger())); got != len(inputs) {
		t.Fatalf("dry runs published: %s holds %d records, want %d", env.Trigger(), got, len(inputs))
	}
	// A group that never committed is unknown to some brokers.
	if un, err := env.Uncommitted(dry, env.DLQ()); !errors.Is(err, kafka.GroupIdNotFound) && (err != nil || sum(un) != int64(len(inputs))) {
		t.Fatalf("dry runs committed: uncommitted %v (err %v), want all %d", un, err, len(inputs))
	}

	// For real: only the rejected event from /billing.
	env.Sim.SetFaults(brazetest.Faults{})
	group := env.Prefix + "replay"
	s := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group,
		Reasons: []string{"rejected"}, Sources: []string{"/billing"}})
	if s.Read != 5 || s.Replayed != 1 || s.Skipped != 4 {
		t.Fatalf("replay %+v, want 5 read, 1 replayed, 4 skipped", s)
	}
	env.WaitCommitted(t, group, 10*time.Second, env.DLQ())
	gwtest.Eventually(t, 30*time.Second, func() bool { return env.Sim.DeliveryCount("external_user_id:filt-rej-2") == 1 },
		"filt-rej-2 not delivered after the replay")
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	if c := env.Sim.DeliveryCount("external_user_id:filt-rej-1"); c != 0 {
		t.Errorf("filt-rej-1, filtered out, was delivered %d times", c)
	}
	if rep := replayedFrom(env.ReadNow(env.Trigger())); len(rep) != 1 || string(rep[0].Key) != "filt-rej-2" {
		t.Errorf("republished %d records, want only filt-rej-2", len(rep))
	}
	// The skipped records were committed too: the group has nothing left.
	if s := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group}); s.Read != 0 {
		t.Errorf("run after the filtered one read %d records, want 0", s.Read)
	}
}

// deadLetter is a dead letter of the input topic topic, as the gateway writes it.
func deadLetter(topic string, i int, reason string) kafka.Message {
	key := fmt.Sprintf("dl-user-%d", i)
	m := gwtest.Trigger(fmt.Sprintf("dl-%d", i), "c-dl", key).Structured(key)
	m.Headers = append(m.Headers,
		kafka.Header{Key: deadletter.HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: deadletter.HeaderTopic, Value: []byte(topic)},
		kafka.Header{Key: deadletter.HeaderPartition, Value: []byte("0")},
		kafka.Header{Key: deadletter.HeaderOffset, Value: []byte(strconv.Itoa(i))},
		kafka.Header{Key: deadletter.HeaderFailedAt, Value: []byte(time.Now().UTC().Format(time.RFC3339Nano))})
	return m
}

// TestReplayFollow: with Follow, dead letters written after the start are
// replayed too, until the context ends, which is not an error.
func TestReplayFollow(t *testing.T) {
	t.Parallel()
	env := gwtest.New(t, gwtest.SimConfig())
	env.Produce(env.DLQ(), deadLetter(env.Send(), 0, "retries_exhausted"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type answer struct {
		s   deadletter.ReplayStats
		err error
	}
	done := make(chan answer, 1)
	go func() {
		s, err := deadletter.Replay(ctx, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(),
			GroupID: env.Prefix + "follow", Follow: true})
		done <- answer{s, err}
	}()
	env.ReadAll(env.Send(), 1, 30*time.Second)
	env.Produce(env.DLQ(), deadLetter(env.Send(), 1, "expired"))
	env.ReadAll(env.Send(), 2, 30*time.Second)
	cancel()
	select {
	case a := <-done:
		if a.err != nil || a.s.Replayed != 2 || a.s.ByReason["expired"] != 1 {
			t.Fatalf("follow run ended with %+v, %v; want 2 replayed and no error", a.s, a.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("follow run did not stop when its context ended")
	}
}

// TestReplayInterruptedKeepsItsPlace: a run stopped by its context before
// the end says so, and a new run replays only what is left.
func TestReplayInterruptedKeepsItsPlace(t *testing.T) {
	t.Parallel()
	env := gwtest.New(t, gwtest.SimConfig())
	const n = 30
	var dls []kafka.Message
	for i := range n {
		m := deadLetter(env.Send(), i, "rejected")
		m.WriterData = gwtest.ToPartition(0)
		dls = append(dls, m)
	}
	env.Produce(env.DLQ(), dls...)
	group := env.Prefix + "replay"
	// At 10 records per second the run is still busy when it is stopped.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type answer struct {
		s   deadletter.ReplayStats
		err error
	}
	done := make(chan answer, 1)
	go func() {
		s, err := deadletter.Replay(ctx, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group, Rate: 10})
		done <- answer{s, err}
	}()
	env.ReadAll(env.Send(), 3, 30*time.Second)
	cancel()
	var first answer
	select {
	case first = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("replay did not stop when its context ended")
	}
	if !errors.Is(first.err, context.Canceled) || first.s.Replayed >= n {
		t.Fatalf("interrupted run: %+v, %v; want a cancellation error before the end", first.s, first.err)
	}
	second := runReplay(t, deadletter.ReplayConfig{Brokers: env.Brokers, DLQTopic: env.DLQ(), GroupID: group})
	if first.s.Replayed+second.Replayed != n || first.s.Read+second.Read != n {
		t.Fatalf("runs replayed %d + %d (read %d + %d), want %d in all", first.s.Replayed, second.Replayed, first.s.Read, second.Read, n)
	}
	rep := replayedFrom(env.ReadNow(env.Send()))
	seen := map[string]int{}
	for _, m := range rep {
		seen[gwtest.Header(m, deadletter.HeaderReplayOf)]++
	}
	if len(rep) != n || len(seen) != n {
		t.Fatalf("%d records republished for %d distinct dead letters, want each of %d once", len(rep), len(seen), n)
	}
}

func sum(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}
