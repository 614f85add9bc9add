package dispatcher_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
)

// transport answers like a failed connection.
func transport(err error) func(call) (*braze.Response, error) {
	return func(c call) (*braze.Response, error) { return nil, &braze.Error{Endpoint: c.Path, Err: err} }
}

// errorOnly answers status as a *braze.Error alone, without a Response
// (braze.Client does so when the body of an answer cannot be read).
func errorOnly(code int, body string, rl braze.RateLimit) func(call) (*braze.Response, error) {
	return func(c call) (*braze.Response, error) {
		return nil, &braze.Error{Endpoint: c.Path, Status: code, Message: "status", Body: []byte(body), RateLimit: rl}
	}
}

func rateLimited(rl braze.RateLimit) func(call) (*braze.Response, error) {
	return func(c call) (*braze.Response, error) { return reply(c, 429, `{"message":"Rate Limited"}`, rl) }
}

func okStep(c call) (*braze.Response, error) { return accepted(c) }

// TestRetries: one event, answers scripted per call.
func TestRetries(t *testing.T) {
	const rejectBody = `{"message":"Invalid Campaign ID"}`
	tests := []struct {
		name        string
		maxAttempts int
		answer      answerFunc
		outcome     dispatcher.Outcome
		reason      event.Reason
		status      int
		calls       int    // Braze calls made, = Result.Attempts
		response    string // Result.Response
		retries     map[string]float64
		observed    []int // statuses the Limiter was told
		// othersOK: other calls succeed meanwhile, so Braze is up and the
		// failures are this request's own (without, an exhausted request
		// keeps waiting: it may be the start of an outage).
		othersOK bool
	}{
		{
			name:    "503 twice then 201",
			answer:  sequence(status(503), status(503), okStep),
			outcome: dispatcher.Sent, status: 201, calls: 3,
			retries:  map[string]float64{"server_error": 2},
			observed: []int{503, 503, 201},
		},
		{
			name:        "5xx beyond max attempts",
			othersOK:    true,
			maxAttempts: 3,
			answer:      sequence(status(502)),
			outcome:     dispatcher.DeadLettered, reason: event.ReasonRetriesExhausted, status: 502, calls: 3,
			response: `{"message":"status 502"}`,
			retries:  map[string]float64{"server_error": 2},
			observed: []int{502, 502, 502},
		},
		{
			name:    "connection error retried",
			answer:  sequence(transport(io.ErrUnexpectedEOF), okStep),
			outcome: dispatcher.Sent, status: 201, calls: 2,
			retries:  map[string]float64{"connection": 1},
			observed: []int{0, 201},
		},
		{
			name:    "timeout retried",
			answer:  sequence(transport(context.DeadlineExceeded), okStep),
			outcome: dispatcher.Sent, status: 201, calls: 2,
			retries:  map[string]float64{"timeout": 1},
			observed: []int{0, 201},
		},
		{
			name: "error of another type retried as a connection error",
			answer: sequence(func(call) (*braze.Response, error) { return nil, errors.New("dial tcp: refused") },
				okStep),
			outcome: dispatcher.Sent, status: 201, calls: 2,
			retries: map[string]float64{"connection": 1},
		},
		{
			name:        "transport errors beyond max attempts",
			othersOK:    true,
			maxAttempts: 2,
			answer:      sequence(transport(io.ErrUnexpectedEOF)),
			outcome:     dispatcher.DeadLettered, reason: event.ReasonRetriesExhausted, calls: 2,
		},
		{
			// With max attempts 2, a 429 counted as an attempt would make
			// the 503 the last one.
			name:        "429 is not an attempt",
			maxAttempts: 2,
			answer:      sequence(rateLimited(braze.RateLimit{RetryAfter: time.Millisecond}), status(503), okStep),
			outcome:     dispatcher.Sent, status: 201, calls: 3,
			retries:  map[string]float64{"rate_limited": 1, "server_error": 1},
			observed: []int{429, 503, 201},
		},
		{
			name:        "many 429s never exhaust the attempts",
			maxAttempts: 1,
			answer: sequence(rateLimited(braze.RateLimit{RetryAfter: time.Millisecond}),
				rateLimited(braze.RateLimit{RetryAfter: time.Millisecond}),
				rateLimited(braze.RateLimit{RetryAfter: time.Millisecond}), okStep),
			outcome: dispatcher.Sent, status: 201, calls: 4,
			retries: map[string]float64{"rate_limited": 3},
		},
		{
			name:    "400 is not retried",
			answer:  sequence(func(c call) (*braze.Response, error) { return reply(c, 400, rejectBody, braze.RateLimit{}) }),
			outcome: dispatcher.DeadLettered, reason: event.ReasonRejected, status: 400, calls: 1,
			response: rejectBody, observed: []int{400},
		},
		{
			name:    "404 is not retried",
			answer:  sequence(status(404)),
			outcome: dispatcher.DeadLettered, reason: event.ReasonRejected, status: 404, calls: 1,
			response: `{"message":"status 404"}`,
		},
		{
			// braze.Client answers this way when a body cannot be read:
			// the status, hints and body travel in the error.
			name:    "400 as an error alone keeps Braze's body",
			answer:  sequence(errorOnly(400, rejectBody, braze.RateLimit{})),
			outcome: dispatcher.DeadLettered, reason: event.ReasonRejected, status: 400, calls: 1,
			response: rejectBody, observed: []int{400},
		},
		{
			name:        "503 as an error alone is retried and exhausted",
			othersOK:    true,
			maxAttempts: 2,
			answer:      sequence(errorOnly(503, `{"message":"down"}`, braze.RateLimit{})),
			outcome:     dispatcher.DeadLettered, reason: event.ReasonRetriesExhausted, status: 503, calls: 2,
			response: `{"message":"down"}`, observed: []int{503, 503},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = 1 // each event leaves at once
			if tt.maxAttempts > 0 {
				cfg.Retry.MaxAttempts = tt.maxAttempts
			}
			answer := tt.answer
			var okCalls atomic.Int64
			if tt.othersOK {
				var own atomic.Int64
				answer = func(ctx context.Context, c call) (*braze.Response, error) {
					if bytes.Contains(c.Body, []byte(`"c-ok"`)) {
						okCalls.Add(1)
						return accepted(c)
					}
					c.N = int(own.Add(1) - 1)
					return tt.answer(ctx, c)
				}
			}
			h := start(t, cfg, answer, nil)
			h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
			if tt.othersOK {
				eventually(t, func() bool { return h.sender.count() >= 1 }, "first call")
				h.submit(t, trigger(t, "ok", "c-ok", []string{"u-ok"}))
			}
			r := h.jobs.result(t, "e1")
			if tt.othersOK && r.Attempts > tt.calls {
				// The other event's success may land after e1's last
				// attempt; e1 then waits for one more before it gives up.
				tt.calls, tt.observed, tt.retries = r.Attempts, nil, nil
			}
			if r.Outcome != tt.outcome || r.Reason != tt.reason || r.Status != tt.status || r.Attempts != tt.calls {
				t.Errorf("result %v/%q status %d attempts %d, want %v/%q status %d attempts %d (err %q)",
					r.Outcome, r.Reason, r.Status, r.Attempts, tt.outcome, tt.reason, tt.status, tt.calls, r.Err)
			}
			if n := h.sender.count() - int(okCalls.Load()); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
			if tt.response != "" && string(r.Response) != tt.response {
				t.Errorf("response %q, want %q", r.Response, tt.response)
			}
			if tt.outcome == dispatcher.Sent {
				if r.DispatchID != fmt.Sprintf("d-%d", tt.calls-1) || r.Err != "" {
					t.Errorf("sent with dispatch id %q, err %q", r.DispatchID, r.Err)
				}
			} else if r.Err == "" {
				t.Error("dead-lettered without a cause")
			}
			if r.FirstAttempt.IsZero() || r.BatchSize != 1 {
				t.Errorf("first attempt %v, batch size %d", r.FirstAttempt, r.BatchSize)
			}
			for reason, want := range tt.retries {
				if got := h.metric(t, "braze_gateway_retries_total",
					map[string]string{"endpoint": "/campaigns/trigger/send", "reason": reason}); got != want {
					t.Errorf("retries_total{reason=%s} = %v, want %v", reason, got, want)
				}
			}
			if tt.observed != nil {
				var got []int
				for _, o := range h.lim.Observed() {
					if tt.othersOK && o.Status == 201 {
						continue // the other event's call
					}
					got = append(got, o.Status)
				}
				if !slices.Equal(got, tt.observed) {
					t.Errorf("limiter observed statuses %v, want %v", got, tt.observed)
				}
			}
		})
	}
}

