package app

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/brazegw/gateway/ratelimit"
)

// adminHandler serves /metrics, /healthz, /readyz and, when enabled, pprof.
func (g *Gateway) adminHandler() http.Handler {
	mux := http.NewServeMux()
	if g.reg != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(g.reg, promhttp.HandlerOpts{Registry: g.reg}))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if ok, why := g.Ready(); !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(why + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /scheduled-broadcasts", g.serveScheduled)
	if g.cfg.Admin.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// budgetCollector exports the rate budgets at scrape time.
type budgetCollector struct {
	b         *ratelimit.Budgets
	remaining *prometheus.Desc
	limit     *prometheus.Desc
	reported  *prometheus.Desc
}

func newBudgetCollector(b *ratelimit.Budgets) *budgetCollector {
	return &budgetCollector{
		b: b,
		remaining: prometheus.NewDesc("braze_gateway_ratelimit_remaining",
			"Calls this replica may still make in the budget's current window.", []string{"workspace", "budget"}, nil),
		limit: prometheus.NewDesc("braze_gateway_ratelimit_limit",
			"Calls this replica may make per window of the budget.", []string{"workspace", "budget"}, nil),
		reported: prometheus.NewDesc("braze_gateway_ratelimit_reported_remaining",
			"Calls left in the window as Braze's X-RateLimit-Remaining last said (absent until Braze said).", []string{"workspace", "budget"}, nil),
	}
}

func (c *budgetCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.remaining
	ch <- c.limit
	ch <- c.reported
}

func (c *budgetCollector) Collect(ch chan<- prometheus.Metric) {
	// Per-audience buckets are summed into their budget to keep labels fixed.
	type agg struct {
		limit, left, reported int
		hasReported           bool
	}
	sums := map[[2]string]*agg{}
	for _, s := range c.b.Snapshots() {
		k := [2]string{s.Workspace, string(s.Budget)}
		a := sums[k]
		if a == nil {
			a = &agg{}
			sums[k] = a
		}
		a.limit += s.Limit
		a.left += max(s.Limit-s.Used, 0)
		if s.Remote >= 0 {
			a.reported += s.Remote
			a.hasReported = true
		}
	}
	for k, a := range sums {
		ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, float64(a.left), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(a.limit), k[0], k[1])
		if a.hasReported {
			ch <- prometheus.MustNewConstMetric(c.reported, prometheus.GaugeValue, float64(a.reported), k[0], k[1])
		}
	}
}

// serveScheduled lists a workspace's upcoming scheduled broadcasts
// (GET /messages/scheduled_broadcasts): query parameters workspace
// (default "default") and end_time (RFC 3339; default one week ahead).
func (g *Gateway) serveScheduled(w http.ResponseWriter, r *http.Request) {
	ws := r.URL.Query().Get("workspace")
	if ws == "" {
		ws = "default"
	}
	end := time.Now().Add(7 * 24 * time.Hour)
	if s := r.URL.Query().Get("end_time"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			http.Error(w, "end_time must be RFC 3339", http.StatusBadRequest)
			return
		}
		end = t
	}
	c, ok := g.clients[ws]
	if !ok {
		http.Error(w, "unknown workspace", http.StatusNotFound)
		return
	}
	resp, err := c.ScheduledBroadcasts(r.Context(), end)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"scheduled_broadcasts": resp.ScheduledBroadcasts})
}
