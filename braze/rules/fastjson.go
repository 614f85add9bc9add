package rules

import (
	"encoding/json"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// This file is the fast path of decoding: a validating scanner that fills
// the structs of raw fields (request, recipient, userAlias,
// countRecipients) exactly as encoding/json would, without reflection and
// without copying values. Whenever it meets something whose encoding/json
// reading it does not reproduce with certainty (an escaped or non-ASCII key
// that is not an exact field name, nesting deeper than maxFastDepth, any
// syntax error), it reports false and the caller decodes with encoding/json,
// which then also produces the error message. So a body gets the same
// fields, and the same violation, either way; fastjson_test.go checks this
// against encoding/json.
//
// When the caller vouches that the body is valid JSON (Options.ValidJSON),
// the scanner is trusted: keys are still read exactly, but values are
// skipped (jsonbytes.SkipValue) rather than validated, and a trigger
// send's recipients are decoded on the way (topValue).
//
// Values are sub-slices of the input, not copies: Check never modifies the
// body and keeps nothing of it after it returns.

// maxFastDepth is the deepest nesting the fast path follows.
const maxFastDepth = 200

// rawFields is a struct whose fields are all json.RawMessage; field returns
// the field whose JSON name is exactly key, or nil.
type rawFields interface {
	field(key []byte) *json.RawMessage
	// names lists the JSON names of the fields, for case-insensitive matches.
	names() []string
}

// foldField returns the field of f matching key case-insensitively, as
// encoding/json matches a key that is no exact field name. key is ASCII.
func foldField(f rawFields, key []byte) *json.RawMessage {
	for _, n := range f.names() {
		if asciiEqualFold(key, n) {
			return f.field([]byte(n))
		}
	}
	return nil
}

func asciiEqualFold(a []byte, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// fastDecodeObject decodes body, which must be exactly one JSON object
// (surrounding white space allowed), into f. ok is false when the fast
// path cannot decide; f may then hold partial results and must be reset.
func fastDecodeObject(body []byte, f rawFields) bool {
	i := jsonbytes.SkipSpace(body, 0)
	end, ok := fastObject(body, i, f, 0, false)
	return ok && jsonbytes.SkipSpace(body, end) == len(body)
}

// fastObject decodes the object starting at b[i] into f (nil: only
// validate) and returns the index just past it. With trusted set, the
// caller vouches that b is valid JSON: member values are skipped, not
// validated (keys are still read exactly).
func fastObject(b []byte, i int, f rawFields, depth int, trusted bool) (int, bool) {
	if i >= len(b) || b[i] != '{' || depth >= maxFastDepth {
		return 0, false
	}
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		ks := i
		ke, ok := jsonbytes.ScanString(b, i)
		if !ok {
			return 0, false
		}
		i = jsonbytes.SkipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, false
		}
		vs := jsonbytes.SkipSpace(b, i+1)
		var ve int
		switch {
		case !trusted:
			ve, ok = scanValue(b, vs, depth+1)
		case depth == 0:
			ve, ok = topValue(f, b, b[ks+1:ke-1], vs)
		default:
			ve, ok = jsonbytes.SkipValue(b, vs)
		}
		if !ok {
			return 0, false
		}
		if f != nil {
			key := b[ks+1 : ke-1]
			p := f.field(key)
			if p == nil {
				if !plainASCII(key) {
					return 0, false // escapes or non-ASCII: encoding/json's folding decides
				}
				p = foldField(f, key)
			}
			if p != nil {
				*p = b[vs:ve]
			}
		}
		i = jsonbytes.SkipSpace(b, ve)
		if i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case '}':
			return i + 1, true
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		default:
			return 0, false
		}
	}
}

// topValue returns the end of the top-level member value at b[vs] of a
// trusted body. A request's recipients array is decoded on the way (see
// request.list), so that a trigger send's recipients are scanned once;
// every other value is skipped.
func topValue(f rawFields, b, key []byte, vs int) (int, bool) {
	r, isRequest := f.(*request)
	if !isRequest || !r.list || string(key) != "recipients" || vs >= len(b) || b[vs] != '[' {
		return jsonbytes.SkipValue(b, vs)
	}
	out, end, ok := fastObjectListAt(r.buf, b, vs, true)
	r.setBuf(out)
	if !ok {
		r.listed = nil
		return jsonbytes.SkipValue(b, vs)
	}
	r.listed = b[vs:end]
	return end, true
}

