package brazetest

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/rules"
)

// t0 is 10:20:30 UTC: mid-minute, mid-hour, mid-day.
var t0 = time.Date(2026, 3, 10, 10, 20, 30, 0, time.UTC)

func smallLimits() map[rules.Budget]rules.Limit {
	return map[rules.Budget]rules.Limit{
		rules.BudgetShared:             {Budget: rules.BudgetShared, Requests: 3, Window: time.Hour},
		rules.BudgetBroadcast:          {Budget: rules.BudgetBroadcast, Requests: 4, Window: time.Minute},
		rules.BudgetAudience:           {Budget: rules.BudgetAudience, Requests: 2, Window: time.Minute},
		rules.BudgetSendIDs:            {Budget: rules.BudgetSendIDs, Requests: 3, Window: 24 * time.Hour},
		rules.BudgetCampaignsDuplicate: {Budget: rules.BudgetCampaignsDuplicate, Requests: 1, Window: time.Minute},
		rules.BudgetCanvasDuplicate:    {Budget: rules.BudgetCanvasDuplicate, Requests: 1, Window: time.Minute},
	}
}

func budgetServer(t *testing.T) (*Server, *fakeClock) {
	t.Helper()
	clk := newFakeClock(t0)
	s := devServer(t, func(c *Config) {
		c.Limits = smallLimits()
		c.Now = clk.Now
		c.Workspaces[0].APIKeys = append(c.Workspaces[0].APIKeys, APIKey{Key: "no-perm", Permissions: []string{}})
		c.Workspaces = append(c.Workspaces, Workspace{Name: "second", APIKeys: []APIKey{{Key: "second-key"}}, AcceptUnknownIDs: true})
	})
	return s, clk
}

// rl reads the rate-limit headers of an answer; ok is false when absent.
func rl(t *testing.T, a answer) (limit, remaining int, reset int64, ok bool) {
	t.Helper()
	l, r, z := a.header.Get("X-RateLimit-Limit"), a.header.Get("X-RateLimit-Remaining"), a.header.Get("X-RateLimit-Reset")
	if l == "" && r == "" && z == "" {
		return 0, 0, 0, false
	}
	var err error
	if limit, err = strconv.Atoi(l); err != nil {
		t.Fatalf("X-RateLimit-Limit %q: %v", l, err)
	}
	if remaining, err = strconv.Atoi(r); err != nil {
		t.Fatalf("X-RateLimit-Remaining %q: %v", r, err)
	}
	if reset, err = strconv.ParseInt(z, 10, 64); err != nil {
		t.Fatalf("X-RateLimit-Reset %q: %v", z, err)
	}
	return limit, remaining, reset, true
}

func mustRL(t *testing.T, a answer, limit, remaining int, reset time.Time) {
	t.Helper()
	l, r, z, ok := rl(t, a)
	if !ok {
		t.Fatalf("no X-RateLimit-* headers on %d %s", a.status, a.raw)
	}
	if l != limit || r != remaining || z != reset.Unix() {
		t.Fatalf("rate limit = %d/%d reset %d, want %d/%d reset %d (%s)", r, l, z, remaining, limit, reset.Unix(), reset)
	}
}

