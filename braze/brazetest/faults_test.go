package brazetest

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

func TestFaultAuthFail(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Faults = Faults{AuthFail: true} })
	a := post(t, s, "/messages/send", sendOK)
	mustStatus(t, a, 401)
	if a.header.Get("X-RateLimit-Limit") == "" {
		t.Fatal("no rate-limit headers on an injected 401")
	}
	if r := s.Requests(); len(r) != 1 || r[0].Fault != "auth_fail" || r[0].Status != 401 {
		t.Fatalf("requests = %+v", r)
	}
	s.SetFaults(Faults{})
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
}

func TestFaultErrorRate(t *testing.T) {
	statuses := func(seed uint64) []int {
		s := devServer(t, func(c *Config) {
			c.Seed = seed
			c.Limits = nil
			c.Faults = Faults{ErrorRate: map[int]float64{500: 0.25, 503: 0.25}}
		})
		var out []int
		for range 200 {
			out = append(out, post(t, s, "/messages/send", sendOK).status)
		}
		return out
	}
	a, b := statuses(7), statuses(7)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed gave different fault sequences")
	}
	count := map[int]int{}
	for _, st := range a {
		count[st]++
	}
	// 200 draws at 25/25/50 %: each share lies well inside these bounds.
	if count[500] < 25 || count[500] > 75 || count[503] < 25 || count[503] > 75 || count[201] < 70 || count[201] > 130 || len(count) != 3 {
		t.Fatalf("status counts = %v", count)
	}
	if d := statuses(8); slices.Equal(a, d) {
		t.Fatal("different seeds gave the same sequence")
	}
}

func TestFaultStorm429ForCalls(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Faults = Faults{Storm429: &Storm{Calls: 2}} })
	a := post(t, s, "/messages/send", sendOK)
	mustStatus(t, a, 429)
	if a.env.Message != "Rate Limited" || a.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("storm answer %v %s", a.header, a.raw)
	}
	if f := s.Faults(); f.Storm429 == nil || f.Storm429.Calls != 1 {
		t.Fatalf("faults after one call = %+v", f)
	}
	mustStatus(t, post(t, s, "/messages/send", sendOK), 429)
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	if f := s.Faults(); f.Storm429 != nil {
		t.Fatalf("storm not over: %+v", f.Storm429)
	}
}

func TestFaultOutage(t *testing.T) {
	clk := newFakeClock(t0)
	s := devServer(t, func(c *Config) {
		c.Now = clk.Now
		c.Faults = Faults{Outage5xx: []Outage{
			{Status: 502, From: t0.Add(time.Minute), Until: t0.Add(2 * time.Minute)},
			{Status: 504, From: t0.Add(5 * time.Minute), Calls: 2},
		}}
	})
	steps := []struct {
		at   time.Duration
		want int
	}{
		{0, 201}, {time.Minute, 502}, {90 * time.Second, 502}, {2 * time.Minute, 201},
		{5 * time.Minute, 504}, {5 * time.Minute, 504}, {5 * time.Minute, 201},
	}
	for i, st := range steps {
		clk.Set(t0.Add(st.at))
		if a := post(t, s, "/messages/send", sendOK); a.status != st.want {
			t.Fatalf("step %d at +%v: status %d, want %d", i, st.at, a.status, st.want)
		}
	}
	if f := s.Faults(); len(f.Outage5xx) != 0 {
		t.Fatalf("outages left: %+v", f.Outage5xx)
	}
}

