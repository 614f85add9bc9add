package dispatcher_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/dispatcher"
)

// failUntilFixed answers code while broken is set, then 201.
func failUntilFixed(broken *atomic.Bool, code int) answerFunc {
	return func(_ context.Context, c call) (*braze.Response, error) {
		if broken.Load() {
			return status(code)(c)
		}
		return accepted(c)
	}
}

// TestOutagePausesInsteadOfDeadLettering: after pause.after_failures
// consecutive 503s the dispatcher pauses (reason braze_unavailable); calls
// made while paused are probes that use up no attempts, so nothing is
// dead-lettered however long Braze stays down, and the first success
// resumes and sends everything.
func TestOutagePausesInsteadOfDeadLettering(t *testing.T) {
	tests := []struct {
		name        string
		events      int
		maxAttempts int
	}{
		// One worker and the requests queued before Run: the first calls
		// of the three requests are the three failures that pause, so
		// none of them used up its two attempts.
		{name: "three requests", events: 3, maxAttempts: 2},
		{name: "one request", events: 1, maxAttempts: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Workers = 1
			cfg.Retry.MaxAttempts = tt.maxAttempts
			cfg.Pause.AfterFailures = 3
			var broken atomic.Bool
			broken.Store(true)
			h := newHarness(t, cfg, failUntilFixed(&broken, 503), nil)
			var ids []string
			for i := range tt.events {
				id := fmt.Sprintf("s%d", i)
				ids = append(ids, id)
				h.submit(t, scheduleDelete(t, id))
			}
			if paused, _ := h.d.Paused(); paused {
				t.Fatal("paused before any call")
			}
			h.run()
			eventually(t, func() bool { p, _ := h.d.Paused(); return p }, "not paused after %d failed calls", h.sender.count())
			if _, reason := h.d.Paused(); reason != dispatcher.PauseUnavailable {
				t.Errorf("pause reason %q, want %q", reason, dispatcher.PauseUnavailable)
			}
			if got := h.metric(t, "braze_gateway_paused", map[string]string{"reason": "braze_unavailable"}); got != 1 {
				t.Errorf("paused{reason=braze_unavailable} = %v, want 1", got)
			}
			// Probes go on failing until some request has been called
			// more often than its attempts allow.
			want := tt.events*tt.maxAttempts + 2
			eventually(t, func() bool { return h.sender.count() >= want }, "only %d calls while paused", h.sender.count())
			for _, id := range ids {
				if h.jobs.settled(t, id) {
					t.Fatalf("event %s settled during the outage: %+v", id, h.jobs.result(t, id))
				}
			}
			broken.Store(false)
			for _, id := range ids {
				if r := h.jobs.result(t, id); r.Outcome != dispatcher.Sent {
					t.Errorf("event %s: %v %q (%s), want sent", id, r.Outcome, r.Reason, r.Err)
				}
			}
			eventually(t, func() bool { p, _ := h.d.Paused(); return !p }, "still paused after Braze answered")
			if got := h.metric(t, "braze_gateway_paused", map[string]string{"reason": "braze_unavailable"}); got != 0 {
				t.Errorf("paused{reason=braze_unavailable} = %v after recovery, want 0", got)
			}
		})
	}
}

// TestAuthFailurePauses: 401 and 403 are not the event's fault: they pause
// with reason auth and never use up attempts, even with max_attempts 1.
func TestAuthFailurePauses(t *testing.T) {
	for _, code := range []int{401, 403} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = 1
			cfg.Retry.MaxAttempts = 1
			cfg.Pause.AfterFailures = 3
			var broken atomic.Bool
			broken.Store(true)
			h := start(t, cfg, failUntilFixed(&broken, code), nil)
			h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
			eventually(t, func() bool { p, _ := h.d.Paused(); return p }, "not paused after %d calls", h.sender.count())
			if _, reason := h.d.Paused(); reason != dispatcher.PauseAuth {
				t.Errorf("pause reason %q, want %q", reason, dispatcher.PauseAuth)
			}
			if got := h.metric(t, "braze_gateway_paused", map[string]string{"reason": "auth"}); got != 1 {
				t.Errorf("paused{reason=auth} = %v, want 1", got)
			}
			eventually(t, func() bool { return h.sender.count() >= 5 }, "probes stopped at %d calls", h.sender.count())
			if h.jobs.settled(t, "e1") {
				t.Fatalf("event settled during the auth failure: %+v", h.jobs.result(t, "e1"))
			}
			broken.Store(false)
			r := h.jobs.result(t, "e1")
			if r.Outcome != dispatcher.Sent || r.Attempts != h.sender.count() {
				t.Errorf("result %+v, want sent with attempts = %d calls", r, h.sender.count())
			}
			if p, _ := h.d.Paused(); p {
				t.Error("still paused after a success")
			}
		})
	}
}

// TestSuccessResetsFailureCount: failures separated by successes never
// pause, however many there are.
func TestSuccessResetsFailureCount(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	cfg.MaxRecipients = 1
	cfg.Pause.AfterFailures = 3
	core, logs := observer.New(zapcore.InfoLevel)
	// Every event: 503, 503, then 201.
	h := start(t, cfg, func(_ context.Context, c call) (*braze.Response, error) {
		if c.N%3 != 2 {
			return status(503)(c)
		}
		return accepted(c)
	}, nil, withLogger(zap.New(core)))
	for i := range 4 {
		id := fmt.Sprintf("e%d", i)
		h.submit(t, trigger(t, id, "c1", []string{"u1"}))
		if r := h.jobs.result(t, id); r.Outcome != dispatcher.Sent || r.Attempts != 3 {
			t.Fatalf("%s: %+v, want sent after 3 calls", id, r)
		}
	}
	if n := logs.FilterMessageSnippet("pausing").Len(); n != 0 {
		t.Errorf("paused %d times although no %d failures were consecutive", n, cfg.Pause.AfterFailures)
	}
}
