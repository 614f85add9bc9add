package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/internal/gwtest"
)

// TestTriggerEventsReachBrazeOnce publishes 5,000 single-recipient trigger
// events (5 campaigns × 1,000 users, half in each CloudEvents mode, keyed by
// user) and checks that every recipient reaches Braze exactly once, in
// nearly the fewest requests the 50-recipient cap allows, that all offsets
// are committed, and that a restarted gateway sends nothing again.
func TestTriggerEventsReachBrazeOnce(t *testing.T) {
	t.Parallel()
	env := gwtest.New(t, gwtest.SimConfig())
	const campaigns, users = 5, 1000
	var msgs []kafka.Message
	for c := range campaigns {
		for u := range users {
			ev := gwtest.Trigger(fmt.Sprintf("ev-%d-%d", c, u), fmt.Sprintf("campaign-%d", c), fmt.Sprintf("user-%d", u))
			user := fmt.Sprintf("user-%d", u)
			if (c*users+u)%2 == 0 {
				msgs = append(msgs, ev.Structured(user))
			} else {
				msgs = append(msgs, ev.Binary(user))
			}
		}
	}
	env.Produce(env.Trigger(), msgs...)
	cfg := env.Config()
	gw := env.Start(cfg)

	total := campaigns * users
	gwtest.Eventually(t, 60*time.Second, func() bool { return len(env.Sim.Deliveries()) >= total },
		"simulator received %d of %d recipients", len(env.Sim.Deliveries()), total)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())

	perCampaign := map[string]map[string]int{}
	for _, d := range env.Sim.Deliveries() {
		var r struct {
			ExternalUserID string `json:"external_user_id"`
		}
		var req struct {
			CampaignID string `json:"campaign_id"`
		}
		if err := json.Unmarshal(d.Body, &r); err != nil {
			t.Fatalf("delivery body: %v", err)
		}
		reqs := env.Sim.Requests()
		if err := json.Unmarshal(reqs[d.Request].Body, &req); err != nil {
			t.Fatalf("request body: %v", err)
		}
		if perCampaign[req.CampaignID] == nil {
			perCampaign[req.CampaignID] = map[string]int{}
		}
		perCampaign[req.CampaignID][r.ExternalUserID]++
	}
	for c := range campaigns {
		got := perCampaign[fmt.Sprintf("campaign-%d", c)]
		for u := range users {
			if n := got[fmt.Sprintf("user-%d", u)]; n != 1 {
				t.Fatalf("campaign-%d user-%d delivered %d times, want 1", c, u, n)
			}
		}
	}
	requests := len(env.Sim.Requests())
	minimum := total / 50
	t.Logf("%d recipients in %d requests (minimum %d)", total, requests, minimum)
	if requests > minimum*13/10 {
		t.Errorf("%d requests for %d recipients; want at most 130%% of the minimum %d", requests, total, minimum)
	}
	gw.Stop(t)

	// A restarted gateway in the same group sends nothing again. A marker
	// event on every partition proves it has read to the end.
	gw2 := env.Start(cfg)
	var markers []kafka.Message
	for p := range env.Partitions {
		m := gwtest.Trigger(fmt.Sprintf("marker-%d", p), "campaign-marker", fmt.Sprintf("marker-user-%d", p)).Structured("")
		m.WriterData = gwtest.ToPartition(p)
		markers = append(markers, m)
	}
	env.Produce(env.Trigger(), markers...)
	gwtest.Eventually(t, 30*time.Second, func() bool { return len(env.Sim.Deliveries()) >= total+env.Partitions },
		"markers delivered: %d of %d", len(env.Sim.Deliveries())-total, env.Partitions)
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	if n := len(env.Sim.Deliveries()); n != total+env.Partitions {
		t.Fatalf("after restart the simulator holds %d deliveries, want %d", n, total+env.Partitions)
	}
	gw2.Stop(t)
}

// TestBadRecordsAreDeadLettered publishes records that are not valid
// events, or not valid requests, between valid ones: each lands in the DLQ
// with the right reason, the valid ones are delivered, and every offset is
// committed.
func TestBadRecordsAreDeadLettered(t *testing.T) {
	t.Parallel()
	env := gwtest.New(t, gwtest.SimConfig())
	over := make([]any, 51)
	for i := range over {
		over[i] = map[string]any{"external_user_id": fmt.Sprintf("u-%d", i)}
	}
	unknown := gwtest.Trigger("unknown-type", "c1", "u-x")
	unknown.Type = "braze.users.track"
	missingID := gwtest.Trigger("", "c1", "u-y")
	overCap := gwtest.Trigger("over-cap", "c1", "u-z")
	overCap.Data = map[string]any{"campaign_id": "c1", "recipients": over}
	broadcast := gwtest.Trigger("broadcast", "c1", "u-b")
	broadcast.Data = map[string]any{"campaign_id": "c1", "broadcast": true}

	bad := []struct {
		msg    kafka.Message
		reason string
	}{
		{kafka.Message{Key: []byte("k1"), Value: []byte(`{"specversion":"1.0","id":"x",`)}, "invalid_event"},
		{missingID.Structured("k2"), "invalid_event"},
		{unknown.Binary("k3"), "unknown_type"},
		{overCap.Structured("k4"), "invalid_request"},
		{broadcast.Structured("k5"), "broadcast_not_allowed"},
		{kafka.Message{Key: []byte("k6")}, "invalid_event"}, // tombstone
	}
	var msgs []kafka.Message
	for i, b := range bad {
		msgs = append(msgs, b.msg, gwtest.Trigger(fmt.Sprintf("good-%d", i), "c1", fmt.Sprintf("good-user-%d", i)).Structured(fmt.Sprintf("good-%d", i)))
	}
	env.Produce(env.Trigger(), msgs...)
	cfg := env.Config()
	env.Start(cfg)

	dlq := env.ReadAll(env.DLQ(), len(bad), 30*time.Second)
	got := map[string]string{}
	for _, m := range dlq {
		got[string(m.Key)] = gwtest.Header(m, deadletter.HeaderReason)
		if gwtest.Header(m, deadletter.HeaderTopic) != env.Trigger() || gwtest.Header(m, deadletter.HeaderOffset) == "" {
			t.Errorf("DLQ record %q lacks its origin headers: %v", m.Key, m.Headers)
		}
		if e := gwtest.Header(m, deadletter.HeaderError); e == "" || strings.Contains(e, gwtest.APIKey) {
			t.Errorf("DLQ record %q: dlq.error %q", m.Key, e)
		}
	}
	for i, b := range bad {
		key := fmt.Sprintf("k%d", i+1)
		if got[key] != b.reason {
			t.Errorf("record %s: DLQ reason %q, want %q", key, got[key], b.reason)
		}
	}
	gwtest.Eventually(t, 30*time.Second, func() bool { return len(env.Sim.Deliveries()) == len(bad) },
		"valid events delivered: %d of %d", len(env.Sim.Deliveries()), len(bad))
	env.WaitCommitted(t, cfg.Kafka.GroupID, 30*time.Second, env.Trigger())
	// The original record travels byte for byte.
	for _, m := range dlq {
		if string(m.Key) == "k1" && string(m.Value) != `{"specversion":"1.0","id":"x",` {
			t.Errorf("DLQ value changed: %q", m.Value)
		}
	}
}
