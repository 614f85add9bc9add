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

// counters are a table's series, looked up once when the table is
// prepared: looking them up by label values for every event cost 3 % of
// the CPU of a routed backlog.
type counters struct {
	events     map[string]*[numResults]prometheus.Counter // by topic, then result
	errors     map[string]prometheus.Counter              // by route
	operations map[[2]string]prometheus.Counter           // by route and type
}

// The results of routing, in the order of counters.events.
const (
	idxMatched = iota
	idxUnmatched
	idxInvalid
	idxError
	numResults
)

var resultNames = [numResults]string{idxMatched: resultMatched, idxUnmatched: resultUnmatched,
	idxInvalid: resultInvalid, idxError: resultError}

// prepare creates the series of a table at zero, so that rates and alerts
// work before the first event, and gives the table its counters.
func (m *metrics) prepare(t *Table) {
	c := &counters{events: map[string]*[numResults]prometheus.Counter{}, errors: map[string]prometheus.Counter{},
		operations: map[[2]string]prometheus.Counter{}}
	for _, topic := range t.Topics() {
		var byResult [numResults]prometheus.Counter
		for i, r := range resultNames {
			byResult[i] = m.events.WithLabelValues(topic, r)
		}
		c.events[topic] = &byResult
	}
	for _, r := range t.routes {
		c.errors[r.name] = m.errors.WithLabelValues(r.name)
		for _, op := range r.ops {
			c.operations[[2]string{r.name, op.spec.Type}] = m.operations.WithLabelValues(r.name, op.spec.Type)
		}
	}
	t.counters = c
}

// observe counts an event routed by t (before the unmatched policy
// applies).
func (m *metrics) observe(t *Table, topic string, res *Result) {
	result := idxUnmatched
	switch {
	case res.Err != nil:
		result = idxInvalid
	case len(res.Failures) > 0:
		result = idxError
	case len(res.Matched) > 0:
		result = idxMatched
	}
	c := t.counters
	if byResult := c.events[topic]; byResult != nil {
		byResult[result].Inc()
	} else {
		m.events.WithLabelValues(topic, resultNames[result]).Inc()
	}
	for _, f := range res.Failures {
		c.errors[f.Route].Inc()
	}
	for i := range res.Ops {
		c.operations[[2]string{res.Ops[i].Route, res.Ops[i].Type}].Inc()
	}
}
