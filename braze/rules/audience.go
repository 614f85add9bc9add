package rules

import (
	"encoding/json"
)

// maxAudienceDepth bounds the nesting of AND/OR nodes Check follows. Braze
// documents no limit; the bound keeps pathological input cheap.
const maxAudienceDepth = 32

// filter is the body of one connected-audience filter (braze-api.md §4.6).
type filter struct {
	CustomAttributeName json.RawMessage `json:"custom_attribute_name"`
	Comparison          json.RawMessage `json:"comparison"`
	Value               json.RawMessage `json:"value"`
}

// checkAudience applies §5 rules 25 and 26 to a connected audience object:
// a JSON object holding exactly one filter or one AND/OR array of nodes.
func checkAudience(m json.RawMessage, field string) *Violation {
	return audienceNode(m, field, 0)
}

func audienceViolation(field, detail string) *Violation {
	return &Violation{Label: LabelInvalidAudience, Field: field, Detail: detail}
}

func audienceNode(m json.RawMessage, field string, depth int) *Violation {
	if depth > maxAudienceDepth {
		return audienceViolation(field, "is nested too deeply")
	}
	if !isObject(m) {
		return audienceViolation(field, "must be a JSON object")
	}
	var node map[string]json.RawMessage
	if v := decodeInto(m, &node, field); v != nil {
		return v
	}
	if len(node) != 1 {
		return audienceViolation(field, "must hold exactly one filter, or one AND or OR")
	}
	for key, val := range node {
		f := field + "." + key
		switch key {
		case "AND", "OR":
			if len(val) == 0 || val[0] != '[' {
				return audienceViolation(f, "must be an array of filters")
			}
			var items []json.RawMessage
			if v := decodeInto(val, &items, f); v != nil {
				return v
			}
			if len(items) == 0 {
				return audienceViolation(f, "must not be empty")
			}
			for i, it := range items {
				if v := audienceNode(it, index(f, i), depth+1); v != nil {
					return v
				}
			}
		case "custom_attribute":
			return customAttributeFilter(val, f)
		case "push_subscription_status", "email_subscription_status":
			return subscriptionFilter(val, f)
		case "last_used_app":
			return lastUsedAppFilter(val, f)
		default:
			return audienceViolation(f, "is not a connected-audience filter")
		}
	}
	return nil
}

func decodeFilter(m json.RawMessage, field string) (*filter, string, *Violation) {
	if !isObject(m) {
		return nil, "", audienceViolation(field, "must be a JSON object")
	}
	var flt filter
	if v := decodeInto(m, &flt, field); v != nil {
		return nil, "", v
	}
	cmp, v := str(flt.Comparison, field+".comparison")
	if v != nil {
		return nil, "", v
	}
	if cmp == "" {
		return nil, "", audienceViolation(field+".comparison", "is required")
	}
	return &flt, cmp, nil
}

func customAttributeFilter(m json.RawMessage, field string) *Violation {
	flt, cmp, v := decodeFilter(m, field)
	if v != nil {
		return v
	}
	if v := checkStr(flt.CustomAttributeName, field+".custom_attribute_name"); v != nil {
		return v
	}
	if !nonEmpty(flt.CustomAttributeName) {
		return audienceViolation(field+".custom_attribute_name", "is required")
	}
	vf := field + ".value"
	switch cmp {
	case "exists", "does_not_exist":
		return nil
	case "equals", "not_equal", "includes_value", "does_not_include_value",
		"greater_than", "greater_than_or_equal_to", "less_than", "less_than_or_equal_to":
		if !present(flt.Value) {
			return audienceViolation(vf, "is required for "+cmp)
		}
	case "matches_regex", "does_not_match_regex":
		if !nonEmpty(flt.Value) {
			return audienceViolation(vf, "must be a regular expression string")
		}
	case "is_any_of", "is_none_of":
		if nonEmpty(flt.Value) {
			return nil
		}
		if present(flt.Value) && flt.Value[0] == '[' {
			if _, v := stringArray(flt.Value, vf, false); v == nil {
				return nil
			}
		}
		return audienceViolation(vf, "must be a string or an array of strings")
	case "less_than_x_days_ago", "greater_than_x_days_ago",
		"less_than_x_days_in_the_future", "greater_than_x_days_in_the_future":
		if n, ok, v := number(flt.Value, vf); v != nil || !ok || n < 0 {
			return audienceViolation(vf, "must be a number of days")
		}
	case "after", "before":
		return isoValue(flt.Value, vf)
	default:
		return audienceViolation(field+".comparison", "is not a custom attribute comparison")
	}
	return nil
}

func subscriptionFilter(m json.RawMessage, field string) *Violation {
	flt, cmp, v := decodeFilter(m, field)
	if v != nil {
		return v
	}
	if !oneOf(cmp, "is", "is_not") {
		return audienceViolation(field+".comparison", "must be is or is_not")
	}
	val, v := str(flt.Value, field+".value")
	if v != nil {
		return v
	}
	if !oneOf(val, "opted_in", "subscribed", "unsubscribed") {
		return audienceViolation(field+".value", "must be one of opted_in, subscribed, unsubscribed")
	}
	return nil
}

func lastUsedAppFilter(m json.RawMessage, field string) *Violation {
	flt, cmp, v := decodeFilter(m, field)
	if v != nil {
		return v
	}
	if !oneOf(cmp, "after", "before") {
		return audienceViolation(field+".comparison", "must be after or before")
	}
	return isoValue(flt.Value, field+".value")
}

// isoValue checks that m is an ISO-8601 time string.
func isoValue(m json.RawMessage, field string) *Violation {
	s, v := str(m, field)
	if v != nil {
		return audienceViolation(field, "must be an ISO-8601 time string")
	}
	if _, _, ok := parseISO8601(s); !ok {
		return audienceViolation(field, "must be an ISO-8601 time string")
	}
	return nil
}
