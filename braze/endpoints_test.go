package braze_test

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
)

// raw turns a JSON literal into a json.RawMessage.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestTypedBodies checks, for every typed method, the method and path it
// calls and the body it sends: absent fields are left out, explicit false
// and empty-but-set values are kept.
func TestTypedBodies(t *testing.T) {
	ctx := context.Background()
	alias := braze.UserAlias{AliasName: "lead-77", AliasLabel: "crm_id"}
	when := time.Date(2026, 5, 1, 15, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		call func(c *braze.Client) error
		path string
		want string // JSON; "" for no body
	}{
		{"messages send minimal", func(c *braze.Client) error {
			_, err := c.SendMessages(ctx, &braze.MessagesSendRequest{})
			return err
		}, "/messages/send", `{}`},
		{"messages send full", func(c *braze.Client) error {
			_, err := c.SendMessages(ctx, &braze.MessagesSendRequest{
				Broadcast: braze.Bool(false), ExternalUserIDs: []string{"cust-1001"}, UserAliases: []braze.UserAlias{alias},
				SegmentID: "seg", Audience: raw(`{"AND":[]}`), CampaignID: "camp", SendID: "snd",
				OverrideFrequencyCapping: braze.Bool(false), RecipientSubscriptionState: braze.SubscriptionSubscribed,
				Messages: raw(`{"android_push":{"title":"t","alert":"a"}}`),
			})
			return err
		}, "/messages/send", `{"broadcast":false,"external_user_ids":["cust-1001"],
			"user_aliases":[{"alias_name":"lead-77","alias_label":"crm_id"}],"segment_id":"seg","audience":{"AND":[]},
			"campaign_id":"camp","send_id":"snd","override_frequency_capping":false,
			"recipient_subscription_state":"subscribed","messages":{"android_push":{"title":"t","alert":"a"}}}`},
		{"campaign trigger", func(c *braze.Client) error {
			_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
				CampaignID: "c4d1", TriggerProperties: raw(`{"coupon":"SPRING15"}`),
				Recipients: []braze.Recipient{
					{ExternalUserID: "cust-2001", TriggerProperties: raw(`{"first_item":"Trail shoe"}`)},
					{UserAlias: &alias},
					{Email: "a@example.com", Prioritization: []string{"identified", "most_recently_updated"},
						SendToExistingOnly: braze.Bool(false), Attributes: raw(`{"first_name":"Ann"}`)},
				},
				Attachments: []braze.Attachment{{FileName: "invoice", URL: "https://example.com/i.pdf"}},
			})
			return err
		}, "/campaigns/trigger/send", `{"campaign_id":"c4d1","trigger_properties":{"coupon":"SPRING15"},"recipients":[
			{"external_user_id":"cust-2001","trigger_properties":{"first_item":"Trail shoe"}},
			{"user_alias":{"alias_name":"lead-77","alias_label":"crm_id"}},
			{"email":"a@example.com","prioritization":["identified","most_recently_updated"],
			 "send_to_existing_only":false,"attributes":{"first_name":"Ann"}}],
			"attachments":[{"file_name":"invoice","url":"https://example.com/i.pdf"}]}`},
		{"campaign trigger broadcast", func(c *braze.Client) error {
			_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{CampaignID: "c", Broadcast: braze.Bool(true)})
			return err
		}, "/campaigns/trigger/send", `{"campaign_id":"c","broadcast":true}`},
		{"canvas trigger", func(c *braze.Client) error {
			_, err := c.TriggerCanvas(ctx, &braze.CanvasTriggerSendRequest{
				CanvasID: "0f9e", Context: raw(`{"plan":"pro"}`), Broadcast: braze.Bool(false),
				Recipients: []braze.Recipient{{ExternalUserID: "cust-3001", Context: raw(`{"seat_count":12}`)},
					{BrazeID: "b1", CanvasEntryProperties: raw(`{"x":1}`)}},
			})
			return err
		}, "/canvas/trigger/send", `{"canvas_id":"0f9e","context":{"plan":"pro"},"broadcast":false,"recipients":[
			{"external_user_id":"cust-3001","context":{"seat_count":12}},{"braze_id":"b1","canvas_entry_properties":{"x":1}}]}`},
		{"send id create", func(c *braze.Client) error {
			_, err := c.CreateSendID(ctx, &braze.SendIDCreateRequest{CampaignID: "c"})
			return err
		}, "/sends/id/create", `{"campaign_id":"c"}`},
		{"scheduled broadcasts", func(c *braze.Client) error {
			_, err := c.ScheduledBroadcasts(ctx, when)
			return err
		}, "/messages/scheduled_broadcasts", ``},
		{"messages schedule create", func(c *braze.Client) error {
			_, err := c.ScheduleMessages(ctx, &braze.MessagesScheduleCreateRequest{
				SegmentID: "b1a2", Broadcast: braze.Bool(true), OverrideMessagingLimits: braze.Bool(false),
				Schedule: braze.ScheduleAt(when.In(time.FixedZone("EST", -5*3600))),
				Messages: raw(`{"email":{"app_id":"2f5e","from":"A <a@example.com>","body":"<p>Hi</p>"}}`),
			})
			return err
		}, "/messages/schedule/create", `{"segment_id":"b1a2","broadcast":true,"override_messaging_limits":false,
			"schedule":{"time":"2026-05-01T15:00:00Z"},
			"messages":{"email":{"app_id":"2f5e","from":"A <a@example.com>","body":"<p>Hi</p>"}}}`},
		{"messages schedule update", func(c *braze.Client) error {
			_, err := c.UpdateScheduledMessages(ctx, &braze.MessagesScheduleUpdateRequest{ScheduleID: "s1",
				Schedule: &braze.Schedule{Time: "2026-05-01T16:30:00Z"}})
			return err
		}, "/messages/schedule/update", `{"schedule_id":"s1","schedule":{"time":"2026-05-01T16:30:00Z"}}`},
		{"messages schedule delete", func(c *braze.Client) error {
			_, err := c.DeleteScheduledMessages(ctx, &braze.MessagesScheduleDeleteRequest{ScheduleID: "s1"})
			return err
		}, "/messages/schedule/delete", `{"schedule_id":"s1"}`},
		{"campaign schedule create", func(c *braze.Client) error {
			_, err := c.ScheduleCampaignTrigger(ctx, &braze.CampaignTriggerScheduleCreateRequest{
				CampaignID: "c", Broadcast: braze.Bool(true), TriggerProperties: raw(`{"event_name":"Spring Sale"}`),
				Schedule: braze.ScheduleLocal(time.Date(2026, 5, 2, 10, 0, 0, 0, time.FixedZone("X", 3600))),
			})
			return err
		}, "/campaigns/trigger/schedule/create", `{"campaign_id":"c","broadcast":true,
			"trigger_properties":{"event_name":"Spring Sale"},"schedule":{"time":"2026-05-02T10:00:00","in_local_time":true}}`},
		{"campaign schedule update", func(c *braze.Client) error {
			_, err := c.UpdateScheduledCampaignTrigger(ctx, &braze.CampaignTriggerScheduleUpdateRequest{
				CampaignID: "c", ScheduleID: "s", Schedule: &braze.Schedule{Time: "2026-05-02T12:00:00Z", InLocalTime: braze.Bool(false)}})
			return err
		}, "/campaigns/trigger/schedule/update", `{"campaign_id":"c","schedule_id":"s",
			"schedule":{"time":"2026-05-02T12:00:00Z","in_local_time":false}}`},
		{"campaign schedule delete", func(c *braze.Client) error {
			_, err := c.DeleteScheduledCampaignTrigger(ctx, &braze.CampaignTriggerScheduleDeleteRequest{CampaignID: "c", ScheduleID: "s"})
			return err
		}, "/campaigns/trigger/schedule/delete", `{"campaign_id":"c","schedule_id":"s"}`},
		{"canvas schedule create", func(c *braze.Client) error {
			_, err := c.ScheduleCanvasTrigger(ctx, &braze.CanvasTriggerScheduleCreateRequest{
				CanvasID: "cv", Recipients: []braze.Recipient{{ExternalUserID: "cust-3001"}}, Context: raw(`{"promo":"A1"}`),
				Schedule: braze.ScheduleOptimal(time.Date(2026, 5, 3, 0, 0, 0, 0, time.UTC)),
			})
			return err
		}, "/canvas/trigger/schedule/create", `{"canvas_id":"cv","recipients":[{"external_user_id":"cust-3001"}],
			"context":{"promo":"A1"},"schedule":{"time":"2026-05-03T00:00:00","at_optimal_time":true}}`},
		{"canvas schedule update", func(c *braze.Client) error {
			_, err := c.UpdateScheduledCanvasTrigger(ctx, &braze.CanvasTriggerScheduleUpdateRequest{
				CanvasID: "cv", ScheduleID: "s", Schedule: &braze.Schedule{Time: "2026-05-03T09:15:00Z"}})
			return err
		}, "/canvas/trigger/schedule/update", `{"canvas_id":"cv","schedule_id":"s","schedule":{"time":"2026-05-03T09:15:00Z"}}`},
		{"canvas schedule delete", func(c *braze.Client) error {
			_, err := c.DeleteScheduledCanvasTrigger(ctx, &braze.CanvasTriggerScheduleDeleteRequest{CanvasID: "cv", ScheduleID: "s"})
			return err
		}, "/canvas/trigger/schedule/delete", `{"canvas_id":"cv","schedule_id":"s"}`},
		{"campaign duplicate keeps empty tags", func(c *braze.Client) error {
			_, err := c.DuplicateCampaign(ctx, &braze.CampaignDuplicateRequest{CampaignID: "c", Name: "copy", TagNames: []string{}})
			return err
		}, "/campaigns/duplicate", `{"campaign_id":"c","name":"copy","tag_names":[]}`},
		{"canvas duplicate omits nil tags", func(c *braze.Client) error {
			_, err := c.DuplicateCanvas(ctx, &braze.CanvasDuplicateRequest{CanvasID: "cv", Name: "Onboarding v2", Description: "copy"})
			return err
		}, "/canvas/duplicate", `{"canvas_id":"cv","name":"Onboarding v2","description":"copy"}`},
		{"live activity start", func(c *braze.Client) error {
			_, err := c.StartLiveActivity(ctx, &braze.LiveActivityStartRequest{
				AppID: "app", ActivityID: "match-1", ActivityAttributesType: "MatchActivity",
				ActivityAttributes: raw(`{"home":"ARS"}`), ContentState: raw(`{"homeScore":0}`),
				Notification: raw(`{"alert":{"title":"Kick-off","body":"Started"}}`), ExternalUserIDs: []string{"fan-1"},
			})
			return err
		}, "/messages/live_activity/start", `{"app_id":"app","activity_id":"match-1","activity_attributes_type":"MatchActivity",
			"activity_attributes":{"home":"ARS"},"content_state":{"homeScore":0},
			"notification":{"alert":{"title":"Kick-off","body":"Started"}},"external_user_ids":["fan-1"]}`},
		{"live activity update end false", func(c *braze.Client) error {
			_, err := c.UpdateLiveActivity(ctx, &braze.LiveActivityUpdateRequest{
				AppID: "app", ActivityID: "match-1", ContentState: raw(`{"homeScore":2}`), EndActivity: braze.Bool(false),
				DismissalDate: "2026-05-10T21:30:00+0000",
			})
			return err
		}, "/messages/live_activity/update", `{"app_id":"app","activity_id":"match-1","content_state":{"homeScore":2},
			"end_activity":false,"dismissal_date":"2026-05-10T21:30:00+0000"}`},
	}

	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, reply{Status: 201, Body: `{"message":"success"}`})
			if err := tt.call(newClient(t, rec.srv.URL, 0)); err != nil {
				t.Fatalf("call: %v", err)
			}
			got := rec.last(t)
			ep, ok := braze.EndpointByPath(tt.path)
			if !ok {
				t.Fatalf("%s missing from Endpoints", tt.path)
			}
			if got.Path != tt.path || got.Method != ep.Method {
				t.Errorf("called %s %s, want %s %s", got.Method, got.Path, ep.Method, tt.path)
			}
			covered[got.Path] = true
			if tt.want == "" {
				if len(got.Body) != 0 {
					t.Errorf("body = %s, want none", got.Body)
				}
				return
			}
			var gotV, wantV any
			if err := json.Unmarshal(got.Body, &gotV); err != nil {
				t.Fatalf("body is not JSON: %v: %s", err, got.Body)
			}
			if err := json.Unmarshal([]byte(tt.want), &wantV); err != nil {
				t.Fatalf("bad test JSON: %v", err)
			}
			if !reflect.DeepEqual(gotV, wantV) {
				t.Errorf("body\n got %s\nwant %s", got.Body, tt.want)
			}
		})
	}
	for _, e := range braze.Endpoints() {
		if !covered[e.Path] {
			t.Errorf("no typed method tested for %s", e.Path)
		}
	}
}

