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

// readUserAlias and readRecipientObject decode with encoding/json; ok is
// false on an error. Being functions of their own, only their callers pay
// for the value json.Unmarshal makes escape to the heap.
func readUserAlias(raw []byte) (userAlias, bool) {
	var a userAlias
	err := json.Unmarshal(raw, &a)
	return a, err == nil
}

func readRecipientObject(raw []byte) (recipientObject, bool) {
	var r recipientObject
	err := json.Unmarshal(raw, &r)
	return r, err == nil
}

func aliasID(a userAlias) string { return "alias:" + a.AliasLabel + ":" + a.AliasName }

// recipientsOf lists the recipients a call names explicitly, deduplicated
// as Braze does: a recipient named twice counts once, with the last entry's
// body and position. Entries that cannot be read are skipped (the rules
// step has rejected malformed ones already).
// The result is sc's: it is valid until sc is reused.
func (sc *callScratch) recipientsOf(b *body) []recipient {
	all := sc.all[:0]
	for i, raw := range b.ExternalUserIDs {
		if id, res := readString(raw); res == fieldOK && !id.empty() {
			cid := id.withPrefix(externalUserIDPrefix)
			all = append(all, recipient{id: cid, bare: cid[len(externalUserIDPrefix):], body: raw, array: "external_user_ids", index: i})
		}
	}
	for i, raw := range b.UserAliases {
		if a, ok := readUserAlias(raw); ok && a.AliasName != "" {
			all = append(all, recipient{id: aliasID(a), body: raw, array: "user_aliases", index: i})
		}
	}
	pre := sc.scan.recipients(b) // read while validating, if b came from the scan
	for i, raw := range b.Recipients {
		rc := recipient{body: raw, array: "recipients", index: i}
		var f recipientFields
		var res fieldResult
		if pre != nil {
			f, res = pre[i].fields, pre[i].res
		} else {
			res = decodeRecipientObject(raw, &f)
		}
		switch res {
		case fieldTypeErr:
			continue
		case fieldOK:
			switch {
			case !f.externalUserID.empty():
				rc.id = f.externalUserID.withPrefix(externalUserIDPrefix)
				rc.bare = rc.id[len(externalUserIDPrefix):]
			case !f.email.empty():
				rc.id = f.email.withPrefix("email:")
			case !f.brazeID.empty():
				rc.id = f.brazeID.withPrefix("braze_id:")
			default:
				continue
			}
		case fieldSlow:
			r, ok := readRecipientObject(raw)
			if !ok {
				continue
			}
			switch {
			case r.ExternalUserID != "":
				rc.id = externalUserIDPrefix + r.ExternalUserID
				rc.bare = rc.id[len(externalUserIDPrefix):]
			case r.UserAlias != nil:
				rc.id = aliasID(*r.UserAlias)
			case r.Email != "":
				rc.id = "email:" + r.Email
			case r.BrazeID != "":
				rc.id = "braze_id:" + r.BrazeID
			default:
				continue
			}
		}
		all = append(all, rc)
	}
	sc.all = all
	if len(all) < 2 {
		return all
	}
	// Each id keeps the position of its first entry and the data of its
	// last, compacted in place.
	if sc.pos == nil {
		sc.pos = make(map[string]int, len(all))
	}
	out := all[:0]
	for i, r := range all {
		if p, ok := sc.pos[r.id]; ok {
			out[p] = r
			continue
		}
		sc.pos[r.id] = len(out)
		if len(out) != i {
			all[len(out)] = r
		}
		out = out[:len(out)+1]
	}
	clear(sc.pos)
	return out
}

// externalUserIDPrefix starts the canonical id of an external user id.
const externalUserIDPrefix = "external_user_id:"

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
