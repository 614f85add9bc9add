package brazetest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func listScheduled(t *testing.T, s *Server, key, endTime string) []broadcastEntry {
	t.Helper()
	a := call(t, s, http.MethodGet, "/messages/scheduled_broadcasts?end_time="+endTime, "Bearer "+key, "", "")
	mustStatus(t, a, 200)
	var out struct {
		Items []broadcastEntry `json:"scheduled_broadcasts"`
	}
	if err := json.Unmarshal(a.raw, &out); err != nil {
		t.Fatalf("decode %s: %v", a.raw, err)
	}
	if out.Items == nil {
		t.Fatalf("scheduled_broadcasts missing or null: %s", a.raw)
	}
	return out.Items
}

func hasSchedule(items []broadcastEntry, id string) *broadcastEntry {
	for i := range items {
		if items[i].ScheduleID == id {
			return &items[i]
		}
	}
	return nil
}

func TestMessagesScheduleLifecycle(t *testing.T) {
	clk := newFakeClock(t0)
	s := devServer(t, func(c *Config) { c.Now = clk.Now })
	a := post(t, s, "/messages/schedule/create", `{"campaign_id":"`+cmp+`","external_user_ids":["s1","s2"],`+
		`"messages":{"email":{"app_id":"app","from":"A <a@example.com>","body":"hi","message_variation_id":"email-1"}},`+
		`"schedule":{"time":"2026-03-12T09:00:00Z"}}`)
	mustStatus(t, a, 201)
	id := a.env.ScheduleID
	if id == "" || a.env.DispatchID == "" {
		t.Fatalf("create answer lacks ids: %s", a.raw)
	}
	scheds := s.Schedules()
	if len(scheds) != 1 || scheds[0].ScheduleID != id || scheds[0].CampaignID != cmp || scheds[0].Endpoint != "/messages/schedule/create" ||
		!scheds[0].Time.Equal(time.Date(2026, 3, 12, 9, 0, 0, 0, time.UTC)) || scheds[0].Workspace != DevWorkspace {
		t.Fatalf("schedules = %+v", scheds)
	}
	// Recipients of a schedule are recorded when it is accepted.
	if s.DeliveryCount("external_user_id:s1") != 1 || s.DeliveryCount("external_user_id:s2") != 1 {
		t.Fatalf("deliveries = %+v", s.Deliveries())
	}

	// Listed in range, not outside; end_time is read as midnight UTC of its date.
	if e := hasSchedule(listScheduled(t, s, testKey, "2026-03-13T00:00:00Z"), id); e == nil || e.Type != "Campaign" || e.ID != cmp ||
		e.NextSendTime != "2026-03-12T09:00:00+00:00" || e.ScheduleType != "UTC" {
		t.Fatalf("entry = %+v", e)
	}
	if hasSchedule(listScheduled(t, s, testKey, "2026-03-12T23:00:00Z"), id) != nil {
		t.Fatal("listed beyond end_time")
	}

	// Update the time, then the messages; a wrong variation is refused.
	mustStatus(t, post(t, s, "/messages/schedule/update", `{"schedule_id":"`+id+`","schedule":{"time":"2026-03-14T10:00:00","in_local_time":true}}`), 201)
	mustStatus(t, post(t, s, "/messages/schedule/update", `{"schedule_id":"`+id+`","messages":{"email":{"app_id":"app","from":"A <a@example.com>","body":"bye","message_variation_id":"email-1"}}}`), 201)
	a = post(t, s, "/messages/schedule/update", `{"schedule_id":"`+id+`","messages":{"sms":{"app_id":"app","subscription_group_id":"g","body":"x","message_variation_id":"email-1"}}}`)
	mustStatus(t, a, 400)
	if a.env.Message != labelMismatchedType {
		t.Fatalf("label = %q", a.env.Message)
	}
	sc := s.Schedules()[0]
	if !strings.Contains(string(sc.Body), `"bye"`) || !strings.Contains(string(sc.Schedule), `"in_local_time":true`) ||
		!strings.Contains(string(sc.Body), `2026-03-14T10:00:00`) || !sc.Time.Equal(time.Date(2026, 3, 14, 22, 0, 0, 0, time.UTC)) {
		t.Fatalf("after updates: %+v body %s", sc, sc.Body)
	}
	if e := hasSchedule(listScheduled(t, s, testKey, "2026-03-20"), id); e == nil || e.ScheduleType != "local_time_zones" || e.NextSendTime != "2026-03-14T10:00:00" {
		t.Fatalf("entry after update = %+v", e)
	}

	// Delete; afterwards update and delete fail.
	mustStatus(t, post(t, s, "/messages/schedule/delete", `{"schedule_id":"`+id+`"}`), 201)
	if n := len(s.Schedules()); n != 0 {
		t.Fatalf("%d schedules after delete", n)
	}
	for _, path := range []string{"/messages/schedule/update", "/messages/schedule/delete"} {
		a = post(t, s, path, `{"schedule_id":"`+id+`","schedule":{"time":"2026-03-15T10:00:00Z"}}`)
		mustStatus(t, a, 400)
		if a.env.Message != labelInvalidSchedule {
			t.Fatalf("%s after delete: %s", path, a.raw)
		}
	}
}

