package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/gwtest"
	"github.com/brazegw/gateway/pipeline"
	"github.com/brazegw/gateway/routes"
)

// These tests drive product events (DESIGN.md §2, product events and
// routes) through Kafka, the routes, the gateway and the simulator: the
// worked examples of configs/routes.yaml and docs/routing.md, fan-out with
// replay, and routes files swapped while events flow.

// routeEnv is a test world with product-event topics and a routes file.
type routeEnv struct {
	*gwtest.Env
	cfg   app.Config
	path  string // the routes file
	names map[string]string
}

// Product-event topics of configs/routes.yaml.
const (
	ordersTopic       = "commerce.orders"
	signupsTopic      = "identity.signups"
	appointmentsTopic = "clinic.appointments"
)

// newRouteEnv creates the product topics (prefixed for this test), writes
// routesYAML with its topics renamed likewise, and returns a gateway
// configuration that uses it. The "eu" workspace is the simulator too.
func newRouteEnv(t *testing.T, routesYAML string) *routeEnv {
	t.Helper()
	env := gwtest.New(t, gwtest.SimConfig())
	e := &routeEnv{Env: env, names: map[string]string{}}
	var topics []embedded.Topic
	for _, name := range []string{ordersTopic, signupsTopic, appointmentsTopic} {
		e.names[name] = env.Prefix + name
		topics = append(topics, embedded.Topic{Name: env.Prefix + name, Partitions: env.Partitions})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := embedded.CreateTopics(ctx, env.Brokers, topics...); err != nil {
		t.Fatalf("create topics: %v", err)
	}
	e.path = filepath.Join(t.TempDir(), "routes.yaml")
	e.writeRoutes(t, routesYAML)
	e.cfg = env.Config()
	e.cfg.Routes.File = e.path
	e.cfg.Braze.Workspaces["eu"] = e.cfg.Braze.Workspaces["default"]
	return e
}

// topic returns the test's name of a product topic.
func (e *routeEnv) topic(name string) string { return e.names[name] }

// writeRoutes replaces the routes file atomically, its topics renamed.
func (e *routeEnv) writeRoutes(t *testing.T, content string) {
	t.Helper()
	for name, prefixed := range e.names {
		content = strings.ReplaceAll(content, "["+name+"]", "["+prefixed+"]")
	}
	tmp := e.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.path); err != nil {
		t.Fatal(err)
	}
}

