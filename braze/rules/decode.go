package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"sync"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// request holds every top-level key of every endpoint's body. Values stay raw
// so that a field is type-checked only by the endpoints that know it, and
// free-form objects (trigger_properties, context, attributes …) are never
// decoded at all.
type request struct {
	Broadcast                  json.RawMessage `json:"broadcast"`
	ExternalUserIDs            json.RawMessage `json:"external_user_ids"`
	UserAliases                json.RawMessage `json:"user_aliases"`
	SegmentID                  json.RawMessage `json:"segment_id"`
	Audience                   json.RawMessage `json:"audience"`
	CustomAudience             json.RawMessage `json:"custom_audience"`
	CampaignID                 json.RawMessage `json:"campaign_id"`
	CanvasID                   json.RawMessage `json:"canvas_id"`
	SendID                     json.RawMessage `json:"send_id"`
	OverrideFrequencyCapping   json.RawMessage `json:"override_frequency_capping"`
	OverrideMessagingLimits    json.RawMessage `json:"override_messaging_limits"`
	RecipientSubscriptionState json.RawMessage `json:"recipient_subscription_state"`
	Messages                   json.RawMessage `json:"messages"`
	Schedule                   json.RawMessage `json:"schedule"`
	ScheduleID                 json.RawMessage `json:"schedule_id"`
	TriggerProperties          json.RawMessage `json:"trigger_properties"`
	Context                    json.RawMessage `json:"context"`
	CanvasEntryProperties      json.RawMessage `json:"canvas_entry_properties"`
	Recipients                 json.RawMessage `json:"recipients"`
	Attachments                json.RawMessage `json:"attachments"`
	Name                       json.RawMessage `json:"name"`
	Description                json.RawMessage `json:"description"`
	TagNames                   json.RawMessage `json:"tag_names"`
	AppID                      json.RawMessage `json:"app_id"`
	ActivityID                 json.RawMessage `json:"activity_id"`
	ActivityAttributesType     json.RawMessage `json:"activity_attributes_type"`
	ActivityAttributes         json.RawMessage `json:"activity_attributes"`
	ContentState               json.RawMessage `json:"content_state"`
	StaleDate                  json.RawMessage `json:"stale_date"`
	Notification               json.RawMessage `json:"notification"`
	EndActivity                json.RawMessage `json:"end_activity"`
	DismissalDate              json.RawMessage `json:"dismissal_date"`

	// list is set for trigger sends: their recipients array is decoded
	// into buf while a trusted body (Options.ValidJSON) is read, and
	// listed is the raw array it was decoded from. buf stands for
	// Recipients when listed is Recipients itself (a later "recipients"
	// key, or one matched by case folding, would make them differ). buf's
	// array is kept between checks (see requests); used is how many of
	// its elements this check wrote, for putRequest to clear.
	list   bool
	listed json.RawMessage
	buf    []recipient
	used   int
}

// setBuf makes rs, decoded into buf's array or a new one, the buffer.
func (r *request) setBuf(rs []recipient) {
	r.buf = rs
	r.used = max(r.used, len(rs))
}

// recipients returns the list decoded from Recipients with the request,
// if there is one.
func (r *request) recipients() ([]recipient, bool) {
	if !r.list || len(r.listed) == 0 || !jsonbytes.Same(r.listed, r.Recipients) {
		return nil, false
	}
	return r.buf, true
}

// recipient is one element of recipients (braze-api.md §4.2).
type recipient struct {
	ExternalUserID        json.RawMessage `json:"external_user_id"`
	UserAlias             json.RawMessage `json:"user_alias"`
	Email                 json.RawMessage `json:"email"`
	BrazeID               json.RawMessage `json:"braze_id"`
	Prioritization        json.RawMessage `json:"prioritization"`
	TriggerProperties     json.RawMessage `json:"trigger_properties"`
	Context               json.RawMessage `json:"context"`
	CanvasEntryProperties json.RawMessage `json:"canvas_entry_properties"`
	SendToExistingOnly    json.RawMessage `json:"send_to_existing_only"`
	Attributes            json.RawMessage `json:"attributes"`
}

// userAlias is the user alias object (§4.1).
type userAlias struct {
	AliasName  json.RawMessage `json:"alias_name"`
	AliasLabel json.RawMessage `json:"alias_label"`
}

// decodeRequest parses body as a JSON object into req. trusted is
// Options.ValidJSON: the body's values are skipped rather than validated.
func decodeRequest(body []byte, req *request, trusted bool) *Violation {
	if trusted {
		i := jsonbytes.SkipSpace(body, 0)
		if end, ok := fastObject(body, i, req, 0, true); ok && jsonbytes.SkipSpace(body, end) == len(body) {
			return nil
		}
		resetFields(req)
	}
	return decodeObject(body, req)
}

