package routes

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Results of routing one product event (label "result").
const (
	resultMatched   = "matched"
	resultUnmatched = "unmatched"
	resultInvalid   = "invalid"
	resultError     = "error"
)

type metrics struct {
	version    *prometheus.GaugeVec
	reloads    *prometheus.CounterVec
	rejected   prometheus.Gauge
	events     *prometheus.CounterVec
	operations *prometheus.CounterVec
	errors     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "braze_gateway_routes_version",
			Help: "The routes file in force: one series, labelled with the version (hash of the file), valued with the generation (1 at start, +1 per change applied).",
		}, []string{"version"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_routes_reloads_total",
			Help: "Attempts to load a changed routes file, by result (ok, failed).",
		}, []string{"result"}),
		rejected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "braze_gateway_routes_file_rejected",
			Help: "1 while the routes file on disk is rejected and an older version stays in force.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_routes_events_total",
			Help: "Product events routed, by topic and result (matched, unmatched, invalid, error).",
		}, []string{"topic", "result"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_routes_operations_total",
			Help: "Braze operations derived from product events, by route and type.",
		}, []string{"route", "type"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_routes_errors_total",
			Help: "Routes whose expressions failed on a product event (dead-lettered as route_error), by route.",
		}, []string{"route"}),
	}
	m.reloads.WithLabelValues("ok")
	m.reloads.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(m.version, m.reloads, m.rejected, m.events, m.operations, m.errors)
	}
	return m
}

// prepare creates the series of a table at zero, so that rates and alerts
// work before the first event.
func (m *metrics) prepare(t *Table) {
	for _, topic := range t.Topics() {
		for _, r := range []string{resultMatched, resultUnmatched, resultInvalid, resultError} {
			m.events.WithLabelValues(topic, r)
		}
	}
	for _, r := range t.routes {
		m.errors.WithLabelValues(r.name)
		for _, op := range r.ops {
			m.operations.WithLabelValues(r.name, op.spec.Type)
		}
	}
}

// observe counts a routed event (before the unmatched policy applies).
func (m *metrics) observe(topic string, res *Result) {
	switch {
	case res.Err != nil:
		m.events.WithLabelValues(topic, resultInvalid).Inc()
	case len(res.Failures) > 0:
		m.events.WithLabelValues(topic, resultError).Inc()
	case len(res.Matched) > 0:
		m.events.WithLabelValues(topic, resultMatched).Inc()
	default:
		m.events.WithLabelValues(topic, resultUnmatched).Inc()
	}
	for _, f := range res.Failures {
		m.errors.WithLabelValues(f.Route).Inc()
	}
	for i := range res.Ops {
		m.operations.WithLabelValues(res.Ops[i].Route, res.Ops[i].Type).Inc()
	}
}
