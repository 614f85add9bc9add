package braze

import "encoding/json"

// This file holds one request type per POST endpoint of braze-api.md §3.
// Required strings carry no omitempty (an empty one reaches Braze, which
// rejects it); optional fields are left out when unset. Flags whose absence
// Braze distinguishes from false are *bool.

// MessagesSendRequest is the body of POST /messages/send (§3.1): a send with
// inline content. Broadcast must be true exactly when no users are listed.
type MessagesSendRequest struct {
	Broadcast       *bool       `json:"broadcast,omitempty"`
	ExternalUserIDs []string    `json:"external_user_ids,omitempty"`
	UserAliases     []UserAlias `json:"user_aliases,omitempty"`
	SegmentID       string      `json:"segment_id,omitempty"`
	// Audience is a connected audience object (§4.6).
	Audience json.RawMessage `json:"audience,omitempty"`
	// CampaignID ties the send to an API campaign; every message object then
	// needs a message_variation_id.
	CampaignID string `json:"campaign_id,omitempty"`
	SendID     string `json:"send_id,omitempty"`
	// OverrideFrequencyCapping ignores frequency capping (named
	// override_messaging_limits on /messages/schedule/create).
	OverrideFrequencyCapping *bool `json:"override_frequency_capping,omitempty"`
	// RecipientSubscriptionState is one of the Subscription* constants.
	RecipientSubscriptionState string `json:"recipient_subscription_state,omitempty"`
	// Messages maps channel keys (apple_push, email, …) to messaging objects (§4.7).
	Messages json.RawMessage `json:"messages,omitempty"`
}

// CampaignTriggerSendRequest is the body of POST /campaigns/trigger/send
// (§3.2). Broadcast must be true exactly when Recipients is empty.
type CampaignTriggerSendRequest struct {
	CampaignID string `json:"campaign_id"`
	SendID     string `json:"send_id,omitempty"`
	// TriggerProperties applies to all recipients (≤ 50 KB).
	TriggerProperties json.RawMessage `json:"trigger_properties,omitempty"`
	Broadcast         *bool           `json:"broadcast,omitempty"`
	Audience          json.RawMessage `json:"audience,omitempty"`
	Recipients        []Recipient     `json:"recipients,omitempty"`
	// Attachments are email attachments; not allowed with Broadcast.
	Attachments []Attachment `json:"attachments,omitempty"`
}

// CanvasTriggerSendRequest is the body of POST /canvas/trigger/send (§3.3).
// Broadcast must be true exactly when Recipients is empty.
type CanvasTriggerSendRequest struct {
	CanvasID string `json:"canvas_id"`
	// Context applies to all recipients (≤ 50 KB).
	Context json.RawMessage `json:"context,omitempty"`
	// CanvasEntryProperties is the legacy name of Context, still accepted.
	CanvasEntryProperties json.RawMessage `json:"canvas_entry_properties,omitempty"`
	Broadcast             *bool           `json:"broadcast,omitempty"`
	Audience              json.RawMessage `json:"audience,omitempty"`
	Recipients            []Recipient     `json:"recipients,omitempty"`
}

// SendIDCreateRequest is the body of POST /sends/id/create (§3.4).
type SendIDCreateRequest struct {
	CampaignID string `json:"campaign_id"`
	// SendID is the wanted ID (ASCII, ≤ 64 characters); empty lets Braze choose.
	SendID string `json:"send_id,omitempty"`
}

// MessagesScheduleCreateRequest is the body of POST /messages/schedule/create
// (§3.6): MessagesSendRequest plus Schedule, with the override flag renamed.
type MessagesScheduleCreateRequest struct {
	Broadcast       *bool           `json:"broadcast,omitempty"`
	ExternalUserIDs []string        `json:"external_user_ids,omitempty"`
	UserAliases     []UserAlias     `json:"user_aliases,omitempty"`
	SegmentID       string          `json:"segment_id,omitempty"`
	Audience        json.RawMessage `json:"audience,omitempty"`
	CampaignID      string          `json:"campaign_id,omitempty"`
	SendID          string          `json:"send_id,omitempty"`
	// OverrideMessagingLimits ignores frequency capping.
	OverrideMessagingLimits    *bool  `json:"override_messaging_limits,omitempty"`
	RecipientSubscriptionState string `json:"recipient_subscription_state,omitempty"`
	// Schedule is required.
	Schedule *Schedule       `json:"schedule,omitempty"`
	Messages json.RawMessage `json:"messages,omitempty"`
}

// MessagesScheduleUpdateRequest is the body of POST /messages/schedule/update
// (§3.7). At least one of Schedule and Messages must be set.
type MessagesScheduleUpdateRequest struct {
	ScheduleID string          `json:"schedule_id"`
	Schedule   *Schedule       `json:"schedule,omitempty"`
	Messages   json.RawMessage `json:"messages,omitempty"`
}

// MessagesScheduleDeleteRequest is the body of POST /messages/schedule/delete (§3.8).
type MessagesScheduleDeleteRequest struct {
	ScheduleID string `json:"schedule_id"`
}

