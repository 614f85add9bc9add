package rules

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// Valid bodies, one per endpoint; most are the example requests of
// braze-api.md §3. Test cases derive invalid variants from them with edit.
const (
	bodyMessagesSend = `{
  "external_user_ids": ["cust-1001", "cust-1002"],
  "campaign_id": "7b0c1f4e-2a6d-4c55-9f1e-0d3a9b6c2e11",
  "recipient_subscription_state": "subscribed",
  "messages": {
    "apple_push": {
      "alert": {"title": "Order shipped", "body": "Your parcel is on its way."},
      "message_variation_id": "iosPush-1"
    },
    "android_push": {
      "title": "Order shipped",
      "alert": "Your parcel is on its way.",
      "message_variation_id": "androidPush-1"
    }
  }
}`
	bodyMessagesSendSegment = `{
  "segment_id": "b1a2c3d4-e5f6-4711-8899-aabbccddeeff",
  "broadcast": true,
  "messages": {"sms": {"subscription_group_id": "sg-1", "body": "Flash sale today", "app_id": "app-1"}}
}`
	bodyScheduleCreate = `{
  "segment_id": "b1a2c3d4-e5f6-4711-8899-aabbccddeeff",
  "broadcast": true,
  "schedule": {"time": "2026-05-01T15:00:00Z"},
  "messages": {
    "email": {
      "app_id": "2f5e1c6a-3b4d-4e7f-8a9b-0c1d2e3f4a5b",
      "from": "Acme News <news@example.com>",
      "subject": "May update",
      "body": "<p>Hello!</p>"
    }
  }
}`
	bodyScheduleUpdate  = `{"schedule_id": "sched_51c9e7a2", "schedule": {"time": "2026-05-01T16:30:00Z"}}`
	bodyScheduleDelete  = `{"schedule_id": "sched_51c9e7a2"}`
	bodyCampaignTrigger = `{
  "campaign_id": "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
  "trigger_properties": {"coupon": "SPRING15"},
  "recipients": [
    {"external_user_id": "cust-2001", "trigger_properties": {"first_item": "Trail shoe"}},
    {"user_alias": {"alias_name": "lead-77", "alias_label": "crm_id"}}
  ]
}`
	bodyCampaignScheduleCreate = `{
  "campaign_id": "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
  "broadcast": true,
  "trigger_properties": {"event_name": "Spring Sale"},
  "schedule": {"time": "2026-05-02T10:00:00", "in_local_time": true}
}`
	bodyCampaignScheduleUpdate = `{"campaign_id": "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f", "schedule_id": "sched_a7e41f",
 "schedule": {"time": "2026-05-02T12:00:00Z"}}`
	bodyCampaignScheduleDelete = `{"campaign_id": "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f", "schedule_id": "sched_a7e41f"}`
	bodyCanvasTrigger          = `{
  "canvas_id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c",
  "context": {"plan": "pro"},
  "recipients": [
    {"external_user_id": "cust-3001", "context": {"seat_count": 12}}
  ]
}`
	bodyCanvasScheduleCreate = `{
  "canvas_id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c",
  "recipients": [{"external_user_id": "cust-3001"}],
  "context": {"promo": "A1"},
  "schedule": {"time": "2026-05-03T08:00:00Z"}
}`
	bodyCanvasScheduleUpdate = `{"canvas_id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "schedule_id": "sched_cv_09b2",
 "schedule": {"time": "2026-05-03T09:15:00Z"}}`
	bodyCanvasScheduleDelete = `{"canvas_id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "schedule_id": "sched_cv_09b2"}`
	bodySendsIDCreate        = `{"campaign_id": "7b0c1f4e-2a6d-4c55-9f1e-0d3a9b6c2e11", "send_id": "newsletter-2026-w14"}`
	bodyCampaignsDuplicate   = `{"campaign_id": "c4d1e2f3", "name": "Spring Sale (copy)", "tag_names": ["seasonal"]}`
	bodyCanvasDuplicate      = `{"canvas_id": "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c", "name": "Onboarding v2", "description": "copy for A/B"}`
	bodyLiveActivityStart    = `{
  "app_id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
  "activity_id": "match-2026-05-10-ars-che",
  "activity_attributes_type": "MatchActivity",
  "activity_attributes": {"home": "ARS", "away": "CHE"},
  "content_state": {"homeScore": 0, "awayScore": 0},
  "notification": {"alert": {"title": "Kick-off", "body": "The match has started"}},
  "external_user_ids": ["fan-1", "fan-2"]
}`
	bodyLiveActivityUpdate = `{
  "app_id": "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d",
  "activity_id": "match-2026-05-10-ars-che",
  "content_state": {"homeScore": 2, "awayScore": 1},
  "end_activity": true,
  "dismissal_date": "2026-05-10T21:30:00+0000"
}`
)

