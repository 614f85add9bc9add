// Command brazesim runs the Braze REST messaging API simulator of package
// braze/brazetest as a standalone server: point any Braze client at its URL
// with one of its keys and it answers like Braze (status codes, error labels,
// rate-limit headers and budgets, schedules, send ids), optionally with
// injected faults. It also serves the simulator's admin API under /_sim/ and
// Prometheus metrics on /metrics.
//
// Usage:
//
//	brazesim [-addr 127.0.0.1:4010] [-config configs/brazesim.yaml]
//
// Without -config it simulates brazetest.DevConfig with the key from the
// environment variable BRAZESIM_API_KEY (default "dev-api-key"). SIGINT or
// SIGTERM shut it down gracefully. See docs/brazesim.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brazegw/gateway/braze/brazetest"
)

const (
	defaultAddr   = "127.0.0.1:4010"
	defaultKey    = "dev-api-key"
	keyEnv        = "BRAZESIM_API_KEY"
	shutdownGrace = 10 * time.Second
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stderr, nil))
}

// run is the whole program: it returns the exit code. ready, when not nil,
// is called with the base URL once the server listens.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready func(url string)) int {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	fs := flag.NewFlagSet("brazesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", defaultAddr, "listen address (host:port)")
	cfgPath := fs.String("config", "", "YAML configuration file (default: the development account, key from $"+keyEnv+")")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "brazesim: unexpected arguments %q\n", fs.Args())
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))

	key := getenv(keyEnv)
	if key == "" {
		key = defaultKey
	}
	cfg := devConfig(key)
	if *cfgPath != "" {
		var err error
		if cfg, err = loadConfig(*cfgPath, getenv, key); err != nil {
			log.Error("brazesim: cannot start", "err", err)
			return 1
		}
	}
	if err := serve(ctx, cfg, *addr, log, ready); err != nil {
		log.Error("brazesim: stopped", "err", err)
		return 1
	}
	return 0
}

// serve runs the simulator on addr until ctx is cancelled, then shuts down:
// calls held by faults are released and calls in flight get shutdownGrace
// to finish.
func serve(ctx context.Context, cfg brazetest.Config, addr string, log *slog.Logger, ready func(string)) error {
	sim := brazetest.NewUnstartedServer(cfg)
	defer sim.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newSimCollector(sim),
	)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.Handle("/", sim.Handler())

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()

	url := "http://" + l.Addr().String()
	var workspaces []string
	for _, ws := range cfg.Workspaces {
		workspaces = append(workspaces, ws.Name)
	}
	log.Info("brazesim listening", "url", url, "workspaces", workspaces,
		"rate_limits", cfg.Limits != nil, "latency", cfg.Latency, "admin", url+"/_sim/", "metrics", url+"/metrics")
	if ready != nil {
		ready(url)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("brazesim shutting down")
	sim.Close() // releases calls held by timeout faults or latency
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
