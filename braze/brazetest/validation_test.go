package brazetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/brazegw/gateway/braze/rules"
)

var (
	cmp    = DevCampaignID
	trg    = DevTriggerCampaignID
	cnv    = DevCanvasID
	seg    = DevSegmentID
	push   = `{"android_push":{"alert":"hi","title":"t"}}`
	sendOK = `{"external_user_ids":["u1"],"messages":` + push + `}`
)

// TestRules proves each rule of braze-api.md §5 against a running server:
// one call per case, the answered status and label. Rate limits (§5.18,
// §5.30) are proven in budget_test.go, schedule lifecycles in state_test.go.
func TestRules(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Limits = nil
		c.Workspaces[0].APIKeys = append(c.Workspaces[0].APIKeys, APIKey{Key: "limited", Permissions: []string{"sends.id.create"}})
	})
	bearer := "Bearer " + testKey
	other := strings.Repeat("x", 65)
	big := strings.Repeat("a", 51*1024)
	tests := []struct {
		name        string
		rule        string
		method      string // default POST
		path        string
		auth        *string // default bearer
		contentType *string // default application/json
		body        string
		status      int
		label       string // "" = do not check
	}{
		// 1: authentication.
		{name: "no authorization header", rule: "1", path: "/messages/send", auth: ptr(""), body: sendOK, status: 401, label: "Unauthorized"},
		{name: "no Bearer scheme", rule: "1", path: "/messages/send", auth: ptr(testKey), body: sendOK, status: 401},
		{name: "lower-case scheme", rule: "1", path: "/messages/send", auth: ptr("bearer " + testKey), body: sendOK, status: 401},
		{name: "empty key", rule: "1", path: "/messages/send", auth: ptr("Bearer "), body: sendOK, status: 401},
		{name: "quoted key", rule: "1", path: "/messages/send", auth: ptr(`Bearer "` + testKey + `"`), body: sendOK, status: 401},
		{name: "two spaces", rule: "1", path: "/messages/send", auth: ptr("Bearer  " + testKey), body: sendOK, status: 401},
		{name: "unknown key", rule: "1", path: "/messages/send", auth: ptr("Bearer nope"), body: sendOK, status: 401},
		// 2: permissions.
		{name: "key without permission", rule: "2", path: "/messages/send", auth: ptr("Bearer limited"), body: sendOK, status: 403, label: "Access Denied"},
		{name: "key with permission", rule: "2", path: "/sends/id/create", auth: ptr("Bearer limited"), body: `{"campaign_id":"` + cmp + `"}`, status: 201, label: "success"},
		// 3: content type and JSON.
		{name: "no content type", rule: "3", path: "/messages/send", contentType: ptr(""), body: sendOK, status: 415, label: "Unsupported Media Type"},
		{name: "text/plain", rule: "3", path: "/messages/send", contentType: ptr("text/plain"), body: sendOK, status: 415},
		{name: "json with charset", rule: "3", path: "/messages/send", contentType: ptr("application/json; charset=utf-8"), body: sendOK, status: 201},
		{name: "trailing comma", rule: "3", path: "/messages/send", body: `{"external_user_ids":["u1"],}`, status: 400, label: "Bad Request"},
		{name: "single quotes", rule: "3", path: "/campaigns/trigger/send", body: `{'campaign_id':'x'}`, status: 400, label: "Bad Request"},
		{name: "array body", rule: "3", path: "/messages/send", body: `[]`, status: 400, label: "Bad Request"},
		{name: "live activity bad json uses error", rule: "3", path: "/messages/live_activity/update", body: `{"app_id":`, status: 400, label: liveActivityBadJSON},
		// 4: paths.
		{name: "unknown path", rule: "4", path: "/users/track", body: `{}`, status: 404, label: "Not Found"},
		{name: "trailing slash", rule: "4", path: "/messages/send/", body: sendOK, status: 404},
		{name: "wrong method", rule: "4", method: http.MethodGet, path: "/messages/send", status: 404},
		{name: "404 before 401", rule: "4", path: "/nope", auth: ptr(""), body: `{}`, status: 404},
		// 5: required fields.
		{name: "campaign_id on trigger send", rule: "5", path: "/campaigns/trigger/send", body: `{"recipients":[{"external_user_id":"u1"}]}`, status: 400, label: rules.LabelMissingField},
		{name: "canvas_id on canvas send", rule: "5", path: "/canvas/trigger/send", body: `{"recipients":[{"external_user_id":"u1"}]}`, status: 400, label: rules.LabelMissingField},
		{name: "campaign_id on sends/id/create", rule: "5", path: "/sends/id/create", body: `{"send_id":"a"}`, status: 400, label: rules.LabelMissingField},
		{name: "schedule on schedule create", rule: "5", path: "/messages/schedule/create", body: sendOK, status: 400, label: rules.LabelMissingField},
		{name: "schedule.time", rule: "5", path: "/canvas/trigger/schedule/create", body: `{"canvas_id":"` + cnv + `","recipients":[{"external_user_id":"u1"}],"schedule":{}}`, status: 400, label: rules.LabelMissingField},
		{name: "schedule on trigger update", rule: "5", path: "/campaigns/trigger/schedule/update", body: `{"campaign_id":"` + trg + `","schedule_id":"x"}`, status: 400, label: rules.LabelMissingField},
		{name: "schedule_id on delete", rule: "5", path: "/messages/schedule/delete", body: `{}`, status: 400, label: rules.LabelMissingField},
		{name: "name on duplicate", rule: "5", path: "/campaigns/duplicate", body: `{"campaign_id":"` + trg + `"}`, status: 400, label: rules.LabelMissingField},
		{name: "live activity app_id uses error", rule: "5", path: "/messages/live_activity/update", body: `{"activity_id":"a","content_state":{}}`, status: 400},
		{name: "end_time on scheduled_broadcasts", rule: "5", method: http.MethodGet, path: "/messages/scheduled_broadcasts", status: 400, label: "Bad Request"},
		{name: "end_time unparseable", rule: "5", method: http.MethodGet, path: "/messages/scheduled_broadcasts?end_time=soon", status: 400, label: "Bad Request"},
		// 6.
		{name: "schedule update needs schedule or messages", rule: "6", path: "/messages/schedule/update", body: `{"schedule_id":"x"}`, status: 400},
		// 7.
		{name: "no recipients", rule: "7", path: "/messages/send", body: `{"messages":` + push + `}`, status: 400, label: rules.LabelNoRecipients},
		// 8.
		{name: "segment without broadcast", rule: "8", path: "/messages/send", body: `{"segment_id":"` + seg + `","messages":` + push + `}`, status: 400, label: rules.LabelBroadcastRequired},
		{name: "broadcast with users", rule: "8", path: "/messages/send", body: `{"broadcast":true,"external_user_ids":["u1"],"messages":` + push + `}`, status: 400, label: rules.LabelBroadcastWithRecipients},
		{name: "segment broadcast", rule: "8", path: "/messages/send", body: `{"broadcast":true,"segment_id":"` + seg + `","messages":` + push + `}`, status: 201, label: "success"},
		// 9.
		{name: "trigger without recipients or broadcast", rule: "9", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `"}`, status: 400},
		{name: "trigger recipients with broadcast", rule: "9", path: "/canvas/trigger/send", body: `{"canvas_id":"` + cnv + `","broadcast":true,"recipients":[{"external_user_id":"u1"}]}`, status: 400, label: rules.LabelBroadcastWithRecipients},
		{name: "audience without broadcast", rule: "9", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","audience":{"push_subscription_status":{"comparison":"is","value":"opted_in"}}}`, status: 400, label: rules.LabelBroadcastRequired},
		// 10.
		{name: "51 external ids", rule: "10", path: "/messages/send", body: `{"external_user_ids":` + ids(51) + `,"messages":` + push + `}`, status: 400, label: rules.LabelTooManyRecipients},
		{name: "50 external ids", rule: "10", path: "/messages/send", body: `{"external_user_ids":` + ids(50) + `,"messages":` + push + `}`, status: 201},
		{name: "51 recipients", rule: "10", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":` + recipients(51) + `}`, status: 400, label: rules.LabelTooManyRecipients},
		{name: "51 live activity users", rule: "10", path: "/messages/live_activity/start", body: liveStart(`"external_user_ids":` + ids(51)), status: 400},
		// 11.
		{name: "two identifiers", rule: "11", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":[{"external_user_id":"u1","email":"a@b.c","prioritization":["identified"]}]}`, status: 400, label: rules.LabelInvalidRecipient},
		{name: "email without prioritization", rule: "11", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":[{"email":"a@b.c"}]}`, status: 400},
		{name: "alias with send_to_existing_only false", rule: "11", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":[{"user_alias":{"alias_name":"n","alias_label":"l"},"send_to_existing_only":false}]}`, status: 400},
		// 12.
		{name: "segment_id on trigger send", rule: "12", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","segment_id":"` + seg + `","broadcast":true}`, status: 400},
		// 13.
		{name: "attachments with broadcast", rule: "13", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","broadcast":true,"attachments":[{"file_name":"a","url":"https://x"}]}`, status: 400},
		{name: "attachment without url", rule: "13", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":[{"external_user_id":"u1"}],"attachments":[{"file_name":"a"}]}`, status: 400},
		// 14.
		{name: "send_id on canvas", rule: "14", path: "/canvas/trigger/send", body: `{"canvas_id":"` + cnv + `","send_id":"s","recipients":[{"external_user_id":"u1"}]}`, status: 400},
		// 15.
		{name: "live activity ids and segment", rule: "15", path: "/messages/live_activity/start", body: liveStart(`"external_user_ids":["u1"],"segment_id":"` + seg + `"`), status: 400},
		{name: "live activity no target", rule: "15", path: "/messages/live_activity/start", body: liveStart(`"app_id2":"x"`), status: 400},
		{name: "live activity ok", rule: "15", path: "/messages/live_activity/start", body: liveStart(`"external_user_ids":["u1"]`), status: 201, label: "success"},
		// 16.
		{name: "trigger_properties over 50KB", rule: "16", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","recipients":[{"external_user_id":"u1"}],"trigger_properties":{"a":"` + big + `"}}`, status: 400},
		// 17.
		{name: "send_id too long", rule: "17", path: "/sends/id/create", body: `{"campaign_id":"` + cmp + `","send_id":"` + other + `"}`, status: 400},
		{name: "send_id not ascii", rule: "17", path: "/sends/id/create", body: `{"campaign_id":"` + cmp + `","send_id":"é"}`, status: 400},
		{name: "send_id not created", rule: "17", path: "/campaigns/trigger/send", body: `{"campaign_id":"` + trg + `","send_id":"never-created","recipients":[{"external_user_id":"u1"}]}`, status: 400, label: labelInvalidSendID},
		{name: "send_id without campaign", rule: "17", path: "/messages/send", body: `{"send_id":"s","external_user_ids":["u1"],"messages":` + push + `}`, status: 400},
		// 19.
		{name: "alias without label", rule: "19", path: "/messages/send", body: `{"user_aliases":[{"alias_name":"n"}],"messages":` + push + `}`, status: 400},
		{name: "alias too long", rule: "19", path: "/messages/send", body: `{"user_aliases":[{"alias_name":"` + strings.Repeat("n", 237) + `","alias_label":"l"}],"messages":` + push + `}`, status: 400},
		// 20.
		{name: "no messages", rule: "20", path: "/messages/send", body: `{"external_user_ids":["u1"]}`, status: 400, label: rules.LabelNoMessage},
		{name: "empty messages", rule: "20", path: "/messages/schedule/create", body: `{"external_user_ids":["u1"],"messages":{},"schedule":{"time":"2099-01-01T00:00:00Z"}}`, status: 400, label: rules.LabelNoMessage},
		// 21.
		{name: "variant unspecified", rule: "21", path: "/messages/send", body: `{"campaign_id":"` + cmp + `","external_user_ids":["u1"],"messages":` + push + `}`, status: 400, label: rules.LabelMessageVariantUnspecified},
		{name: "invalid variant", rule: "21", path: "/messages/send", body: `{"campaign_id":"` + cmp + `","external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","message_variation_id":"nope"}}}`, status: 400, label: rules.LabelInvalidMessageVariant},
		{name: "mismatched type", rule: "21", path: "/messages/send", body: `{"campaign_id":"` + cmp + `","external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","message_variation_id":"iosPush-1"}}}`, status: 400, label: rules.LabelMismatchedMessageType},
		{name: "matching variant", rule: "21", path: "/messages/send", body: `{"campaign_id":"` + cmp + `","external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","message_variation_id":"androidPush-1"}}}`, status: 201},
		{name: "unknown campaign on messages/send", rule: "21", path: "/messages/send", body: `{"campaign_id":"nope","external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","message_variation_id":"androidPush-1"}}}`, status: 400, label: rules.LabelInvalidCampaignID},
		{name: "unknown campaign on trigger", rule: "21", path: "/campaigns/trigger/send", body: `{"campaign_id":"nope","recipients":[{"external_user_id":"u1"}]}`, status: 400, label: rules.LabelInvalidCampaignID},
		{name: "unknown campaign on sends/id/create", rule: "21", path: "/sends/id/create", body: `{"campaign_id":"nope"}`, status: 400, label: rules.LabelInvalidCampaignID},
		{name: "unknown canvas", rule: "21", path: "/canvas/trigger/send", body: `{"canvas_id":"nope","recipients":[{"external_user_id":"u1"}]}`, status: 400, label: labelInvalidCanvas},
		{name: "unknown segment", rule: "21", path: "/messages/send", body: `{"broadcast":true,"segment_id":"nope","messages":` + push + `}`, status: 400, label: labelInvalidSegment},
		// 22.
		{name: "extra not an object", rule: "22", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"android_push":{"alert":"a","title":"t","extra":"x"}}}`, status: 400, label: rules.LabelInvalidExtraPushPayload},
		{name: "apple extra with aps", rule: "22", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"apple_push":{"alert":"a","extra":{"aps":1}}}}`, status: 400, label: rules.LabelInvalidExtraPushPayload},
		// 23.
		{name: "apple push too long", rule: "23", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"apple_push":{"alert":"` + strings.Repeat("a", 2000) + `"}}}`, status: 400, label: rules.LabelApplePushLengthExceeded},
		{name: "android push too long", rule: "23", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"android_push":{"title":"t","alert":"` + strings.Repeat("a", 4001) + `"}}}`, status: 400, label: rules.LabelAndroidPushLengthExceeded},
		// 24.
		{name: "android without title", rule: "24", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"android_push":{"alert":"a"}}}`, status: 400, label: rules.LabelMissingField},
		{name: "webhook bad method", rule: "24", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"webhook":{"url":"https://x","request_method":"PATCH"}}}`, status: 400},
		// 25.
		{name: "subscription state", rule: "25", path: "/messages/send", body: `{"external_user_ids":["u1"],"recipient_subscription_state":"maybe","messages":` + push + `}`, status: 400},
		// 26.
		{name: "audience array", rule: "26", path: "/messages/send", body: `{"broadcast":true,"audience":[],"messages":` + push + `}`, status: 400},
		// 27.
		{name: "schedule time unparseable", rule: "27", path: "/messages/schedule/create", body: `{"external_user_ids":["u1"],"messages":` + push + `,"schedule":{"time":"tomorrow"}}`, status: 400, label: "Bad Request"},
		{name: "zone with local time", rule: "27", path: "/messages/schedule/create", body: `{"external_user_ids":["u1"],"messages":` + push + `,"schedule":{"time":"2099-01-01T10:00:00Z","in_local_time":true}}`, status: 400},
		{name: "local time passed everywhere", rule: "27", path: "/messages/schedule/create", body: `{"external_user_ids":["u1"],"messages":` + push + `,"schedule":{"time":"2001-01-01T10:00:00","in_local_time":true}}`, status: 400},
		// 28.
		{name: "update unknown schedule", rule: "28", path: "/messages/schedule/update", body: `{"schedule_id":"nope","schedule":{"time":"2099-01-01T00:00:00Z"}}`, status: 400, label: labelInvalidSchedule},
		{name: "delete unknown schedule", rule: "28", path: "/canvas/trigger/schedule/delete", body: `{"canvas_id":"` + cnv + `","schedule_id":"nope"}`, status: 400, label: labelInvalidSchedule},
		// 29.
		{name: "content card ttl over 30 days", rule: "29", path: "/messages/send", body: `{"external_user_ids":["u1"],"messages":{"content_card":{"type":"CLASSIC","title":"t","description":"d","time_to_live":2592001}}}`, status: 400},
		// 31.
		{name: "paused canvas", rule: "31", path: "/canvas/trigger/send", body: `{"canvas_id":"` + DevPausedCanvasID + `","recipients":[{"external_user_id":"u1"}]}`, status: 201, label: "success"},
		// 32.
		{name: "duplicate campaign", rule: "32", path: "/campaigns/duplicate", body: `{"campaign_id":"` + trg + `","name":"copy","tag_names":["seasonal"]}`, status: 202, label: "success"},
		{name: "duplicate canvas unknown tag", rule: "32", path: "/canvas/duplicate", body: `{"canvas_id":"` + cnv + `","name":"copy","tag_names":["nope"]}`, status: 400, label: labelInvalidTag},
		{name: "duplicate unknown canvas", rule: "32", path: "/canvas/duplicate", body: `{"canvas_id":"nope","name":"copy"}`, status: 400, label: labelInvalidCanvas},
	}
	for _, tc := range tests {
		t.Run("rule "+tc.rule+" "+tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			auth := bearer
			if tc.auth != nil {
				auth = *tc.auth
			}
			ct := "application/json"
			if tc.contentType != nil {
				ct = *tc.contentType
			}
			if method == http.MethodGet {
				ct = ""
			}
			a := call(t, s, method, tc.path, auth, ct, tc.body)
			if a.status != tc.status {
				t.Fatalf("status = %d, want %d; body %s", a.status, tc.status, a.raw)
			}
			if tc.label != "" && a.label() != tc.label {
				t.Fatalf("label = %q, want %q; body %s", a.label(), tc.label, a.raw)
			}
			if strings.HasPrefix(tc.path, "/messages/live_activity/") && a.status >= 400 && a.status < 500 {
				if a.env.Error == "" || a.env.Message != "" {
					t.Fatalf("live-activity 4xx must use the error key: %s", a.raw)
				}
			}
			if a.status == 400 && !strings.HasPrefix(tc.path, "/messages/live_activity/") && len(a.env.Errors) == 0 {
				t.Fatalf("a 400 must explain itself in errors: %s", a.raw)
			}
		})
	}
}

// TestPausedAndArchivedCanvas checks the notice of §3.3 and that nothing is
// delivered (§5.31).
func TestPausedAndArchivedCanvas(t *testing.T) {
	s := devServer(t, nil)
	for _, tc := range []struct{ id, notice string }{
		{DevPausedCanvasID, noticeCanvasPaused},
		{DevArchivedCanvasID, noticeCanvasArchived},
		{DevCanvasID, ""},
	} {
		a := post(t, s, "/canvas/trigger/send", `{"canvas_id":"`+tc.id+`","recipients":[{"external_user_id":"c-`+tc.id+`"}]}`)
		mustStatus(t, a, 201)
		if a.env.Notice != tc.notice || a.env.DispatchID == "" {
			t.Errorf("canvas %s: notice %q dispatch %q, want notice %q and a dispatch id", tc.id, a.env.Notice, a.env.DispatchID, tc.notice)
		}
		want := 0
		if tc.notice == "" {
			want = 1
		}
		if n := s.DeliveryCount("external_user_id:c-" + tc.id); n != want {
			t.Errorf("canvas %s: %d deliveries, want %d", tc.id, n, want)
		}
	}
}

// TestOrder checks that the checks run in the documented order when a call
// breaks several rules at once.
func TestOrder(t *testing.T) {
	s := devServer(t, func(c *Config) {
		c.Workspaces[0].APIKeys = append(c.Workspaces[0].APIKeys, APIKey{Key: "limited", Permissions: []string{}})
		c.Limits = map[rules.Budget]rules.Limit{rules.BudgetShared: {Budget: rules.BudgetShared, Requests: 1, Window: 3600e9}}
	})
	// Exhaust the shared budget first.
	mustStatus(t, post(t, s, "/messages/send", sendOK), 201)
	tests := []struct {
		name, path, auth, ct, body string
		want                       int
	}{
		{"404 before 401", "/messages/sendx", "", "", "{", 404},
		{"401 before 403", "/messages/send", "Bearer nope", "", "{", 401},
		{"403 before 415", "/messages/send", "Bearer limited", "", "{", 403},
		{"415 before 400", "/messages/send", "Bearer " + testKey, "text/plain", "{", 415},
		{"400 json before 429", "/messages/send", "Bearer " + testKey, "application/json", "{", 400},
		{"429 before rules", "/messages/send", "Bearer " + testKey, "application/json", `{"external_user_ids":["u1"]}`, 429},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, http.MethodPost, tc.path, tc.auth, tc.ct, tc.body)
			mustStatus(t, a, tc.want)
		})
	}
}

func ptr(s string) *string { return &s }

func ids(n int) string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("u%d", i)
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func recipients(n int) string {
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"external_user_id": fmt.Sprintf("u%d", i)}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func liveStart(target string) string {
	return `{"app_id":"app","activity_id":"act","activity_attributes_type":"T","activity_attributes":{},"content_state":{},` +
		`"notification":{"alert":{"title":"t","body":"b"}},` + target + `}`
}