func TestEndpoints(t *testing.T) {
	eps := braze.Endpoints()
	if len(eps) != 18 {
		t.Fatalf("%d endpoints, want 18", len(eps))
	}
	seen := map[string]bool{}
	for _, e := range eps {
		if seen[e.Path] || e.Permission == "" {
			t.Errorf("duplicate or incomplete entry %+v", e)
		}
		seen[e.Path] = true
		wantMethod := http.MethodPost
		if e.Path == braze.PathMessagesScheduledBroadcasts {
			wantMethod = http.MethodGet
		}
		if e.Method != wantMethod {
			t.Errorf("%s method %s", e.Path, e.Method)
		}
	}
	eps[0].Path = "/changed"
	tests := []struct {
		path, wantPerm string
		wantOK         bool
	}{
		{"/messages/send", "messages.send", true},
		{"/messages/scheduled_broadcasts", "messages.schedule_broadcasts", true},
		{"/canvas/trigger/schedule/update", "canvas.trigger.schedule.update", true},
		{"/messages/live_activity/update", "messages.live_activity.update", true},
		{"/messages/send/", "", false},
		{"/users/track", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			e, ok := braze.EndpointByPath(tt.path)
			if ok != tt.wantOK || e.Permission != tt.wantPerm {
				t.Errorf("got %+v %v, want permission %q %v", e, ok, tt.wantPerm, tt.wantOK)
			}
		})
	}
}