func TestFaultLatency(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Latency = 20 * time.Millisecond
		c.Faults = Faults{Latency: Latency{Fixed: 30 * time.Millisecond, Jitter: 10 * time.Millisecond}}
	})
	start := time.Now()
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("answered after %v, want at least 50ms", d)
	}
	// The percentile distribution, drawn directly.
	s2 := devServer(t, nil)
	l := Latency{P50: 10 * time.Millisecond, P99: 100 * time.Millisecond}
	var ds []time.Duration
	for range 20000 {
		ds = append(ds, s2.latency(l))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	p50, p99 := ds[len(ds)/2], ds[len(ds)*99/100]
	if p50 < 9*time.Millisecond || p50 > 11*time.Millisecond || p99 < 85*time.Millisecond || p99 > 115*time.Millisecond {
		t.Fatalf("p50 %v p99 %v, want about 10ms and 100ms", p50, p99)
	}
	for range 1000 {
		d := s2.latency(Latency{Fixed: 5 * time.Millisecond, Jitter: 5 * time.Millisecond})
		if d < 5*time.Millisecond || d >= 10*time.Millisecond {
			t.Fatalf("fixed+jitter latency %v out of [5ms,10ms)", d)
		}
	}
}

func TestFaultTimeout(t *testing.T) {
	for _, after := range []bool{false, true} {
		t.Run(map[bool]string{false: "before processing", true: "after processing"}[after], func(t *testing.T) {
			s := devServer(t, func(c *Config) { c.Faults = Faults{Timeouts: 1, DropAfterProcessing: after} })
			hc := &http.Client{Timeout: 150 * time.Millisecond}
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/messages/send", strings.NewReader(`{"external_user_ids":["late"],"messages":`+push+`}`))
			req.Header.Set("Authorization", "Bearer "+testKey)
			req.Header.Set("Content-Type", "application/json")
			start := time.Now()
			resp, err := hc.Do(req)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("got an answer %d, want a client timeout", resp.StatusCode)
			}
			if d := time.Since(start); d < 150*time.Millisecond {
				t.Fatalf("gave up after %v", d)
			}
			r := s.Requests()
			if len(r) != 1 || r[0].Status != 0 || r[0].Fault != "timeout" {
				t.Fatalf("requests = %+v", r)
			}
			want := 0
			if after {
				want = 1 // accepted, answer lost
			}
			if n := s.DeliveryCount("external_user_id:late"); n != want {
				t.Fatalf("deliveries = %d, want %d", n, want)
			}
			// The server stays usable and closes promptly.
			s.SetFaults(Faults{})
			mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
		})
	}
}

func TestFaultTimeoutReleasedByClose(t *testing.T) {
	cfg := DevConfig(testKey)
	cfg.Faults = Faults{Timeouts: 1}
	s := NewServer(cfg)
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/messages/send", strings.NewReader(sendOK))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			err = errors.New("answered")
		} else {
			err = nil
		}
		errc <- err
	}()
	waitFor(t, "the call to arrive", func() bool { return len(s.Requests()) == 1 })
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("Close did not release a held call")
	}
	if err := <-errc; err != nil {
		t.Fatalf("client: %v", err)
	}
}

func TestFaultConnectionReset(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Faults = Faults{ConnectionResets: 1} })
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/messages/send", strings.NewReader(sendOK))
	req.Header.Set("Authorization", "Bearer "+testKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("got an answer %d, want a reset", resp.StatusCode)
	}
	if r := s.Requests(); len(r) != 1 || r[0].Fault != "reset" || r[0].Status != 0 {
		t.Fatalf("requests = %+v", r)
	}
	if len(s.Deliveries()) != 0 {
		t.Fatal("a reset call delivered")
	}
}

