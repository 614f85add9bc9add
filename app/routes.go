package app

import (
	"errors"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/pipeline"
	"github.com/brazegw/gateway/routes"
)

// newRouter loads the routes file of cfg, if any, and subscribes cfg to
// the topics its routes listen to (at routes.lane, unless kafka.topics
// lists them). A reload that would listen to a topic the gateway does not
// consume is refused: subscriptions change only at start-up.
func newRouter(cfg *Config, log *zap.Logger, reg prometheus.Registerer) (*routes.Router, error) {
	if cfg.Routes.File == "" {
		return nil, nil
	}
	var subscribed map[string]bool
	r, err := routes.NewRouter(cfg.Routes, routes.Deps{
		Limits: cfg.Kafka.Limits(),
		Accept: func(t *routes.Table) error {
			if subscribed == nil {
				return nil // the first load decides the subscriptions
			}
			var missing []string
			for _, topic := range t.Topics() {
				if !subscribed[topic] {
					missing = append(missing, topic)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("routes listen to %s, which the gateway does not consume: a new topic needs a restart",
					strings.Join(missing, ", "))
			}
			return nil
		},
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("routes.file: %w", err)
	}
	cfg.Kafka.Topics = withRouteTopics(cfg.Kafka.Topics, r.Table(), cfg.Routes.Lane)
	subscribed = map[string]bool{}
	for _, t := range cfg.Kafka.Topics {
		subscribed[t.Name] = true
	}
	return r, nil
}

func withRouteTopics(ts []consumer.Topic, t *routes.Table, lane int) []consumer.Topic {
	have := map[string]bool{}
	for _, topic := range ts {
		have[topic.Name] = true
	}
	out := append([]consumer.Topic(nil), ts...)
	for _, name := range t.Topics() {
		if !have[name] {
			out = append(out, consumer.Topic{Name: name, Lane: lane})
		}
	}
	return out
}

// WithRouteTopics returns cfg subscribed to the topics of its routes file
// (see routes.lane), for the tools that must know every input topic
// before the gateway starts (dev mode, "gateway topics"). Without a routes
// file it returns cfg unchanged.
func WithRouteTopics(cfg Config) (Config, error) {
	if cfg.Routes.File == "" {
		return cfg, nil
	}
	t, err := routes.Load(cfg.Routes.File)
	if err != nil {
		return cfg, fmt.Errorf("routes.file: %w", err)
	}
	cfg.Kafka.Topics = withRouteTopics(cfg.Kafka.Topics, t, cfg.Routes.Lane)
	return cfg, nil
}

// pipelineRouter returns r as the pipeline's Router (nil without routes).
func pipelineRouter(r *routes.Router) pipeline.Router {
	if r == nil {
		return nil
	}
	return r
}

// ReloadRoutes reads the routes file again (SIGHUP). On failure the routes
// in force stay; the error says where the file is wrong.
func (g *Gateway) ReloadRoutes() error {
	if g.router == nil {
		return errors.New("no routes file is configured (routes.file)")
	}
	return g.router.Reload()
}
