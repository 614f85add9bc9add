package rules

import (
	"encoding/json"
)

// userTargeting applies §5 rules 7, 8 and 10 to /messages/send and
// /messages/schedule/create: someone must be targeted, broadcast is required
// exactly when no users are listed, and at most 50 users may be listed.
func (c *checker) userTargeting() *Violation {
	r := c.req
	ids, v := stringArray(r.ExternalUserIDs, "external_user_ids", true)
	if v != nil {
		return v
	}
	segment, v := str(r.SegmentID, "segment_id")
	if v != nil {
		return v
	}
	broadcast, v := boolean(r.Broadcast, "broadcast")
	if v != nil {
		return v
	}
	aliases, v := objectList[userAlias](r.UserAliases, "user_aliases")
	if v != nil {
		return v
	}
	users := len(ids) + len(aliases)
	audience := present(r.Audience)
	switch {
	case users == 0 && segment == "" && !audience:
		return &Violation{Label: LabelNoRecipients,
			Detail: "give external_user_ids, user_aliases, segment_id or audience"}
	case users == 0 && !broadcast && !(audience && c.opts.AllowAudienceWithoutBroadcast):
		return &Violation{Label: LabelBroadcastRequired, Field: "broadcast",
			Detail: "must be true when no external_user_ids or user_aliases are given"}
	case users > 0 && broadcast:
		return &Violation{Label: LabelBroadcastWithRecipients, Field: "broadcast",
			Detail: "must not be true together with external_user_ids or user_aliases"}
	case users > MaxRecipients:
		return &Violation{Label: LabelTooManyRecipients, Field: "external_user_ids",
			Detail: itoa(users) + " external_user_ids and user_aliases, at most 50 allowed"}
	}
	return checkAliases(aliases)
}

// recipientTargeting applies §5 rules 9 and 10 to the trigger send and
// schedule-create endpoints.
func (c *checker) recipientTargeting(broadcast bool, n int) *Violation {
	audience := present(c.req.Audience)
	switch {
	case n == 0 && !broadcast && audience && !c.opts.AllowAudienceWithoutBroadcast:
		return &Violation{Label: LabelBroadcastRequired, Field: "broadcast",
			Detail: "must be true when recipients are omitted"}
	case n == 0 && !broadcast && !audience:
		return &Violation{Label: LabelNoRecipients,
			Detail: "give recipients, or set broadcast to true to target the whole audience"}
	case n > 0 && broadcast:
		return &Violation{Label: LabelBroadcastWithRecipients, Field: "broadcast",
			Detail: "must not be true together with recipients"}
	case n > MaxRecipients:
		return &Violation{Label: LabelTooManyRecipients, Field: "recipients",
			Detail: itoa(n) + " recipients, at most 50 allowed"}
	}
	return nil
}

// recipient applies §5 rules 11, 16 and 19 to recipients[i].
func (c *checker) recipient(rc *recipient, i int, canvas bool) *Violation {
	field := func(name string) string { return index("recipients", i) + "." + name }
	ids := 0
	for _, id := range []named{
		{"external_user_id", rc.ExternalUserID},
		{"email", rc.Email},
		{"braze_id", rc.BrazeID},
	} {
		if !present(id.val) {
			continue
		}
		if id.val[0] != '"' {
			return invalid(field(id.name), "must be a string")
		}
		if !nonEmpty(id.val) {
			return missing(field(id.name))
		}
		ids++
	}
	if present(rc.UserAlias) {
		if !isObject(rc.UserAlias) {
			return invalid(field("user_alias"), "must be a JSON object")
		}
		var a userAlias
		if !fastDecodeObject(rc.UserAlias, &a) {
			a = userAlias{}
			if err := json.Unmarshal(rc.UserAlias, &a); err != nil {
				return decodeViolation(err, field("user_alias"))
			}
		}
		if v := checkAlias(&a, i, "recipients", ".user_alias"); v != nil {
			return v
		}
		ids++
	}
	if ids != 1 {
		return &Violation{Label: LabelInvalidRecipient, Field: index("recipients", i),
			Detail: "must have exactly one of external_user_id, user_alias, email, braze_id"}
	}
	if present(rc.Email) {
		if v := checkPrioritization(rc.Prioritization, field("prioritization")); v != nil {
			return v
		}
	}
	existingOnly := true
	if present(rc.SendToExistingOnly) {
		b, v := boolean(rc.SendToExistingOnly, field("send_to_existing_only"))
		if v != nil {
			return v
		}
		existingOnly = b
	}
	if !existingOnly && present(rc.UserAlias) {
		return &Violation{Label: LabelInvalidRecipient, Field: field("send_to_existing_only"),
			Detail: "cannot be false for a user_alias recipient"}
	}
	if present(rc.Attributes) && !isObject(rc.Attributes) {
		return invalid(field("attributes"), "must be a JSON object")
	}
	return c.properties(canvas, rc.TriggerProperties, rc.Context, rc.CanvasEntryProperties, i)
}

