package pipeline

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/event"
)

type metrics struct {
	completed *prometheus.CounterVec
	inflight  prometheus.Gauge
	latency   *prometheus.HistogramVec

	// Pre-created series, looked up without hashing label values on the
	// per-event path; read-only after newMetrics.
	completedBy map[completedKey]prometheus.Counter
	latencyBy   map[string]prometheus.Observer
	// sentBy holds, per event type, the series of its common outcome (sent),
	// found by the type's Spec: a pointer lookup rather than three strings
	// hashed per event.
	sentBy map[*event.Spec]sentSeries
}

// sentSeries are the series a sent event of one type updates.
type sentSeries struct {
	completed prometheus.Counter
	latency   prometheus.Observer
}

type completedKey struct{ typ, outcome, reason string }

// done counts a final outcome.
func (m *metrics) done(typ, outcome string, reason event.Reason) {
	if c, ok := m.completedBy[completedKey{typ, outcome, string(reason)}]; ok {
		c.Inc()
		return
	}
	m.completed.WithLabelValues(typ, outcome, string(reason)).Inc()
}

// final counts the final outcome of an event of type typ (spec, its table
// entry) and, when timed, records its end-to-end latency. The common
// outcome, sent, finds its series by the Spec; the others by label values.
func (m *metrics) final(spec *event.Spec, typ, outcome string, reason event.Reason, timed bool, latency float64) {
	if ss, ok := m.sentBy[spec]; ok && outcome == event.OutcomeSent && reason == "" {
		ss.completed.Inc()
		if timed {
			ss.latency.Observe(latency)
		}
		return
	}
	m.done(typ, outcome, reason)
	if timed {
		m.observeLatency(typ, latency)
	}
}

// observeLatency records an event's end-to-end latency.
func (m *metrics) observeLatency(typ string, seconds float64) {
	if o, ok := m.latencyBy[typ]; ok {
		o.Observe(seconds)
		return
	}
	m.latency.WithLabelValues(typ).Observe(seconds)
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
	m.completedBy = map[completedKey]prometheus.Counter{}
	m.latencyBy = map[string]prometheus.Observer{}
	m.sentBy = map[*event.Spec]sentSeries{}
	add := func(typ, outcome string, reason event.Reason) {
		m.completedBy[completedKey{typ, outcome, string(reason)}] = m.completed.WithLabelValues(typ, outcome, string(reason))
	}
	for _, s := range event.Specs() {
		add(s.Type, event.OutcomeSent, "")
		for _, r := range event.Reasons() {
			add(s.Type, event.OutcomeDeadLettered, r)
		}
		add(s.Type, event.OutcomeExpired, event.ReasonExpired)
		add(s.Type, event.OutcomeDuplicate, "")
		m.latencyBy[s.Type] = m.latency.WithLabelValues(s.Type)
		spec, _ := event.Lookup(s.Type)
		m.sentBy[spec] = sentSeries{m.completedBy[completedKey{s.Type, event.OutcomeSent, ""}], m.latencyBy[s.Type]}
	}
	for _, r := range []event.Reason{event.ReasonRouteError, event.ReasonNoRoute} {
		add(productType, event.OutcomeDeadLettered, r)
	}
	if reg != nil {
		reg.MustRegister(m.completed, m.inflight, m.latency)
	}
	return m
}