// TestRateLimitedWaitsForBraze: a 429 waits until Braze's Retry-After or
// reset time before the next call, and the Limiter hears of the 429 with
// its hints.
func TestRateLimitedWaitsForBraze(t *testing.T) {
	const wait = 60 * time.Millisecond
	tests := []struct {
		name string
		// first answers the first call, given when it was made.
		first func(c call) (*braze.Response, error)
	}{
		{"retry-after", func(c call) (*braze.Response, error) {
			return rateLimited(braze.RateLimit{Present: true, Limit: 10, RetryAfter: wait})(c)
		}},
		{"reset", func(c call) (*braze.Response, error) {
			return rateLimited(braze.RateLimit{Present: true, Limit: 10, Reset: c.At.Add(wait)})(c)
		}},
		{"retry-after in an error alone", func(c call) (*braze.Response, error) {
			return errorOnly(429, "", braze.RateLimit{Present: true, Limit: 10, RetryAfter: wait})(c)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = 1
			cfg.Retry.MaxAttempts = 1
			h := start(t, cfg, sequence(tt.first, okStep), nil)
			h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
			r := h.jobs.result(t, "e1")
			if r.Outcome != dispatcher.Sent || r.Attempts != 2 {
				t.Fatalf("result %+v, want sent after 2 calls", r)
			}
			calls := h.sender.Calls()
			if len(calls) != 2 {
				t.Fatalf("%d calls, want 2", len(calls))
			}
			if gap := calls[1].At.Sub(calls[0].At); gap < wait {
				t.Errorf("retried %v after the 429, before Braze's %v", gap, wait)
			}
			obs := h.lim.Observed()
			if len(obs) != 2 || obs[0].Status != 429 || obs[0].RateLimit.Limit != 10 || obs[1].Status != 201 {
				t.Errorf("limiter observed %+v, want the 429 with its headers, then 201", obs)
			}
			if got := h.metric(t, "braze_gateway_braze_requests_total",
				map[string]string{"endpoint": "/campaigns/trigger/send", "code": "429"}); got != 1 {
				t.Errorf("requests_total{code=429} = %v, want 1", got)
			}
		})
	}
}

