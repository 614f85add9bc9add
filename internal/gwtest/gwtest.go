// Package gwtest is the integration-test harness: a Kafka broker (the
// embedded one, or a real cluster when KAFKA_BROKERS is set), the Braze
// simulator, the gateway running in-process, and helpers to publish events
// and read the output topics. Every test gets its own topics and consumer
// group, so tests run in parallel and can share a real broker.
package gwtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/embedded"
)

// APIKey is the key the simulator accepts in tests.
const APIKey = "test-key-7f3c9a2e-5b1d-4e8f-a6c0-d2b4e9f17a35"

var (
	sharedOnce sync.Once
	shared     *embedded.Kafka
	sharedErr  error
)

// Brokers returns the brokers tests use: KAFKA_BROKERS if set, else one
// embedded broker shared by the tests of the package.
func Brokers(t testing.TB) []string {
	t.Helper()
	if v := os.Getenv("KAFKA_BROKERS"); v != "" {
		return strings.Split(v, ",")
	}
	sharedOnce.Do(func() { shared, sharedErr = embedded.StartKafka("127.0.0.1:0") })
	if sharedErr != nil {
		t.Fatalf("start embedded kafka: %v", sharedErr)
	}
	return shared.Addrs()
}

// RealBroker reports whether tests run against an external cluster.
func RealBroker() bool { return os.Getenv("KAFKA_BROKERS") != "" }

// Env is one test's world.
type Env struct {
	T       testing.TB
	Brokers []string
	Sim     *brazetest.Server
	// Prefix makes this test's topic and group names unique.
	Prefix string
	// Partitions of each input topic.
	Partitions int
}

// Topic names of an Env.
func (e *Env) Send() string     { return e.Prefix + "braze.send" }
func (e *Env) Trigger() string  { return e.Prefix + "braze.trigger" }
func (e *Env) Schedule() string { return e.Prefix + "braze.schedule" }
func (e *Env) DLQ() string      { return e.Prefix + "braze.dlq" }
func (e *Env) Results() string  { return e.Prefix + "braze.results" }

// SimConfig returns a simulator configuration with one workspace that
// accepts the test key and any campaign or Canvas id, without rate limits.
func SimConfig() brazetest.Config {
	return brazetest.Config{Workspaces: []brazetest.Workspace{{
		Name:             "default",
		APIKeys:          []brazetest.APIKey{{Key: APIKey}},
		AcceptUnknownIDs: true,
	}}}
}

// New starts the simulator with simCfg and creates the test's topics.
func New(t testing.TB, simCfg brazetest.Config) *Env {
	t.Helper()
	e := &Env{T: t, Brokers: Brokers(t), Prefix: "t" + randomHex(4) + ".", Partitions: 3}
	e.Sim = brazetest.NewServer(simCfg)
	t.Cleanup(e.Sim.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := embedded.CreateTopics(ctx, e.Brokers,
		embedded.Topic{Name: e.Send(), Partitions: e.Partitions},
		embedded.Topic{Name: e.Trigger(), Partitions: e.Partitions},
		embedded.Topic{Name: e.Schedule(), Partitions: e.Partitions},
		embedded.Topic{Name: e.DLQ(), Partitions: e.Partitions},
		embedded.Topic{Name: e.Results(), Partitions: e.Partitions, Compacted: true},
	)
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	if err := e.waitTopics(ctx, e.Send(), e.Trigger(), e.Schedule(), e.DLQ(), e.Results()); err != nil {
		t.Fatalf("topics created but not ready: %v", err)
	}
	return e
}

// Config returns a gateway configuration for this Env: its topics, its
// own group, the simulator as the default workspace, a random admin port
// and timeouts suited to tests.
func (e *Env) Config() app.Config {
	cfg := app.DefaultConfig()
	cfg.Kafka.Brokers = e.Brokers
	cfg.Kafka.GroupID = e.Prefix + "gateway"
	cfg.Kafka.Topics = []consumer.Topic{{Name: e.Send(), Lane: 0}, {Name: e.Trigger(), Lane: 1}, {Name: e.Schedule(), Lane: 2}}
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.RebalanceTimeout = 6 * time.Second
	cfg.Kafka.HeartbeatInterval = 500 * time.Millisecond
	cfg.Kafka.RevokeDrain = 2 * time.Second
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Outputs.DLQTopic = e.DLQ()
	cfg.Outputs.ResultsTopic = e.Results()
	cfg.Braze.AllowHTTP = true
	cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: e.Sim.URL, APIKey: APIKey, Timeout: 5 * time.Second}}
	cfg.Dispatcher.Retry.InitialBackoff = 20 * time.Millisecond
	cfg.Dispatcher.Retry.MaxBackoff = 200 * time.Millisecond
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Drain = 5 * time.Second
	return cfg
}

// Gateway is a gateway running in-process.
type Gateway struct {
	Admin    string // admin base URL
	Registry *prometheus.Registry
	cancel   context.CancelFunc
	done     chan error
	stopped  bool
}

// Start runs a gateway with cfg until Stop or the end of the test.
func (e *Env) Start(cfg app.Config) *Gateway {
	e.T.Helper()
	reg := prometheus.NewRegistry()
	level := zap.WarnLevel
	if os.Getenv("GWTEST_LOG") == "debug" {
		level = zap.DebugLevel
	}
	log := zaptest.NewLogger(e.T, zaptest.Level(level))
	g, err := app.New(cfg, log, reg)
	if err != nil {
		e.T.Fatalf("gateway: %v", err)
	}
	addr, err := g.Listen()
	if err != nil {
		e.T.Fatalf("gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	gw := &Gateway{Admin: "http://" + addr.String(), Registry: reg, cancel: cancel, done: make(chan error, 1)}
	go func() { gw.done <- g.Run(ctx) }()
	e.T.Cleanup(func() { gw.Stop(e.T) })
	return gw
}

// Stop stops the gateway (as SIGTERM would) and waits for it to drain.
func (g *Gateway) Stop(t testing.TB) {
	t.Helper()
	if g.stopped {
		return
	}
	g.stopped = true
	g.cancel()
	select {
	case err := <-g.done:
		if err != nil {
			t.Errorf("gateway returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("gateway did not stop within 30s")
	}
}

// Get fetches an admin path and returns status and body.
func (g *Gateway) Get(path string) (int, string) {
	resp, err := http.Get(g.Admin + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Eventually polls cond every 20 ms until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: "+format, append([]any{timeout}, args...)...)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Fatalf-style helper used by the Kafka helpers.
func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
