package rules

import (
	"encoding/json"
	"time"
)

// channels lists the messaging object keys Check knows, in the order they
// are checked (braze-api.md §4.7). Other keys are passed through unchecked.
func channels() [11]string {
	return [...]string{
		"apple_push", "android_push", "kindle_push", "web_push", "email", "sms",
		"webhook", "content_card", "whats_app", "windows_phone8_push", "windows_universal_push",
	}
}

// channel holds the fields of every messaging object that a rule looks at;
// each channel reads its own.
type channel struct {
	MessageVariationID json.RawMessage `json:"message_variation_id"`
	Alert              json.RawMessage `json:"alert"`
	Title              json.RawMessage `json:"title"`
	Extra              json.RawMessage `json:"extra"`
	Buttons            json.RawMessage `json:"buttons"`
	TimeToLive         json.RawMessage `json:"time_to_live"`

	// apple_push
	ContentAvailable  json.RawMessage `json:"content-available"`
	AssetURL          json.RawMessage `json:"asset_url"`
	AssetFileType     json.RawMessage `json:"asset_file_type"`
	InterruptionLevel json.RawMessage `json:"interruption_level"`
	RelevanceScore    json.RawMessage `json:"relevance_score"`
	APNsPriority      json.RawMessage `json:"apns_priority"`

	// android_push
	SendToSync      json.RawMessage `json:"send_to_sync"`
	AndroidPriority json.RawMessage `json:"android_priority"`

	// email, sms, whats_app
	AppID               json.RawMessage `json:"app_id"`
	From                json.RawMessage `json:"from"`
	Body                json.RawMessage `json:"body"`
	EmailTemplateID     json.RawMessage `json:"email_template_id"`
	Attachments         json.RawMessage `json:"attachments"`
	SubscriptionGroupID json.RawMessage `json:"subscription_group_id"`
	MessageType         json.RawMessage `json:"message_type"`
	Message             json.RawMessage `json:"message"`

	// webhook
	URL           json.RawMessage `json:"url"`
	RequestMethod json.RawMessage `json:"request_method"`

	// content_card
	Type        json.RawMessage `json:"type"`
	Description json.RawMessage `json:"description"`
	ImageURL    json.RawMessage `json:"image_url"`
	ExpireAt    json.RawMessage `json:"expire_at"`
}

// messages applies §5 rules 20–25 and 29 to the messages object. required
// makes an absent or empty object "No message to send"; campaign requires a
// message_variation_id in every message object.
func (c *checker) messages(required, campaign bool) *Violation {
	m := c.req.Messages
	if !present(m) {
		if required {
			return &Violation{Label: LabelNoMessage, Field: "messages", Detail: "is required"}
		}
		return nil
	}
	if !isObject(m) {
		return invalid("messages", "must be a JSON object")
	}
	var all map[string]json.RawMessage
	if v := decodeInto(m, &all, "messages"); v != nil {
		return v
	}
	some := false
	for _, raw := range all {
		if present(raw) {
			some = true
			break
		}
	}
	if !some {
		return &Violation{Label: LabelNoMessage, Field: "messages", Detail: "holds no message object"}
	}
	for _, name := range channels() {
		raw := all[name]
		if !present(raw) {
			continue
		}
		field := "messages." + name
		if !isObject(raw) {
			return invalid(field, "must be a JSON object")
		}
		var ch channel
		if v := decodeInto(raw, &ch, field); v != nil {
			return v
		}
		if campaign {
			if v := checkStr(ch.MessageVariationID, field+".message_variation_id"); v != nil {
				return v
			}
			if !nonEmpty(ch.MessageVariationID) {
				return &Violation{Label: LabelMessageVariantUnspecified, Field: field + ".message_variation_id",
					Detail: "is required when campaign_id is given"}
			}
		}
		if v := c.channel(name, field, raw, &ch); v != nil {
			return v
		}
	}
	return nil
}

func (c *checker) channel(name, field string, raw json.RawMessage, ch *channel) *Violation {
	switch name {
	case "apple_push":
		return checkApple(field, raw, ch)
	case "android_push":
		return checkAndroid(field, ch)
	case "kindle_push", "web_push":
		return requireStrings(field, named{"alert", ch.Alert}, named{"title", ch.Title})
	case "email":
		return checkEmail(field, ch)
	case "sms":
		return requireStrings(field, named{"subscription_group_id", ch.SubscriptionGroupID}, named{"body", ch.Body}, named{"app_id", ch.AppID})
	case "webhook":
		return checkWebhook(field, ch)
	case "content_card":
		return c.checkContentCard(field, ch)
	case "whats_app":
		return checkWhatsApp(field, ch)
	}
	return nil
}

// named is a field value with its key, for rules that treat several fields
// alike.
type named struct {
	name string
	val  json.RawMessage
}

// requireStrings checks that each field of the object at field is a
// non-empty string.
func requireStrings(field string, fields ...named) *Violation {
	for _, f := range fields {
		if v := requireStr(f.val, joinField(field, f.name)); v != nil {
			return v
		}
	}
	return nil
}

