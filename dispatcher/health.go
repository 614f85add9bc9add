package dispatcher

import (
	"sync"
	"time"

	"go.uber.org/zap"
)

// PauseConfig says when Braze counts as failing for everyone.
type PauseConfig struct {
	// AfterFailures consecutive failed calls (5xx, timeouts, connection
	// errors, 401/403), with no success in between, pause the gateway.
	AfterFailures int `yaml:"after_failures"`
	// ProbeInterval is how often one call probes Braze while paused.
	ProbeInterval time.Duration `yaml:"probe_interval"`
}

// Pause reasons (the reason label of braze_gateway_paused).
const (
	PauseUnavailable = "braze_unavailable"
	PauseAuth        = "auth"
)

// health tracks whether Braze is failing for everyone. While it is, the
// gateway is paused: intake stops (the consumer asks Paused), calls wait
// instead of failing their events, and one call per probe interval checks
// whether Braze is back; the first success resumes everything. Nothing is
// dead-lettered for an outage or for wrong credentials.
type health struct {
	cfg PauseConfig
	log *zap.Logger
	m   *metrics

	mu          sync.Mutex
	failures    int
	lastSuccess time.Time
	reason      string // empty when not paused
	probeAt     time.Time
}

func (h *health) success(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures = 0
	h.lastSuccess = now
	if h.reason != "" {
		h.log.Info("braze answers again; resuming", zap.String("was", h.reason))
		h.m.paused.WithLabelValues(h.reason).Set(0)
		h.reason = ""
	}
}

// failure counts a failed call and reports whether the gateway is paused.
func (h *health) failure(reason string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if h.reason == "" && h.failures >= h.cfg.AfterFailures {
		h.reason = reason
		h.probeAt = now.Add(h.cfg.ProbeInterval)
		h.m.paused.WithLabelValues(reason).Set(1)
		h.log.Warn("braze is failing for every call; pausing intake and probing",
			zap.String("reason", reason), zap.Int("consecutive_failures", h.failures))
	}
	return h.reason != ""
}

// admit reports whether a call may go now: always when not paused; while
// paused, one probe per interval.
func (h *health) admit(now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reason == "" {
		return true
	}
	if now.Before(h.probeAt) {
		return false
	}
	h.probeAt = now.Add(h.cfg.ProbeInterval)
	return true
}

func (h *health) paused() (bool, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reason != "", h.reason
}

// succeededSince reports whether any call succeeded at or after t: whether
// Braze was answering others while a request kept failing.
func (h *health) succeededSince(t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.lastSuccess.Before(t)
}