func exampleRoutes(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "configs", "routes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// productExample reads examples/routes/NAME.json, lets change edit it, and
// returns it as JSON.
func productExample(t *testing.T, name string, change func(ev map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "examples", "routes", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if change != nil {
		change(ev)
	}
	out, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dataOf(ev map[string]any) map[string]any { return ev["data"].(map[string]any) }

func rfc3339(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

// requestsTo returns the answered requests to path whose body contains all
// the fragments.
func requestsTo(sim *brazetest.Server, path string, fragments ...string) []brazetest.Request {
	var out []brazetest.Request
	for _, r := range sim.Requests() {
		if r.Path != path || r.Status/100 != 2 {
			continue
		}
		ok := true
		for _, f := range fragments {
			ok = ok && strings.Contains(string(r.Body), f)
		}
		if ok {
			out = append(out, r)
		}
	}
	return out
}

// results reads the results topic and indexes the records by id.
func results(t *testing.T, env *gwtest.Env, n int) map[string][]event.Result {
	t.Helper()
	out := map[string][]event.Result{}
	for _, m := range env.ReadAll(env.Results(), n, 30*time.Second) {
		var r event.Result
		if err := json.Unmarshal(m.Value, &r); err != nil {
			t.Fatalf("result %s: %v", m.Value, err)
		}
		out[r.ID] = append(out[r.ID], r)
	}
	return out
}

// TestRoutesWorkedExamples runs the three worked examples of
// docs/routing.md (configs/routes.yaml) end to end: a shipped order fans
// out to a push campaign and an email Canvas (structured and binary mode),
// a plain JSON sign-up enters a Canvas from the EU workspace, a booked
// appointment schedules a reminder that its cancellation deletes.
func TestRoutesWorkedExamples(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t, exampleRoutes(t))
	now := time.Now().UTC().Truncate(time.Second)
	starts := now.Add(72 * time.Hour)

	shipped := productExample(t, "order.shipped", func(ev map[string]any) { ev["time"] = rfc3339(now) })
	// The same event in binary mode for a customer without shipping pushes.
	noPush := productExample(t, "order.shipped", nil)
	var np map[string]any
	_ = json.Unmarshal(noPush, &np)
	npData := dataOf(np)
	npData["customer"] = map[string]any{"id": "cust-2002", "push_opt_in": false}
	npData["order_id"] = "ORD-100235"
	binary := gwtest.Event{ID: "0e8b1c8a-binary", Source: "/commerce/orders", Type: "com.shop.order.shipped", Time: now, Data: npData}.Binary("cust-2002")
	signup := productExample(t, "user.signed_up", nil)
	unverified := productExample(t, "user.signed_up", func(ev map[string]any) {
		ev["user_id"], ev["email_verified"] = "u-0", false
	})
	booked := productExample(t, "appointment.booked", func(ev map[string]any) {
		ev["time"] = rfc3339(now)
		d := dataOf(ev)
		d["booked_at"], d["starts_at"] = rfc3339(now), rfc3339(starts)
	})
	cancelled := productExample(t, "appointment.cancelled", func(ev map[string]any) {
		ev["time"] = rfc3339(now.Add(time.Second))
		d := dataOf(ev)
		d["booked_at"], d["starts_at"] = rfc3339(now), rfc3339(starts)
	})

	e.Produce(e.topic(ordersTopic), kafka.Message{Key: []byte("cust-2001"), Value: shipped}, binary)
	e.Produce(e.topic(signupsTopic), kafka.Message{Key: []byte("u-58213"), Value: signup}, kafka.Message{Key: []byte("u-0"), Value: unverified})
	e.Produce(e.topic(appointmentsTopic), kafka.Message{Key: []byte("pat-4410"), Value: booked}, kafka.Message{Key: []byte("pat-4410"), Value: cancelled})
	gw := e.Start(e.cfg)

	sim := e.Sim
	gwtest.Eventually(t, 60*time.Second, func() bool {
		return len(requestsTo(sim, "/campaigns/trigger/schedule/delete")) == 1 && len(sim.Deliveries()) >= 4
	}, "the examples' requests: %d deliveries, %d requests", len(sim.Deliveries()), len(sim.Requests()))
	e.WaitCommitted(t, e.cfg.Kafka.GroupID, 30*time.Second, e.topic(ordersTopic), e.topic(signupsTopic), e.topic(appointmentsTopic))

	// 1. Transactional fan-out.
	push := requestsTo(sim, "/campaigns/trigger/send", `"campaign_id":"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"`)
	if len(push) != 1 {
		t.Fatalf("%d shipping pushes, want 1 (none for cust-2002)", len(push))
	}
	var pushBody struct {
		Recipients []struct {
			ExternalUserID    string            `json:"external_user_id"`
			TriggerProperties map[string]string `json:"trigger_properties"`
		} `json:"recipients"`
	}
	if err := json.Unmarshal(push[0].Body, &pushBody); err != nil {
		t.Fatal(err)
	}
	if r := pushBody.Recipients; len(r) != 1 || r[0].ExternalUserID != "cust-2001" || r[0].TriggerProperties["carrier"] != "DHL" ||
		r[0].TriggerProperties["eta"] != "2026-03-06" || r[0].TriggerProperties["order_id"] != "ORD-100234" {
		t.Errorf("push body %s", push[0].Body)
	}
	for _, cust := range []string{"cust-2001", "cust-2002"} {
		if n := len(requestsTo(sim, "/canvas/trigger/send", `"canvas_id":"0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"`, `"external_user_id":"`+cust+`"`)); n != 1 {
			t.Errorf("%d shipping emails for %s, want 1", n, cust)
		}
	}
	email := requestsTo(sim, "/canvas/trigger/send", `"external_user_id":"cust-2001"`)
	if len(email) != 1 || !strings.Contains(string(email[0].Body), `"items":[{"name":"Trail shoe","quantity":1,"sku":"TRL-42"}`) {
		t.Errorf("email body %s", email[0].Body)
	}

	// 2. Lifecycle, from a plain JSON record; the unverified sign-up is skipped.
	welcome := requestsTo(sim, "/canvas/trigger/send", `"canvas_id":"3a2b1c0d-9e8f-4a7b-8c6d-5e4f3a2b1c0d"`)
	if len(welcome) != 1 || !strings.Contains(string(welcome[0].Body), `"external_user_id":"u-58213","send_to_existing_only":false,"attributes":{"email":"ann.lee@example.com"`) {
		t.Fatalf("welcome requests %d: %v", len(welcome), welcome)
	}

	// 3. Scheduled reminder, then its deletion by schedule key.
	create := requestsTo(sim, "/campaigns/trigger/schedule/create")
	del := requestsTo(sim, "/campaigns/trigger/schedule/delete")
	if len(create) != 1 || len(del) != 1 {
		t.Fatalf("%d schedule creates, %d deletes", len(create), len(del))
	}
	if want := `"schedule":{"time":"` + rfc3339(starts.Add(-24*time.Hour)) + `"}`; !strings.Contains(string(create[0].Body), want) {
		t.Errorf("create body %s lacks %s", create[0].Body, want)
	}
	if !strings.Contains(string(del[0].Body), `"schedule_id":"`+create[0].ScheduleID+`"`) || create[0].ScheduleID == "" {
		t.Errorf("delete body %s does not name the created schedule %q", del[0].Body, create[0].ScheduleID)
	}
	if live := sim.Schedules(); len(live) != 0 {
		t.Errorf("schedules still live: %+v", live)
	}

	// Every derived operation has its result, sent; nothing is dead-lettered.
	res := results(t, e.Env, 6)
	sent := 0
	for id, rs := range res {
		for _, r := range rs {
			if r.Outcome != event.OutcomeSent {
				t.Errorf("result %s: %+v", id, r)
			}
			sent++
		}
	}
	if sent != 6 {
		t.Errorf("%d results, want 6", sent)
	}
	pushID := routes.DerivedID("ce\x00/commerce/orders\x000e8b1c8a-7f4e-4d1b-9a53-3c2f5e9d7a61", "order-shipped", "push")
	if len(res[pushID]) != 1 {
		t.Errorf("no result for the push under its derived id %s", pushID)
	}
	if dlq := e.ReadNow(e.DLQ()); len(dlq) != 0 {
		t.Errorf("%d dead letters, want none", len(dlq))
	}
	_, metrics := gw.Get("/metrics")
	for _, want := range []string{
		`braze_gateway_routes_events_total{result="matched",topic="` + e.topic(ordersTopic) + `"} 2`,
		`braze_gateway_routes_events_total{result="unmatched",topic="` + e.topic(signupsTopic) + `"} 1`,
		`braze_gateway_routes_operations_total{route="order-shipped",type="braze.canvas.trigger.send"} 2`,
		`braze_gateway_routes_version{version=`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// fanOutRoutes sends a push and an email per shipped order, and loyalty
// points through a second route that needs data.points.
const fanOutRoutes = `routes:
  - name: shipped
    topics: [commerce.orders]
    when: type == "order.shipped"
    emit:
      - name: push
        type: braze.campaigns.trigger.send
        body:
          campaign_id: '"push-campaign"'
          recipients: [{external_user_id: data.user}]
      - name: email
        type: braze.canvas.trigger.send
        body:
          canvas_id: '"email-canvas"'
          recipients: [{external_user_id: data.user}]
  - name: loyalty
    topics: [commerce.orders]
    when: type == "order.shipped"
    emit:
      - type: braze.campaigns.trigger.send
        body:
          campaign_id: '"loyalty-campaign"'
          recipients:
            - external_user_id: data.user
              trigger_properties:
                points: POINTS
`

// deliveriesByCampaign counts deliveries per campaign or Canvas and user.
func deliveriesByCampaign(t *testing.T, sim *brazetest.Server) map[string]map[string]int {
	t.Helper()
	reqs := sim.Requests()
	out := map[string]map[string]int{}
	for _, d := range sim.Deliveries() {
		var body struct {
			CampaignID string `json:"campaign_id"`
			CanvasID   string `json:"canvas_id"`
		}
		if err := json.Unmarshal(reqs[d.Request].Body, &body); err != nil {
			t.Fatal(err)
		}
		c := body.CampaignID + body.CanvasID
		if out[c] == nil {
			out[c] = map[string]int{}
		}
		out[c][strings.TrimPrefix(d.Recipient, "external_user_id:")]++
	}
	return out
}

// TestRoutesFanOutAndReplay publishes shipped orders, some of which make
// the loyalty route fail: every order still gets its push and email once,
// the failures are dead-lettered as route_error naming the route, and once
// the routes file is fixed a replay delivers the loyalty messages while
// the operations already sent are recognised as duplicates by their ids.
func TestRoutesFanOutAndReplay(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t, strings.Replace(fanOutRoutes, "POINTS", "data.points", 1))
	e.cfg.Routes.PollInterval = 50 * time.Millisecond
	const n, broken = 60, 10
	var msgs []kafka.Message
	for i := range n {
		data := map[string]any{"user": fmt.Sprintf("u-%d", i)}
		if i >= broken {
			data["points"] = i
		}
		ev := gwtest.Event{ID: fmt.Sprintf("order-%d", i), Source: "/shop", Type: "order.shipped", Time: time.Now(), Data: data}
		if i%2 == 0 {
			msgs = append(msgs, ev.Structured(fmt.Sprintf("u-%d", i)))
		} else {
			msgs = append(msgs, ev.Binary(fmt.Sprintf("u-%d", i)))
		}
	}
	e.Produce(e.topic(ordersTopic), msgs...)
	gw := e.Start(e.cfg)

	dlq := e.ReadAll(e.DLQ(), broken, 60*time.Second)
	gwtest.Eventually(t, 60*time.Second, func() bool { return len(e.Sim.Deliveries()) >= 3*n-broken },
		"deliveries: %d of %d", len(e.Sim.Deliveries()), 3*n-broken)
	e.WaitCommitted(t, e.cfg.Kafka.GroupID, 30*time.Second, e.topic(ordersTopic))
	for _, m := range dlq {
		if r := gwtest.Header(m, deadletter.HeaderReason); r != string(event.ReasonRouteError) {
			t.Errorf("dead letter reason %s", r)
		}
		if gwtest.Header(m, pipeline.HeaderRoute) != "loyalty" || !strings.Contains(gwtest.Header(m, deadletter.HeaderError), `route "loyalty"`) {
			t.Errorf("dead letter does not name the route: %v", m.Headers)
		}
		found := false
		for _, orig := range msgs {
			found = found || (string(orig.Key) == string(m.Key) && string(orig.Value) == string(m.Value))
		}
		if !found {
			t.Errorf("dead letter %s is not a product record byte for byte", m.Key)
		}
	}

	// Fix the route; the poller puts it in force.
	e.writeRoutes(t, strings.Replace(fanOutRoutes, "POINTS", "data.?points.orValue(0)", 1))
	gwtest.Eventually(t, 30*time.Second, func() bool {
		_, m := gw.Get("/metrics")
		return regexp.MustCompile(`braze_gateway_routes_version\{version="[0-9a-f]+"\} 2`).MatchString(m)
	}, "the fixed routes file to be in force")
	stats := runReplay(t, deadletter.ReplayConfig{Brokers: e.Brokers, DLQTopic: e.DLQ(), GroupID: e.Prefix + "replay"})
	if stats.Replayed != broken {
		t.Fatalf("replayed %d, want %d", stats.Replayed, broken)
	}
	gwtest.Eventually(t, 60*time.Second, func() bool { return len(e.Sim.Deliveries()) >= 3*n },
		"deliveries after replay: %d of %d", len(e.Sim.Deliveries()), 3*n)
	e.WaitCommitted(t, e.cfg.Kafka.GroupID, 30*time.Second, e.topic(ordersTopic))
	// Results: 3n sent, and the replayed events' push and email as duplicates.
	res := results(t, e.Env, 3*n+2*broken)
	outcomes := map[string]int{}
	for _, rs := range res {
		for _, r := range rs {
			outcomes[r.Outcome]++
		}
	}
	if outcomes[event.OutcomeSent] != 3*n || outcomes[event.OutcomeDuplicate] != 2*broken {
		t.Errorf("outcomes %v, want %d sent and %d duplicates", outcomes, 3*n, 2*broken)
	}
	got := deliveriesByCampaign(t, e.Sim)
	for _, c := range []string{"push-campaign", "email-canvas", "loyalty-campaign"} {
		for i := range n {
			if k := got[c][fmt.Sprintf("u-%d", i)]; k != 1 {
				t.Errorf("%s: u-%d got %d messages, want 1", c, i, k)
			}
		}
	}
}

// reloadRoutes is a routes file whose version shows in what it sends.
const reloadRoutes = `routes:
  - name: shipped
    topics: [commerce.orders]
    emit:
      - name: push
        type: braze.campaigns.trigger.send
        body:
          campaign_id: '"push-campaign"'
          recipients:
            - external_user_id: data.user
              trigger_properties: {version: '"VERSION"'}
      - name: email
        type: braze.canvas.trigger.send
        body:
          canvas_id: '"email-canvas"'
          recipients: [{external_user_id: data.user, context: {version: '"VERSION"'}}]
`

// TestRoutesReloadUnderLoad swaps the routes file again and again while a
// stream of product events flows: every event's operations are delivered
// exactly once (none lost to a swap, none doubled), each event is routed
// by one version as a whole, and the swaps are in force (generation).
func TestRoutesReloadUnderLoad(t *testing.T) {
	t.Parallel()
	e := newRouteEnv(t, strings.ReplaceAll(reloadRoutes, "VERSION", "v0"))
	e.cfg.Routes.PollInterval = 10 * time.Millisecond
	gw := e.Start(e.cfg)

	generation := regexp.MustCompile(`braze_gateway_routes_version\{version="[0-9a-f]+"\} (\d+)`)
	inForce := func() int {
		_, m := gw.Get("/metrics")
		g := generation.FindStringSubmatch(m)
		if g == nil {
			return 0
		}
		v, _ := strconv.Atoi(g[1])
		return v
	}
	// Batches of events alternate with file swaps, so that swaps land while
	// the gateway is busy with the earlier batches.
	const batches, perBatch = 24, 50
	swaps := 0
	for b := range batches {
		var msgs []kafka.Message
		for i := range perBatch {
			u := fmt.Sprintf("u-%d-%d", b, i)
			ev := gwtest.Event{ID: u, Source: "/shop", Type: "order.shipped", Time: time.Now(), Data: map[string]any{"user": u}}
			msgs = append(msgs, ev.Structured(u))
		}
		e.Produce(e.topic(ordersTopic), msgs...)
		if b%2 == 0 {
			swaps++
			e.writeRoutes(t, strings.ReplaceAll(reloadRoutes, "VERSION", fmt.Sprintf("v%d", swaps)))
			gwtest.Eventually(t, 30*time.Second, func() bool { return inForce() == swaps+1 }, "version %d in force", swaps)
		}
	}

	total := batches * perBatch
	gwtest.Eventually(t, 90*time.Second, func() bool { return len(e.Sim.Deliveries()) >= 2*total },
		"deliveries: %d of %d", len(e.Sim.Deliveries()), 2*total)
	e.WaitCommitted(t, e.cfg.Kafka.GroupID, 30*time.Second, e.topic(ordersTopic))
	if n := len(e.Sim.Deliveries()); n != 2*total {
		t.Errorf("%d deliveries, want %d", n, 2*total)
	}
	got := deliveriesByCampaign(t, e.Sim)
	versions := map[string]string{} // user → version of its push
	for _, d := range e.Sim.Deliveries() {
		var r struct {
			ExternalUserID string            `json:"external_user_id"`
			TP             map[string]string `json:"trigger_properties"`
			Context        map[string]string `json:"context"`
		}
		if err := json.Unmarshal(d.Body, &r); err != nil {
			t.Fatal(err)
		}
		v := r.TP["version"] + r.Context["version"]
		if prev, ok := versions[r.ExternalUserID]; ok && prev != v {
			t.Errorf("%s: push and email from different versions (%s, %s)", r.ExternalUserID, prev, v)
		}
		versions[r.ExternalUserID] = v
	}
	for b := range batches {
		for i := range perBatch {
			u := fmt.Sprintf("u-%d-%d", b, i)
			if got["push-campaign"][u] != 1 || got["email-canvas"][u] != 1 {
				t.Fatalf("%s: %d pushes, %d emails; want one each", u, got["push-campaign"][u], got["email-canvas"][u])
			}
		}
	}
	if dlq := e.ReadNow(e.DLQ()); len(dlq) != 0 {
		t.Errorf("%d dead letters, want none", len(dlq))
	}
	t.Logf("%d product events, %d versions swapped in while they flowed", total, swaps)
}