// extraPayload checks that extra, when given, is a JSON object.
func extraPayload(field string, m json.RawMessage) *Violation {
	if present(m) && !isObject(m) {
		return &Violation{Label: LabelInvalidExtraPushPayload, Field: field + ".extra", Detail: "must be a JSON object"}
	}
	return nil
}

// checkApple applies the apple_push rules; the live-activity notification
// is an apple_push object too.
func checkApple(field string, raw json.RawMessage, ch *channel) *Violation {
	if v := extraPayload(field, ch.Extra); v != nil {
		return v
	}
	if present(ch.Extra) {
		var keys map[string]json.RawMessage
		if v := decodeInto(ch.Extra, &keys, field+".extra"); v != nil {
			return v
		}
		_, ab := keys["ab"]
		_, aps := keys["aps"]
		if ab || aps {
			return &Violation{Label: LabelInvalidExtraPushPayload, Field: field + ".extra",
				Detail: "must not contain the reserved keys ab or aps"}
		}
	}
	contentAvailable, v := boolean(ch.ContentAvailable, field+".content-available")
	if v != nil {
		return v
	}
	switch {
	case !present(ch.Alert):
		if !contentAvailable {
			return &Violation{Label: LabelMissingField, Field: field + ".alert",
				Detail: "is required unless content-available is true"}
		}
	case ch.Alert[0] == '"':
		if !nonEmpty(ch.Alert) && !contentAvailable {
			return &Violation{Label: LabelMissingField, Field: field + ".alert", Detail: "must not be empty"}
		}
	case ch.Alert[0] == '{':
		var alert struct {
			Body json.RawMessage `json:"body"`
		}
		if v := decodeInto(ch.Alert, &alert, field+".alert"); v != nil {
			return v
		}
		if v := requireStr(alert.Body, field+".alert.body"); v != nil {
			return v
		}
	default:
		return invalid(field+".alert", "must be a string or an alert object")
	}
	assetURL, v := str(ch.AssetURL, field+".asset_url")
	if v != nil {
		return v
	}
	fileType, v := str(ch.AssetFileType, field+".asset_file_type")
	if v != nil {
		return v
	}
	if assetURL != "" && fileType == "" {
		return &Violation{Label: LabelMissingField, Field: field + ".asset_file_type", Detail: "is required with asset_url"}
	}
	if fileType != "" && !oneOf(fileType, "aif", "gif", "jpg", "m4a", "mp3", "mp4", "png", "wav") {
		return invalid(field+".asset_file_type", "must be one of aif, gif, jpg, m4a, mp3, mp4, png, wav")
	}
	if v := buttons(field, ch.Buttons, "action_id"); v != nil {
		return v
	}
	if s, v := str(ch.InterruptionLevel, field+".interruption_level"); v != nil {
		return v
	} else if s != "" && !oneOf(s, "passive", "active", "time-sensitive", "critical") {
		return invalid(field+".interruption_level", "must be one of passive, active, time-sensitive, critical")
	}
	if n, ok, v := number(ch.RelevanceScore, field+".relevance_score"); v != nil {
		return v
	} else if ok && (n < 0 || n > 1) {
		return invalid(field+".relevance_score", "must be between 0.0 and 1.0")
	}
	if n, ok, v := number(ch.APNsPriority, field+".apns_priority"); v != nil {
		return v
	} else if ok && (n < 1 || n > 10 || n != float64(int(n))) {
		return invalid(field+".apns_priority", "must be an integer from 1 to 10")
	}
	if n := serializedLen(raw, MaxApplePushBytes); n > MaxApplePushBytes {
		return &Violation{Label: LabelApplePushLengthExceeded, Field: field,
			Detail: "payload is " + itoa(n) + " bytes, more than 1912"}
	}
	return nil
}

// buttons checks that an optional buttons array holds objects that each
// carry the string field key.
func buttons(field string, m json.RawMessage, key string) *Violation {
	if !present(m) {
		return nil
	}
	if m[0] != '[' {
		return invalid(field+".buttons", "must be an array of objects")
	}
	var list []map[string]json.RawMessage
	if v := decodeInto(m, &list, field+".buttons"); v != nil {
		return v
	}
	for i, b := range list {
		if v := requireStr(b[key], index(field+".buttons", i)+"."+key); v != nil {
			return v
		}
	}
	return nil
}

