//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/internal/gwtest"
	"github.com/brazegw/gateway/routes"
)

// These tests run the gateway binary (gwtest.BuildGateway): its "routes
// test" command, and a gateway that reloads its routes on SIGHUP.

// testedRequest is a line of "gateway routes test --json".
type testedRequest struct {
	Route     string          `json:"route"`
	Operation string          `json:"operation"`
	Type      string          `json:"type"`
	Endpoint  string          `json:"endpoint"`
	ID        string          `json:"id"`
	Source    string          `json:"source"`
	Body      json.RawMessage `json:"body"`
	Refused   string          `json:"refused"`
	Error     string          `json:"error"`
}

// routesTest runs "gateway routes test --json" and returns its requests.
func routesTest(t *testing.T, bin string, args ...string) []testedRequest {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"routes", "test", "--json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gateway routes test %v: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	var reqs []testedRequest
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r testedRequest
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("routes test output %q: %v", sc.Text(), err)
		}
		if r.Error != "" || r.Refused != "" {
			t.Fatalf("routes test: %+v", r)
		}
		reqs = append(reqs, r)
	}
	return reqs
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestRoutesTestCommandMatchesSimulator checks that "gateway routes test"
// prints exactly the requests the simulator then receives when the same
// records go through Kafka and the gateway, with the same derived ids as
// the results topic.
func TestRoutesTestCommandMatchesSimulator(t *testing.T) {
	t.Parallel()
	bin := gwtest.BuildGateway(t)
	e := newRouteEnv(t, exampleRoutes(t))
	now := time.Now().UTC().Truncate(time.Second)
	starts := now.Add(50 * time.Hour)
	type product struct {
		topic, key string
		value      []byte
	}
	products := []product{
		{ordersTopic, "cust-2001", productExample(t, "order.shipped", func(ev map[string]any) { ev["time"] = rfc3339(now) })},
		{signupsTopic, "u-58213", productExample(t, "user.signed_up", nil)},
		{appointmentsTopic, "pat-4410", productExample(t, "appointment.booked", func(ev map[string]any) {
			ev["time"] = rfc3339(now)
			d := dataOf(ev)
			d["booked_at"], d["starts_at"] = rfc3339(now), rfc3339(starts)
		})},
		{appointmentsTopic, "pat-4410", productExample(t, "appointment.cancelled", func(ev map[string]any) {
			ev["time"] = rfc3339(now.Add(time.Minute))
			d := dataOf(ev)
			d["booked_at"], d["starts_at"] = rfc3339(now), rfc3339(starts)
		})},
	}
	for _, p := range products {
		e.Produce(e.topic(p.topic), kafka.Message{Key: []byte(p.key), Value: p.value})
	}
	e.Start(e.cfg)

	// What "routes test" says each record produces, knowing where it was
	// written (the identity of the plain JSON record) and its timestamp.
	var want []testedRequest
	dir := t.TempDir()
	for i, p := range products {
		var rec kafka.Message
		for _, m := range e.ReadNow(e.topic(p.topic)) {
			if bytes.Equal(m.Value, p.value) {
				rec = m
			}
		}
		if rec.Value == nil {
			t.Fatalf("product %d not found in %s", i, e.topic(p.topic))
		}
		file := filepath.Join(dir, fmt.Sprintf("event-%d.json", i))
		if err := os.WriteFile(file, p.value, 0o600); err != nil {
			t.Fatal(err)
		}
		want = append(want, routesTest(t, bin, "--routes", e.path, "--topic", rec.Topic, "--key", p.key, "--event", file,
			"--partition", strconv.Itoa(rec.Partition), "--offset", strconv.FormatInt(rec.Offset, 10),
			"--time", rec.Time.UTC().Format(time.RFC3339Nano))...)
	}
	if len(want) != 5 {
		t.Fatalf("routes test printed %d requests, want 5: %+v", len(want), want)
	}

	gwtest.Eventually(t, 60*time.Second, func() bool {
		return len(requestsTo(e.Sim, "/campaigns/trigger/schedule/delete")) == 1 && len(requestsTo(e.Sim, "/canvas/trigger/send")) == 2
	},
		"the simulator to receive the requests (%d so far)", len(e.Sim.Requests()))
	got := e.Sim.Requests()
	if len(got) != len(want) {
		t.Fatalf("the simulator received %d requests, routes test printed %d", len(got), len(want))
	}
	res := results(t, e.Env, len(want))
	for _, w := range want {
		matched := false
		for _, g := range got {
			body := g.Body
			if w.Type == "braze.campaigns.trigger.schedule.delete" {
				// The gateway fills in the schedule_id of the schedule key.
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				delete(m, "schedule_id")
				body, _ = json.Marshal(m)
			}
			matched = matched || (g.Path == w.Endpoint && sameJSON(body, w.Body))
		}
		if !matched {
			t.Errorf("routes test printed %s %s that the simulator did not receive", w.Endpoint, w.Body)
		}
		if rs := res[w.ID]; len(rs) != 1 || rs[0].Source != w.Source || rs[0].Type != w.Type || rs[0].Outcome != "sent" {
			t.Errorf("result of %s/%s (id %s): %+v", w.Route, w.Operation, w.ID, rs)
		}
	}
}