func TestFaultMinorErrors(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Faults = Faults{MinorErrors: []string{"bad", "alias:crm:lead-9"}}
	})
	a := post(t, s, "/messages/send", `{"external_user_ids":["ok1","bad","ok2"],"user_aliases":[{"alias_name":"lead-9","alias_label":"crm"}],"messages":`+push+`}`)
	mustStatus(t, a, 201)
	if a.env.Message != "success" || len(a.env.Errors) != 2 {
		t.Fatalf("answer %s", a.raw)
	}
	var e minorError
	if err := json.Unmarshal(a.env.Errors[0], &e); err != nil || e.InputArray != "external_user_ids" || e.Index != 1 {
		t.Fatalf("first error %s (%v)", a.env.Errors[0], err)
	}
	if err := json.Unmarshal(a.env.Errors[1], &e); err != nil || e.InputArray != "user_aliases" || e.Index != 0 {
		t.Fatalf("second error %s (%v)", a.env.Errors[1], err)
	}
	for rc, want := range map[string]int{"external_user_id:ok1": 1, "external_user_id:ok2": 1, "external_user_id:bad": 0, "alias:crm:lead-9": 0} {
		if n := s.DeliveryCount(rc); n != want {
			t.Errorf("%s delivered %d times, want %d", rc, n, want)
		}
	}
	// Trigger recipients are matched by canonical id too.
	a = post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","recipients":[{"external_user_id":"x"},{"external_user_id":"bad"}]}`)
	mustStatus(t, a, 201)
	if len(a.env.Errors) != 1 || !strings.Contains(string(a.env.Errors[0]), `"recipients"`) {
		t.Fatalf("answer %s", a.raw)
	}
}

func TestFaultRejectIsolatedByHalving(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Limits = nil; c.Faults = Faults{Reject: []string{"external_user_id:poison"}} })
	batch := []string{"a", "b", "poison", "d"}
	send := func(users []string) int {
		b, _ := json.Marshal(users)
		return post(t, s, "/messages/send", `{"external_user_ids":`+string(b)+`,"messages":`+push+`}`).status
	}
	// Halve until the poison is alone: the answer never names it.
	a := post(t, s, "/messages/send", `{"external_user_ids":["a","b","poison","d"],"messages":`+push+`}`)
	mustStatus(t, a, 400)
	if strings.Contains(string(a.raw), "poison") {
		t.Fatalf("rejection names the item: %s", a.raw)
	}
	var isolate func(users []string) []string
	isolate = func(users []string) []string {
		if send(users) != 400 {
			return nil
		}
		if len(users) == 1 {
			return users
		}
		return append(isolate(users[:len(users)/2]), isolate(users[len(users)/2:])...)
	}
	if got := isolate(batch); !slices.Equal(got, []string{"poison"}) {
		t.Fatalf("isolated %v", got)
	}
	for _, u := range []string{"a", "b", "d"} {
		if s.DeliveryCount("external_user_id:"+u) != 1 {
			t.Errorf("%s not delivered exactly once", u)
		}
	}
	if s.DeliveryCount("external_user_id:poison") != 0 {
		t.Error("poison delivered")
	}
}

func TestFaultsJSONRoundTrip(t *testing.T) {
	f := Faults{
		AuthFail:            true,
		ErrorRate:           map[int]float64{503: 0.1, 429: 0.05},
		Latency:             Latency{Fixed: 20 * time.Millisecond, Jitter: 5 * time.Millisecond, P50: time.Millisecond, P99: time.Second},
		Storm429:            &Storm{Until: t0, Calls: 3},
		Outage5xx:           []Outage{{Status: 502, From: t0, Until: t0.Add(time.Hour)}, {Calls: 4}},
		Timeouts:            0.1,
		ConnectionResets:    0.2,
		DropAfterProcessing: true,
		MinorErrors:         []string{"u1"},
		Reject:              []string{"alias:l:n"},
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"fixed":"20ms"`) || !strings.Contains(string(b), `"503":0.1`) {
		t.Fatalf("wire form %s", b)
	}
	var g Faults
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	b2, _ := json.Marshal(g)
	if string(b) != string(b2) {
		t.Fatalf("round trip changed faults:\n%s\n%s", b, b2)
	}
	for _, bad := range []string{`{"timeout":1}`, `{"error_rate":{"abc":0.1}}`, `{"latency":{"fixed":"soon"}}`} {
		if err := json.Unmarshal([]byte(bad), &g); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	for _, bad := range []Faults{
		{ErrorRate: map[int]float64{503: 0.7, 500: 0.7}},
		{ErrorRate: map[int]float64{200: 0.1}},
		{Timeouts: 1.5},
		{Outage5xx: []Outage{{Status: 404}}},
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}