func TestSharedBudgetWindow(t *testing.T) {
	s, clk := budgetServer(t)
	nextHour := time.Date(2026, 3, 10, 11, 0, 0, 0, time.UTC)
	// Calls that fail before the budget step are not charged, and say so.
	mustRL(t, call(t, s, http.MethodPost, "/messages/send", "", "application/json", sendOK), 3, 3, nextHour)
	mustRL(t, call(t, s, http.MethodPost, "/messages/send", "Bearer no-perm", "application/json", sendOK), 3, 3, nextHour)
	mustRL(t, call(t, s, http.MethodPost, "/messages/send", "Bearer "+testKey, "text/plain", sendOK), 3, 3, nextHour)
	mustRL(t, call(t, s, http.MethodPost, "/nowhere", "Bearer "+testKey, "application/json", sendOK), 3, 3, nextHour)
	// Successes and rule violations are charged.
	a := post(t, s, "/messages/send", sendOK)
	mustStatus(t, a, 201)
	mustRL(t, a, 3, 2, nextHour)
	a = post(t, s, "/messages/send", `{"external_user_ids":["u1"]}`) // No message to send
	mustStatus(t, a, 400)
	mustRL(t, a, 3, 1, nextHour)
	// The shared pool spans endpoints.
	a = call(t, s, http.MethodGet, "/messages/scheduled_broadcasts?end_time=2026-04-01", "Bearer "+testKey, "", "")
	mustStatus(t, a, 200)
	mustRL(t, a, 3, 0, nextHour)
	a = post(t, s, "/canvas/trigger/send", `{"canvas_id":"`+cnv+`","recipients":[{"external_user_id":"u1"}]}`)
	mustStatus(t, a, 429)
	if a.env.Message != "Rate Limited" {
		t.Fatalf("429 message = %q", a.env.Message)
	}
	mustRL(t, a, 3, 0, nextHour)
	// Another workspace has its own budget.
	a = call(t, s, http.MethodPost, "/messages/send", "Bearer second-key", "application/json", sendOK)
	mustStatus(t, a, 201)
	mustRL(t, a, 3, 2, nextHour)
	// Still limited one second before the top of the hour, free at it.
	clk.Set(nextHour.Add(-time.Second))
	mustStatus(t, post(t, s, "/messages/send", sendOK), 429)
	clk.Set(nextHour)
	a = post(t, s, "/messages/send", sendOK)
	mustStatus(t, a, 201)
	mustRL(t, a, 3, 2, nextHour.Add(time.Hour))
}

func TestBroadcastBudgets(t *testing.T) {
	s, clk := budgetServer(t)
	nextMinute := time.Date(2026, 3, 10, 10, 21, 0, 0, time.UTC)
	segmentSend := `{"broadcast":true,"segment_id":"` + seg + `","messages":` + push + `}`
	campaignBroadcast := `{"campaign_id":"` + trg + `","broadcast":true}`
	// Same audience twice: the per-audience bucket (2/min) binds.
	a := post(t, s, "/messages/send", segmentSend)
	mustStatus(t, a, 201)
	mustRL(t, a, 2, 1, nextMinute)
	mustStatus(t, post(t, s, "/messages/send", segmentSend), 201)
	a = post(t, s, "/messages/send", segmentSend)
	mustStatus(t, a, 429)
	mustRL(t, a, 2, 0, nextMinute)
	// Another audience has its own bucket, but the broadcast bucket (4/min)
	// is shared across endpoints: 2 used, 2 left.
	a = post(t, s, "/campaigns/trigger/send", campaignBroadcast)
	mustStatus(t, a, 201)
	mustRL(t, a, 2, 1, nextMinute)
	a = post(t, s, "/canvas/trigger/send", `{"canvas_id":"`+cnv+`","broadcast":true}`)
	mustStatus(t, a, 201)
	mustRL(t, a, 4, 0, nextMinute) // broadcast now binds: 0 left
	a = post(t, s, "/canvas/trigger/send", `{"canvas_id":"`+DevArchivedCanvasID+`","broadcast":true}`)
	mustStatus(t, a, 429)
	mustRL(t, a, 4, 0, nextMinute)
	// Explicit-recipient sends use the shared pool meanwhile.
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	// The next minute starts afresh.
	clk.Set(nextMinute)
	a = post(t, s, "/messages/send", segmentSend)
	mustStatus(t, a, 201)
	mustRL(t, a, 2, 1, nextMinute.Add(time.Minute))
}