// TestRetriesStopAfterMaxElapsed: no attempt starts once max_elapsed has
// passed since the first, whatever attempts are left. Every call of e1
// takes two minutes (of the test's clock); its retries wait until another
// event has been accepted after its first call (so Braze is known to be
// up, and the failures are e1's own), which makes the count of attempts
// independent of scheduling.
func TestRetriesStopAfterMaxElapsed(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecipients = 1
	cfg.Retry.MaxAttempts = 10
	cfg.Retry.MaxElapsed = time.Minute
	h := newHarness(t, cfg, nil, nil)
	okAccepted := make(chan struct{})
	var e1Calls atomic.Int32
	h.sender.answer = func(_ context.Context, c call) (*braze.Response, error) {
		if bytes.Contains(c.Body, []byte(`"c-ok"`)) {
			defer close(okAccepted)
			return accepted(c)
		}
		if e1Calls.Add(1) > 1 {
			select {
			case <-okAccepted:
			case <-time.After(10 * time.Second):
				t.Error("the other event was not accepted within 10 s")
			}
		}
		h.clock.Advance(2 * time.Minute) // the call took long
		return status(503)(c)
	}
	h.run()
	h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
	eventually(t, func() bool { return h.sender.count() >= 1 }, "first call")
	h.submit(t, trigger(t, "ok", "c-ok", []string{"u-ok"}))
	r := h.jobs.result(t, "e1")
	if r.Outcome != dispatcher.DeadLettered || r.Reason != event.ReasonRetriesExhausted || r.Attempts > 3 {
		t.Fatalf("result %+v, want retries_exhausted after at most 3 attempts", r)
	}
}

