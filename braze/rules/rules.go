package rules

import (
	"time"
)

// Violation is a broken Braze rule. Label is Braze's error label (for example
// "No Recipients") or a short lowercase description where Braze documents
// none; Field is the JSON path of the offending value (for example
// "recipients[3].user_alias.alias_name"), empty when the body as a whole is
// at fault; Detail says what is wrong in a few words.
type Violation struct {
	Label  string
	Field  string
	Detail string
}

// Error returns "Label: Field: Detail", leaving out empty parts.
func (v *Violation) Error() string {
	s := v.Label
	if v.Field != "" {
		s += ": " + v.Field
	}
	if v.Detail != "" {
		s += ": " + v.Detail
	}
	return s
}

// Braze's documented error labels (braze-api.md §1.6). Check produces the
// ones that need no workspace data; LabelInvalidCampaignID,
// LabelInvalidMessageVariant and LabelMismatchedMessageType are defined for
// callers that know a workspace, such as the simulator.
const (
	LabelBadRequest                = "Bad Request"
	LabelNoRecipients              = "No Recipients"
	LabelInvalidCampaignID         = "Invalid Campaign ID"
	LabelMessageVariantUnspecified = "Message Variant Unspecified"
	LabelInvalidMessageVariant     = "Invalid Message Variant"
	LabelMismatchedMessageType     = "Mismatched Message Type"
	LabelInvalidExtraPushPayload   = "Invalid Extra Push Payload"
	LabelTooManyRecipients         = "The max number of external_ids and aliases per request was exceeded"
	LabelNoMessage                 = "No message to send"
	LabelApplePushLengthExceeded   = "Apple Push Length Exceeded"
	LabelAndroidPushLengthExceeded = "Android Push Length Exceeded"
)

// Labels of rules for which Braze documents no label.
const (
	LabelUnknownEndpoint          = "unknown endpoint"
	LabelMissingField             = "missing required field"
	LabelInvalidValue             = "invalid value"
	LabelUnsupportedField         = "unsupported field"
	LabelBroadcastRequired        = "broadcast must be true"
	LabelBroadcastWithRecipients  = "broadcast with explicit recipients"
	LabelInvalidRecipient         = "invalid recipient"
	LabelInvalidUserAlias         = "invalid user alias"
	LabelPayloadTooLarge          = "payload too large"
	LabelInvalidSendID            = "invalid send_id"
	LabelSendIDRequiresCampaignID = "send_id requires campaign_id"
	LabelInvalidAudience          = "invalid audience"
	LabelInvalidAttachment        = "invalid attachment"
	LabelInvalidTargeting         = "invalid targeting"
)

// Limits Braze documents for request bodies (braze-api.md §2.5).
const (
	// MaxRecipients caps external_user_ids plus user_aliases, or recipients.
	MaxRecipients = 50
	// MaxPropertiesBytes caps trigger_properties, context and
	// canvas_entry_properties (50 KB, read as 1,024-byte kilobytes).
	MaxPropertiesBytes = 50 * 1024
	// MaxSendIDLen caps the length of a send_id (ASCII characters).
	MaxSendIDLen = 64
	// MaxAliasBytes caps alias_name and alias_label.
	MaxAliasBytes = 236
	// MaxApplePushBytes caps the Apple push payload.
	MaxApplePushBytes = 1912
	// MaxAndroidPushBytes caps the Android push payload (alert plus extra).
	MaxAndroidPushBytes = 4000
	// MaxAndroidTTL caps android_push.time_to_live, in seconds (28 days).
	MaxAndroidTTL = 2419200
	// MaxContentCardTTL caps content_card.time_to_live and how far ahead
	// expire_at may lie, in seconds (30 days).
	MaxContentCardTTL = 2592000
)