// plainASCII reports whether a key holds only printable ASCII without
// backslashes (so it reads as written).
func plainASCII(key []byte) bool {
	for _, c := range key {
		if c >= 0x80 || c == '\\' {
			return false
		}
	}
	return true
}

// fastElements calls each for every element of the array m (raw, trimmed)
// and reports whether m is a valid JSON array that each accepted.
func fastElements(m []byte, each func(el []byte) bool) bool {
	i := jsonbytes.SkipSpace(m, 0)
	if i >= len(m) || m[i] != '[' {
		return false
	}
	i = jsonbytes.SkipSpace(m, i+1)
	if i < len(m) && m[i] == ']' {
		return jsonbytes.SkipSpace(m, i+1) == len(m)
	}
	for {
		e, ok := scanValue(m, i, 1)
		if !ok || !each(m[i:e]) {
			return false
		}
		i = jsonbytes.SkipSpace(m, e)
		if i >= len(m) {
			return false
		}
		switch m[i] {
		case ']':
			return jsonbytes.SkipSpace(m, i+1) == len(m)
		case ',':
			i = jsonbytes.SkipSpace(m, i+1)
		default:
			return false
		}
	}
}

// fastRawArray is json.Unmarshal(m, &[]json.RawMessage{}) for a valid array.
func fastRawArray(m []byte) ([]json.RawMessage, bool) {
	var out []json.RawMessage
	ok := fastElements(m, func(el []byte) bool {
		out = append(out, el)
		return true
	})
	if ok && out == nil {
		out = []json.RawMessage{}
	}
	return out, ok
}

// fastArrayLen counts the elements of a valid JSON array.
func fastArrayLen(m []byte) (int, bool) {
	n := 0
	ok := fastElements(m, func([]byte) bool { n++; return true })
	return n, ok
}

// fastObjectList is json.Unmarshal(m, &[]T{}) for an array of objects (or
// nulls, which leave their element zero), where *T is a rawFields. Each
// element is scanned once, by the decoding.
func fastObjectList[T any](dst []T, m []byte, trusted bool) ([]T, bool) {
	out, end, ok := fastObjectListAt(dst, m, jsonbytes.SkipSpace(m, 0), trusted)
	return out, ok && jsonbytes.SkipSpace(m, end) == len(m)
}

// fastObjectListAt is fastObjectList for the array starting at b[i]; it
// returns the index just past the array.
func fastObjectListAt[T any](dst []T, b []byte, i int, trusted bool) ([]T, int, bool) {
	out := dst[:0]
	if i >= len(b) || b[i] != '[' {
		return out, 0, false
	}
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return out, i + 1, true
	}
	var zero T
	for i < len(b) {
		out = append(out, zero)
		var e int
		var ok bool
		switch b[i] {
		case '{':
			f, isFields := any(&out[len(out)-1]).(rawFields)
			if !isFields {
				return out, 0, false
			}
			e, ok = fastObject(b, i, f, 1, trusted)
		case 'n': // null: the element stays zero
			e, ok = jsonbytes.ScanLiteral(b, i, "null")
		default:
			return out, 0, false // a type error: encoding/json words it
		}
		if !ok {
			return out, 0, false
		}
		i = jsonbytes.SkipSpace(b, e)
		if i >= len(b) {
			return out, 0, false
		}
		switch b[i] {
		case ']':
			return out, i + 1, true
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		default:
			return out, 0, false
		}
	}
	return out, 0, false
}

// scanValue validates the JSON value starting at b[i] and returns the
// index just past it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; c {
	case '{':
		return fastObject(b, i, nil, depth, false)
	case '[':
		if depth >= maxFastDepth {
			return 0, false
		}
		i = jsonbytes.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			e, ok := scanValue(b, i, depth+1)
			if !ok {
				return 0, false
			}
			i = jsonbytes.SkipSpace(b, e)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case ']':
				return i + 1, true
			case ',':
				i = jsonbytes.SkipSpace(b, i+1)
			default:
				return 0, false
			}
		}
	case '"':
		return jsonbytes.ScanString(b, i)
	case 't':
		return jsonbytes.ScanLiteral(b, i, "true")
	case 'f':
		return jsonbytes.ScanLiteral(b, i, "false")
	case 'n':
		return jsonbytes.ScanLiteral(b, i, "null")
	default:
		return jsonbytes.ScanNumber(b, i)
	}
}