// TestFirstAttemptIsTheFirstCall: FirstAttempt stays the time of the first
// call however late the call that settles the event is.
func TestFirstAttemptIsTheFirstCall(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecipients = 1
	cfg.Retry.MaxElapsed = 24 * time.Hour
	h := newHarness(t, cfg, nil, nil)
	h.sender.answer = func(_ context.Context, c call) (*braze.Response, error) {
		if c.N == 0 {
			h.clock.Advance(time.Hour)
			return status(500)(c)
		}
		return accepted(c)
	}
	h.run()
	begin := time.Now()
	h.submit(t, trigger(t, "e1", "c1", []string{"u1"}))
	r := h.jobs.result(t, "e1")
	if r.Outcome != dispatcher.Sent || r.Attempts != 2 {
		t.Fatalf("result %+v, want sent after 2 calls", r)
	}
	if r.FirstAttempt.Before(begin) || r.FirstAttempt.After(begin.Add(time.Minute)) {
		t.Errorf("first attempt %v, want the first call's time (about %v), not the retry's", r.FirstAttempt, begin)
	}
}

// poisonAnswer rejects (400) every body naming one of the poisoned users
// and accepts the others.
func poisonAnswer(rejectBody string, poisoned ...string) answerFunc {
	return func(_ context.Context, c call) (*braze.Response, error) {
		for _, p := range poisoned {
			if bytes.Contains(c.Body, []byte(`"`+p+`"`)) {
				return reply(c, 400, rejectBody, braze.RateLimit{})
			}
		}
		return accepted(c)
	}
}

// TestRejectedBatchIsolatesOffenders: a batch Braze rejects is halved until
// the offenders stand alone; they are dead-lettered with Braze's answer and
// the others are sent. A half whose sibling was accepted holds an offender
// and is split without being sent, so the number of calls is exact:
// one for the batch, then per level one call for the half that holds the
// offender, plus one for its sibling when the offender is in the first half.
func TestRejectedBatchIsolatesOffenders(t *testing.T) {
	const rejectBody = `{"message":"Bad Request","errors":["recipient is invalid"]}`
	tests := []struct {
		name     string
		n        int
		poisoned []int
		calls    int // exact
		halving  int // calls of plain halving, which sends every half
	}{
		// 8 recipients, one offender at p: 1 + 3 levels + one more per level
		// where the offender is in the first half (a 0 bit of p).
		{name: "8, offender first", n: 8, poisoned: []int{0}, calls: 7, halving: 7},
		{name: "8, offender 3", n: 8, poisoned: []int{3}, calls: 5, halving: 7},
		{name: "8, offender 5", n: 8, poisoned: []int{5}, calls: 5, halving: 7},
		{name: "8, offender last", n: 8, poisoned: []int{7}, calls: 4, halving: 7},
		{name: "10, offenders 2 and 7", n: 10, poisoned: []int{2, 7}, calls: 9, halving: 11},
		{name: "10, offenders 0 and 9", n: 10, poisoned: []int{0, 9}, calls: 10, halving: 13},
		{name: "4, all offenders", n: 4, poisoned: []int{0, 1, 2, 3}, calls: 7, halving: 7},
		{name: "1, offender", n: 1, poisoned: []int{0}, calls: 1, halving: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			us := users("u", tt.n)
			var bad []string
			for _, p := range tt.poisoned {
				bad = append(bad, us[p])
			}
			cfg := testConfig()
			cfg.MaxRecipients = tt.n // the batch leaves when full
			cfg.Linger = time.Minute
			h := start(t, cfg, poisonAnswer(rejectBody, bad...), nil)
			for _, u := range us {
				h.submit(t, trigger(t, "e-"+u, "c1", []string{u}))
			}
			res := h.jobs.all(t)
			sentBy := map[string]int{}
			for _, c := range h.sender.Calls() {
				_, ids := recipientsOf(t, c.Body)
				if len(ids) == 0 {
					t.Errorf("call %d names no recipient", c.N)
				}
				accepted := true
				for _, b := range bad {
					if slices.Contains(ids, b) {
						accepted = false
					}
				}
				if accepted {
					for _, id := range ids {
						sentBy[id]++
					}
				}
			}
			for _, u := range us {
				r := res["e-"+u]
				if slices.Contains(bad, u) {
					if r.Outcome != dispatcher.DeadLettered || r.Reason != event.ReasonRejected || r.Status != 400 ||
						string(r.Response) != rejectBody || !strings.Contains(r.Err, "400") {
						t.Errorf("offender %s: %+v, want rejected with Braze's 400", u, r)
					}
					continue
				}
				if r.Outcome != dispatcher.Sent || sentBy[u] != 1 {
					t.Errorf("%s: %v (%q), accepted %d times; want sent once", u, r.Outcome, r.Err, sentBy[u])
				}
			}
			if got := h.sender.count(); got != tt.calls {
				t.Errorf("%d calls, want %d (plain halving: %d)", got, tt.calls, tt.halving)
			}
		})
	}
}