func checkAndroid(field string, ch *channel) *Violation {
	if v := extraPayload(field, ch.Extra); v != nil {
		return v
	}
	sync, v := boolean(ch.SendToSync, field+".send_to_sync")
	if v != nil {
		return v
	}
	if sync {
		if present(ch.Alert) || present(ch.Title) {
			return invalid(field+".send_to_sync", "cannot be true together with alert or title")
		}
	} else if v := requireStrings(field, named{"alert", ch.Alert}, named{"title", ch.Title}); v != nil {
		return v
	}
	if s, v := str(ch.AndroidPriority, field+".android_priority"); v != nil {
		return v
	} else if s != "" && !oneOf(s, "normal", "high") {
		return invalid(field+".android_priority", "must be normal or high")
	}
	if n, ok, v := number(ch.TimeToLive, field+".time_to_live"); v != nil {
		return v
	} else if ok && (n < 0 || n > MaxAndroidTTL) {
		return invalid(field+".time_to_live", "must be between 0 and 2419200 seconds")
	}
	if v := buttons(field, ch.Buttons, "text"); v != nil {
		return v
	}
	if n := compactLen(ch.Alert) + compactLen(ch.Extra); n > MaxAndroidPushBytes {
		return &Violation{Label: LabelAndroidPushLengthExceeded, Field: field,
			Detail: "alert and extra are " + itoa(n) + " bytes, more than 4000"}
	}
	return nil
}

func checkEmail(field string, ch *channel) *Violation {
	if v := requireStrings(field, named{"app_id", ch.AppID}, named{"from", ch.From}); v != nil {
		return v
	}
	tmpl, v := str(ch.EmailTemplateID, field+".email_template_id")
	if v != nil {
		return v
	}
	if tmpl == "" {
		if v := requireStrings(field, named{"body", ch.Body}); v != nil {
			return &Violation{Label: v.Label, Field: v.Field, Detail: "is required unless email_template_id is given"}
		}
	} else if v := checkStr(ch.Body, field+".body"); v != nil {
		return v
	}
	if present(ch.Attachments) {
		return checkAttachments(ch.Attachments, field+".attachments")
	}
	return nil
}

func checkWebhook(field string, ch *channel) *Violation {
	if v := requireStr(ch.URL, field+".url"); v != nil {
		return v
	}
	method, v := requiredStr(ch.RequestMethod, field+".request_method")
	if v != nil {
		return v
	}
	if !oneOf(method, "POST", "PUT", "DELETE", "GET") {
		return invalid(field+".request_method", "must be one of POST, PUT, DELETE, GET")
	}
	_, v = str(ch.Body, field+".body")
	return v
}

func (c *checker) checkContentCard(field string, ch *channel) *Violation {
	typ, v := requiredStr(ch.Type, field+".type")
	if v != nil {
		return v
	}
	if !oneOf(typ, "CLASSIC", "CAPTIONED_IMAGE", "BANNER") {
		return invalid(field+".type", "must be one of CLASSIC, CAPTIONED_IMAGE, BANNER")
	}
	if typ != "BANNER" {
		if v := requireStrings(field, named{"title", ch.Title}, named{"description", ch.Description}); v != nil {
			return v
		}
	}
	if typ != "CLASSIC" {
		if v := requireStr(ch.ImageURL, field+".image_url"); v != nil {
			return v
		}
	}
	ttl, hasTTL, v := number(ch.TimeToLive, field+".time_to_live")
	if v != nil {
		return v
	}
	if !hasTTL && !present(ch.ExpireAt) {
		return &Violation{Label: LabelMissingField, Field: field + ".time_to_live",
			Detail: "one of time_to_live or expire_at is required"}
	}
	if hasTTL && (ttl <= 0 || ttl > MaxContentCardTTL) {
		return invalid(field+".time_to_live", "must be more than 0 and at most 2592000 seconds (30 days)")
	}
	if present(ch.ExpireAt) {
		s, v := requiredStr(ch.ExpireAt, field+".expire_at")
		if v != nil {
			return v
		}
		at, _, ok := parseISO8601(s)
		if !ok {
			return invalid(field+".expire_at", "must be an ISO-8601 time")
		}
		if now, ok := c.now(); ok && at.After(now.Add(MaxContentCardTTL*time.Second)) {
			return invalid(field+".expire_at", "must be at most 30 days ahead")
		}
	}
	return nil
}

func checkWhatsApp(field string, ch *channel) *Violation {
	if v := requireStrings(field, named{"app_id", ch.AppID}, named{"subscription_group_id", ch.SubscriptionGroupID}); v != nil {
		return v
	}
	typ, v := requiredStr(ch.MessageType, field+".message_type")
	if v != nil {
		return v
	}
	if !oneOf(typ, "template_message", "text_response_message", "text_image_response_message",
		"quick_reply_response_message", "list_response_message", "flow_response_message") {
		return invalid(field+".message_type", "must be one of template_message, text_response_message, "+
			"text_image_response_message, quick_reply_response_message, list_response_message, flow_response_message")
	}
	if v := requiredObject(ch.Message, field+".message"); v != nil {
		return v
	}
	if typ == "template_message" {
		var tmpl struct {
			TemplateName         json.RawMessage `json:"template_name"`
			TemplateLanguageCode json.RawMessage `json:"template_language_code"`
		}
		if v := decodeInto(ch.Message, &tmpl, field+".message"); v != nil {
			return v
		}
		return requireStrings(field+".message", named{"template_name", tmpl.TemplateName}, named{"template_language_code", tmpl.TemplateLanguageCode})
	}
	return nil
}
