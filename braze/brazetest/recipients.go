package brazetest

import "encoding/json"

// recipient is one explicitly named recipient of a call.
type recipient struct {
	id    string          // canonical id
	bare  string          // external user id, for matching bare ids in fault lists
	body  json.RawMessage // as sent
	array string          // name of the request array it came from
	index int             // position in that array
}

type userAlias struct {
	AliasName  string `json:"alias_name"`
	AliasLabel string `json:"alias_label"`
}

type recipientObject struct {
	ExternalUserID string     `json:"external_user_id"`
	UserAlias      *userAlias `json:"user_alias"`
	Email          string     `json:"email"`
	BrazeID        string     `json:"braze_id"`
}

func aliasID(a userAlias) string { return "alias:" + a.AliasLabel + ":" + a.AliasName }

// recipientsOf lists the recipients a call names explicitly, deduplicated
// as Braze does: a recipient named twice counts once, with the last entry's
// body and position. Entries that cannot be read are skipped (the rules
// step has rejected malformed ones already).
func recipientsOf(b *body) []recipient {
	var all []recipient
	for i, raw := range b.ExternalUserIDs {
		var id string
		if json.Unmarshal(raw, &id) == nil && id != "" {
			all = append(all, recipient{id: "external_user_id:" + id, bare: id, body: raw, array: "external_user_ids", index: i})
		}
	}
	for i, raw := range b.UserAliases {
		var a userAlias
		if json.Unmarshal(raw, &a) == nil && a.AliasName != "" {
			all = append(all, recipient{id: aliasID(a), body: raw, array: "user_aliases", index: i})
		}
	}
	for i, raw := range b.Recipients {
		var r recipientObject
		if json.Unmarshal(raw, &r) != nil {
			continue
		}
		rc := recipient{body: raw, array: "recipients", index: i}
		switch {
		case r.ExternalUserID != "":
			rc.id, rc.bare = "external_user_id:"+r.ExternalUserID, r.ExternalUserID
		case r.UserAlias != nil:
			rc.id = aliasID(*r.UserAlias)
		case r.Email != "":
			rc.id = "email:" + r.Email
		case r.BrazeID != "":
			rc.id = "braze_id:" + r.BrazeID
		default:
			continue
		}
		all = append(all, rc)
	}
	last := make(map[string]int, len(all))
	for i, r := range all {
		last[r.id] = i
	}
	out := make([]recipient, 0, len(last))
	seen := make(map[string]bool, len(last))
	for _, r := range all {
		if seen[r.id] {
			continue
		}
		seen[r.id] = true
		out = append(out, all[last[r.id]])
	}
	return out
}

// recipientSet is a set of recipients given in a fault list.
type recipientSet map[string]bool

func newRecipientSet(ids []string) recipientSet {
	if len(ids) == 0 {
		return nil
	}
	s := make(recipientSet, len(ids))
	for _, id := range ids {
		s[id] = true
	}
	return s
}

// has reports whether r is in the set, by canonical id or bare external id.
func (s recipientSet) has(r recipient) bool {
	return s[r.id] || (r.bare != "" && s[r.bare])
}