// TestMinorErrorsRejectNamedRecipients: recipients Braze lists among the
// errors of a 2xx answer are dead-lettered as rejected; the rest are sent.
func TestMinorErrorsRejectNamedRecipients(t *testing.T) {
	tests := []struct {
		name     string
		max      int
		events   func(t *testing.T) []*event.Event
		body     string
		rejected []string // event ids
	}{
		{
			name: "trigger recipients by index",
			max:  5,
			events: func(t *testing.T) []*event.Event {
				var evs []*event.Event
				for i, u := range users("u", 5) {
					evs = append(evs, trigger(t, fmt.Sprintf("e%d", i), "c1", []string{u}))
				}
				return evs
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"recipients","index":3}]}`,
			rejected: []string{"e3"},
		},
		{
			name: "index given as a string",
			max:  3,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{trigger(t, "e0", "c1", []string{"a"}), trigger(t, "e1", "c1", []string{"b"}),
					trigger(t, "e2", "c1", []string{"c"})}
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"recipients","index":"0"}]}`,
			rejected: []string{"e0"},
		},
		{
			name: "multi-recipient event rejected whole",
			max:  5,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{trigger(t, "e0", "c1", []string{"a", "b"}), trigger(t, "e1", "c1", []string{"c", "d"}),
					trigger(t, "e2", "c1", []string{"e"})}
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"recipients","index":3}]}`,
			rejected: []string{"e1"},
		},
		{
			name: "identifier in the text, as a whole word",
			max:  3,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{trigger(t, "e0", "c1", []string{"u3"}), trigger(t, "e1", "c1", []string{"u33"}),
					trigger(t, "e2", "c1", []string{"u4"})}
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":["external_user_id u3: email address is invalid"]}`,
			rejected: []string{"e0"},
		},
		{
			name: "index out of range names nobody",
			max:  2,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{trigger(t, "e0", "c1", []string{"a"}), trigger(t, "e1", "c1", []string{"b"})}
			},
			body: `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"recipients","index":7}]}`,
		},
		{
			name: "messages.send user_aliases index",
			max:  5,
			events: func(t *testing.T) []*event.Event {
				// Recipients in job order: a, alias-x, b, alias-y, c; the body
				// lists external_user_ids [a b c] then user_aliases [alias-x alias-y].
				return []*event.Event{
					messagesSend(t, "m0", []string{"a"}, nil), messagesSend(t, "m1", nil, []string{"alias-x"}),
					messagesSend(t, "m2", []string{"b"}, nil), messagesSend(t, "m3", nil, []string{"alias-y"}),
					messagesSend(t, "m4", []string{"c"}, nil),
				}
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"user_aliases","index":1}]}`,
			rejected: []string{"m3"},
		},
		{
			name: "messages.send external_user_ids index",
			max:  5,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					messagesSend(t, "m0", []string{"a"}, nil), messagesSend(t, "m1", nil, []string{"alias-x"}),
					messagesSend(t, "m2", []string{"b"}, nil), messagesSend(t, "m3", nil, []string{"alias-y"}),
					messagesSend(t, "m4", []string{"c"}, nil),
				}
			},
			body: `{"message":"success","dispatch_id":"d-0","errors":[{"type":"x","input_array":"external_user_ids","index":2},` +
				`{"type":"y","input_array":"external_user_ids","index":0}]}`,
			rejected: []string{"m0", "m4"},
		},
		{
			name: "messages.send alias name in the text",
			max:  3,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					messagesSend(t, "m0", []string{"a"}, nil), messagesSend(t, "m1", nil, []string{"alias-x"}),
					messagesSend(t, "m2", nil, []string{"alias-y"}),
				}
			},
			body:     `{"message":"success","dispatch_id":"d-0","errors":["user alias alias-y does not exist"]}`,
			rejected: []string{"m2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxRecipients = tt.max
			cfg.Linger = time.Minute
			h := start(t, cfg, func(_ context.Context, c call) (*braze.Response, error) {
				return reply(c, 201, tt.body, braze.RateLimit{})
			}, nil)
			evs := tt.events(t)
			for _, ev := range evs {
				h.submit(t, ev)
			}
			res := h.jobs.all(t)
			if n := h.sender.count(); n != 1 {
				t.Fatalf("%d calls, want 1", n)
			}
			for _, ev := range evs {
				r := res[ev.ID]
				if r.Attempts != 1 || r.BatchSize != len(evs) || r.Status != 201 {
					t.Errorf("event %s: attempts %d batch size %d status %d", ev.ID, r.Attempts, r.BatchSize, r.Status)
				}
				if slices.Contains(tt.rejected, ev.ID) {
					if r.Outcome != dispatcher.DeadLettered || r.Reason != event.ReasonRejected || string(r.Response) != tt.body || r.Err == "" {
						t.Errorf("event %s: %+v, want rejected with Braze's answer", ev.ID, r)
					}
					continue
				}
				if r.Outcome != dispatcher.Sent || r.DispatchID != "d-0" {
					t.Errorf("event %s: %v (%q) dispatch %q, want sent", ev.ID, r.Outcome, r.Err, r.DispatchID)
				}
			}
		})
	}
}

// TestExpiredEventsAreNeverSent: an event past its deliver-by time is
// dead-lettered as expired instead of being sent, before the first call, on
// a retry or while it waits for its rate budget; the others of its batch go.
func TestExpiredEventsAreNeverSent(t *testing.T) {
	t.Run("before the first call", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRecipients = 2
		h := start(t, cfg, acceptAll, nil)
		h.submit(t, trigger(t, "late", "c1", []string{"u1"}, deliverBy(time.Now().Add(-time.Minute))))
		h.submit(t, trigger(t, "fine", "c1", []string{"u2"}))
		h.submit(t, scheduleDelete(t, "late-alone", deliverBy(time.Now().Add(-time.Second))))
		res := h.jobs.all(t)
		for _, id := range []string{"late", "late-alone"} {
			r := res[id]
			if r.Outcome != dispatcher.Expired || r.Reason != event.ReasonExpired || r.Attempts != 0 ||
				!r.FirstAttempt.IsZero() || !strings.Contains(r.Err, "deliver-by") {
				t.Errorf("%s: %+v, want expired without an attempt", id, r)
			}
		}
		if r := res["fine"]; r.Outcome != dispatcher.Sent {
			t.Errorf("fine: %+v, want sent", r)
		}
		calls := h.sender.Calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		if _, ids := recipientsOf(t, calls[0].Body); !slices.Equal(ids, []string{"u2"}) {
			t.Errorf("sent %v, want only u2", ids)
		}
	})

	t.Run("while waiting for a retry", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRecipients = 1
		cfg.Retry.MaxElapsed = 24 * time.Hour
		h := newHarness(t, cfg, nil, nil)
		h.sender.answer = func(_ context.Context, c call) (*braze.Response, error) {
			h.clock.Advance(2 * time.Hour)
			return status(503)(c)
		}
		h.run()
		h.submit(t, trigger(t, "e1", "c1", []string{"u1"}, deliverBy(time.Now().Add(time.Hour))))
		r := h.jobs.result(t, "e1")
		if r.Outcome != dispatcher.Expired || r.Reason != event.ReasonExpired || r.Attempts != 1 {
			t.Errorf("result %+v, want expired after 1 attempt", r)
		}
		if n := h.sender.count(); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})

	t.Run("while waiting for the rate budget", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRecipients = 3
		var waited atomic.Bool
		var h *harness
		lim := &fakeLimiter{onWait: func(ctx context.Context) error {
			if !waited.Swap(true) {
				h.clock.Advance(2 * time.Hour) // a long wait for the budget
			}
			return ctx.Err()
		}}
		h = start(t, cfg, acceptAll, lim)
		h.submit(t, trigger(t, "e1", "c1", []string{"u1"}, deliverBy(time.Now().Add(time.Hour))))
		h.submit(t, trigger(t, "e2", "c1", []string{"u2"}))
		h.submit(t, trigger(t, "e3", "c1", []string{"u3"}))
		res := h.jobs.all(t)
		if r := res["e1"]; r.Outcome != dispatcher.Expired {
			t.Errorf("e1: %+v, want expired", r)
		}
		for _, id := range []string{"e2", "e3"} {
			if r := res[id]; r.Outcome != dispatcher.Sent || r.BatchSize != 2 {
				t.Errorf("%s: %+v (%s), want sent in a batch of 2", id, r.Outcome, r.Err)
			}
		}
		calls := h.sender.Calls()
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		if _, ids := recipientsOf(t, calls[0].Body); !slices.Equal(ids, []string{"u2", "u3"}) {
			t.Errorf("sent %v, want [u2 u3]", ids)
		}
	})

	// The offender of a rejected batch expires before its half is sent
	// again: the rest of that half is accepted, which says nothing about
	// the other half, so the other half must be sent, not condemned.
	t.Run("offender expires after its batch was rejected", func(t *testing.T) {
		cfg := testConfig()
		cfg.MaxRecipients = 4
		cfg.Linger = time.Minute
		h := newHarness(t, cfg, nil, nil)
		reject := poisonAnswer(`{"message":"Bad Request"}`, "p")
		h.sender.answer = func(ctx context.Context, c call) (*braze.Response, error) {
			if c.N == 0 {
				h.clock.Advance(2 * time.Hour)
			}
			return reject(ctx, c)
		}
		h.run()
		h.submit(t, trigger(t, "ep", "c1", []string{"p"}, deliverBy(time.Now().Add(time.Hour))))
		for _, u := range []string{"g1", "g2", "g3"} {
			h.submit(t, trigger(t, "e"+u, "c1", []string{u}))
		}
		res := h.jobs.all(t)
		if r := res["ep"]; r.Outcome != dispatcher.Expired {
			t.Errorf("ep: %+v, want expired", r)
		}
		for _, id := range []string{"eg1", "eg2", "eg3"} {
			if r := res[id]; r.Outcome != dispatcher.Sent {
				t.Errorf("%s: %v %q (%s), want sent", id, r.Outcome, r.Reason, r.Err)
			}
		}
	})
}
