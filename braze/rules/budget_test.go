package rules

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	shared := []Charge{{Budget: BudgetShared}}
	aud := `{"OR":[{"push_subscription_status":{"comparison":"is","value":"opted_in"}}]}`
	campaignBroadcast := edit(t, bodyCampaignTrigger, "recipients", "-", "broadcast", "true")
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		want   []Charge
	}{
		{"scheduled broadcasts", "GET", PathScheduledBroadcasts, "", shared},
		{"scheduled broadcasts with query", "GET", PathScheduledBroadcasts + "?end_time=2026-04-30T00:00:00Z", "", shared},
		{"messages/send users", "POST", PathMessagesSend, bodyMessagesSend, shared},
		{"messages/send segment", "POST", PathMessagesSend, bodyMessagesSendSegment, []Charge{
			{Budget: BudgetBroadcast},
			{Budget: BudgetAudience, Key: `{"segment_id":"b1a2c3d4-e5f6-4711-8899-aabbccddeeff"}`}}},
		{"messages/send segment, campaign and audience", "POST", PathMessagesSend,
			edit(t, bodyMessagesSendSegment, "campaign_id", `"c1"`, "audience", aud), []Charge{
				{Budget: BudgetBroadcast},
				{Budget: BudgetAudience, Key: `{"audience":` + aud + `,"campaign_id":"c1","segment_id":"b1a2c3d4-e5f6-4711-8899-aabbccddeeff"}`}}},
		{"campaign trigger recipients", "POST", PathCampaignsTriggerSend, bodyCampaignTrigger, shared},
		{"campaign trigger broadcast", "POST", PathCampaignsTriggerSend, campaignBroadcast, []Charge{
			{Budget: BudgetBroadcast},
			{Budget: BudgetAudience, Key: `{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f"}`}}},
		{"canvas trigger recipients", "POST", PathCanvasTriggerSend, bodyCanvasTrigger, shared},
		{"canvas trigger broadcast with audience", "POST", PathCanvasTriggerSend,
			edit(t, bodyCanvasTrigger, "recipients", "-", "broadcast", "true", "audience", aud), []Charge{
				{Budget: BudgetBroadcast},
				{Budget: BudgetAudience, Key: `{"audience":` + aud + `,"canvas_id":"0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"}`}}},
		{"campaign schedule create broadcast", "POST", PathCampaignsScheduleCreate, bodyCampaignScheduleCreate, []Charge{
			{Budget: BudgetBroadcast},
			{Budget: BudgetAudience, Key: `{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f"}`}}},
		{"canvas schedule create recipients", "POST", PathCanvasScheduleCreate, bodyCanvasScheduleCreate, shared},
		{"canvas schedule create broadcast", "POST", PathCanvasScheduleCreate,
			edit(t, bodyCanvasScheduleCreate, "recipients", "-", "broadcast", "true"), []Charge{
				{Budget: BudgetBroadcast},
				{Budget: BudgetAudience, Key: `{"canvas_id":"0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"}`}}},
		{"messages schedule create broadcast is shared", "POST", PathMessagesScheduleCreate, bodyScheduleCreate, shared},
		{"messages schedule update", "POST", PathMessagesScheduleUpdate, bodyScheduleUpdate, shared},
		{"messages schedule delete", "POST", PathMessagesScheduleDelete, bodyScheduleDelete, shared},
		{"campaign schedule update", "POST", PathCampaignsScheduleUpdate, bodyCampaignScheduleUpdate, shared},
		{"campaign schedule delete", "POST", PathCampaignsScheduleDelete, bodyCampaignScheduleDelete, shared},
		{"canvas schedule update", "POST", PathCanvasScheduleUpdate, bodyCanvasScheduleUpdate, shared},
		{"canvas schedule delete", "POST", PathCanvasScheduleDelete, bodyCanvasScheduleDelete, shared},
		{"live activity start segment", "POST", PathLiveActivityStart,
			edit(t, bodyLiveActivityStart, "external_user_ids", "-", "segment_id", `"s1"`), shared},
		{"live activity update", "POST", PathLiveActivityUpdate, bodyLiveActivityUpdate, shared},
		{"sends id create", "POST", PathSendsIDCreate, bodySendsIDCreate, []Charge{{Budget: BudgetSendIDs}}},
		{"campaigns duplicate", "POST", PathCampaignsDuplicate, bodyCampaignsDuplicate,
			[]Charge{{Budget: BudgetCampaignsDuplicate}}},
		{"canvas duplicate", "POST", PathCanvasDuplicate, bodyCanvasDuplicate, []Charge{{Budget: BudgetCanvasDuplicate}}},
		{"lower-case method", "post", PathSendsIDCreate, bodySendsIDCreate, []Charge{{Budget: BudgetSendIDs}}},
		{"unlisted endpoint", "POST", "/users/track", `{}`, shared},
		{"GET on a POST path", "GET", PathSendsIDCreate, "", shared},
		{"broadcast body not JSON", "POST", PathMessagesSend, `{`, shared},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := []byte(tt.body)
			got := Classify(tt.method, tt.path, body)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Classify() = %#v\nwant %#v", got, tt.want)
			}
			// A body that lists recipients gets the same budgets without
			// being read.
			if n, v := listed(tt.path, body); v == nil && n > 0 {
				if got := ClassifyListed(tt.method, tt.path); !slices.Equal(got, tt.want) {
					t.Fatalf("ClassifyListed() = %#v\nwant %#v", got, tt.want)
				}
			}
		})
	}
}

