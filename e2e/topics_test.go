package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/internal/gwtest"
	"github.com/brazegw/gateway/topics"
)

// TestMissingOutputTopicsAreReported: without its dead-letter and results
// topics the gateway refuses to start and names them; with provision.create
// it creates them (results compacted) and starts.
func TestMissingOutputTopicsAreReported(t *testing.T) {
	t.Parallel()
	env := gwtest.New(t, gwtest.SimConfig())
	cfg := env.Config()
	cfg.Outputs.DLQTopic = env.Prefix + "absent.dlq"
	cfg.Outputs.ResultsTopic = env.Prefix + "absent.results"

	g, err := app.New(cfg, nil, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = g.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), cfg.Outputs.DLQTopic) || !strings.Contains(err.Error(), cfg.Outputs.ResultsTopic) {
		t.Fatalf("Run = %v; want a refusal naming both missing topics", err)
	}

	cfg.Provision.Create = true
	gw := env.Start(cfg)
	gwtest.Eventually(t, 20*time.Second, func() bool { code, _ := gw.Get("/readyz"); return code == 200 }, "not ready")
	problems, err := topics.Check(ctx, env.Brokers, nil, app.RequiredTopics(cfg))
	if err != nil || len(problems) != 0 {
		t.Fatalf("after provisioning: problems %v, err %v", problems, err)
	}
}