func TestTriggerScheduleOwnership(t *testing.T) {
	clk := newFakeClock(t0)
	s := devServer(t, func(c *Config) {
		c.Now = clk.Now
		c.Workspaces = append(c.Workspaces, Workspace{Name: "other", APIKeys: []APIKey{{Key: "other-key"}}, AcceptUnknownIDs: true})
	})
	a := post(t, s, "/campaigns/trigger/schedule/create", `{"campaign_id":"`+trg+`","recipients":[{"external_user_id":"u1"}],"schedule":{"time":"2026-03-11T08:00:00Z"}}`)
	mustStatus(t, a, 201)
	camp := a.env.ScheduleID
	a = post(t, s, "/canvas/trigger/schedule/create", `{"canvas_id":"`+cnv+`","recipients":[{"external_user_id":"u1"}],"schedule":{"time":"2026-03-11T08:00:00Z"}}`)
	mustStatus(t, a, 201)
	canv := a.env.ScheduleID
	if camp == "" || canv == "" || camp == canv {
		t.Fatalf("schedule ids %q %q", camp, canv)
	}
	tests := []struct {
		name, key, path, body string
		want                  int
	}{
		{"campaign id of another campaign", testKey, "/campaigns/trigger/schedule/update", `{"schedule_id":"` + camp + `","campaign_id":"` + cmp + `","schedule":{"time":"2026-03-11T09:00:00Z"}}`, 400},
		{"campaign schedule on canvas endpoint", testKey, "/canvas/trigger/schedule/update", `{"schedule_id":"` + camp + `","canvas_id":"` + cnv + `","schedule":{"time":"2026-03-11T09:00:00Z"}}`, 400},
		{"canvas schedule on messages endpoint", testKey, "/messages/schedule/delete", `{"schedule_id":"` + canv + `"}`, 400},
		{"schedule of another workspace", "other-key", "/campaigns/trigger/schedule/delete", `{"schedule_id":"` + camp + `","campaign_id":"` + trg + `"}`, 400},
		{"campaign update", testKey, "/campaigns/trigger/schedule/update", `{"schedule_id":"` + camp + `","campaign_id":"` + trg + `","schedule":{"time":"2026-03-11T09:00:00Z"}}`, 201},
		{"canvas update", testKey, "/canvas/trigger/schedule/update", `{"schedule_id":"` + canv + `","canvas_id":"` + cnv + `","schedule":{"time":"2026-03-11T09:00:00Z"}}`, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, http.MethodPost, tc.path, "Bearer "+tc.key, "application/json", tc.body)
			mustStatus(t, a, tc.want)
			if tc.want == 400 && a.env.Message != labelInvalidSchedule {
				t.Fatalf("label %q", a.env.Message)
			}
		})
	}
	if got := s.Schedules(); len(got) != 2 || !got[0].Time.Equal(time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC)) {
		t.Fatalf("schedules = %+v", got)
	}
	// Once due, a schedule has been sent: it is no longer live and can no
	// longer be changed.
	clk.Set(time.Date(2026, 3, 11, 9, 0, 0, 0, time.UTC))
	if got := s.Schedules(); len(got) != 0 {
		t.Fatalf("schedules after due time = %+v", got)
	}
	a = post(t, s, "/campaigns/trigger/schedule/delete", `{"schedule_id":"`+camp+`","campaign_id":"`+trg+`"}`)
	mustStatus(t, a, 400)
}

func TestDashboardBroadcastsListed(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 3, 10, 10, 0, 0, 0, time.UTC))
	s := devServer(t, func(c *Config) { c.Now = clk.Now })
	items := listScheduled(t, s, testKey, "2026-03-12")
	// The daily 09:00 digest is next due tomorrow, once.
	if len(items) != 1 || items[0].Name != "Weekly digest" || items[0].NextSendTime != "2026-03-11T09:00:00+00:00" {
		t.Fatalf("items = %+v", items)
	}
	if got := listScheduled(t, s, testKey, "2026-03-11"); len(got) != 0 {
		t.Fatalf("items before the next occurrence = %+v", got)
	}
}

func TestAcceptUnknownIDs(t *testing.T) {
	s := NewServer(Config{Workspaces: []Workspace{{Name: "w", APIKeys: []APIKey{{Key: testKey}}, AcceptUnknownIDs: true}}})
	defer s.Close()
	for _, tc := range []struct{ path, body string }{
		{"/campaigns/trigger/send", `{"campaign_id":"any","recipients":[{"external_user_id":"u1"}]}`},
		{"/canvas/trigger/send", `{"canvas_id":"any","recipients":[{"external_user_id":"u1"}]}`},
		{"/messages/send", `{"campaign_id":"any","external_user_ids":["u1"],"messages":{"email":{"app_id":"a","from":"A <a@b.c>","body":"b","message_variation_id":"v"}}}`},
		{"/messages/send", `{"broadcast":true,"segment_id":"any","messages":` + push + `}`},
		{"/campaigns/duplicate", `{"campaign_id":"any","name":"n","tag_names":["t"]}`},
	} {
		a := post(t, s, tc.path, tc.body)
		if a.status/100 != 2 {
			t.Errorf("%s: %d %s", tc.path, a.status, a.raw)
		}
	}
	// Send ids are still checked: they are created through the API.
	mustStatus(t, post(t, s, "/campaigns/trigger/send", `{"campaign_id":"any","send_id":"x","recipients":[{"external_user_id":"u1"}]}`), 400)
}

func TestTrackedBroadcastReturnsSendID(t *testing.T) {
	s := devServer(t, func(c *Config) { c.Limits = nil })
	a := post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","broadcast":true}`)
	mustStatus(t, a, 201)
	if a.env.SendID == "" || a.env.DispatchID == "" {
		t.Fatalf("broadcast answer: %s", a.raw)
	}
	// The generated id is usable for the campaign afterwards.
	mustStatus(t, post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","send_id":"`+a.env.SendID+`","recipients":[{"external_user_id":"u1"}]}`), 201)
	// A non-broadcast send names no send id.
	if a = post(t, s, "/campaigns/trigger/send", `{"campaign_id":"`+trg+`","recipients":[{"external_user_id":"u1"}]}`); a.env.SendID != "" {
		t.Fatalf("send_id on a targeted send: %s", a.raw)
	}
}
