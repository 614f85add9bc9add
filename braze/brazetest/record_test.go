package brazetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/brazegw/gateway/braze"
)

func TestDeliveriesPerRecipient(t *testing.T) {
	s := devServer(t, nil)
	a := post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","recipients":[`+
		`{"external_user_id":"u1","trigger_properties":{"n":1}},`+
		`{"user_alias":{"alias_name":"lead-77","alias_label":"crm_id"}},`+
		`{"email":"a@example.com","prioritization":["identified"]},`+
		`{"braze_id":"b-1"},`+
		`{"external_user_id":"u1","trigger_properties":{"n":2}}]}`)
	mustStatus(t, a, 201)
	dels := s.Deliveries()
	var got []string
	for _, d := range dels {
		got = append(got, d.Recipient)
		if d.DispatchID != a.env.DispatchID || d.Endpoint != "/campaigns/trigger/send" || d.Request != 0 {
			t.Errorf("delivery %+v", d)
		}
	}
	want := "external_user_id:u1 alias:crm_id:lead-77 email:a@example.com braze_id:b-1"
	if strings.Join(got, " ") != want {
		t.Fatalf("recipients %q, want %q", strings.Join(got, " "), want)
	}
	// A recipient named twice gets one message with the last entry's properties.
	if !strings.Contains(string(dels[0].Body), `"n":2`) {
		t.Fatalf("body of the repeated recipient: %s", dels[0].Body)
	}
	// Deliveries count across calls; /messages/send bodies are the ids.
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	if n := s.DeliveryCount("external_user_id:u1"); n != 2 {
		t.Fatalf("u1 delivered %d times", n)
	}
	last := s.Deliveries()[len(s.Deliveries())-1]
	if string(last.Body) != `"u1"` || last.Request != 1 {
		t.Fatalf("last delivery %+v", last)
	}
	// Failed calls and broadcasts deliver nothing.
	mustStatus(t, post(t, s, "/messages/send", `{"external_user_ids":["x"]}`), 400)
	mustStatus(t, post(t, s, "/messages/send", `{"broadcast":true,"segment_id":"`+seg+`","messages":`+push+`}`), 201)
	if n := len(s.Deliveries()); n != 5 {
		t.Fatalf("%d deliveries", n)
	}
	reqs := s.Requests()
	if len(reqs) != 4 || reqs[2].Status != 400 || reqs[0].Workspace != DevWorkspace || reqs[0].DispatchID != a.env.DispatchID {
		t.Fatalf("requests %+v", reqs)
	}
	for _, r := range reqs {
		if strings.Contains(string(r.Body), testKey) {
			t.Fatal("a record holds the key")
		}
	}
	s.Reset()
	if len(s.Requests()) != 0 || len(s.Deliveries()) != 0 || s.DeliveryCount("external_user_id:u1") != 0 {
		t.Fatal("Reset kept records")
	}
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	if r := s.Requests(); len(r) != 1 || r[0].Index != 0 {
		t.Fatalf("after reset %+v", r)
	}
}

func TestRecordCapsAndDropBodies(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Limits = nil
		c.MaxRequests, c.MaxDeliveries, c.DropBodies = 3, 4, true
	})
	for i := range 10 {
		mustStatus(t, post(t, s, "/messages/send", fmt.Sprintf(`{"external_user_ids":["a%d","b%d"],"messages":%s}`, i, i, push)), 201)
	}
	reqs, dels := s.Requests(), s.Deliveries()
	if len(reqs) != 3 || reqs[0].Index != 7 || reqs[2].Index != 9 || reqs[0].Body != nil {
		t.Fatalf("requests %+v", reqs)
	}
	if len(dels) != 4 || dels[0].Recipient != "external_user_id:a8" || dels[0].Body != nil {
		t.Fatalf("deliveries %+v", dels)
	}
	if s.DeliveryCount("external_user_id:a0") != 1 {
		t.Fatal("counts must not be capped")
	}
	st := s.Stats()
	if len(st.Requests) != 1 || st.Requests[0] != (RequestStat{"/messages/send", 201, 10}) ||
		len(st.Deliveries) != 1 || st.Deliveries[0].Count != 20 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConcurrentUse hammers one server from many goroutines (run with
// -race): every call is recorded once, every recipient delivered once, and
// the budget is never overdrawn.
func TestConcurrentUse(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Limits = smallLimits()
		c.Limits["shared"] = limitOf("shared", 300)
		c.Faults = Faults{MinorErrors: []string{"w0-3"}}
	})
	client, err := braze.New(braze.Config{BaseURL: s.URL, APIKey: testKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				body := fmt.Sprintf(`{"campaign_id":"%s","recipients":[{"external_user_id":"w%d-%d"}]}`, trg, w, i)
				resp, err := client.Post(context.Background(), "/campaigns/trigger/send", []byte(body))
				st := 0
				if resp != nil {
					st = resp.Status
				} else if err != nil {
					t.Errorf("call: %v", err)
				}
				mu.Lock()
				statuses[st]++
				mu.Unlock()
				if i%10 == 0 {
					_ = s.Requests()
					_ = s.Schedules()
					_ = s.Stats()
				}
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			s.SetFaults(s.Faults())
		}
	})
	wg.Wait()
	if statuses[201] != 300 || statuses[429] != workers*perWorker-300 {
		t.Fatalf("statuses %v, want 300 accepted and the rest rate limited", statuses)
	}
	if n := len(s.Requests()); n != workers*perWorker {
		t.Fatalf("%d requests recorded", n)
	}
	seen := map[string]bool{}
	for _, d := range s.Deliveries() {
		if seen[d.Recipient] {
			t.Fatalf("%s delivered twice", d.Recipient)
		}
		seen[d.Recipient] = true
	}
	if s.DeliveryCount("external_user_id:w0-3") != 0 {
		t.Fatal("a minor-error recipient was delivered")
	}
}

