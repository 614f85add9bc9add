package rules

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Budget names one of Braze's rate-limit budgets (braze-api.md §2.1–2.3).
type Budget string

// The budgets of the messaging endpoints.
const (
	// BudgetShared is the 250,000 requests/hour pool shared by the
	// non-broadcast sends, the schedule endpoints, the live-activity
	// endpoints, GET /messages/scheduled_broadcasts and many other
	// endpoints.
	BudgetShared Budget = "shared"
	// BudgetBroadcast is the 250 requests/minute budget shared by the
	// broadcast calls of the five broadcast-limited endpoints.
	BudgetBroadcast Budget = "broadcast"
	// BudgetAudience is the 10 requests/minute budget of one unique audience;
	// each audience key (Charge.Key) has its own.
	BudgetAudience Budget = "audience"
	// BudgetSendIDs is the 100 creations/day budget of /sends/id/create.
	BudgetSendIDs Budget = "send_ids"
	// BudgetCampaignsDuplicate is the 100 requests/minute budget of
	// /campaigns/duplicate.
	BudgetCampaignsDuplicate Budget = "campaigns_duplicate"
	// BudgetCanvasDuplicate is the 100 requests/minute budget of
	// /canvas/duplicate.
	BudgetCanvasDuplicate Budget = "canvas_duplicate"
)

// Budgets returns every Budget, for example to create metric series ahead
// of the first call. The slice is the caller's.
func Budgets() []Budget {
	return []Budget{BudgetShared, BudgetBroadcast, BudgetAudience, BudgetSendIDs,
		BudgetCampaignsDuplicate, BudgetCanvasDuplicate}
}

// Charge is one budget a call draws one request from. Key is empty except
// for BudgetAudience, where it identifies the unique audience (§2.3): the
// canonical JSON object of the call's campaign_id or canvas_id, segment_id
// and audience, those that are present, for example
// {"audience":{"custom_attribute":{…}},"campaign_id":"c1"}. Equal keys
// share one 10/minute allowance whichever of the five endpoints is called.
type Charge struct {
	Budget Budget
	Key    string
}

// Classify returns the budgets one call draws from. A broadcast call (see
// IsBroadcast) of /messages/send, /campaigns/trigger/send,
// /canvas/trigger/send, /campaigns/trigger/schedule/create or
// /canvas/trigger/schedule/create draws from BudgetBroadcast and from the
// BudgetAudience of its audience key; a non-broadcast call of those
// endpoints, every other messaging endpoint (including
// /messages/schedule/create, whatever it targets) and any call Braze lists
// in no table draw from BudgetShared. /sends/id/create, /campaigns/duplicate
// and /canvas/duplicate have budgets of their own. A query string on path is
// ignored. Classify does not validate body; the result is never empty.
func Classify(method, path string, body []byte) []Charge {
	return classify(method, path, func() bool { return IsBroadcast(path, body) }, body)
}

// ClassifyListed returns the budgets of a call whose body lists at least
// one recipient, without reading the body: what Classify returns for any
// such body. A call that lists its recipients is no broadcast, so this
// spares the gateway reading back each batch it built (Classify reads all
// of a body to learn whether it is a broadcast).
func ClassifyListed(method, path string) []Charge {
	return classify(method, path, func() bool { return false }, nil)
}

func classify(method, path string, broadcast func() bool, body []byte) []Charge {
	switch lookupCall(method, path) {
	case epSendsIDCreate:
		return []Charge{{Budget: BudgetSendIDs}}
	case epCampaignsDuplicate:
		return []Charge{{Budget: BudgetCampaignsDuplicate}}
	case epCanvasDuplicate:
		return []Charge{{Budget: BudgetCanvasDuplicate}}
	case epMessagesSend, epCampaignsTriggerSend, epCanvasTriggerSend, epCampaignsScheduleCreate, epCanvasScheduleCreate:
		if broadcast() {
			return []Charge{{Budget: BudgetBroadcast}, {Budget: BudgetAudience, Key: audienceKey(body)}}
		}
	}
	return []Charge{{Budget: BudgetShared}}
}