// Options tunes the strictness of Check. The zero value is the strict
// reading of the documentation.
type Options struct {
	// AllowAudienceWithoutBroadcast accepts a call that targets a connected
	// audience but names no users and does not set broadcast to true, as an
	// example on Braze's connected-audience page does (§5 rule 9). By
	// default such a call is rejected, as the broadcast glossary demands.
	AllowAudienceWithoutBroadcast bool
	// AllowCampaignFieldsOnCanvas accepts send_id, trigger_properties and
	// attachments on the Canvas endpoints, where Braze does not document
	// them and may ignore them (§5 rule 14). By default they are rejected.
	AllowCampaignFieldsOnCanvas bool
	// AllowMissingScheduleID accepts update and delete calls without
	// schedule_id, for callers that fill it in later (the gateway resolves
	// it from a schedule key).
	AllowMissingScheduleID bool
	// Now, when set, enables the checks that depend on the current time: an
	// in_local_time schedule whose time has passed in every time zone, and
	// a Content Card expire_at more than 30 days ahead.
	Now func() time.Time
	// ValidJSON tells that the caller has validated body as JSON (the
	// gateway's decoder does so for the data of the events it reads from
	// Kafka; see event.Event.DataValid). Check then skips
	// over values it does not inspect instead of validating them again.
	// Given invalid JSON with ValidJSON set, Check may accept a body it
	// would otherwise reject; it still never panics.
	ValidJSON bool
}

// Check validates body against the structural rules of the endpoint at path
// (for example "/messages/send"; see Endpoints). It returns nil or a
// *Violation describing the first broken rule. Check does not modify body
// and never panics.
func Check(path string, body []byte, opts Options) error {
	if v := check(path, body, &opts); v != nil {
		return v
	}
	return nil
}

func check(path string, body []byte, opts *Options) *Violation {
	ep := lookup(path)
	if ep == epUnknown {
		return &Violation{Label: LabelUnknownEndpoint, Detail: "no POST endpoint " + truncate(path, 64)}
	}
	req := getRequest()
	defer putRequest(req)
	req.list = listsRecipients(ep)
	if v := decodeRequest(body, req, opts.ValidJSON); v != nil {
		return v
	}
	c := checker{req: req, opts: opts, ep: ep}
	switch ep {
	case epMessagesSend, epMessagesScheduleCreate:
		return c.messagesSend()
	case epMessagesScheduleUpdate:
		return c.messagesScheduleUpdate()
	case epMessagesScheduleDelete:
		return c.scheduleID()
	case epCampaignsTriggerSend, epCampaignsScheduleCreate, epCanvasTriggerSend, epCanvasScheduleCreate:
		return c.triggerSend()
	case epCampaignsScheduleUpdate, epCampaignsScheduleDelete, epCanvasScheduleUpdate, epCanvasScheduleDelete:
		return c.triggerScheduleChange()
	case epSendsIDCreate:
		return c.sendsIDCreate()
	case epCampaignsDuplicate, epCanvasDuplicate:
		return c.duplicate()
	case epLiveActivityStart:
		return c.liveActivityStart()
	case epLiveActivityUpdate:
		return c.liveActivityUpdate()
	}
	return nil
}

// listsRecipients tells the endpoints whose recipients array triggerSend
// reads, so that a trusted decode of the request decodes it on the way.
func listsRecipients(ep endpoint) bool {
	switch ep {
	case epCampaignsTriggerSend, epCampaignsScheduleCreate, epCanvasTriggerSend, epCanvasScheduleCreate:
		return true
	}
	return false
}

// checker carries one request through the rules of its endpoint.
type checker struct {
	req  *request
	opts *Options
	ep   endpoint
}

func (c *checker) now() (time.Time, bool) {
	if c.opts.Now == nil {
		return time.Time{}, false
	}
	return c.opts.Now(), true
}

// messagesSend checks /messages/send and /messages/schedule/create.
func (c *checker) messagesSend() *Violation {
	r := c.req
	create := c.ep == epMessagesScheduleCreate
	if create && !present(r.Schedule) {
		return missing("schedule")
	}
	campaignID, v := str(r.CampaignID, "campaign_id")
	if v != nil {
		return v
	}
	if v := checkSendID(r.SendID, campaignID != ""); v != nil {
		return v
	}
	if v := c.userTargeting(); v != nil {
		return v
	}
	if s, v := str(r.RecipientSubscriptionState, "recipient_subscription_state"); v != nil {
		return v
	} else if s != "" && !oneOf(s, "opted_in", "subscribed", "all") {
		return invalid("recipient_subscription_state", "must be one of opted_in, subscribed, all")
	}
	override, overrideField := r.OverrideFrequencyCapping, "override_frequency_capping"
	if create {
		override, overrideField = r.OverrideMessagingLimits, "override_messaging_limits"
	}
	if _, v := boolean(override, overrideField); v != nil {
		return v
	}
	if present(r.Audience) {
		if v := checkAudience(r.Audience, "audience"); v != nil {
			return v
		}
	}
	if create {
		if v := c.schedule(); v != nil {
			return v
		}
	}
	return c.messages(true, campaignID != "")
}

