package dispatcher_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/event"
)

// TestBatchesOfAtMostMaxRecipients: 120 single-recipient events with one
// batching key go out as requests of 50, 50 and 20 (the last one when its
// linger time is up); every body is valid JSON naming every recipient once,
// and every event's Result names the request that carried it.
func TestBatchesOfAtMostMaxRecipients(t *testing.T) {
	cfg := testConfig()
	// Long enough that the first batches fill by count even on a loaded
	// machine; the last one can only leave by lingering.
	cfg.Linger = 250 * time.Millisecond
	h := start(t, cfg, acceptAll, nil)

	us := users("u", 120)
	evs := make([]*event.Event, len(us))
	for i, u := range us {
		evs[i] = trigger(t, "e-"+u, "c1", []string{u})
	}
	before := time.Now()
	var lastOpened time.Time
	for i, ev := range evs {
		if i == 100 {
			lastOpened = time.Now() // the third batch opens with this event
		}
		h.submit(t, ev)
	}
	res := h.jobs.all(t)
	after := time.Now()

	calls := h.sender.Calls()
	var sizes []int
	callOf := map[string]call{}
	for _, c := range calls {
		if c.Path != "/campaigns/trigger/send" {
			t.Errorf("call %d went to %s", c.N, c.Path)
		}
		campaign, ids := recipientsOf(t, c.Body)
		if campaign != "c1" {
			t.Errorf("call %d: campaign %q", c.N, campaign)
		}
		sizes = append(sizes, len(ids))
		for _, id := range ids {
			if prev, dup := callOf[id]; dup {
				t.Errorf("recipient %s sent twice (calls %d and %d)", id, prev.N, c.N)
			}
			callOf[id] = c
		}
	}
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{20, 50, 50}) {
		t.Fatalf("request sizes %v, want [20 50 50]", sizes)
	}
	if len(callOf) != len(us) {
		t.Fatalf("%d distinct recipients sent, want %d", len(callOf), len(us))
	}
	for _, c := range calls {
		if _, ids := recipientsOf(t, c.Body); len(ids) == 20 && c.At.Sub(lastOpened) < cfg.Linger {
			t.Errorf("partial batch sent %v after it opened, before its linger time %v", c.At.Sub(lastOpened), cfg.Linger)
		}
	}
	for _, u := range us {
		r, c := res["e-"+u], callOf[u]
		_, ids := recipientsOf(t, c.Body)
		if r.Outcome != dispatcher.Sent || r.Status != 201 || r.Attempts != 1 || r.BatchSize != len(ids) ||
			r.DispatchID != fmt.Sprintf("d-%d", c.N) || r.Reason != "" || r.Err != "" {
			t.Errorf("event of %s: %+v; want sent by call %d with batch size %d", u, r, c.N, len(ids))
		}
		if r.FirstAttempt.Before(before) || r.FirstAttempt.After(after) || r.FirstAttempt.After(c.At) {
			t.Errorf("event of %s: first attempt %v outside [%v, call at %v]", u, r.FirstAttempt, before, c.At)
		}
	}
	if got := h.metric(t, "braze_gateway_braze_requests_total", map[string]string{"endpoint": "/campaigns/trigger/send", "code": "201"}); got != 3 {
		t.Errorf("requests_total{code=201} = %v, want 3", got)
	}
	if got := h.metric(t, "braze_gateway_batch_recipients", map[string]string{"endpoint": "/campaigns/trigger/send"}); got != 3 {
		t.Errorf("batch_recipients samples = %v, want 3", got)
	}
}

