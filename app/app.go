// Package app composes the gateway from its parts (consumer, pipeline,
// dispatcher, rate budgets, Braze clients, outputs, admin HTTP) and runs it
// until its context ends, then drains. cmd/gateway calls it with a loaded
// configuration; tests call it in-process against an embedded broker and
// the Braze simulator.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/ledger"
	"github.com/brazegw/gateway/pipeline"
	"github.com/brazegw/gateway/ratelimit"
	"github.com/brazegw/gateway/routes"
)

// Gateway is a composed, not yet running gateway.
type Gateway struct {
	cfg      Config
	log      *zap.Logger
	reg      *prometheus.Registry
	group    *consumer.Group
	disp     *dispatcher.Dispatcher
	outputs  *deadletter.Writer
	clients  map[string]*braze.Client
	budgets  *ratelimit.Budgets
	ledger   *ledger.Ledger
	follower *deadletter.Follower
	router   *routes.Router // nil without a routes file
	synced   atomic.Bool
	admin    *http.Server
	listener net.Listener
}

// New validates cfg and builds the gateway. reg receives every metric
// (the caller registers Go and process collectors if it wants them).
func New(cfg Config, log *zap.Logger, reg *prometheus.Registry) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := cfg.ApplyKafkaSecurity(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	router, err := newRouter(&cfg, log, reg)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, log: log, reg: reg, clients: map[string]*braze.Client{}, router: router}
	senders := map[string]dispatcher.Sender{}
	hc := &http.Client{Transport: braze.NewTransport()}
	for name := range cfg.Braze.Workspaces {
		c, err := brazeClient(cfg, name, hc)
		if err != nil {
			return nil, err
		}
		g.clients[name] = c
		senders[name] = c
	}
	g.budgets, err = ratelimit.New(cfg.RateLimit.ratelimit(), nil)
	if err != nil {
		return nil, err
	}
	g.disp, err = dispatcher.New(cfg.Dispatcher, dispatcher.Deps{
		Senders: senders, Limiter: g.budgets, Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, err
	}
	out := cfg.Outputs
	out.Brokers = cfg.Kafka.Brokers
	g.outputs, err = deadletter.New(out, log, reg)
	if err != nil {
		return nil, err
	}
	g.ledger = ledger.New(cfg.Ledger)
	g.follower = deadletter.NewFollower(cfg.Kafka.Brokers, cfg.Outputs.ResultsTopic, cfg.Kafka.Dialer, g.ledger.Record, log)
	g.follower.IgnoreOwn(g.outputs)
	p := pipeline.New(pipeline.Config{BroadcastSources: cfg.Broadcast.AllowedSources}, pipeline.Deps{
		Dispatcher: g.disp, Recorder: g.outputs, Ledger: g.ledger, Sync: g.follower.Sync, Logger: log, Registerer: reg,
		Router: pipelineRouter(router),
	})
	g.group, err = consumer.New(cfg.Kafka, consumer.Deps{
		Handler: p, Logger: log, Registerer: reg,
		Paused: func() bool { paused, _ := g.disp.Paused(); return paused },
		// Product events are routed from the raw record: decoding them as
		// messaging events would only fail.
		Raw: func(topic string) bool { return router != nil && router.Table().Listens(topic) },
		OnAssign: func(assigned, total int) {
			if !cfg.RateLimit.SharePartitions {
				return
			}
			// Replicas share Braze's budgets in proportion to the partitions
			// they hold; header sync corrects the rest (docs/budgets.md).
			share := cfg.RateLimit.Share
			if share == 0 {
				share = 1
			}
			share *= max(float64(assigned), 0.5) / float64(total)
			g.budgets.SetShare(min(share, 1))
			log.Info("budget share set from partitions", zap.Int("assigned", assigned), zap.Int("total", total), zap.Float64("share", share))
		},
	})
	if err != nil {
		return nil, err
	}
	if reg != nil {
		reg.MustRegister(newBudgetCollector(g.budgets))
	}
	return g, nil
}

// Listen binds the admin address; Run calls it if the caller did not.
// Calling it first lets a caller learn the address (port 0) before Run.
func (g *Gateway) Listen() (net.Addr, error) {
	if g.listener == nil {
		l, err := net.Listen("tcp", g.cfg.Admin.Addr)
		if err != nil {
			return nil, fmt.Errorf("admin: listen on %s: %w", g.cfg.Admin.Addr, err)
		}
		g.listener = l
	}
	return g.listener.Addr(), nil
}

