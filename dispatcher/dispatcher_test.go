package dispatcher_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
)

// TestNewValidatesConfig: New refuses a configuration that cannot work and
// names the setting.
func TestNewValidatesConfig(t *testing.T) {
	senders := map[string]dispatcher.Sender{"default": senderFunc(func(context.Context, string, []byte) (*braze.Response, error) {
		return nil, nil
	})}
	tests := []struct {
		name    string
		mutate  func(*dispatcher.Config)
		senders map[string]dispatcher.Sender
		wantErr string // empty: valid
	}{
		{name: "defaults", mutate: func(*dispatcher.Config) {}, senders: senders},
		{name: "no workspace", mutate: func(*dispatcher.Config) {}, wantErr: "no Braze workspace"},
		{name: "max recipients 0", mutate: func(c *dispatcher.Config) { c.MaxRecipients = 0 }, senders: senders, wantErr: "max_recipients"},
		{name: "max recipients 51", mutate: func(c *dispatcher.Config) { c.MaxRecipients = 51 }, senders: senders, wantErr: "max_recipients"},
		{name: "negative linger", mutate: func(c *dispatcher.Config) { c.Linger = -time.Millisecond }, senders: senders, wantErr: "linger"},
		{name: "no workers", mutate: func(c *dispatcher.Config) { c.Workers = 0 }, senders: senders, wantErr: "workers"},
		{name: "no attempts", mutate: func(c *dispatcher.Config) { c.Retry.MaxAttempts = 0 }, senders: senders, wantErr: "max_attempts"},
		{name: "no max elapsed", mutate: func(c *dispatcher.Config) { c.Retry.MaxElapsed = 0 }, senders: senders, wantErr: "max_elapsed"},
		{name: "max backoff below initial", mutate: func(c *dispatcher.Config) { c.Retry.MaxBackoff = c.Retry.InitialBackoff / 2 },
			senders: senders, wantErr: "backoff"},
		{name: "no pause threshold", mutate: func(c *dispatcher.Config) { c.Pause.AfterFailures = 0 }, senders: senders, wantErr: "after_failures"},
		{name: "no probe interval", mutate: func(c *dispatcher.Config) { c.Pause.ProbeInterval = 0 }, senders: senders, wantErr: "probe_interval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := dispatcher.DefaultConfig()
			tt.mutate(&cfg)
			d, err := dispatcher.New(cfg, dispatcher.Deps{Senders: tt.senders})
			if tt.wantErr == "" {
				if err != nil || d == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New: error %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestUnknownWorkspaceIsInvalidRequest: an event for a workspace that is
// not configured is dead-lettered at once, without a call.
func TestUnknownWorkspaceIsInvalidRequest(t *testing.T) {
	h := start(t, testConfig(), acceptAll, nil)
	h.submit(t, trigger(t, "batchable", "c1", []string{"u1"}, inWorkspace("us-03")))
	h.submit(t, scheduleDelete(t, "alone", inWorkspace("us-03")))
	for _, id := range []string{"batchable", "alone"} {
		if !h.jobs.settled(t, id) {
			t.Fatalf("%s: no result when Submit returned", id)
		}
		r := h.jobs.result(t, id)
		if r.Outcome != dispatcher.DeadLettered || r.Reason != event.ReasonInvalidRequest || r.Attempts != 0 ||
			!strings.Contains(r.Err, `"us-03"`) {
			t.Errorf("%s: %+v, want invalid_request naming the workspace", id, r)
		}
	}
	if n := h.sender.count(); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
}

// TestSingleEventBody: an event that is not batched is sent with its data,
// or with Job.Body when the caller rewrote it.
func TestSingleEventBody(t *testing.T) {
	h := start(t, testConfig(), acceptAll, nil)
	ev := scheduleDelete(t, "s1")
	h.submit(t, ev)
	if r := h.jobs.result(t, "s1"); r.Outcome != dispatcher.Sent || r.BatchSize != 1 || r.Attempts != 1 {
		t.Fatalf("s1: %+v", r)
	}
	rewritten := []byte(`{"schedule_id":"from-the-index"}`)
	j := h.jobs.job(scheduleDelete(t, "s2"))
	j.Body = rewritten
	h.submitCtx(t, context.Background(), j)
	h.jobs.result(t, "s2")
	calls := h.sender.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls, want 2", len(calls))
	}
	for i, want := range [][]byte{ev.Data, rewritten} {
		if calls[i].Path != "/messages/schedule/delete" || string(calls[i].Body) != string(want) {
			t.Errorf("call %d: %s %s, want /messages/schedule/delete %s", i, calls[i].Path, calls[i].Body, want)
		}
	}
}

// TestBatchWaitsOnItsHighestPriorityLane: a batch waits for the rate
// budget on the lane of its most urgent event.
func TestBatchWaitsOnItsHighestPriorityLane(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecipients = 2
	h := start(t, cfg, acceptAll, nil)
	h.submitCtx(t, context.Background(), h.jobs.jobOn(trigger(t, "e1", "c1", []string{"u1"}), 2))
	h.submitCtx(t, context.Background(), h.jobs.jobOn(trigger(t, "e2", "c1", []string{"u2"}), 1))
	h.jobs.all(t)
	h.submitCtx(t, context.Background(), h.jobs.jobOn(scheduleDelete(t, "s1"), 3))
	h.jobs.all(t)
	if lanes := h.lim.Lanes(); len(lanes) != 2 || lanes[0] != 1 || lanes[1] != 3 {
		t.Errorf("limiter waits on lanes %v, want [1 3]", lanes)
	}
}

// TestSubmitHandsBackWhenItsContextEnds: Submit on a full queue hands its
// event back when its context ends, never dropping it, and with it the
// other events of a batch it completed; the queued events are sent once
// Run starts.
func TestSubmitHandsBackWhenItsContextEnds(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1 // a queue of 4 requests
	cfg.MaxRecipients = 2
	cfg.Linger = time.Minute
	h := newHarness(t, cfg, acceptAll, nil) // Run not started: nothing leaves the queue
	queued := []string{"q1", "q2", "q3", "q4"}
	for _, id := range queued {
		h.submit(t, scheduleDelete(t, id))
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	h.submitCtx(t, cancelled, h.jobs.job(scheduleDelete(t, "alone")))
	h.submit(t, trigger(t, "b1", "c1", []string{"u1"})) // opens a batch
	if h.jobs.settled(t, "b1") {
		t.Fatal("b1 settled while its batch was open")
	}
	h.submitCtx(t, cancelled, h.jobs.job(trigger(t, "b2", "c1", []string{"u2"}))) // fills it
	for _, id := range []string{"alone", "b1", "b2"} {
		if !h.jobs.settled(t, id) {
			t.Fatalf("%s: no result when Submit returned", id)
		}
		if r := h.jobs.result(t, id); r.Outcome != dispatcher.HandedBack {
			t.Errorf("%s: %+v, want handed back", id, r)
		}
	}

	// A Submit blocked on the full queue returns when its context ends.
	ctx, cancelBlocked := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = h.d.Submit(ctx, h.jobs.job(scheduleDelete(t, "blocked"))) })
	cancelBlocked()
	wg.Wait()
	if r := h.jobs.result(t, "blocked"); r.Outcome != dispatcher.HandedBack {
		t.Errorf("blocked: %+v, want handed back", r)
	}

	h.run()
	for _, id := range queued {
		if r := h.jobs.result(t, id); r.Outcome != dispatcher.Sent {
			t.Errorf("%s: %+v, want sent", id, r)
		}
	}
	if n := h.sender.count(); n != len(queued) {
		t.Errorf("%d calls, want %d", n, len(queued))
	}
}

// TestQuiesce: on Quiesce the call in progress finishes and its event is
// sent; events lingering in an open batch are handed back at once, queued
// ones without a call, and later Submits hand back at once.
func TestQuiesce(t *testing.T) {
	cfg := testConfig()
	cfg.Workers = 1
	cfg.Linger = time.Minute
	release := make(chan struct{})
	h := start(t, cfg, func(ctx context.Context, c call) (*braze.Response, error) {
		if c.N == 0 {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, &braze.Error{Endpoint: c.Path, Err: ctx.Err()}
			}
		}
		return accepted(c)
	}, nil)
	h.submit(t, scheduleDelete(t, "inflight"))
	eventually(t, func() bool { return h.sender.count() == 1 }, "the first call never started")
	h.submit(t, scheduleDelete(t, "queued1"))
	h.submit(t, scheduleDelete(t, "queued2"))
	h.submit(t, trigger(t, "lingering", "c1", []string{"u1"}))

	h.d.Quiesce()
	// The lingering batch is handed back while the call is still in progress.
	if r := h.jobs.result(t, "lingering"); r.Outcome != dispatcher.HandedBack {
		t.Errorf("lingering: %+v, want handed back", r)
	}
	if h.jobs.settled(t, "inflight") {
		t.Fatal("the event in flight settled before its call returned")
	}
	h.submit(t, trigger(t, "late", "c1", []string{"u2"}))
	if !h.jobs.settled(t, "late") || h.jobs.result(t, "late").Outcome != dispatcher.HandedBack {
		t.Error("an event submitted after Quiesce was not handed back at once")
	}
	h.d.Quiesce() // idempotent

	close(release)
	if r := h.jobs.result(t, "inflight"); r.Outcome != dispatcher.Sent || r.Attempts != 1 {
		t.Errorf("inflight: %+v, want sent", r)
	}
	for _, id := range []string{"queued1", "queued2"} {
		if r := h.jobs.result(t, id); r.Outcome != dispatcher.HandedBack || r.Attempts != 0 {
			t.Errorf("%s: %+v, want handed back", id, r)
		}
	}
	if n := h.sender.count(); n != 1 {
		t.Errorf("%d calls, want only the one in progress", n)
	}
}

// TestQuiesceHandsBackWaitingRetries: events waiting for a retry (a 429's
// reset an hour away, or a probe while paused) are handed back at once,
// not when their wait ends.
func TestQuiesceHandsBackWaitingRetries(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*dispatcher.Config)
		answer answerFunc
	}{
		{
			name:   "429 with a reset an hour away",
			answer: sequence(rateLimited(braze.RateLimit{RetryAfter: time.Hour})),
		},
		{
			name:   "5xx backoff",
			cfg:    func(c *dispatcher.Config) { c.Retry.InitialBackoff, c.Retry.MaxBackoff = time.Hour, time.Hour },
			answer: sequence(status(503)),
		},
		{
			name:   "paused",
			cfg:    func(c *dispatcher.Config) { c.Pause.AfterFailures, c.Pause.ProbeInterval = 1, time.Hour },
			answer: sequence(status(503)),
		},
		{
			name: "auth",
			cfg: func(c *dispatcher.Config) {
				c.Pause.ProbeInterval = time.Hour
				c.Retry.InitialBackoff, c.Retry.MaxBackoff = time.Hour, time.Hour
			},
			answer: sequence(status(401)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = 1
			cfg.Retry.MaxAttempts = 1000 // a short draw of the jittered backoff must not exhaust them
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			h := start(t, cfg, tt.answer, nil)
			h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
			// The answer has been handled once the limiter heard of it.
			eventually(t, func() bool { return len(h.lim.Observed()) >= 1 }, "no call made")
			h.submit(t, trigger(t, "e2", "c1", []string{"u2"})) // queued behind it, or waiting for the probe
			h.d.Quiesce()
			for _, id := range []string{"e1", "e2"} {
				if r := h.jobs.result(t, id); r.Outcome != dispatcher.HandedBack {
					t.Errorf("%s: %+v, want handed back", id, r)
				}
			}
		})
	}
}