func TestMinorErrors(t *testing.T) {
	idx := func(i int) *int { return &i }
	tests := []struct {
		name   string
		errors string
		want   []braze.MinorError
		str    []string
	}{
		{"none", `[]`, nil, nil},
		{"strings", `["a is bad","b \"quoted\""]`,
			[]braze.MinorError{{Text: "a is bad"}, {Text: `b "quoted"`}}, []string{"a is bad", `b "quoted"`}},
		{"object", `[{"type":"unknown user","input_array":"recipients","index":3}]`,
			[]braze.MinorError{{Text: "unknown user", Type: "unknown user", InputArray: "recipients", Index: idx(3)}},
			[]string{"unknown user (recipients[3])"}},
		{"object with message and string index", `[{"message":"m","type":"t","index":"2"}]`,
			[]braze.MinorError{{Text: "m", Type: "t", Index: idx(2)}}, []string{"m (index 2)"}},
		{"odd values", `[42,{"index":"x"},null]`,
			[]braze.MinorError{{Text: "42"}, {Text: `{"index":"x"}`}, {Text: "null"}}, []string{"42", `{"index":"x"}`, "null"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env braze.Envelope
			if err := json.Unmarshal([]byte(`{"message":"success","errors":`+tt.errors+`}`), &env); err != nil {
				t.Fatal(err)
			}
			got := env.MinorErrors()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Raw == nil {
					t.Errorf("[%d] Raw not kept", i)
				}
				got[i].Raw = nil
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("[%d] = %+v, want %+v", i, got[i], tt.want[i])
				}
				if s := got[i].String(); s != tt.str[i] {
					t.Errorf("[%d] String() = %q, want %q", i, s, tt.str[i])
				}
			}
		})
	}
}