// Run runs the gateway until ctx ends, then drains: it stops fetching,
// lets in-flight events finish for at most the drain timeout, commits,
// flushes the outputs and returns nil. It returns an error only when a part
// cannot start.
func (g *Gateway) Run(ctx context.Context) error {
	if _, err := g.Listen(); err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err := g.provision(pctx)
	cancel()
	if err != nil {
		_ = g.listener.Close()
		_ = g.outputs.Close()
		return err
	}
	g.admin = &http.Server{Handler: g.adminHandler(), ReadHeaderTimeout: 5 * time.Second}
	adminErr := make(chan error, 1)
	go func() {
		if err := g.admin.Serve(g.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			adminErr <- err
		}
	}()

	// The dispatcher outlives intake: it keeps sending while the consumer
	// drains, and stops only once the consumer has returned.
	dispCtx, stopDisp := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.disp.Run(dispCtx) })

	g.log.Info("gateway started", zap.Strings("brokers", g.cfg.Kafka.Brokers), zap.String("group", g.cfg.Kafka.GroupID),
		zap.String("admin", g.listener.Addr().String()))
	// The ledger follows the results topic for as long as the gateway runs;
	// intake starts once it has read every result written before start, so
	// that redelivered events are recognised from the first record.
	followCtx, stopFollow := context.WithCancel(context.WithoutCancel(ctx))
	wg.Go(func() { _ = g.follower.Run(followCtx) })
	if g.router != nil {
		// The routes file is watched for as long as events are handled.
		wg.Go(func() { _ = g.router.Watch(followCtx) })
	}
	intakeCtx, stopIntake := context.WithCancel(ctx)
	defer stopIntake()
	go func() {
		// On stop, calls in progress finish; everything else is handed back
		// at once, so the drain lasts about one Braze round trip.
		<-intakeCtx.Done()
		g.disp.Quiesce()
	}()
	consumerDone := make(chan error, 1)
	go func() {
		if err := g.follower.Sync(intakeCtx); err != nil {
			consumerDone <- nil // stopped before the ledger was loaded
			return
		}
		sent, keys := g.ledger.Len()
		g.log.Info("results loaded", zap.Int("sent_events", sent), zap.Int("schedule_keys", keys))
		g.synced.Store(true)
		consumerDone <- g.group.Run(intakeCtx, g.cfg.Drain)
	}()

	var runErr error
	select {
	case runErr = <-consumerDone:
	case err := <-adminErr:
		runErr = fmt.Errorf("admin: %w", err)
		stopIntake()
		<-consumerDone
	}
	g.log.Info("draining")
	stopDisp()
	stopFollow()
	wg.Wait()
	closeErr := g.outputs.Close()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.admin.Shutdown(shutdownCtx)
	g.log.Info("gateway stopped")
	return errors.Join(runErr, closeErr)
}

// Ready reports whether the gateway can take work: joined to its group.
func (g *Gateway) Ready() (bool, string) {
	if !g.synced.Load() {
		return false, "loading the results topic"
	}
	if paused, reason := g.disp.Paused(); paused {
		return false, "paused: " + reason + " (Braze fails for every call; probing)"
	}
	if !g.group.Joined() {
		return false, "not a member of the consumer group yet"
	}
	return true, ""
}

// BrazeClient returns the client of a configured workspace, for tools that
// call Braze directly (the scheduled-broadcasts listing).
func BrazeClient(cfg Config, workspace string) (*braze.Client, error) {
	return brazeClient(cfg, workspace, nil)
}

func brazeClient(cfg Config, workspace string, hc *http.Client) (*braze.Client, error) {
	ws, ok := cfg.Braze.Workspaces[workspace]
	if !ok {
		return nil, fmt.Errorf("workspace %q is not configured", workspace)
	}
	key, err := ws.apiKey()
	if err != nil {
		return nil, fmt.Errorf("braze.workspaces.%s: %w", workspace, err)
	}
	c, err := braze.New(braze.Config{BaseURL: ws.URL, APIKey: key, Timeout: ws.Timeout}, hc)
	if err != nil {
		return nil, fmt.Errorf("braze.workspaces.%s: %w", workspace, err)
	}
	return c, nil
}
