package routes

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brazegw/gateway/event"
)

func routesFile(campaign string) string {
	return fmt.Sprintf(`routes:
  - name: r
    topics: [in]
    when: type == "go"
    emit: [{type: braze.sends.id.create, body: {campaign_id: '"%s"'}}]
`, campaign)
}

// writeFile replaces path's content atomically (as a ConfigMap update or
// an editor's save-by-rename does).
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

type routerEnv struct {
	path string
	r    *Router
	reg  *prometheus.Registry
	logs *observer.ObservedLogs
}

func newRouterEnv(t *testing.T, cfg Config, content string, accept func(*Table) error) *routerEnv {
	t.Helper()
	e := &routerEnv{path: filepath.Join(t.TempDir(), "routes.yaml"), reg: prometheus.NewRegistry()}
	writeFile(t, e.path, content)
	core, logs := observer.New(zap.InfoLevel)
	e.logs = logs
	cfg.File = e.path
	r, err := NewRouter(cfg, Deps{Accept: accept, Logger: zap.New(core), Registerer: e.reg})
	if err != nil {
		t.Fatalf("NewRouter: %v", err)
	}
	e.r = r
	return e
}

func (e *routerEnv) campaign(t *testing.T) string {
	t.Helper()
	res, ok := e.r.Route(structured("in", "e1", "go", `{}`), nil)
	if !ok || len(res.Ops) != 1 {
		t.Fatalf("Route: ok %v, %+v", ok, res)
	}
	return string(res.Ops[0].Body)
}

func (e *routerEnv) version(t *testing.T, version string) float64 {
	t.Helper()
	return testutil.ToFloat64(e.r.m.version.WithLabelValues(version))
}

// TestReload checks that a good file replaces the table atomically and a
// bad one is rejected, with its line and reason, keeping the table in force.
func TestReload(t *testing.T) {
	e := newRouterEnv(t, DefaultConfig(), routesFile("v1"), nil)
	v1 := e.r.Table().Version
	if got := e.campaign(t); got != `{"campaign_id":"v1"}` {
		t.Fatalf("body %s", got)
	}
	if g := e.version(t, v1); g != 1 {
		t.Errorf("version gauge %v, want generation 1", g)
	}

	writeFile(t, e.path, routesFile("v2"))
	if err := e.r.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	v2 := e.r.Table().Version
	if v2 == v1 || e.campaign(t) != `{"campaign_id":"v2"}` {
		t.Fatalf("after reload: version %s, body %s", v2, e.campaign(t))
	}
	if n := testutil.CollectAndCount(e.r.m.version); n != 1 || e.version(t, v2) != 2 {
		t.Errorf("version series: %d, generation %v; want one series at 2", n, e.version(t, v2))
	}
	if got := e.logs.FilterMessage("routes in force").FilterField(zap.String("version", v2)).Len(); got != 1 {
		t.Errorf("%d log lines announce version %s", got, v2)
	}

	bad := strings.Replace(routesFile("v3"), `type == "go"`, `type == `, 1)
	writeFile(t, e.path, bad)
	err := e.r.Reload()
	var le *Error
	if err == nil || !errors.As(err, &le) || le.Line != 4 || !strings.Contains(err.Error(), "Syntax error") {
		t.Fatalf("Reload of a bad file: %v; want a syntax error at line 4", err)
	}
	if e.r.Table().Version != v2 || e.campaign(t) != `{"campaign_id":"v2"}` {
		t.Error("a bad file replaced the table in force")
	}
	if testutil.ToFloat64(e.r.m.rejected) != 1 || testutil.ToFloat64(e.r.m.reloads.WithLabelValues("failed")) != 1 {
		t.Error("the rejection is not in the metrics")
	}
	entries := e.logs.FilterMessage("routes file rejected; the routes in force stay").All()
	if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), ":4:") {
		t.Errorf("rejection log: %+v", entries)
	}

	// Unchanged content changes nothing; fixing the file clears the alarm.
	writeFile(t, e.path, routesFile("v2"))
	if err := e.r.Reload(); err != nil || e.version(t, v2) != 2 {
		t.Errorf("reloading the same content: %v, generation %v", err, e.version(t, v2))
	}
	if testutil.ToFloat64(e.r.m.rejected) != 0 {
		t.Error("file_rejected stays set after a good file")
	}
}

// TestNewRouterRejectsBadFile checks that a bad file at start is an error.
func TestNewRouterRejectsBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.yaml")
	writeFile(t, path, "routes: []\n")
	cfg := DefaultConfig()
	cfg.File = path
	if _, err := NewRouter(cfg, Deps{}); err == nil || !strings.Contains(err.Error(), "r.yaml:1:9: routes: the list is empty") {
		t.Errorf("NewRouter: %v", err)
	}
}

