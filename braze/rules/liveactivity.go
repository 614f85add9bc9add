package rules

import "encoding/json"

// liveActivityStart checks /messages/live_activity/start (braze-api.md §3.17).
func (c *checker) liveActivityStart() *Violation {
	r := c.req
	if v := requireStrings("", named{"app_id", r.AppID}, named{"activity_id", r.ActivityID},
		named{"activity_attributes_type", r.ActivityAttributesType}); v != nil {
		return v
	}
	if v := requiredObject(r.ActivityAttributes, "activity_attributes"); v != nil {
		return v
	}
	if v := requiredObject(r.ContentState, "content_state"); v != nil {
		return v
	}
	if v := requiredObject(r.Notification, "notification"); v != nil {
		return v
	}
	if v := isoTime(r.StaleDate, "stale_date"); v != nil {
		return v
	}
	if present(r.Audience) {
		return &Violation{Label: LabelUnsupportedField, Field: "audience",
			Detail: "is not a live-activity field; use custom_audience"}
	}
	ids, v := stringArray(r.ExternalUserIDs, "external_user_ids", true)
	if v != nil {
		return v
	}
	segment, v := str(r.SegmentID, "segment_id")
	if v != nil {
		return v
	}
	aliases, v := objectList[userAlias](r.UserAliases, "user_aliases")
	if v != nil {
		return v
	}
	users := len(ids) + len(aliases)
	families := 0
	for _, used := range []bool{users > 0, segment != "", present(r.CustomAudience)} {
		if used {
			families++
		}
	}
	switch {
	case families == 0:
		return &Violation{Label: LabelNoRecipients,
			Detail: "give external_user_ids or user_aliases, segment_id, or custom_audience"}
	case families > 1:
		return &Violation{Label: LabelInvalidTargeting,
			Detail: "use exactly one of external_user_ids/user_aliases, segment_id, custom_audience"}
	case users > MaxRecipients:
		return &Violation{Label: LabelTooManyRecipients, Field: "external_user_ids",
			Detail: itoa(users) + " external_user_ids and user_aliases, at most 50 allowed"}
	}
	if v := checkAliases(aliases); v != nil {
		return v
	}
	if present(r.CustomAudience) {
		if v := checkAudience(r.CustomAudience, "custom_audience"); v != nil {
			return v
		}
	}
	return notification(r.Notification)
}

// liveActivityUpdate checks /messages/live_activity/update (§3.18).
func (c *checker) liveActivityUpdate() *Violation {
	r := c.req
	if v := requireStrings("", named{"app_id", r.AppID}, named{"activity_id", r.ActivityID}); v != nil {
		return v
	}
	if v := requiredObject(r.ContentState, "content_state"); v != nil {
		return v
	}
	if _, v := boolean(r.EndActivity, "end_activity"); v != nil {
		return v
	}
	if v := isoTime(r.DismissalDate, "dismissal_date"); v != nil {
		return v
	}
	if v := isoTime(r.StaleDate, "stale_date"); v != nil {
		return v
	}
	if present(r.Notification) {
		if v := object(r.Notification, "notification"); v != nil {
			return v
		}
		return notification(r.Notification)
	}
	return nil
}

// notification applies the apple_push rules to a live-activity
// notification, which the caller has checked is a JSON object.
func notification(m json.RawMessage) *Violation {
	var ch channel
	if v := decodeInto(m, &ch, "notification"); v != nil {
		return v
	}
	return checkApple("notification", m, &ch)
}
