package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/event"
)

type metrics struct {
	completed *prometheus.CounterVec
	inflight  prometheus.Gauge
	latency   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		completed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_events_completed_total",
			Help: "Events with a final outcome, by type, outcome (sent, dead_lettered, duplicate, expired) and dead-letter reason.",
		}, []string{"type", "outcome", "reason"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "braze_gateway_inflight_events",
			Help: "Events handed to the pipeline and not yet final.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "braze_gateway_event_latency_seconds",
			Help:    "Time from the event's time attribute to its final outcome, by type.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"type"}),
	}
	// Every series exists from the start, so rates and alerts work before
	// the first failure.
	for _, s := range event.Specs() {
		m.completed.WithLabelValues(s.Type, event.OutcomeSent, "")
		for _, r := range event.Reasons() {
			m.completed.WithLabelValues(s.Type, event.OutcomeDeadLettered, string(r))
		}
		m.completed.WithLabelValues(s.Type, event.OutcomeExpired, string(event.ReasonExpired))
		m.completed.WithLabelValues(s.Type, event.OutcomeDuplicate, "")
	}
	for _, r := range []event.Reason{event.ReasonRouteError, event.ReasonNoRoute} {
		m.completed.WithLabelValues(productType, event.OutcomeDeadLettered, string(r))
	}
	if reg != nil {
		reg.MustRegister(m.completed, m.inflight, m.latency)
	}
	return m
}
