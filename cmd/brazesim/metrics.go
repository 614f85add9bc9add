package main

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/braze/brazetest"
)

// simCollector exports a simulator's Stats as Prometheus metrics. It reads a
// snapshot on every scrape, so the simulator itself stays free of metrics
// code.
type simCollector struct {
	sim        *brazetest.Server
	requests   *prometheus.Desc
	deliveries *prometheus.Desc
	remaining  *prometheus.Desc
	limit      *prometheus.Desc
	reset      *prometheus.Desc
	keys       *prometheus.Desc
	schedules  *prometheus.Desc
}

func newSimCollector(sim *brazetest.Server) *simCollector {
	return &simCollector{
		sim: sim,
		requests: prometheus.NewDesc("brazesim_requests_total",
			"Calls to Braze API paths by endpoint (\"other\" for unknown paths) and answered status (0 = dropped by a fault).",
			[]string{"endpoint", "code"}, nil),
		deliveries: prometheus.NewDesc("brazesim_deliveries_total",
			"Recipients accepted for sending, by endpoint.", []string{"endpoint"}, nil),
		remaining: prometheus.NewDesc("brazesim_ratelimit_remaining",
			"Calls left in the current window of a rate budget (per key for keyed budgets: that of the most used key).",
			[]string{"workspace", "budget"}, nil),
		limit: prometheus.NewDesc("brazesim_ratelimit_limit",
			"Size of a rate budget per window.", []string{"workspace", "budget"}, nil),
		reset: prometheus.NewDesc("brazesim_ratelimit_reset_timestamp_seconds",
			"When the current window of a rate budget ends (Unix seconds).", []string{"workspace", "budget"}, nil),
		keys: prometheus.NewDesc("brazesim_ratelimit_keys",
			"Distinct keys (audiences) charged in the current window of a budget.", []string{"workspace", "budget"}, nil),
		schedules: prometheus.NewDesc("brazesim_schedules",
			"Live schedules (created, not deleted, not yet due).", []string{"workspace"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *simCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.deliveries, c.remaining, c.limit, c.reset, c.keys, c.schedules} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *simCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.sim.Stats()
	emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		m, err := prometheus.NewConstMetric(d, t, v, labels...)
		if err != nil {
			m = prometheus.NewInvalidMetric(d, err)
		}
		ch <- m
	}
	for _, r := range st.Requests {
		emit(c.requests, prometheus.CounterValue, float64(r.Count), r.Endpoint, strconv.Itoa(r.Status))
	}
	for _, d := range st.Deliveries {
		emit(c.deliveries, prometheus.CounterValue, float64(d.Count), d.Endpoint)
	}
	for _, b := range st.Budgets {
		emit(c.remaining, prometheus.GaugeValue, float64(b.Remaining), b.Workspace, string(b.Budget))
		emit(c.limit, prometheus.GaugeValue, float64(b.Limit), b.Workspace, string(b.Budget))
		emit(c.reset, prometheus.GaugeValue, float64(b.Reset.Unix()), b.Workspace, string(b.Budget))
		emit(c.keys, prometheus.GaugeValue, float64(b.Keys), b.Workspace, string(b.Budget))
	}
	for _, s := range st.Schedules {
		emit(c.schedules, prometheus.GaugeValue, float64(s.Live), s.Workspace)
	}
}