// TestBatchGrouping checks which events share a request: only equal
// batching keys, never one recipient twice, multi-recipient events whole.
func TestBatchGrouping(t *testing.T) {
	tests := []struct {
		name          string
		maxRecipients int
		events        func(t *testing.T) []*event.Event
		// want lists the requests as "campaign:recipient,recipient…"
		// (recipients sorted), in any order.
		want []string
	}{
		{
			name: "different campaigns are separate batches",
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					trigger(t, "e1", "c1", []string{"u1"}), trigger(t, "e2", "c2", []string{"u2"}),
					trigger(t, "e3", "c1", []string{"u3"}), trigger(t, "e4", "c2", []string{"u4"}),
				}
			},
			want: []string{"c1:u1,u3", "c2:u2,u4"},
		},
		{
			name: "different workspaces are separate batches",
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					trigger(t, "e1", "c1", []string{"u1"}), trigger(t, "e2", "c1", []string{"u2"}, inWorkspace("eu")),
					trigger(t, "e3", "c1", []string{"u3"}), trigger(t, "e4", "c1", []string{"u4"}, inWorkspace("eu")),
				}
			},
			want: []string{"c1:u1,u3", "c1:u2,u4"},
		},
		{
			name: "the same recipient is never twice in one request",
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					trigger(t, "e1", "c1", []string{"u1"}), trigger(t, "e2", "c1", []string{"u1"}),
					trigger(t, "e3", "c1", []string{"u2"}), trigger(t, "e4", "c1", []string{"u1"}),
					trigger(t, "e5", "c1", []string{"u3"}), trigger(t, "e6", "c1", []string{"u2"}),
				}
			},
			want: []string{"c1:u1,u2,u3", "c1:u1,u2", "c1:u1"},
		},
		{
			name: "emails differing only in case are one recipient",
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					emailTrigger(t, "e1", "c1", "Ann@Example.com"), emailTrigger(t, "e2", "c1", "ann@example.com"),
					emailTrigger(t, "e3", "c1", "bob@example.com"),
				}
			},
			want: []string{"c1:Ann@Example.com,bob@example.com", "c1:ann@example.com"},
		},
		{
			name:          "multi-recipient events stay whole",
			maxRecipients: 5,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					trigger(t, "e1", "c1", []string{"a", "b", "c"}),
					trigger(t, "e2", "c1", []string{"d", "e", "f"}), // does not fit beside e1
					trigger(t, "e3", "c1", []string{"g", "h"}),      // fills e1's batch
					// More recipients than a batch holds: sent whole, on its own.
					trigger(t, "e4", "c1", []string{"i", "j", "k", "l", "m", "n", "o"}),
				}
			},
			want: []string{"c1:a,b,c,g,h", "c1:d,e,f", "c1:i,j,k,l,m,n,o"},
		},
		{
			name:          "an event naming a recipient of the open batch opens another",
			maxRecipients: 4,
			events: func(t *testing.T) []*event.Event {
				return []*event.Event{
					trigger(t, "e1", "c1", []string{"a", "b"}),
					trigger(t, "e2", "c1", []string{"c", "a"}),
					trigger(t, "e3", "c1", []string{"d", "e"}),
				}
			},
			want: []string{"c1:a,b,d,e", "c1:a,c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Linger = 100 * time.Millisecond
			if tt.maxRecipients > 0 {
				cfg.MaxRecipients = tt.maxRecipients
			}
			h := start(t, cfg, acceptAll, nil)
			evs := tt.events(t)
			for _, ev := range evs {
				h.submit(t, ev)
			}
			res := h.jobs.all(t)
			for id, r := range res {
				if r.Outcome != dispatcher.Sent {
					t.Errorf("event %s: %v, want sent", id, r.Outcome)
				}
			}
			var got []string
			for _, c := range h.sender.Calls() {
				campaign, ids := recipientsOf(t, c.Body)
				lower := map[string]bool{}
				for _, id := range ids {
					if lower[strings.ToLower(id)] {
						t.Errorf("call %d names %s twice: %s", c.N, id, c.Body)
					}
					lower[strings.ToLower(id)] = true
				}
				slices.Sort(ids)
				got = append(got, campaign+":"+strings.Join(ids, ","))
			}
			slices.Sort(got)
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("requests %q, want %q", got, want)
			}
		})
	}
}

// TestMessagesSendBatchBody: /messages/send events merge their
// external_user_ids and user_aliases; the other fields are kept as written.
func TestMessagesSendBatchBody(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRecipients = 5 // the batch leaves when full
	cfg.Linger = time.Minute
	h := start(t, cfg, acceptAll, nil)
	h.submit(t, messagesSend(t, "m1", []string{"a"}, nil))
	h.submit(t, messagesSend(t, "m2", nil, []string{"alias-x"}))
	h.submit(t, messagesSend(t, "m3", []string{"b"}, nil))
	h.submit(t, messagesSend(t, "m4", []string{"c"}, []string{"alias-y"}))
	for id, r := range h.jobs.all(t) {
		if r.Outcome != dispatcher.Sent || r.BatchSize != 4 {
			t.Errorf("event %s: %+v, want sent in a batch of 4", id, r)
		}
	}
	calls := h.sender.Calls()
	if len(calls) != 1 || calls[0].Path != "/messages/send" {
		t.Fatalf("calls %+v, want one to /messages/send", calls)
	}
	var body struct {
		Messages        map[string]json.RawMessage `json:"messages"`
		ExternalUserIDs []string                   `json:"external_user_ids"`
		UserAliases     []struct {
			Name  string `json:"alias_name"`
			Label string `json:"alias_label"`
		} `json:"user_aliases"`
	}
	if err := json.Unmarshal(calls[0].Body, &body); err != nil {
		t.Fatalf("body is not valid JSON (%v): %s", err, calls[0].Body)
	}
	if !slices.Equal(body.ExternalUserIDs, []string{"a", "b", "c"}) {
		t.Errorf("external_user_ids %v, want [a b c]", body.ExternalUserIDs)
	}
	if len(body.UserAliases) != 2 || body.UserAliases[0].Name != "alias-x" || body.UserAliases[1].Name != "alias-y" ||
		body.UserAliases[0].Label != "app" {
		t.Errorf("user_aliases %+v, want alias-x and alias-y", body.UserAliases)
	}
	if _, ok := body.Messages["email"]; !ok {
		t.Errorf("messages lost: %s", calls[0].Body)
	}
}