// validBodies maps every endpoint to a valid body.
func validBodies() map[string]string {
	return map[string]string{
		PathMessagesSend:            bodyMessagesSend,
		PathCampaignsTriggerSend:    bodyCampaignTrigger,
		PathCanvasTriggerSend:       bodyCanvasTrigger,
		PathSendsIDCreate:           bodySendsIDCreate,
		PathMessagesScheduleCreate:  bodyScheduleCreate,
		PathMessagesScheduleUpdate:  bodyScheduleUpdate,
		PathMessagesScheduleDelete:  bodyScheduleDelete,
		PathCampaignsScheduleCreate: bodyCampaignScheduleCreate,
		PathCampaignsScheduleUpdate: bodyCampaignScheduleUpdate,
		PathCampaignsScheduleDelete: bodyCampaignScheduleDelete,
		PathCanvasScheduleCreate:    bodyCanvasScheduleCreate,
		PathCanvasScheduleUpdate:    bodyCanvasScheduleUpdate,
		PathCanvasScheduleDelete:    bodyCanvasScheduleDelete,
		PathCampaignsDuplicate:      bodyCampaignsDuplicate,
		PathCanvasDuplicate:         bodyCanvasDuplicate,
		PathLiveActivityStart:       bodyLiveActivityStart,
		PathLiveActivityUpdate:      bodyLiveActivityUpdate,
	}
}

// edit returns base with the given changes applied. Each change is a
// dotted path ("messages.apple_push.extra", "recipients.0.email") and a raw
// JSON value; the value "-" deletes the key. Missing intermediate objects are
// created. edit fails the test on malformed input.
func edit(t testing.TB, base string, changes ...string) string {
	t.Helper()
	if len(changes)%2 != 0 {
		t.Fatalf("edit: odd number of arguments")
	}
	var root any
	dec := json.NewDecoder(strings.NewReader(base))
	dec.UseNumber()
	if err := dec.Decode(&root); err != nil {
		t.Fatalf("edit: base: %v", err)
	}
	for i := 0; i < len(changes); i += 2 {
		var val any
		del := changes[i+1] == "-"
		if !del {
			d := json.NewDecoder(strings.NewReader(changes[i+1]))
			d.UseNumber()
			if err := d.Decode(&val); err != nil {
				t.Fatalf("edit: value %q: %v", changes[i+1], err)
			}
		}
		root = setPath(t, root, strings.Split(changes[i], "."), val, del)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(root); err != nil {
		t.Fatalf("edit: encode: %v", err)
	}
	return strings.TrimSpace(buf.String())
}

func setPath(t testing.TB, node any, path []string, val any, del bool) any {
	t.Helper()
	key := path[0]
	switch n := node.(type) {
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(n) {
			t.Fatalf("edit: bad index %q", key)
		}
		if len(path) == 1 {
			if del {
				return append(n[:i:i], n[i+1:]...)
			}
			n[i] = val
			return n
		}
		n[i] = setPath(t, n[i], path[1:], val, del)
		return n
	case map[string]any:
		if len(path) == 1 {
			if del {
				delete(n, key)
			} else {
				n[key] = val
			}
			return n
		}
		child, ok := n[key]
		if !ok {
			child = map[string]any{}
		}
		n[key] = setPath(t, child, path[1:], val, del)
		return n
	}
	t.Fatalf("edit: cannot descend into %T at %q", node, key)
	return nil
}

// recipientsJSON returns n recipient objects with distinct external ids.
func recipientsJSON(n int, withProps bool) string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"external_user_id":"user-` + strconv.Itoa(i) + `"`)
		if withProps {
			b.WriteString(`,"trigger_properties":{"order_id":"ord-` + strconv.Itoa(1000+i) + `","total":49.9,"items":["sku-1","sku-2"]}`)
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.String()
}

// idsJSON returns n distinct external user ids as a JSON array.
func idsJSON(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = strconv.Quote("user-" + strconv.Itoa(i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// aliasesJSON returns n distinct user alias objects as a JSON array.
func aliasesJSON(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `{"alias_name":"a-` + strconv.Itoa(i) + `","alias_label":"crm"}`
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// bigObject returns a JSON object whose compact serialization is exactly n
// bytes (n ≥ 10).
func bigObject(n int) string {
	// {"k":"…"} is 8 bytes plus the payload.
	return `{"k":"` + strings.Repeat("x", n-8) + `"}`
}
