package dispatcher

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
)

// metrics are the dispatcher's series (names are part of the contract,
// DESIGN.md §3). A nil Registerer gives unregistered, working collectors.
type metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	recipients *prometheus.HistogramVec
	retries    *prometheus.CounterVec
	wait       *prometheus.HistogramVec
	paused     *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_braze_requests_total",
			Help: "Braze calls by endpoint and HTTP status (\"error\" for transport failures).",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "braze_gateway_braze_request_duration_seconds",
			Help:    "Duration of Braze calls by endpoint.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint"}),
		recipients: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "braze_gateway_batch_recipients",
			Help:    "Recipients per Braze request by endpoint.",
			Buckets: []float64{1, 2, 5, 10, 20, 30, 40, 49, 50},
		}, []string{"endpoint"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_retries_total",
			Help: "Braze calls scheduled again, by endpoint and reason (rate_limited, server_error, timeout, connection, auth, split).",
		}, []string{"endpoint", "reason"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "braze_gateway_ratelimit_wait_seconds",
			Help:    "Time a call waited for its rate budget, by workspace, budget and priority lane.",
			Buckets: []float64{.001, .005, .025, .1, .5, 1, 5, 15, 60, 300},
		}, []string{"workspace", "budget", "lane"}),
		paused: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "braze_gateway_paused",
			Help: "1 while intake is paused because Braze fails for every call, by reason (braze_unavailable, auth).",
		}, []string{"reason"}),
	}
	// Failure series exist from the start, so that rates and alerts work
	// before the first failure.
	for _, spec := range event.Specs() {
		for _, reason := range []string{"rate_limited", "server_error", "timeout", "connection", "auth", "split"} {
			m.retries.WithLabelValues(spec.Endpoint, reason)
		}
		m.requests.WithLabelValues(spec.Endpoint, "429")
		m.requests.WithLabelValues(spec.Endpoint, "401")
		m.requests.WithLabelValues(spec.Endpoint, "403")
	}
	m.paused.WithLabelValues(PauseUnavailable).Set(0)
	m.paused.WithLabelValues(PauseAuth).Set(0)
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.recipients, m.retries, m.wait, m.paused)
	}
	return m
}

func (m *metrics) request(endpoint string, status int, d time.Duration, recipients int) {
	code := "error"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(endpoint, code).Inc()
	m.duration.WithLabelValues(endpoint).Observe(d.Seconds())
	m.recipients.WithLabelValues(endpoint).Observe(float64(recipients))
}

func (m *metrics) retry(endpoint, reason string) {
	m.retries.WithLabelValues(endpoint, reason).Inc()
}

func (m *metrics) waited(ws string, charges []rules.Charge, lane int, d time.Duration) {
	budget := "none"
	if len(charges) > 0 {
		budget = string(charges[0].Budget)
	}
	m.wait.WithLabelValues(ws, budget, strconv.Itoa(lane)).Observe(d.Seconds())
}
