package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/braze/rules"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := loadConfig("../../configs/brazesim.yaml", env(map[string]string{"BRAZESIM_API_KEY": "from-env"}), "unused")
	if err != nil {
		t.Fatal(err)
	}
	ws := cfg.Workspaces
	if len(ws) != 1 || len(ws[0].APIKeys) != 2 || ws[0].APIKeys[0].Key != "from-env" ||
		ws[0].APIKeys[1].Permissions[0] != "campaigns.trigger.send" || len(ws[0].Campaigns[0].Variations) != 3 ||
		ws[0].Canvases[1].State != brazetest.CanvasPaused || !ws[0].ScheduledBroadcasts[0].Daily {
		t.Fatalf("workspaces %+v", ws)
	}
	if cfg.Seed != 42 || cfg.Latency != 5*time.Millisecond || cfg.Limits[rules.BudgetShared].Requests != 250000 ||
		cfg.MaxRequests != 10000 || cfg.Faults.ErrorRate[503] != 0 {
		t.Fatalf("config %+v", cfg)
	}
}

func TestParseConfig(t *testing.T) {
	getenv := env(map[string]string{"K": "secret"})
	cfg, err := parseConfig([]byte(`
limits:
  audience: {requests: 3}
record: {max_requests: -1}
faults:
  error_rate: {503: 0.25}
  storm429: {until: 2026-03-10T10:00:00Z}
  latency: {p50: 10ms, p99: 200ms}
`), getenv, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workspaces[0].Name != brazetest.DevWorkspace || cfg.Workspaces[0].APIKeys[0].Key != "dev" {
		t.Fatalf("no workspaces must mean the development account: %+v", cfg.Workspaces)
	}
	if l := cfg.Limits[rules.BudgetAudience]; l.Requests != 3 || l.Window != time.Minute {
		t.Fatalf("audience limit %+v", l)
	}
	if cfg.MaxRequests != 0 || cfg.MaxDeliveries != defaultMaxDeliveries {
		t.Fatalf("record bounds %d %d", cfg.MaxRequests, cfg.MaxDeliveries)
	}
	f := cfg.Faults
	if f.ErrorRate[503] != 0.25 || f.Storm429 == nil || f.Storm429.Until.Hour() != 10 || f.Latency.P99 != 200*time.Millisecond {
		t.Fatalf("faults %+v", f)
	}
	if cfg, err = parseConfig([]byte("rate_limits: off\n"), getenv, "dev"); err != nil || cfg.Limits != nil {
		t.Fatalf("rate_limits off: %v %v", cfg.Limits, err)
	}
	if cfg, err = parseConfig(nil, getenv, "dev"); err != nil || cfg.Limits == nil {
		t.Fatalf("empty file: %v", err)
	}

	for name, doc := range map[string]string{
		"unknown field":      "sed: 1\n",
		"unknown budget":     "limits: {users: {requests: 1}}\n",
		"bad duration":       "latency: soon\n",
		"bad rate_limits":    "rate_limits: maybe\n",
		"empty env key":      "workspaces: [{name: w, api_keys: [{key_env: MISSING}]}]\n",
		"key and key_env":    "workspaces: [{name: w, api_keys: [{key: a, key_env: K}]}]\n",
		"bad fault":          "faults: {timeouts: 3}\n",
		"misspelt fault":     "faults: {timeout: 1}\n",
		"duplicate key":      "workspaces: [{name: a, api_keys: [{key_env: K}]}, {name: b, api_keys: [{key: secret}]}]\n",
		"unknown permission": "workspaces: [{name: w, api_keys: [{key: a, permissions: [users.track]}]}]\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseConfig([]byte(doc), getenv, "dev")
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), "secret") {
				t.Fatalf("error shows a key: %v", err)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestRunServesAndShutsDown runs the program on a free port: the API, the
// admin API and /metrics answer, the key never reaches the log, and
// cancellation (as SIGTERM does) ends it with exit code 0 even while a call
// is held by a timeout fault.
func TestRunServesAndShutsDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	urls := make(chan string, 1)
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env(map[string]string{"BRAZESIM_API_KEY": "k-123"}), &logs,
			func(u string) { urls <- u })
	}()
	var url string
	select {
	case url = <-urls:
	case code := <-exit:
		t.Fatalf("exited with %d: %s", code, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}

	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k-123")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	body := `{"campaign_id":"` + brazetest.DevTriggerCampaignID + `","recipients":[{"external_user_id":"u1"}]}`
	if st, b := do(http.MethodPost, "/campaigns/trigger/send", body); st != 201 || !strings.Contains(b, "dispatch_id") {
		t.Fatalf("trigger: %d %s", st, b)
	}
	if st, b := do(http.MethodGet, "/_sim/deliveries/count?recipient=external_user_id:u1", ""); st != 200 || !strings.Contains(b, `"count": 1`) {
		t.Fatalf("admin: %d %s", st, b)
	}
	st, metrics := do(http.MethodGet, "/metrics", "")
	for _, want := range []string{
		`brazesim_requests_total{code="201",endpoint="/campaigns/trigger/send"} 1`,
		`brazesim_deliveries_total{endpoint="/campaigns/trigger/send"} 1`,
		`brazesim_ratelimit_remaining{budget="shared",workspace="default"} 249999`,
		`brazesim_schedules{workspace="default"} 0`,
		`go_goroutines`,
	} {
		if st != 200 || !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %q:\n%s", want, metrics)
		}
	}

	// A call held by a timeout fault must not block shutdown.
	if st, b := do(http.MethodPut, "/_sim/faults", `{"timeouts":1}`); st != 200 {
		t.Fatalf("faults: %d %s", st, b)
	}
	held := make(chan struct{})
	go func() {
		defer close(held)
		req, _ := http.NewRequest(http.MethodPost, url+"/campaigns/trigger/send", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k-123")
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, reqs := do(http.MethodGet, "/_sim/requests", "")
		if strings.Count(reqs, `"index"`) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("held call never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, logs.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("did not shut down")
	}
	<-held
	out := logs.String()
	if !strings.Contains(out, "brazesim listening") || !strings.Contains(out, url) {
		t.Fatalf("log lacks the URL:\n%s", out)
	}
	if strings.Contains(out, "k-123") {
		t.Fatalf("log shows the key:\n%s", out)
	}
}

func TestRunBadFlagsAndConfig(t *testing.T) {
	var logs syncBuffer
	if code := run(context.Background(), []string{"-nope"}, env(nil), &logs, nil); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
	if code := run(context.Background(), []string{"-config", "/does/not/exist.yaml"}, env(nil), &logs, nil); code != 1 {
		t.Fatalf("missing config: exit %d", code)
	}
}
