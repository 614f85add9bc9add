package pipeline

import (
	"encoding/json"

	"github.com/brazegw/gateway/event"
)

// targeting is the part of a request body that says whom it reaches.
type targeting struct {
	Broadcast       json.RawMessage `json:"broadcast"`
	SegmentID       json.RawMessage `json:"segment_id"`
	Audience        json.RawMessage `json:"audience"`
	CustomAudience  json.RawMessage `json:"custom_audience"`
	Recipients      json.RawMessage `json:"recipients"`
	ExternalUserIDs json.RawMessage `json:"external_user_ids"`
	UserAliases     json.RawMessage `json:"user_aliases"`
}

// targets lists the endpoints whose requests choose their audience.
var targets = map[string]bool{
	"/messages/send":                     true,
	"/campaigns/trigger/send":            true,
	"/canvas/trigger/send":               true,
	"/messages/schedule/create":          true,
	"/campaigns/trigger/schedule/create": true,
	"/canvas/trigger/schedule/create":    true,
	"/messages/live_activity/start":      true,
}

// broadcast reports whether ev's request would message a whole segment, an
// audience or a campaign's or Canvas's whole audience (DESIGN.md §2, the
// broadcast guard): "broadcast": true, or targeting by segment or audience
// without an explicit list of users. A request that names its users is
// never a broadcast, even if it narrows them by segment or audience.
func broadcast(ev *event.Event) bool {
	if !targets[ev.Spec.Endpoint] {
		return false
	}
	if ev.Batch != nil {
		return false // explicit recipients, and no broadcast flag in the key
	}
	var t targeting
	if json.Unmarshal(ev.Data, &t) != nil {
		return false // not an object we can read: validation says why
	}
	if string(t.Broadcast) == "true" || string(t.Broadcast) == `"true"` {
		return true
	}
	if present(t.Recipients) || present(t.ExternalUserIDs) || present(t.UserAliases) {
		return false
	}
	// No explicit users: the request reaches a segment, an audience, or the
	// campaign's whole audience (Braze requires broadcast: true then, and a
	// lenient Braze would send it anyway).
	return true
}

func present(m json.RawMessage) bool {
	return len(m) > 0 && string(m) != "null" && string(m) != "[]"
}