// messagesScheduleUpdate checks /messages/schedule/update.
func (c *checker) messagesScheduleUpdate() *Violation {
	if v := c.scheduleID(); v != nil {
		return v
	}
	r := c.req
	if !present(r.Schedule) && !present(r.Messages) {
		return &Violation{Label: LabelMissingField, Field: "schedule",
			Detail: "at least one of schedule or messages is required"}
	}
	if present(r.Schedule) {
		if v := c.schedule(); v != nil {
			return v
		}
	}
	if present(r.Messages) {
		return c.messages(true, false)
	}
	return nil
}

// scheduleID checks schedule_id on the update and delete endpoints.
func (c *checker) scheduleID() *Violation {
	id, v := str(c.req.ScheduleID, "schedule_id")
	if v != nil {
		return v
	}
	if id == "" && !c.opts.AllowMissingScheduleID {
		return missing("schedule_id")
	}
	return nil
}

// triggerSend checks the campaign and Canvas trigger send and schedule-create
// endpoints.
func (c *checker) triggerSend() *Violation {
	r := c.req
	canvas := c.ep == epCanvasTriggerSend || c.ep == epCanvasScheduleCreate
	create := c.ep == epCampaignsScheduleCreate || c.ep == epCanvasScheduleCreate
	if canvas {
		if v := requireStr(r.CanvasID, "canvas_id"); v != nil {
			return v
		}
	} else if v := requireStr(r.CampaignID, "campaign_id"); v != nil {
		return v
	}
	if create && !present(r.Schedule) {
		return missing("schedule")
	}
	if (c.ep == epCampaignsTriggerSend || c.ep == epCanvasTriggerSend) && present(r.SegmentID) {
		return &Violation{Label: LabelUnsupportedField, Field: "segment_id",
			Detail: "is not supported on trigger sends; target the segment in the dashboard and use broadcast or audience"}
	}
	recipients, listed := r.recipients()
	if !listed {
		var v *Violation
		recipients, v = objectListInto(r.buf, r.Recipients, "recipients", c.opts.ValidJSON)
		r.setBuf(recipients)
		if v != nil {
			return v
		}
	}
	if canvas {
		if v := c.canvasCampaignFields(recipients); v != nil {
			return v
		}
	} else if v := checkSendID(r.SendID, true); v != nil {
		return v
	}
	if v := c.properties(canvas, r.TriggerProperties, r.Context, r.CanvasEntryProperties, -1); v != nil {
		return v
	}
	broadcast, v := boolean(r.Broadcast, "broadcast")
	if v != nil {
		return v
	}
	if v := c.recipientTargeting(broadcast, len(recipients)); v != nil {
		return v
	}
	for i := range recipients {
		if v := c.recipient(&recipients[i], i, canvas); v != nil {
			return v
		}
	}
	if c.ep == epCampaignsTriggerSend && present(r.Attachments) {
		if broadcast {
			return &Violation{Label: LabelInvalidAttachment, Field: "attachments",
				Detail: "are not allowed when broadcast is true"}
		}
		if v := checkAttachments(r.Attachments, "attachments"); v != nil {
			return v
		}
	}
	if present(r.Audience) {
		if v := checkAudience(r.Audience, "audience"); v != nil {
			return v
		}
	}
	if create {
		return c.schedule()
	}
	return nil
}

