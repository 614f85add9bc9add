package check

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/embedded"
)

// pending are series the contract names that the gateway may not export
// yet; the check reports them instead of failing, and fails once they are
// exported but used wrongly.
var pending = []string{"braze_gateway_paused"}

// targetLabels are added by Prometheus at scrape time, not by the gateway.
var targetLabels = []string{"job", "instance"}

// exported is what one scrape of /metrics holds.
type exported map[string]*dto.MetricFamily

// family returns the family a series name belongs to: the family itself,
// or the histogram whose _bucket, _sum or _count it is.
func (ex exported) family(name string) (*dto.MetricFamily, error) {
	if f, ok := ex[name]; ok {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			return nil, fmt.Errorf("%s is a histogram: query %s_bucket, _sum or _count", name, name)
		}
		return f, nil
	}
	if base, ok := histogramBase(name); ok {
		if f, ok := ex[base]; ok && f.GetType() == dto.MetricType_HISTOGRAM {
			return f, nil
		}
	}
	return nil, errNotExported
}

var errNotExported = errors.New("not exported")

// labels returns the label names series name carries (le for buckets).
func (ex exported) labels(name string) []string {
	f, err := ex.family(name)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, lp := range m.GetLabel() {
			seen[lp.GetName()] = true
		}
	}
	if strings.HasSuffix(name, "_bucket") && f.GetType() == dto.MetricType_HISTOGRAM {
		seen["le"] = true
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// TestSeriesAreExported starts the real gateway (embedded Kafka broker,
// Braze simulator), publishes the example events, scrapes /metrics and
// checks that every series the dashboard and the alerts name is exported,
// with the labels they select and group by.
func TestSeriesAreExported(t *testing.T) {
	qs := append(dashboardQueries(t), ruleQueries(t)...)
	var wanted []string
	for _, n := range metricNames(t, qs) {
		if !isSynthetic(n) {
			wanted = append(wanted, n)
		}
	}
	if len(wanted) < len(contractSeries) {
		t.Fatalf("only %d series named by the dashboard and alerts: %v", len(wanted), wanted)
	}

	gw := startGateway(t)
	gw.publishExamples(t)

	// Poll until every wanted series is there (or the deadline passes).
	var ex exported
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ex = gw.scrape(t)
		missing = missing[:0]
		for _, n := range wanted {
			if _, err := ex.family(n); errors.Is(err, errNotExported) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	gw.stop(t)

	t.Logf("%d series named by the dashboard and alerts", len(wanted))
	for _, n := range wanted {
		_, err := ex.family(n)
		switch {
		case errors.Is(err, errNotExported) && slices.Contains(pending, n):
			t.Logf("PENDING: %s is not exported yet (allowed until it is implemented)", n)
		case errors.Is(err, errNotExported):
			t.Errorf("MISSING: %s is named by the dashboard or an alert but the gateway does not export it", n)
		case err != nil:
			t.Errorf("%v", err)
		}
	}
	checkLabels(t, ex, qs)
}

// checkLabels checks that every label a query matches on or groups by is a
// label of the series it applies to.
func checkLabels(t *testing.T, ex exported, qs []query) {
	t.Helper()
	p := promqlParser()
	for _, q := range qs {
		e, err := p.ParseExpr(q.expr)
		if err != nil {
			t.Errorf("%s: %v", q.where, err)
			continue
		}
		for _, vs := range selectors(e) {
			name := metricName(vs)
			have := ex.labels(name)
			if have == nil {
				continue // synthetic, pending or already reported missing
			}
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel || slices.Contains(targetLabels, m.Name) {
					continue
				}
				if !slices.Contains(have, m.Name) {
					t.Errorf("%s: %s has no label %q (it has %v)", q.where, name, m.Name, have)
				}
			}
		}
		for _, g := range groupings(e) {
			var have []string
			known := false
			for _, name := range g.metrics {
				if ls := ex.labels(name); ls != nil {
					known = true
					have = append(have, ls...)
				}
			}
			if !known {
				continue
			}
			for _, l := range g.labels {
				if !slices.Contains(targetLabels, l) && !slices.Contains(have, l) {
					t.Errorf("%s: groups by %q, which none of %v carries", q.where, l, g.metrics)
				}
			}
		}
	}
}

// runningGateway is a gateway running in-process for the test.
type runningGateway struct {
	admin   string
	brokers []string
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// startGateway starts an embedded broker, the Braze simulator and the
// gateway with its default topics, and waits until it is ready.
func startGateway(t *testing.T) *runningGateway {
	t.Helper()
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatalf("embedded kafka: %v", err)
	}
	t.Cleanup(k.Close)
	cfg := app.DefaultConfig()
	cfg.Kafka.Brokers = k.Addrs()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	topics := []embedded.Topic{
		{Name: cfg.Outputs.DLQTopic, Partitions: 3},
		{Name: cfg.Outputs.ResultsTopic, Partitions: 3, Compacted: true},
	}
	for _, tp := range cfg.Kafka.Topics {
		topics = append(topics, embedded.Topic{Name: tp.Name, Partitions: 3})
	}
	if err := embedded.CreateTopics(ctx, cfg.Kafka.Brokers, topics...); err != nil {
		t.Fatalf("create topics: %v", err)
	}

	// A key made up for this run: no key literal lives in deploy/.
	key := randomHex(t, 16)
	sim := brazetest.NewServer(brazetest.DevConfig(key))
	t.Cleanup(sim.Close)
	// One 503 up front, so that retries and a 5xx status exist.
	sim.SetFaults(brazetest.Faults{Outage5xx: []brazetest.Outage{{Status: 503, Calls: 1}}})

	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.RebalanceTimeout = 6 * time.Second
	cfg.Kafka.HeartbeatInterval = 500 * time.Millisecond
	cfg.Kafka.RevokeDrain = 2 * time.Second
	cfg.Kafka.CommitInterval = 100 * time.Millisecond
	cfg.Braze.AllowHTTP = true
	cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: sim.URL, APIKey: key, Timeout: 5 * time.Second}}
	cfg.Dispatcher.Retry.InitialBackoff = 20 * time.Millisecond
	cfg.Dispatcher.Retry.MaxBackoff = 200 * time.Millisecond
	cfg.Admin.Addr = "127.0.0.1:0"
	cfg.Drain = 5 * time.Second

	g, err := app.New(cfg, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	addr, err := g.Listen()
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	gw := &runningGateway{admin: "http://" + addr.String(), brokers: cfg.Kafka.Brokers, cancel: stop, done: make(chan error, 1)}
	go func() { gw.done <- g.Run(runCtx) }()
	t.Cleanup(func() { gw.stop(t) })

	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := gw.get(t, "/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not ready after 30s: %d %s", code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := gw.get(t, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d, want 200", code)
	}
	return gw
}

// stop stops the gateway as SIGTERM would and waits for its drain.
func (gw *runningGateway) stop(t *testing.T) {
	t.Helper()
	if gw.stopped {
		return
	}
	gw.stopped = true
	gw.cancel()
	select {
	case err := <-gw.done:
		if err != nil {
			t.Errorf("gateway returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("gateway did not stop within 30s")
	}
}

func (gw *runningGateway) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(gw.admin + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics in the text exposition format.
func (gw *runningGateway) scrape(t *testing.T) exported {
	t.Helper()
	code, body := gw.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d: %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return exported(fams)
}

// publishExamples publishes every example event of examples/ (one of each
// operation) with the time set to now, a batch of triggers for distinct
// users, and one record that is not an event (dead-lettered).
func (gw *runningGateway) publishExamples(t *testing.T) {
	t.Helper()
	files, err := filepath.Glob(repoPath("examples", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no example events in examples/ (%v)", err)
	}
	var msgs []kafka.Message
	now := time.Now().UTC().Format(time.RFC3339Nano)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var ev map[string]any
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		ev["time"] = now
		msgs = append(msgs, eventRecord(t, ev))
		if ev["type"] == "braze.campaigns.trigger.send" {
			// Single-recipient events for distinct users: the gateway batches them.
			for i := range 12 {
				c := map[string]any{}
				for k, v := range ev {
					c[k] = v
				}
				user := fmt.Sprintf("check-user-%d", i)
				c["id"], c["partitionkey"] = fmt.Sprintf("%v-batch-%d", ev["id"], i), user
				c["data"] = map[string]any{
					"campaign_id": ev["data"].(map[string]any)["campaign_id"],
					"recipients":  []any{map[string]any{"external_user_id": user}},
				}
				msgs = append(msgs, eventRecord(t, c))
			}
		}
	}
	msgs = append(msgs, kafka.Message{Topic: "braze.send", Key: []byte("not-an-event"), Value: []byte("this is not a CloudEvent")})
	w := &kafka.Writer{Addr: kafka.TCP(gw.brokers...), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

// eventRecord encodes a structured-mode event, on the topic of its traffic
// class, keyed by its partitionkey.
func eventRecord(t *testing.T, ev map[string]any) kafka.Message {
	t.Helper()
	v, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	typ, _ := ev["type"].(string)
	topic := "braze.send"
	switch {
	case strings.Contains(typ, ".schedule."):
		topic = "braze.schedule"
	case strings.HasSuffix(typ, ".trigger.send"):
		topic = "braze.trigger"
	}
	key, _ := ev["partitionkey"].(string)
	m := kafka.Message{Topic: topic, Value: v,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
	if key != "" {
		m.Key = []byte(key)
	}
	return m
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