// checkPrioritization checks the prioritization array an email recipient
// needs.
func checkPrioritization(m json.RawMessage, field string) *Violation {
	if !present(m) {
		return &Violation{Label: LabelInvalidRecipient, Field: field, Detail: "is required with email"}
	}
	items, v := stringArray(m, field, false)
	if v != nil {
		return v
	}
	if len(items) == 0 {
		return &Violation{Label: LabelInvalidRecipient, Field: field, Detail: "must not be empty"}
	}
	identified := 0
	for j, p := range items {
		switch p {
		case "identified", "unidentified":
			identified++
		case "most_recently_updated", "least_recently_updated":
		default:
			return invalid(index(field, j),
				"must be one of identified, unidentified, most_recently_updated, least_recently_updated")
		}
	}
	if identified > 1 {
		return &Violation{Label: LabelInvalidRecipient, Field: field,
			Detail: "may hold at most one of identified and unidentified"}
	}
	return nil
}

func checkAliases(aliases []userAlias) *Violation {
	for i := range aliases {
		if v := checkAlias(&aliases[i], i, "user_aliases", ""); v != nil {
			return v
		}
	}
	return nil
}

// checkAlias applies §4.1: alias_name and alias_label are non-empty strings
// of at most 236 bytes. The alias is list[i]+suffix; its path is only built
// for a violation.
func checkAlias(a *userAlias, i int, list, suffix string) *Violation {
	for _, f := range []named{{"alias_name", a.AliasName}, {"alias_label", a.AliasLabel}} {
		field := func() string { return index(list, i) + suffix + "." + f.name }
		if present(f.val) && f.val[0] != '"' {
			return invalid(field(), "must be a string")
		}
		n := stringLen(f.val)
		if n == 0 {
			return &Violation{Label: LabelInvalidUserAlias, Field: field(), Detail: "is required"}
		}
		if n > MaxAliasBytes {
			return &Violation{Label: LabelInvalidUserAlias, Field: field(),
				Detail: "is " + itoa(n) + " bytes, more than 236"}
		}
	}
	return nil
}

// attachment is an email attachment (§3.2, §4.7).
type attachment struct {
	FileName            json.RawMessage `json:"file_name"`
	URL                 json.RawMessage `json:"url"`
	BasicAuthCredential json.RawMessage `json:"basic_auth_credential"`
}

// checkAttachments checks that m is an array of attachments, each with a
// file_name and a url.
func checkAttachments(m json.RawMessage, field string) *Violation {
	if m[0] != '[' {
		return invalid(field, "must be an array of objects")
	}
	var list []attachment
	if v := decodeInto(m, &list, field); v != nil {
		return v
	}
	for i := range list {
		f := index(field, i)
		for _, p := range []named{{"file_name", list[i].FileName}, {"url", list[i].URL}} {
			if v := checkStr(p.val, f+"."+p.name); v != nil {
				return v
			}
			if !nonEmpty(p.val) {
				return &Violation{Label: LabelInvalidAttachment, Field: f + "." + p.name, Detail: "is required"}
			}
		}
		if v := checkStr(list[i].BasicAuthCredential, f+".basic_auth_credential"); v != nil {
			return v
		}
	}
	return nil
}

