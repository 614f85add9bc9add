package braze

import (
	"encoding/json"
	"time"
)

// This file holds the objects that several endpoints share (braze-api.md §4).
// Free-form objects (trigger_properties, context, audience, messages,
// attributes) are json.RawMessage: the client passes them through exactly as
// the caller built them, and a nil value leaves the field out.

// UserAlias identifies a user by an alias (braze-api.md §4.1). Both fields are
// required and non-empty, at most 236 bytes each; AliasName is case-sensitive.
type UserAlias struct {
	AliasName  string `json:"alias_name"`
	AliasLabel string `json:"alias_label"`
}

// Recipient is one entry of "recipients" on the trigger endpoints
// (braze-api.md §4.2). Exactly one identifier must be set: ExternalUserID,
// UserAlias, Email (which requires Prioritization) or BrazeID.
type Recipient struct {
	// ExternalUserID is identifier option 1.
	ExternalUserID string `json:"external_user_id,omitempty"`
	// UserAlias is identifier option 2.
	UserAlias *UserAlias `json:"user_alias,omitempty"`
	// Email is identifier option 3; it needs Prioritization.
	Email string `json:"email,omitempty"`
	// BrazeID is identifier option 4 (newest recipient-object page only).
	BrazeID string `json:"braze_id,omitempty"`
	// Prioritization orders the candidates when Email matches several
	// profiles: "identified", "unidentified", "most_recently_updated",
	// "least_recently_updated".
	Prioritization []string `json:"prioritization,omitempty"`
	// TriggerProperties (campaigns) overrides top-level keys of the same name.
	TriggerProperties json.RawMessage `json:"trigger_properties,omitempty"`
	// Context (Canvases) overrides top-level keys of the same name.
	Context json.RawMessage `json:"context,omitempty"`
	// CanvasEntryProperties is the legacy name of Context, still accepted.
	CanvasEntryProperties json.RawMessage `json:"canvas_entry_properties,omitempty"`
	// SendToExistingOnly defaults to true on Braze's side; false creates a
	// missing user from Attributes (not possible with UserAlias). Nil leaves
	// the field out.
	SendToExistingOnly *bool `json:"send_to_existing_only,omitempty"`
	// Attributes is a user attributes object applied before the message is
	// processed.
	Attributes json.RawMessage `json:"attributes,omitempty"`
}

// Schedule says when a scheduled message goes out (braze-api.md §4.5).
type Schedule struct {
	// Time is an ISO-8601 date-time, UTC unless InLocalTime or AtOptimalTime
	// is set; then it must carry no zone designator. Use ScheduleAt or
	// ScheduleLocal to format it.
	Time string `json:"time"`
	// InLocalTime delivers at Time in each user's time zone.
	InLocalTime *bool `json:"in_local_time,omitempty"`
	// AtOptimalTime delivers on Time's date at each user's optimal time.
	AtOptimalTime *bool `json:"at_optimal_time,omitempty"`
}

// ScheduleAt returns a schedule that sends to everybody at instant t.
func ScheduleAt(t time.Time) *Schedule {
	return &Schedule{Time: t.UTC().Format(time.RFC3339)}
}

// ScheduleLocal returns a schedule that sends at t's wall-clock time in each
// user's own time zone. t's location is dropped: Braze rejects a zone
// designator together with in_local_time.
func ScheduleLocal(t time.Time) *Schedule {
	return &Schedule{Time: t.Format(localTimeLayout), InLocalTime: Bool(true)}
}

// ScheduleOptimal returns a schedule that sends on t's date at each user's
// optimal time; the clock part of t is ignored by Braze.
func ScheduleOptimal(t time.Time) *Schedule {
	return &Schedule{Time: t.Format(localTimeLayout), AtOptimalTime: Bool(true)}
}

// localTimeLayout is ISO 8601 without a zone designator.
const localTimeLayout = "2006-01-02T15:04:05"

// Attachment is an email attachment of /campaigns/trigger/send (at most 2 MB
// per file; not allowed on broadcast sends).
type Attachment struct {
	// FileName is the file name without extension.
	FileName string `json:"file_name"`
	// URL is where Braze fetches the file.
	URL string `json:"url"`
	// BasicAuthCredential names a stored credential for fetching URL.
	BasicAuthCredential string `json:"basic_auth_credential,omitempty"`
}

// Bool returns a pointer to v, for the optional flags whose absence Braze
// distinguishes from false (broadcast, send_to_existing_only, schedule and
// live-activity flags).
func Bool(v bool) *bool { return &v }

// Recipient subscription states for RecipientSubscriptionState.
const (
	// SubscriptionOptedIn sends only to users who explicitly opted in.
	SubscriptionOptedIn = "opted_in"
	// SubscriptionSubscribed sends to subscribed or opted-in users (Braze's default).
	SubscriptionSubscribed = "subscribed"
	// SubscriptionAll also sends to unsubscribed users (transactional email).
	SubscriptionAll = "all"
)

// ScheduledBroadcast is one entry of GET /messages/scheduled_broadcasts.
type ScheduledBroadcast struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	// Type is "Campaign" or "Canvas".
	Type string   `json:"type"`
	Tags []string `json:"tags,omitempty"`
	// NextSendTime is ISO 8601; it carries no zone for local-time and
	// intelligent-delivery schedules, so it is kept as Braze sent it.
	NextSendTime string `json:"next_send_time"`
	// ScheduleType is "local_time_zones", "intelligent_delivery" or the
	// company's time-zone name.
	ScheduleType string `json:"schedule_type"`
}