// The field tables. fastjson_test.go checks them against the structs' tags.

var requestNames = []string{
	"broadcast", "external_user_ids", "user_aliases", "segment_id", "audience", "custom_audience",
	"campaign_id", "canvas_id", "send_id", "override_frequency_capping", "override_messaging_limits",
	"recipient_subscription_state", "messages", "schedule", "schedule_id", "trigger_properties", "context",
	"canvas_entry_properties", "recipients", "attachments", "name", "description", "tag_names", "app_id",
	"activity_id", "activity_attributes_type", "activity_attributes", "content_state", "stale_date",
	"notification", "end_activity", "dismissal_date",
}

func (r *request) names() []string { return requestNames }

func (r *request) field(k []byte) *json.RawMessage {
	switch string(k) {
	case "broadcast":
		return &r.Broadcast
	case "external_user_ids":
		return &r.ExternalUserIDs
	case "user_aliases":
		return &r.UserAliases
	case "segment_id":
		return &r.SegmentID
	case "audience":
		return &r.Audience
	case "custom_audience":
		return &r.CustomAudience
	case "campaign_id":
		return &r.CampaignID
	case "canvas_id":
		return &r.CanvasID
	case "send_id":
		return &r.SendID
	case "override_frequency_capping":
		return &r.OverrideFrequencyCapping
	case "override_messaging_limits":
		return &r.OverrideMessagingLimits
	case "recipient_subscription_state":
		return &r.RecipientSubscriptionState
	case "messages":
		return &r.Messages
	case "schedule":
		return &r.Schedule
	case "schedule_id":
		return &r.ScheduleID
	case "trigger_properties":
		return &r.TriggerProperties
	case "context":
		return &r.Context
	case "canvas_entry_properties":
		return &r.CanvasEntryProperties
	case "recipients":
		return &r.Recipients
	case "attachments":
		return &r.Attachments
	case "name":
		return &r.Name
	case "description":
		return &r.Description
	case "tag_names":
		return &r.TagNames
	case "app_id":
		return &r.AppID
	case "activity_id":
		return &r.ActivityID
	case "activity_attributes_type":
		return &r.ActivityAttributesType
	case "activity_attributes":
		return &r.ActivityAttributes
	case "content_state":
		return &r.ContentState
	case "stale_date":
		return &r.StaleDate
	case "notification":
		return &r.Notification
	case "end_activity":
		return &r.EndActivity
	case "dismissal_date":
		return &r.DismissalDate
	}
	return nil
}

var recipientNames = []string{
	"external_user_id", "user_alias", "email", "braze_id", "prioritization", "trigger_properties",
	"context", "canvas_entry_properties", "send_to_existing_only", "attributes",
}

func (r *recipient) names() []string { return recipientNames }

func (r *recipient) field(k []byte) *json.RawMessage {
	switch string(k) {
	case "external_user_id":
		return &r.ExternalUserID
	case "user_alias":
		return &r.UserAlias
	case "email":
		return &r.Email
	case "braze_id":
		return &r.BrazeID
	case "prioritization":
		return &r.Prioritization
	case "trigger_properties":
		return &r.TriggerProperties
	case "context":
		return &r.Context
	case "canvas_entry_properties":
		return &r.CanvasEntryProperties
	case "send_to_existing_only":
		return &r.SendToExistingOnly
	case "attributes":
		return &r.Attributes
	}
	return nil
}

var userAliasNames = []string{"alias_name", "alias_label"}

func (a *userAlias) names() []string { return userAliasNames }

func (a *userAlias) field(k []byte) *json.RawMessage {
	switch string(k) {
	case "alias_name":
		return &a.AliasName
	case "alias_label":
		return &a.AliasLabel
	}
	return nil
}

var countRecipientsNames = []string{"external_user_ids", "user_aliases", "recipients", "segment_id", "custom_audience"}

func (c *countRecipients) names() []string { return countRecipientsNames }

func (c *countRecipients) field(k []byte) *json.RawMessage {
	switch string(k) {
	case "external_user_ids":
		return &c.ExternalUserIDs
	case "user_aliases":
		return &c.UserAliases
	case "recipients":
		return &c.Recipients
	case "segment_id":
		return &c.SegmentID
	case "custom_audience":
		return &c.CustomAudience
	}
	return nil
}
