package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/embedded"
)

// Dev-mode defaults (DESIGN.md §6).
const (
	devKafkaAddr = "127.0.0.1:9092"
	devBrazeAddr = "127.0.0.1:4010"
	devAPIKey    = "dev-api-key"
)

func runGateway(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (see configs/)")
	kafkaAddr := fs.String("dev-kafka-addr", devKafkaAddr, "dev mode: address of the embedded Kafka broker")
	brazeAddr := fs.String("dev-braze-addr", devBrazeAddr, "dev mode: address of the embedded Braze simulator")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := app.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gateway: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		// Validate below reports the bad log setting with every other one.
		log, _ = newLogger(app.LogConfig{Level: "info", Format: "json"}, stderr)
	}
	defer func() { _ = log.Sync() }()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if len(cfg.Kafka.Brokers) == 0 {
		cleanup, err := startDev(ctx, &cfg, *kafkaAddr, *brazeAddr, log)
		if err != nil {
			log.Error("dev mode failed to start", zap.Error(err))
			return 1
		}
		defer cleanup()
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(stderr, "gateway: invalid configuration:\n")
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "  - %v\n", e)
		}
		return 2
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g, err := app.New(cfg, log, reg)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return 1
	}
	stopReload := reloadOnHangup(g, log)
	defer stopReload()
	if err := g.Run(ctx); err != nil {
		log.Error("gateway failed", zap.Error(err))
		return 1
	}
	return 0
}

// startDev starts the embedded Kafka broker and Braze simulator and points
// cfg at them.
func startDev(ctx context.Context, cfg *app.Config, kafkaAddr, brazeAddr string, log *zap.Logger) (func(), error) {
	routed, err := app.WithRouteTopics(*cfg) // the topics routes listen to exist too
	if err != nil {
		return nil, err
	}
	k, err := embedded.StartKafka(kafkaAddr)
	if err != nil {
		return nil, err
	}
	cfg.Kafka.Brokers = k.Addrs()
	topics := make([]embedded.Topic, 0, len(routed.Kafka.Topics)+2)
	for _, t := range routed.Kafka.Topics {
		topics = append(topics, embedded.Topic{Name: t.Name, Partitions: 3})
	}
	topics = append(topics,
		embedded.Topic{Name: cfg.Outputs.DLQTopic, Partitions: 3},
		embedded.Topic{Name: cfg.Outputs.ResultsTopic, Partitions: 3, Compacted: true})
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := embedded.CreateTopics(cctx, cfg.Kafka.Brokers, topics...); err != nil {
		k.Close()
		return nil, err
	}
	simCfg := brazetest.DevConfig(devAPIKey)
	simCfg.Limits = rules.DefaultLimits()
	sim := brazetest.NewUnstartedServer(simCfg)
	if err := sim.StartOn(brazeAddr); err != nil {
		k.Close()
		return nil, fmt.Errorf("braze simulator: %w", err)
	}
	cfg.Braze.AllowHTTP = true
	cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: sim.URL, APIKey: devAPIKey}}
	log.Warn("DEV MODE: no Kafka brokers configured; running against an in-process Kafka broker and Braze simulator (nothing leaves this machine)",
		zap.Strings("kafka", cfg.Kafka.Brokers), zap.String("braze", sim.URL))
	return func() { sim.Close(); k.Close() }, nil
}

func newLogger(c app.LogConfig, w io.Writer) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	var enc zapcore.Encoder
	switch c.Format {
	case "console":
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		enc = zapcore.NewJSONEncoder(encCfg)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), lvl)
	return zap.New(core, zap.AddCaller()), nil
}

// unjoin lists the errors joined in err (errors.Join), or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