// listed returns how many recipients body lists, as Braze counts them.
func listed(path string, body []byte) (int, *Violation) {
	var b countRecipients
	if v := decodeObject(body, &b); v != nil {
		return 0, v
	}
	return b.count(lookup(path))
}

func TestAudienceKeyCanonical(t *testing.T) {
	key := func(path, body string) string {
		t.Helper()
		ch := Classify("POST", path, []byte(body))
		if len(ch) != 2 || ch[1].Budget != BudgetAudience {
			t.Fatalf("Classify(%s) = %v, want broadcast and audience charges", path, ch)
		}
		return ch[1].Key
	}
	a := `{"campaign_id":"c1","broadcast":true,"audience":{"AND":[{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals","value":"gold"}},{"last_used_app":{"comparison":"after","value":"2026-01-01"}}]}}`
	// Same audience: other key order, whitespace, escapes, other fields.
	b := `{ "audience" : { "AND" : [ { "custom_attribute" : { "value":"g\u006fld", "comparison":"equals", "custom_attribute_name":"tier" } },
	 {"last_used_app":{"value":"2026-01-01","comparison":"after"}} ] },
	 "broadcast": true, "trigger_properties": {"x": 1}, "campaign_id": "c1" }`
	if ka, kb := key(PathCampaignsTriggerSend, a), key(PathCampaignsTriggerSend, b); ka != kb {
		t.Fatalf("equal audiences have different keys:\n%s\n%s", ka, kb)
	}
	// The key does not depend on the endpoint.
	if ka, kb := key(PathCampaignsTriggerSend, a), key(PathCampaignsScheduleCreate, a); ka != kb {
		t.Fatalf("keys differ by endpoint:\n%s\n%s", ka, kb)
	}
	// Array order is significant; a different value is a different audience.
	swapped := edit(t, a, "audience.AND", `[{"last_used_app":{"comparison":"after","value":"2026-01-01"}},`+
		`{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals","value":"gold"}}]`)
	other := edit(t, a, "audience.AND.0.custom_attribute.value", `"silver"`)
	canvas := `{"canvas_id":"c1","broadcast":true}`
	campaign := `{"campaign_id":"c1","broadcast":true}`
	keys := map[string]bool{}
	for _, k := range []string{
		key(PathCampaignsTriggerSend, a),
		key(PathCampaignsTriggerSend, swapped),
		key(PathCampaignsTriggerSend, other),
		key(PathCanvasTriggerSend, canvas),
		key(PathCampaignsTriggerSend, campaign),
	} {
		if keys[k] {
			t.Fatalf("distinct audiences share key %s", k)
		}
		keys[k] = true
	}
	// HTML-significant characters are kept as they are.
	if k := key(PathMessagesSend, `{"segment_id":"a<b>&c","broadcast":true}`); k != `{"segment_id":"a<b>&c"}` {
		t.Fatalf("key = %s", k)
	}
	// Pathological nesting falls back to the raw value instead of failing.
	deep := `{"campaign_id":"c1","broadcast":true,"audience":` + nested(100) + `}`
	if k := key(PathCampaignsTriggerSend, deep); k != `{"audience":`+nested(100)+`,"campaign_id":"c1"}` {
		t.Fatalf("deep key = %s", k)
	}
}

func nested(n int) string {
	s := `{"last_used_app":{"comparison":"after","value":"2026-01-01"}}`
	for range n {
		s = `{"AND":[` + s + `]}`
	}
	return s
}