// requests recycles request structs and the recipient lists of trigger
// sends: one request is decoded per checked event, and nothing keeps it
// after check returns (values are sub-slices of the body, and violations
// copy what they quote).
var requests = sync.Pool{New: func() any { return new(request) }}

// getRequest returns a cleared request from the pool; putRequest returns
// it, clearing what refers to the body.
func getRequest() *request {
	return requests.Get().(*request)
}

func putRequest(r *request) {
	buf := r.buf
	clear(buf[:min(r.used, cap(buf))]) // a second recipients array may have been shorter
	*r = request{}
	if cap(buf) <= 2*MaxRecipients { // keep a grown array, up to a full request's
		r.buf = buf[:0]
	}
	requests.Put(r)
}

// decodeObject decodes body, which must be one JSON object, into v. A syntax
// error or a body that is not an object is a Bad Request.
func decodeObject(body []byte, v any) *Violation {
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		if json.Valid(body) {
			return &Violation{Label: LabelBadRequest, Detail: "request body must be a JSON object"}
		}
		return &Violation{Label: LabelBadRequest, Detail: "request body is not valid JSON"}
	}
	if f, ok := v.(rawFields); ok {
		if fastDecodeObject(body, f) {
			return nil
		}
		resetFields(f)
	}
	if err := json.Unmarshal(body, v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return &Violation{Label: LabelBadRequest, Detail: "request body is not valid JSON"}
		}
		return decodeViolation(err, "")
	}
	return nil
}

// objectList decodes the optional JSON array of objects m.
func objectList[T any](m json.RawMessage, field string) ([]T, *Violation) {
	return objectListInto[T](nil, m, field, false)
}

// objectListInto is objectList decoding into dst's array when it is
// large enough; trusted is as for decodeRequest.
func objectListInto[T any](dst []T, m json.RawMessage, field string, trusted bool) ([]T, *Violation) {
	if !present(m) {
		return nil, nil
	}
	if m[0] != '[' {
		return nil, invalid(field, "must be an array of objects")
	}
	if out, ok := fastObjectList(dst, m, trusted); ok {
		return out, nil
	}
	var out []T
	if v := decodeInto(m, &out, field); v != nil {
		return nil, v
	}
	return out, nil
}

// resetFields zeroes a rawFields struct after a fast decode gave up.
func resetFields(f rawFields) {
	for _, n := range f.names() {
		*f.field([]byte(n)) = nil
	}
}

// decodeInto decodes the already validated JSON value m into v and turns a
// type mismatch into an "invalid value" violation of field.
func decodeInto(m json.RawMessage, v any, field string) *Violation {
	switch dst := v.(type) {
	case *[]json.RawMessage:
		if out, ok := fastRawArray(m); ok {
			*dst = out
			return nil
		}
	case rawFields:
		if fastDecodeObject(m, dst) {
			return nil
		}
		resetFields(dst)
	}
	if err := json.Unmarshal(m, v); err != nil {
		return decodeViolation(err, field)
	}
	return nil
}

func decodeViolation(err error, field string) *Violation {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		f := field
		if te.Field != "" {
			f = joinField(field, te.Field)
		}
		return &Violation{Label: LabelInvalidValue, Field: f,
			Detail: "must be " + kindName(te.Type) + ", not " + te.Value}
	}
	return &Violation{Label: LabelBadRequest, Field: field, Detail: "cannot be decoded"}
}