// CampaignTriggerScheduleCreateRequest is the body of POST
// /campaigns/trigger/schedule/create (§3.9).
type CampaignTriggerScheduleCreateRequest struct {
	CampaignID        string          `json:"campaign_id"`
	SendID            string          `json:"send_id,omitempty"`
	Recipients        []Recipient     `json:"recipients,omitempty"`
	Audience          json.RawMessage `json:"audience,omitempty"`
	Broadcast         *bool           `json:"broadcast,omitempty"`
	TriggerProperties json.RawMessage `json:"trigger_properties,omitempty"`
	// Schedule is required.
	Schedule *Schedule `json:"schedule,omitempty"`
}

// CampaignTriggerScheduleUpdateRequest is the body of POST
// /campaigns/trigger/schedule/update (§3.10). Schedule replaces the old
// schedule entirely.
type CampaignTriggerScheduleUpdateRequest struct {
	CampaignID string    `json:"campaign_id"`
	ScheduleID string    `json:"schedule_id"`
	Schedule   *Schedule `json:"schedule,omitempty"`
}

// CampaignTriggerScheduleDeleteRequest is the body of POST
// /campaigns/trigger/schedule/delete (§3.11).
type CampaignTriggerScheduleDeleteRequest struct {
	CampaignID string `json:"campaign_id"`
	ScheduleID string `json:"schedule_id"`
}

// CanvasTriggerScheduleCreateRequest is the body of POST
// /canvas/trigger/schedule/create (§3.12).
type CanvasTriggerScheduleCreateRequest struct {
	CanvasID              string          `json:"canvas_id"`
	Recipients            []Recipient     `json:"recipients,omitempty"`
	Audience              json.RawMessage `json:"audience,omitempty"`
	Broadcast             *bool           `json:"broadcast,omitempty"`
	Context               json.RawMessage `json:"context,omitempty"`
	CanvasEntryProperties json.RawMessage `json:"canvas_entry_properties,omitempty"`
	// Schedule is required.
	Schedule *Schedule `json:"schedule,omitempty"`
}

// CanvasTriggerScheduleUpdateRequest is the body of POST
// /canvas/trigger/schedule/update (§3.13). Schedule replaces the old
// schedule entirely.
type CanvasTriggerScheduleUpdateRequest struct {
	CanvasID   string    `json:"canvas_id"`
	ScheduleID string    `json:"schedule_id"`
	Schedule   *Schedule `json:"schedule,omitempty"`
}

// CanvasTriggerScheduleDeleteRequest is the body of POST
// /canvas/trigger/schedule/delete (§3.14).
type CanvasTriggerScheduleDeleteRequest struct {
	CanvasID   string `json:"canvas_id"`
	ScheduleID string `json:"schedule_id"`
}

// CampaignDuplicateRequest is the body of POST /campaigns/duplicate (§3.15).
type CampaignDuplicateRequest struct {
	CampaignID  string `json:"campaign_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// TagNames replaces the original's tags when non-nil; an empty non-nil
	// slice is sent as [] while nil leaves the field out.
	TagNames []string `json:"tag_names,omitzero"`
}

// CanvasDuplicateRequest is the body of POST /canvas/duplicate (§3.16).
type CanvasDuplicateRequest struct {
	CanvasID    string `json:"canvas_id"`
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// TagNames behaves as in CampaignDuplicateRequest.
	TagNames []string `json:"tag_names,omitzero"`
}

// LiveActivityStartRequest is the body of POST /messages/live_activity/start
// (§3.17). Target with exactly one of: ExternalUserIDs and/or UserAliases,
// SegmentID, or CustomAudience.
type LiveActivityStartRequest struct {
	AppID string `json:"app_id"`
	// ActivityID is chosen by the caller and reused for updates.
	ActivityID             string          `json:"activity_id"`
	ActivityAttributesType string          `json:"activity_attributes_type"`
	ActivityAttributes     json.RawMessage `json:"activity_attributes,omitempty"`
	ContentState           json.RawMessage `json:"content_state,omitempty"`
	// StaleDate is an ISO-8601 date-time.
	StaleDate string `json:"stale_date,omitempty"`
	// Notification is an apple_push object with alert.title and alert.body.
	Notification    json.RawMessage `json:"notification,omitempty"`
	ExternalUserIDs []string        `json:"external_user_ids,omitempty"`
	UserAliases     []UserAlias     `json:"user_aliases,omitempty"`
	SegmentID       string          `json:"segment_id,omitempty"`
	// CustomAudience is a connected audience object; note the name.
	CustomAudience json.RawMessage `json:"custom_audience,omitempty"`
}

// LiveActivityUpdateRequest is the body of POST
// /messages/live_activity/update (§3.18).
type LiveActivityUpdateRequest struct {
	AppID        string          `json:"app_id"`
	ActivityID   string          `json:"activity_id"`
	ContentState json.RawMessage `json:"content_state,omitempty"`
	// EndActivity set to true ends the activity.
	EndActivity *bool `json:"end_activity,omitempty"`
	// DismissalDate (ISO 8601) is when the ended activity leaves the UI.
	DismissalDate string `json:"dismissal_date,omitempty"`
	StaleDate     string `json:"stale_date,omitempty"`
	// Notification is an apple_push object shown as the update's alert.
	Notification json.RawMessage `json:"notification,omitempty"`
}