func TestAdminAPI(t *testing.T) {
	s := devServer(t, nil)
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	mustStatus(t, post(t, s, "/messages/schedule/create", `{"external_user_ids":["u9"],"messages":`+push+`,"schedule":{"time":"2099-01-01T00:00:00Z"}}`), 201)
	get := func(path string, v any) {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	var reqs []map[string]any
	get("/_sim/requests", &reqs)
	if len(reqs) != 2 || reqs[0]["path"] != "/messages/send" || reqs[0]["status"] != 201.0 {
		t.Fatalf("requests %v", reqs)
	}
	if b, ok := reqs[0]["body"].(map[string]any); !ok || b["external_user_ids"] == nil {
		t.Fatalf("request body not JSON: %v", reqs[0]["body"])
	}
	var dels []map[string]any
	get("/_sim/deliveries?recipient=external_user_id:u9", &dels)
	if len(dels) != 1 || dels[0]["endpoint"] != "/messages/schedule/create" {
		t.Fatalf("deliveries %v", dels)
	}
	var count map[string]any
	get("/_sim/deliveries/count?recipient=external_user_id:u1", &count)
	if count["count"] != 1.0 {
		t.Fatalf("count %v", count)
	}
	var scheds []map[string]any
	get("/_sim/schedules", &scheds)
	if len(scheds) != 1 || scheds[0]["schedule_id"] == "" {
		t.Fatalf("schedules %v", scheds)
	}

	put := func(body string) int {
		req, _ := http.NewRequest(http.MethodPut, s.URL+"/_sim/faults", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := put(`{"storm429":{"calls":1},"latency":{"fixed":"1ms"}}`); st != 200 {
		t.Fatalf("PUT faults: %d", st)
	}
	if f := s.Faults(); f.Storm429 == nil || f.Storm429.Calls != 1 || f.Latency.Fixed != 1e6 {
		t.Fatalf("faults %+v", f)
	}
	var f map[string]any
	get("/_sim/faults", &f)
	if f["storm429"] == nil {
		t.Fatalf("GET faults %v", f)
	}
	for _, bad := range []string{`{"timeouts":2}`, `{"nope":1}`, `not json`} {
		if st := put(bad); st != 400 {
			t.Errorf("PUT %s: %d, want 400", bad, st)
		}
	}
	mustStatus(t, post(t, s, "/messages/send", sendOK), 429)

	resp, err := http.Post(s.URL+"/_sim/reset", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(s.Requests()) != 0 {
		t.Fatal("reset kept requests")
	}
	if resp, err = http.Get(s.URL + "/_sim/nope"); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("unknown admin route: %d", resp.StatusCode)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DevConfig("k").Validate(); err != nil {
		t.Fatalf("DevConfig: %v", err)
	}
	tests := map[string]func(*Config){
		"duplicate key": func(c *Config) {
			c.Workspaces = append(c.Workspaces, Workspace{Name: "b", APIKeys: []APIKey{{Key: "k"}}})
		},
		"duplicate name":     func(c *Config) { c.Workspaces = append(c.Workspaces, Workspace{Name: DevWorkspace}) },
		"unknown permission": func(c *Config) { c.Workspaces[0].APIKeys[0].Permissions = []string{"users.track"} },
		"canvas state":       func(c *Config) { c.Workspaces[0].Canvases[0].State = "draft" },
		"channel":            func(c *Config) { c.Workspaces[0].Campaigns[0].Variations[0].Channel = "fax" },
		"limit":              func(c *Config) { c.Limits["shared"] = limitOf("shared", 0) },
		"fault":              func(c *Config) { c.Faults.Timeouts = -1 },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := DevConfig("k")
			mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("validated")
			}
			if strings.Contains(err.Error(), `"k"`) {
				t.Fatalf("error shows the key: %v", err)
			}
		})
	}
	if s := fmt.Sprintf("%v %+v %#v", DevConfig("secret-key"), DevConfig("secret-key"), DevConfig("secret-key").Workspaces[0].APIKeys[0]); strings.Contains(s, "secret-key") {
		t.Fatal("printing a Config shows the key")
	}
}

func TestLiveActivityDeliveries(t *testing.T) {
	s := devServer(t, nil)
	mustStatus(t, post(t, s, "/messages/live_activity/start", liveStart(`"external_user_ids":["fan-1"],"user_aliases":[{"alias_name":"n","alias_label":"l"}]`)), 201)
	mustStatus(t, post(t, s, "/messages/live_activity/start", liveStart(`"segment_id":"`+seg+`"`)), 201)
	mustStatus(t, post(t, s, "/messages/live_activity/update", `{"app_id":"app","activity_id":"act","content_state":{"a":1}}`), 201)
	if s.DeliveryCount("external_user_id:fan-1") != 1 || s.DeliveryCount("alias:l:n") != 1 || len(s.Deliveries()) != 2 {
		t.Fatalf("deliveries %+v", s.Deliveries())
	}
}