// Limit is Braze's default size of a budget: Requests per fixed,
// clock-aligned Window.
type Limit struct {
	Budget   Budget
	Requests int
	Window   time.Duration
}

// DefaultLimits returns Braze's documented default limits (braze-api.md
// §2.1). Braze raises them per customer on request, so callers should let
// configuration override them. The map is the caller's.
func DefaultLimits() map[Budget]Limit {
	return map[Budget]Limit{
		BudgetShared:             {BudgetShared, 250000, time.Hour},
		BudgetBroadcast:          {BudgetBroadcast, 250, time.Minute},
		BudgetAudience:           {BudgetAudience, 10, time.Minute},
		BudgetSendIDs:            {BudgetSendIDs, 100, 24 * time.Hour},
		BudgetCampaignsDuplicate: {BudgetCampaignsDuplicate, 100, time.Minute},
		BudgetCanvasDuplicate:    {BudgetCanvasDuplicate, 100, time.Minute},
	}
}

// WindowStart returns the start of the fixed window of length w that holds
// t. Braze's windows are aligned to the clock in UTC (§1.9): an hourly window
// starts at the top of the hour, a minute window at the full minute, a daily
// window at midnight UTC. The result is in UTC; a non-positive w returns t
// in UTC unchanged.
func WindowStart(t time.Time, w time.Duration) time.Time {
	if w <= 0 {
		return t.UTC()
	}
	// Truncate counts from the zero time, which is midnight UTC, so every
	// window that divides a day is aligned to the UTC clock.
	return t.UTC().Truncate(w)
}

// audienceKey builds the canonical audience key of a broadcast call.
func audienceKey(body []byte) string {
	var b struct {
		Audience   json.RawMessage `json:"audience"`
		CampaignID json.RawMessage `json:"campaign_id"`
		CanvasID   json.RawMessage `json:"canvas_id"`
		SegmentID  json.RawMessage `json:"segment_id"`
	}
	if decodeObject(body, &b) != nil {
		return "{}"
	}
	var buf bytes.Buffer
	buf.WriteByte('{')
	first := true
	add := func(key string, val json.RawMessage) {
		if !present(val) {
			return
		}
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeString(&buf, key)
		buf.WriteByte(':')
		if canonicalJSON(&buf, val, 0) != nil {
			buf.Write(val)
		}
	}
	// Keys in sorted order.
	add("audience", b.Audience)
	add("campaign_id", b.CampaignID)
	add("canvas_id", b.CanvasID)
	add("segment_id", b.SegmentID)
	buf.WriteByte('}')
	return buf.String()
}

// maxCanonicalDepth bounds the nesting canonicalJSON follows.
const maxCanonicalDepth = 64

// errTooDeep stops canonicalJSON on pathological nesting.
type errTooDeep struct{}

func (errTooDeep) Error() string { return "rules: JSON nested too deeply" }

// canonicalJSON writes the valid JSON value m with object keys sorted, no
// insignificant whitespace and strings in one escaping. Numbers are kept as
// written. On error the caller falls back to the raw value; what was written
// to buf by then is discarded.
func canonicalJSON(buf *bytes.Buffer, m json.RawMessage, depth int) error {
	if depth > maxCanonicalDepth {
		return errTooDeep{}
	}
	mark := buf.Len()
	err := writeCanonical(buf, m, depth)
	if err != nil {
		buf.Truncate(mark)
	}
	return err
}

func writeCanonical(buf *bytes.Buffer, m json.RawMessage, depth int) error {
	switch m[0] {
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m, &obj); err != nil {
			return err
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			if err := canonicalJSON(buf, obj[k], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(m, &arr); err != nil {
			return err
		}
		buf.WriteByte('[')
		for i, e := range arr {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := canonicalJSON(buf, e, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case '"':
		var s string
		if err := json.Unmarshal(m, &s); err != nil {
			return err
		}
		writeString(buf, s)
	default:
		buf.Write(m)
	}
	return nil
}

// writeString writes s as a JSON string: quotes, backslashes and control
// characters escaped, everything else as it is (no HTML escaping).
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			buf.WriteByte('\\')
			buf.WriteByte(c)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}