func joinField(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// kindName names the JSON type a Go type decodes from.
func kindName(t reflect.Type) string {
	if t == nil {
		return "a JSON value"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		if t == reflect.TypeFor[json.RawMessage]() {
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Int, reflect.Int64, reflect.Float64:
		return "a number"
	}
	return "a " + t.Kind().String()
}

// present reports whether the key was given with a non-null value.
func present(m json.RawMessage) bool {
	return len(m) > 0 && !(len(m) == 4 && string(m) == "null")
}

func isObject(m json.RawMessage) bool { return len(m) > 0 && m[0] == '{' }

// str reads an optional string field; absent and null read as "".
func str(m json.RawMessage, field string) (string, *Violation) {
	if !present(m) {
		return "", nil
	}
	if m[0] != '"' {
		return "", invalid(field, "must be a string")
	}
	if bytes.IndexByte(m, '\\') < 0 {
		return string(m[1 : len(m)-1]), nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return "", invalid(field, "must be a string")
	}
	return s, nil
}

// checkStr checks that a field, when present, is a string, without
// decoding it.
func checkStr(m json.RawMessage, field string) *Violation {
	if !present(m) {
		return nil
	}
	if m[0] != '"' {
		return invalid(field, "must be a string")
	}
	if bytes.IndexByte(m, '\\') < 0 {
		return nil
	}
	_, v := str(m, field)
	return v
}

// requireStr checks that a field is a non-empty string, without decoding
// it.
func requireStr(m json.RawMessage, field string) *Violation {
	if present(m) && m[0] == '"' && len(m) > 2 && bytes.IndexByte(m, '\\') < 0 {
		return nil
	}
	_, v := requiredStr(m, field)
	return v
}

// requiredStr reads a string field that must be present and non-empty.
func requiredStr(m json.RawMessage, field string) (string, *Violation) {
	s, v := str(m, field)
	if v != nil {
		return "", v
	}
	if s == "" {
		return "", missing(field)
	}
	return s, nil
}

// stringLen is the length in bytes of the JSON string m once decoded, 0
// when m is absent, null or not a string. Strings without escapes are
// measured without allocating.
func stringLen(m json.RawMessage) int {
	if len(m) < 2 || m[0] != '"' {
		return 0
	}
	if bytes.IndexByte(m, '\\') < 0 {
		return len(m) - 2
	}
	var s string
	if json.Unmarshal(m, &s) != nil {
		return 0
	}
	return len(s)
}

// nonEmpty reports whether m is a non-empty JSON string. It assumes m was
// already type-checked with str.
func nonEmpty(m json.RawMessage) bool { return len(m) > 2 && m[0] == '"' }

// boolean reads an optional boolean field.
func boolean(m json.RawMessage, field string) (val bool, v *Violation) {
	if !present(m) {
		return false, nil
	}
	switch string(m) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalid(field, "must be a boolean")
}

// number reads an optional JSON number field; ok is false when it is absent.
func number(m json.RawMessage, field string) (n float64, ok bool, v *Violation) {
	if !present(m) {
		return 0, false, nil
	}
	if c := m[0]; c != '-' && (c < '0' || c > '9') {
		return 0, false, invalid(field, "must be a number")
	}
	n, err := strconv.ParseFloat(string(m), 64)
	if err != nil {
		// Syntactically valid JSON numbers fail only by overflow.
		return 0, false, invalid(field, "is out of range")
	}
	return n, true, nil
}

// object checks that an optional field, when given, is a JSON object.
func object(m json.RawMessage, field string) *Violation {
	if present(m) && !isObject(m) {
		return invalid(field, "must be a JSON object")
	}
	return nil
}

// requiredObject checks that a field is present and a JSON object.
func requiredObject(m json.RawMessage, field string) *Violation {
	if !present(m) {
		return missing(field)
	}
	return object(m, field)
}

// stringArray reads an optional array of strings; each item must be
// non-empty when nonEmptyItems is set.
func stringArray(m json.RawMessage, field string, nonEmptyItems bool) ([]string, *Violation) {
	if !present(m) {
		return nil, nil
	}
	if m[0] != '[' {
		return nil, invalid(field, "must be an array of strings")
	}
	var items []json.RawMessage
	if v := decodeInto(m, &items, field); v != nil {
		return nil, v
	}
	out := make([]string, 0, len(items))
	for i, it := range items {
		if len(it) == 0 || it[0] != '"' {
			return nil, invalid(index(field, i), "must be a string")
		}
		s, v := str(it, index(field, i))
		if v != nil {
			return nil, v
		}
		if nonEmptyItems && s == "" {
			return nil, invalid(index(field, i), "must not be empty")
		}
		out = append(out, s)
	}
	return out, nil
}

// compactLen is the length of the valid JSON value m without insignificant
// whitespace, computed without allocating.
func compactLen(m []byte) int {
	n := 0
	inStr, esc := false, false
	for _, c := range m {
		if inStr {
			n++
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			inStr = true
		}
		n++
	}
	return n
}

// serializedLen is the size Braze measures for a free-form value: its
// compact serialization. The raw length is an upper bound, so the compact
// length is only computed when the raw one exceeds limit.
func serializedLen(m json.RawMessage, limit int) int {
	if len(m) <= limit {
		return len(m)
	}
	return compactLen(m)
}

func index(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

func missing(field string) *Violation {
	return &Violation{Label: LabelMissingField, Field: field, Detail: "is required"}
}

func invalid(field, detail string) *Violation {
	return &Violation{Label: LabelInvalidValue, Field: field, Detail: detail}
}