// countRecipients is the body of Recipients and IsBroadcast. Only the
// fields that count for the endpoint are decoded further.
type countRecipients struct {
	ExternalUserIDs json.RawMessage `json:"external_user_ids"`
	UserAliases     json.RawMessage `json:"user_aliases"`
	Recipients      json.RawMessage `json:"recipients"`
	SegmentID       json.RawMessage `json:"segment_id"`
	CustomAudience  json.RawMessage `json:"custom_audience"`
}

// Recipients returns the number of explicit recipients of a request:
// external_user_ids plus user_aliases on /messages/send,
// /messages/schedule/create and /messages/live_activity/start, the length of
// recipients on the trigger send and schedule-create endpoints, and 0 for a
// broadcast, for endpoints without recipients and for a body that names
// none. It returns a *Violation when path is unknown, body is not a JSON
// object or a counted field is not an array; it does not otherwise validate.
func Recipients(path string, body []byte) (int, error) {
	ep := lookup(path)
	if ep == epUnknown {
		return 0, &Violation{Label: LabelUnknownEndpoint, Detail: "no POST endpoint " + truncate(path, 64)}
	}
	var b countRecipients
	if v := decodeObject(body, &b); v != nil {
		return 0, v
	}
	n, v := b.count(ep)
	if v != nil {
		return 0, v
	}
	return n, nil
}

func (b *countRecipients) count(ep endpoint) (int, *Violation) {
	switch ep {
	case epMessagesSend, epMessagesScheduleCreate, epLiveActivityStart:
		ids, v := arrayLen(b.ExternalUserIDs, "external_user_ids")
		if v != nil {
			return 0, v
		}
		aliases, v := arrayLen(b.UserAliases, "user_aliases")
		return ids + aliases, v
	case epCampaignsTriggerSend, epCanvasTriggerSend, epCampaignsScheduleCreate, epCanvasScheduleCreate:
		return arrayLen(b.Recipients, "recipients")
	}
	return 0, nil
}

// arrayLen is the number of elements of an optional JSON array.
func arrayLen(m json.RawMessage, field string) (int, *Violation) {
	if !present(m) {
		return 0, nil
	}
	if m[0] != '[' {
		return 0, invalid(field, "must be an array")
	}
	if n, ok := fastArrayLen(m); ok {
		return n, nil
	}
	var items []json.RawMessage
	if v := decodeInto(m, &items, field); v != nil {
		return 0, v
	}
	return len(items), nil
}

// IsBroadcast reports whether a call targets an audience rather than listed
// users (braze-api.md §2.3): on /messages/send and /messages/schedule/create
// when neither external_user_ids nor user_aliases lists anyone, on the
// trigger send and schedule-create endpoints when recipients is absent or
// empty, and on /messages/live_activity/start when it names no users but a
// segment_id or custom_audience. Other endpoints, unknown paths and bodies
// that cannot be read are not broadcasts. IsBroadcast does not validate: a
// body that Check rejects may still be a broadcast.
func IsBroadcast(path string, body []byte) bool {
	ep := lookup(path)
	switch ep {
	case epMessagesSend, epMessagesScheduleCreate, epLiveActivityStart,
		epCampaignsTriggerSend, epCanvasTriggerSend, epCampaignsScheduleCreate, epCanvasScheduleCreate:
	default:
		return false
	}
	var b countRecipients
	if v := decodeObject(body, &b); v != nil {
		return false
	}
	n, v := b.count(ep)
	if v != nil || n > 0 {
		return false
	}
	if ep == epLiveActivityStart {
		return nonEmpty(b.SegmentID) || present(b.CustomAudience)
	}
	return true
}