// TestWatchReloadsChangedFile checks the file poller.
func TestWatchReloadsChangedFile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.PollInterval = 5 * time.Millisecond
	e := newRouterEnv(t, cfg, routesFile("v1"), nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.r.Watch(ctx) }()

	writeFile(t, e.path, routesFile("v2"))
	waitFor(t, func() bool { return e.campaign(t) == `{"campaign_id":"v2"}` }, "the poller to load v2")
	writeFile(t, e.path, "routes: [")
	waitFor(t, func() bool { return testutil.ToFloat64(e.r.m.rejected) == 1 }, "the poller to reject a bad file")
	if e.campaign(t) != `{"campaign_id":"v2"}` {
		t.Error("a bad file replaced the table in force")
	}
	// The bad file is tried once, not at every poll.
	time.Sleep(5 * cfg.PollInterval) // let several polls pass; nothing to wait for
	if n := testutil.ToFloat64(e.r.m.reloads.WithLabelValues("failed")); n != 1 {
		t.Errorf("%v failed reloads of one bad file", n)
	}
	writeFile(t, e.path, routesFile("v3"))
	waitFor(t, func() bool { return e.campaign(t) == `{"campaign_id":"v3"}` }, "the poller to load v3")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Watch: %v", err)
	}
}

// TestAcceptHook checks that a table the hook refuses stays out.
func TestAcceptHook(t *testing.T) {
	e := newRouterEnv(t, DefaultConfig(), routesFile("v1"), func(t *Table) error {
		for _, topic := range t.Topics() {
			if topic != "in" {
				return fmt.Errorf("topic %s is not consumed", topic)
			}
		}
		return nil
	})
	writeFile(t, e.path, strings.Replace(routesFile("v2"), "[in]", "[in, other]", 1))
	if err := e.r.Reload(); err == nil || !strings.Contains(err.Error(), "topic other is not consumed") {
		t.Errorf("Reload: %v", err)
	}
	if e.campaign(t) != `{"campaign_id":"v1"}` {
		t.Error("a refused table was put in force")
	}
}

// TestUnmatchedPolicy checks skip and dead_letter, and the event counts.
func TestUnmatchedPolicy(t *testing.T) {
	for _, policy := range []string{Skip, DeadLetter} {
		t.Run(policy, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Unmatched = policy
			e := newRouterEnv(t, cfg, routesFile("v1"), nil)
			res, ok := e.r.Route(structured("in", "e1", "other.type", `{}`), nil)
			if !ok || len(res.Ops) != 0 || len(res.Matched) != 0 {
				t.Fatalf("ok %v, %+v", ok, res)
			}
			r, _ := event.ReasonOf(res.Err)
			if (policy == DeadLetter) != (r == event.ReasonNoRoute) {
				t.Errorf("policy %s: err %v", policy, res.Err)
			}
			if n := testutil.ToFloat64(e.r.m.events.WithLabelValues("in", resultUnmatched)); n != 1 {
				t.Errorf("unmatched count %v", n)
			}
			if _, ok := e.r.Route(structured("braze.send", "e2", "go", `{}`), nil); ok {
				t.Error("a topic no route listens to was routed")
			}
		})
	}
}

// TestReloadUnderConcurrentRouting routes from several goroutines while
// the table is swapped: every event is routed by one whole table (its ops
// all carry that table's campaign), run with -race.
func TestReloadUnderConcurrentRouting(t *testing.T) {
	e := newRouterEnv(t, DefaultConfig(), `routes:
  - name: r
    topics: [in]
    emit:
      - {type: braze.sends.id.create, body: {campaign_id: '"v0"'}}
      - {type: braze.sends.id.create, body: {campaign_id: '"v0"'}}
`, nil)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				res, _ := e.r.Route(structured("in", fmt.Sprintf("e-%d-%d", w, i), "t", `{}`), new(event.Event))
				if len(res.Ops) != 2 || string(res.Ops[0].Body) != string(res.Ops[1].Body) {
					errs <- fmt.Sprintf("event routed by two tables: %+v", res.Ops)
					return
				}
			}
		})
	}
	for v := 1; v <= 30; v++ {
		writeFile(t, e.path, strings.ReplaceAll(`routes:
  - name: r
    topics: [in]
    emit:
      - {type: braze.sends.id.create, body: {campaign_id: '"vX"'}}
      - {type: braze.sends.id.create, body: {campaign_id: '"vX"'}}
`, "vX", fmt.Sprintf("v%d", v)))
		if err := e.r.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for msg := range errs {
		t.Error(msg)
	}
	if e.version(t, e.r.Table().Version) != 31 {
		t.Errorf("generation %v, want 31", e.version(t, e.r.Table().Version))
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad policy", func(c *Config) { c.Unmatched = "drop" }, "routes.unmatched"},
		{"zero poll", func(c *Config) { c.PollInterval = 0 }, "routes.poll_interval"},
		{"no polling", func(c *Config) { c.PollInterval = -1 }, ""},
		{"negative lane", func(c *Config) { c.Lane = -1 }, "routes.lane"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