func TestSendIDBudgetCountsCreations(t *testing.T) {
	s, clk := budgetServer(t)
	midnight := time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)
	create := func(sendID string) answer {
		return post(t, s, "/sends/id/create", `{"campaign_id":"`+cmp+`","send_id":"`+sendID+`"}`)
	}
	a := create("a")
	mustStatus(t, a, 201)
	if a.env.SendID != "a" {
		t.Fatalf("send_id = %q", a.env.SendID)
	}
	mustRL(t, a, 3, 2, midnight)
	// A failed creation is not charged.
	a = post(t, s, "/sends/id/create", `{"campaign_id":"nope","send_id":"b"}`)
	mustStatus(t, a, 400)
	mustRL(t, a, 3, 2, midnight)
	// Nor is one that creates nothing new.
	a = create("a")
	mustStatus(t, a, 201)
	mustRL(t, a, 3, 2, midnight)
	mustRL(t, create("b"), 3, 1, midnight)
	// A generated id.
	a = post(t, s, "/sends/id/create", `{"campaign_id":"`+cmp+`"}`)
	mustStatus(t, a, 201)
	if a.env.SendID == "" {
		t.Fatal("no generated send_id")
	}
	mustRL(t, a, 3, 0, midnight)
	a = create("d")
	mustStatus(t, a, 429)
	mustRL(t, a, 3, 0, midnight)
	clk.Set(midnight)
	a = create("d")
	mustStatus(t, a, 201)
	mustRL(t, a, 3, 2, midnight.Add(24*time.Hour))
	// Created send ids can be used with their campaign only.
	body := `{"campaign_id":"%s","send_id":"d","recipients":[{"external_user_id":"u1"}]}`
	mustStatus(t, post(t, s, "/campaigns/trigger/send", fmt.Sprintf(body, trg)), 400)
	mustStatus(t, post(t, s, "/messages/send", `{"campaign_id":"`+cmp+`","send_id":"d","external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","message_variation_id":"androidPush-1"}}}`), 201)
}

func TestDuplicateBudgets(t *testing.T) {
	s, _ := budgetServer(t)
	nextMinute := time.Date(2026, 3, 10, 10, 21, 0, 0, time.UTC)
	a := post(t, s, "/campaigns/duplicate", `{"campaign_id":"`+trg+`","name":"c"}`)
	mustStatus(t, a, 202)
	mustRL(t, a, 1, 0, nextMinute)
	mustStatus(t, post(t, s, "/campaigns/duplicate", `{"campaign_id":"`+trg+`","name":"c"}`), 429)
	// The Canvas budget is separate.
	mustStatus(t, post(t, s, "/canvas/duplicate", `{"canvas_id":"`+cnv+`","name":"c"}`), 202)
}

func TestNoLimitsNoHeaders(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Limits = nil })
	for range 5 {
		a := post(t, s, "/messages/send", sendOK)
		mustStatus(t, a, 201)
		if _, _, _, ok := rl(t, a); ok {
			t.Fatalf("rate-limit headers without limits: %v", a.header)
		}
	}
}

func TestInjected429CarriesHeaders(t *testing.T) {
	s, clk := budgetServer(t)
	until := t0.Add(90 * time.Second)
	s.SetFaults(Faults{Storm429: &Storm{Until: until}})
	a := post(t, s, "/messages/send", sendOK)
	mustStatus(t, a, 429)
	mustRL(t, a, 3, 0, until)
	clk.Set(until)
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
}

func limitOf(b rules.Budget, n int) rules.Limit {
	return rules.Limit{Budget: b, Requests: n, Window: time.Hour}
}

func TestBroadcastBudgetPerEndpoint(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Limits = map[rules.Budget]rules.Limit{rules.BudgetBroadcast: {Budget: rules.BudgetBroadcast, Requests: 1, Window: time.Minute}}
		c.BroadcastPerEndpoint = true
	})
	mustStatus(t, post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","broadcast":true}`), 201)
	mustStatus(t, post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","broadcast":true}`), 429)
	mustStatus(t, post(t, s, "/canvas/trigger/send", `{"canvas_id":"`+cnv+`","broadcast":true}`), 201)
}
