package consumer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/event"
)

// metrics are the consumer's series; names follow DESIGN.md §3.
type metrics struct {
	consumedVec  *prometheus.CounterVec
	lag          *prometheus.GaugeVec
	committed    *prometheus.GaugeVec
	commitLag    *prometheus.GaugeVec
	assigned     prometheus.Gauge
	commitErrors prometheus.Counter
	fetchErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		consumedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_events_consumed_total",
			Help: "Records read from Kafka, by topic and event type (\"invalid\" when not a valid event, \"unknown\" for an unknown type, \"product\" for product events on routed topics).",
		}, []string{"topic", "type"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "braze_gateway_consumer_lag",
			Help: "Records of the partition past the group's committed offset (log-end offset minus committed offset), read from the brokers every 5 s; only for partitions this member holds.",
		}, []string{"topic", "partition"}),
		committed: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "braze_gateway_committed_offset",
			Help: "Last offset committed per partition.",
		}, []string{"topic", "partition"}),
		commitLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "braze_gateway_commit_lag",
			Help: "Records read but not yet committed per partition (in flight, held back by order, or finished and waiting for the next commit).",
		}, []string{"topic", "partition"}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "braze_gateway_assigned_partitions",
			Help: "Partitions assigned to this member in the current generation.",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "braze_gateway_commit_errors_total",
			Help: "Offset commits that failed (they are retried).",
		}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "braze_gateway_fetch_errors_total",
			Help: "Kafka fetches that failed (they are retried).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.consumedVec, m.lag, m.committed, m.commitLag, m.assigned, m.commitErrors, m.fetchErrors)
	}
	return m
}

// maxCachedTypes bounds a partition's cache of consumed-counter series.
const maxCachedTypes = 64

// typeLabel is the type label of a read record: its event type, "unknown"
// for an unknown type, "product" for a product event left to the routes,
// "invalid" for anything else that is not an event.
func typeLabel(msg *Message) string {
	typ := "invalid"
	switch {
	case msg.Event != nil:
		typ = msg.Event.Type
	case msg.Err == nil:
		typ = "product"
	case msg.Err != nil:
		if r, _ := eventReason(msg.Err); r == "unknown_type" {
			typ = "unknown"
		}
	}
	return typ
}

func eventReason(err error) (string, bool) {
	r, ok := event.ReasonOf(err)
	return string(r), ok
}