func TestIsBroadcast(t *testing.T) {
	tests := []struct {
		name string
		path string
		body string
		want bool
	}{
		{"messages/send users", PathMessagesSend, bodyMessagesSend, false},
		{"messages/send aliases", PathMessagesSend, `{"user_aliases":[{"alias_name":"a","alias_label":"b"}]}`, false},
		{"messages/send segment", PathMessagesSend, bodyMessagesSendSegment, true},
		{"messages/send empty lists", PathMessagesSend, `{"external_user_ids":[],"audience":{}}`, true},
		{"schedule create segment", PathMessagesScheduleCreate, bodyScheduleCreate, true},
		{"campaign trigger recipients", PathCampaignsTriggerSend, bodyCampaignTrigger, false},
		{"campaign trigger broadcast", PathCampaignsTriggerSend, `{"campaign_id":"c","broadcast":true}`, true},
		{"canvas trigger empty recipients", PathCanvasTriggerSend, `{"canvas_id":"c","recipients":[]}`, true},
		{"campaign schedule create", PathCampaignsScheduleCreate, bodyCampaignScheduleCreate, true},
		{"canvas schedule create recipients", PathCanvasScheduleCreate, bodyCanvasScheduleCreate, false},
		{"live start users", PathLiveActivityStart, bodyLiveActivityStart, false},
		{"live start segment", PathLiveActivityStart, `{"segment_id":"s"}`, true},
		{"live start custom audience", PathLiveActivityStart, `{"custom_audience":{"x":1}}`, true},
		{"live start nothing", PathLiveActivityStart, `{}`, false},
		{"live update", PathLiveActivityUpdate, bodyLiveActivityUpdate, false},
		{"schedule update", PathCampaignsScheduleUpdate, bodyCampaignScheduleUpdate, false},
		{"unknown", "/users/track", `{}`, false},
		{"not JSON", PathMessagesSend, `{"segment_id":`, false},
		{"recipients not array", PathCampaignsTriggerSend, `{"recipients":"u1"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsBroadcast(tt.path, []byte(tt.body)); got != tt.want {
				t.Fatalf("IsBroadcast() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDefaultLimits(t *testing.T) {
	want := map[Budget]Limit{
		BudgetShared:             {BudgetShared, 250000, time.Hour},
		BudgetBroadcast:          {BudgetBroadcast, 250, time.Minute},
		BudgetAudience:           {BudgetAudience, 10, time.Minute},
		BudgetSendIDs:            {BudgetSendIDs, 100, 24 * time.Hour},
		BudgetCampaignsDuplicate: {BudgetCampaignsDuplicate, 100, time.Minute},
		BudgetCanvasDuplicate:    {BudgetCanvasDuplicate, 100, time.Minute},
	}
	got := DefaultLimits()
	if len(got) != len(want) {
		t.Fatalf("DefaultLimits() has %d budgets, want %d", len(got), len(want))
	}
	for b, l := range want {
		if got[b] != l {
			t.Fatalf("DefaultLimits()[%s] = %+v, want %+v", b, got[b], l)
		}
	}
	for _, b := range Budgets() {
		if _, ok := got[b]; !ok {
			t.Fatalf("Budgets() lists %s without a default limit", b)
		}
	}
	got[BudgetShared] = Limit{}
	if DefaultLimits()[BudgetShared].Requests != 250000 {
		t.Fatal("DefaultLimits() shares its map")
	}
}

func TestWindowStart(t *testing.T) {
	berlin := time.FixedZone("CEST", 2*60*60)
	tests := []struct {
		name string
		t    time.Time
		w    time.Duration
		want time.Time
	}{
		{"hour", time.Date(2026, 4, 3, 22, 59, 59, 999, time.UTC), time.Hour,
			time.Date(2026, 4, 3, 22, 0, 0, 0, time.UTC)},
		{"hour boundary", time.Date(2026, 4, 3, 23, 0, 0, 0, time.UTC), time.Hour,
			time.Date(2026, 4, 3, 23, 0, 0, 0, time.UTC)},
		{"minute", time.Date(2026, 4, 3, 22, 17, 42, 5, time.UTC), time.Minute,
			time.Date(2026, 4, 3, 22, 17, 0, 0, time.UTC)},
		{"day is UTC midnight", time.Date(2026, 4, 4, 1, 30, 0, 0, berlin), 24 * time.Hour,
			time.Date(2026, 4, 3, 0, 0, 0, 0, time.UTC)},
		{"hour from another zone", time.Date(2026, 4, 4, 1, 30, 0, 0, berlin), time.Hour,
			time.Date(2026, 4, 3, 23, 0, 0, 0, time.UTC)},
		{"zero window", time.Date(2026, 4, 4, 1, 30, 0, 0, berlin), 0,
			time.Date(2026, 4, 3, 23, 30, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := WindowStart(tt.t, tt.w)
			if !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Fatalf("WindowStart(%v, %v) = %v, want %v (UTC)", tt.t, tt.w, got, tt.want)
			}
		})
	}
	// Every instant of a window maps to the same start, and the next window
	// starts exactly one window later.
	start := time.Date(2026, 4, 3, 22, 0, 0, 0, time.UTC)
	for _, d := range []time.Duration{0, time.Second, 59 * time.Minute, time.Hour - time.Nanosecond} {
		if got := WindowStart(start.Add(d), time.Hour); !got.Equal(start) {
			t.Fatalf("WindowStart(start+%v) = %v", d, got)
		}
	}
	if got := WindowStart(start.Add(time.Hour), time.Hour); !got.Equal(start.Add(time.Hour)) {
		t.Fatalf("next window starts at %v", got)
	}
}

func TestWriteString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"tab\there\n", `"tab\u0009here\u000a"`},
		{"<&>é", `"<&>é"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var buf bytes.Buffer
			writeString(&buf, tt.in)
			if buf.String() != tt.want {
				t.Fatalf("writeString(%q) = %s, want %s", tt.in, buf.String(), tt.want)
			}
			var back string
			if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back != tt.in {
				t.Fatalf("round trip = %q, %v", back, err)
			}
		})
	}
}