// TestRoutesReloadOnSIGHUP runs the gateway binary with file polling off:
// SIGHUP puts a changed routes file in force (logged with its version), and
// a bad file is rejected with its line while the good one stays.
func TestRoutesReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	bin := gwtest.BuildGateway(t)
	e := newRouteEnv(t, strings.ReplaceAll(reloadRoutes, "VERSION", "v1"))
	e.cfg.Routes.PollInterval = -1
	child := gwtest.StartChild(t, bin, e.WriteConfig(t, e.cfg))

	send := func(user, version string) {
		t.Helper()
		ev := gwtest.Event{ID: user, Source: "/shop", Type: "order.shipped", Time: time.Now(), Data: map[string]any{"user": user}}
		e.Produce(e.topic(ordersTopic), ev.Structured(user))
		gwtest.Eventually(t, 60*time.Second, func() bool {
			for _, d := range e.Sim.Deliveries() {
				if strings.Contains(string(d.Body), `"external_user_id":"`+user+`"`) &&
					strings.Contains(string(d.Body), `"version":"`+version+`"`) {
					return true
				}
			}
			return false
		}, "%s to be sent by routes %s", user, version)
	}
	hangup := func() {
		t.Helper()
		if err := syscall.Kill(child.Pid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	send("u-1", "v1")

	v2 := strings.ReplaceAll(reloadRoutes, "VERSION", "v2")
	e.writeRoutes(t, v2)
	content, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := routes.Parse(e.path, content)
	if err != nil {
		t.Fatal(err)
	}
	hangup()
	gwtest.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(child.Log(1<<20), `"msg":"routes in force"`) && strings.Contains(child.Log(1<<20), `"version":"`+tab.Version+`"`)
	}, "the log to announce version %s", tab.Version)
	send("u-2", "v2")

	e.writeRoutes(t, strings.Replace(v2, "external_user_id: data.user\n", "external_user_id: data.user +\n", 1))
	hangup()
	gwtest.Eventually(t, 30*time.Second, func() bool {
		return strings.Contains(child.Log(1<<20), `"msg":"routes file rejected; the routes in force stay"`)
	}, "the log to report the bad file")
	logs := child.Log(1 << 20)
	if !strings.Contains(logs, "routes.yaml:10:") || !strings.Contains(logs, `"version_in_force":"`+tab.Version+`"`) {
		t.Errorf("the rejection does not give the line and the version in force:\n%s", logs)
	}
	send("u-3", "v2")
	if err := child.Stop(20 * time.Second); err != nil {
		t.Errorf("gateway exit: %v", err)
	}
}