// canvasCampaignFields rejects the campaign-only fields on Canvas endpoints
// unless the options allow them.
func (c *checker) canvasCampaignFields(recipients []recipient) *Violation {
	if c.opts.AllowCampaignFieldsOnCanvas {
		return nil
	}
	r := c.req
	for _, f := range []named{{"send_id", r.SendID}, {"trigger_properties", r.TriggerProperties}, {"attachments", r.Attachments}} {
		if present(f.val) {
			return &Violation{Label: LabelUnsupportedField, Field: f.name, Detail: "is not supported on Canvas endpoints"}
		}
	}
	for i := range recipients {
		if present(recipients[i].TriggerProperties) {
			return &Violation{Label: LabelUnsupportedField, Field: index("recipients", i) + ".trigger_properties",
				Detail: "is not supported on Canvas endpoints; use context"}
		}
	}
	return nil
}

// properties checks trigger_properties (campaigns) or context and
// canvas_entry_properties (Canvases): JSON objects of at most 50 KB. rec is
// the recipient index, or -1 for the top level.
func (c *checker) properties(canvas bool, trigger, context, entry []byte, rec int) *Violation {
	if !canvas {
		return checkProperties(trigger, rec, "trigger_properties")
	}
	if v := checkProperties(context, rec, "context"); v != nil {
		return v
	}
	return checkProperties(entry, rec, "canvas_entry_properties")
}

func checkProperties(m []byte, rec int, name string) *Violation {
	if !present(m) {
		return nil
	}
	field := func() string {
		if rec < 0 {
			return name
		}
		return index("recipients", rec) + "." + name
	}
	if !isObject(m) {
		return invalid(field(), "must be a JSON object")
	}
	if n := serializedLen(m, MaxPropertiesBytes); n > MaxPropertiesBytes {
		return &Violation{Label: LabelPayloadTooLarge, Field: field(),
			Detail: "is " + itoa(n) + " bytes, more than the 51200 (50 KB) allowed"}
	}
	return nil
}

// triggerScheduleChange checks the trigger schedule update and delete
// endpoints.
func (c *checker) triggerScheduleChange() *Violation {
	r := c.req
	if c.ep == epCanvasScheduleUpdate || c.ep == epCanvasScheduleDelete {
		if v := requireStr(r.CanvasID, "canvas_id"); v != nil {
			return v
		}
	} else if v := requireStr(r.CampaignID, "campaign_id"); v != nil {
		return v
	}
	if v := c.scheduleID(); v != nil {
		return v
	}
	if c.ep == epCampaignsScheduleUpdate || c.ep == epCanvasScheduleUpdate {
		if !present(r.Schedule) {
			return missing("schedule")
		}
		return c.schedule()
	}
	return nil
}

// sendsIDCreate checks /sends/id/create.
func (c *checker) sendsIDCreate() *Violation {
	if v := requireStr(c.req.CampaignID, "campaign_id"); v != nil {
		return v
	}
	return checkSendID(c.req.SendID, true)
}

// duplicate checks /campaigns/duplicate and /canvas/duplicate.
func (c *checker) duplicate() *Violation {
	r := c.req
	if c.ep == epCanvasDuplicate {
		if v := requireStr(r.CanvasID, "canvas_id"); v != nil {
			return v
		}
	} else if v := requireStr(r.CampaignID, "campaign_id"); v != nil {
		return v
	}
	if v := requireStr(r.Name, "name"); v != nil {
		return v
	}
	if v := checkStr(r.Description, "description"); v != nil {
		return v
	}
	_, v := stringArray(r.TagNames, "tag_names", true)
	return v
}

// checkSendID applies the send_id rules: ASCII, at most 64 characters, and
// only together with a campaign_id.
func checkSendID(m []byte, hasCampaign bool) *Violation {
	id, v := str(m, "send_id")
	if v != nil || id == "" {
		return v
	}
	if !hasCampaign {
		return &Violation{Label: LabelSendIDRequiresCampaignID, Field: "send_id",
			Detail: "is only valid together with campaign_id"}
	}
	for i := 0; i < len(id); i++ {
		if id[i] >= 0x80 {
			return &Violation{Label: LabelInvalidSendID, Field: "send_id", Detail: "must be ASCII"}
		}
	}
	if len(id) > MaxSendIDLen {
		return &Violation{Label: LabelInvalidSendID, Field: "send_id",
			Detail: "is " + itoa(len(id)) + " characters, more than 64"}
	}
	return nil
}

func oneOf(s string, set ...string) bool {
	for _, e := range set {
		if s == e {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
