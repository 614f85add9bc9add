package brazetest

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// This file is the fast path of reading a request body: one validating pass
// over the body (json.Valid's verdict) that also notes where the fields the
// simulator reads are (reading recipient objects on the way), and decoders
// that fill body and recipientFields from those spans exactly as
// encoding/json fills body and recipientObject, without reflection and
// without copying. Whenever a body holds something whose encoding/json
// reading they do not reproduce with certainty (an escaped or non-ASCII
// key, a key that differs from a field name only in case or delimiters, a
// field given twice, a value of the wrong type), they give up and the
// caller decodes with encoding/json, which then also words the error.
// scan_test.go checks both against encoding/json.
//
// Values are sub-slices of the body, not copies: they must not outlive the
// call (with Config.DropBodies the body's buffer is reused by the next
// call); whatever is kept (schedules, recorded deliveries with bodies) is
// copied or comes from a body that is itself kept.

// maxJSONDepth is encoding/json's nesting limit: json.Valid rejects a value
// nesting more objects and arrays than this.
const maxJSONDepth = 10000

// strPlain marks the bytes a JSON string may hold without a closer look:
// everything but '"', '\\', control characters and non-ASCII bytes.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// scanString validates the string starting at b[i] (a '"') and returns the
// index just past it; esc reports a backslash escape, high a non-ASCII byte.
func scanString(b []byte, i int) (end int, esc, high, ok bool) {
	for i++; i < len(b); {
		i = jsonbytes.SkipPlain(b, i) // eight bytes at a time
		if i >= len(b) {
			break
		}
		c := b[i]
		if strPlain[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			return i + 1, esc, high, true
		case c == '\\':
			esc = true
			if i+1 >= len(b) {
				return 0, false, false, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+5 >= len(b) || !jsonbytes.IsHex(b[i+2]) || !jsonbytes.IsHex(b[i+3]) || !jsonbytes.IsHex(b[i+4]) || !jsonbytes.IsHex(b[i+5]) {
					return 0, false, false, false
				}
				i += 6
			default:
				return 0, false, false, false
			}
		case c < 0x20:
			return 0, false, false, false
		default: // non-ASCII: encoding/json does not check UTF-8 here
			high = true
			i++
		}
	}
	return 0, false, false, false
}

// scanValue validates the value starting at b[i] inside depth open objects
// and arrays, and returns the index just past it.
func scanValue(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch c := b[i]; c {
	case '{':
		return scanObject(b, i, depth+1)
	case '[':
		return scanArray(b, i, depth+1)
	case '"':
		end, _, _, ok := scanString(b, i)
		return end, ok
	case 't':
		return jsonbytes.ScanLiteral(b, i, "true")
	case 'f':
		return jsonbytes.ScanLiteral(b, i, "false")
	case 'n':
		return jsonbytes.ScanLiteral(b, i, "null")
	default:
		if c == '-' || isDigit(c) {
			return jsonbytes.ScanNumber(b, i)
		}
		return 0, false
	}
}

// scanObject validates the object starting at b[i], the depth-th open
// object or array.
func scanObject(b []byte, i, depth int) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		end, _, _, ok := scanString(b, i)
		if !ok {
			return 0, false
		}
		if i = jsonbytes.SkipSpace(b, end); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		if i, ok = scanValue(b, jsonbytes.SkipSpace(b, i+1), depth); !ok {
			return 0, false
		}
		if i = jsonbytes.SkipSpace(b, i); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// scanArray validates the array starting at b[i], the depth-th open object
// or array.
func scanArray(b []byte, i, depth int) (int, bool) {
	return scanElements(b, i, depth, scanValue)
}

// scanElements is scanArray with each scanning (validating) the elements.
func scanElements(b []byte, i, depth int, each func(b []byte, i, depth int) (int, bool)) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := each(b, i, depth)
		if !ok {
			return 0, false
		}
		if i = jsonbytes.SkipSpace(b, end); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// Fields of body, by index.
const (
	fCampaignID = iota
	fCanvasID
	fSendID
	fScheduleID
	fSegmentID
	fBroadcast
	fExternalUserIDs
	fUserAliases
	fRecipients
	fMessages
	fSchedule
	fTagNames
	numBodyFields
)

// bodyField returns the index of the body field named exactly key, or -1.
func bodyField(key []byte) int {
	switch string(key) {
	case "campaign_id":
		return fCampaignID
	case "canvas_id":
		return fCanvasID
	case "send_id":
		return fSendID
	case "schedule_id":
		return fScheduleID
	case "segment_id":
		return fSegmentID
	case "broadcast":
		return fBroadcast
	case "external_user_ids":
		return fExternalUserIDs
	case "user_aliases":
		return fUserAliases
	case "recipients":
		return fRecipients
	case "messages":
		return fMessages
	case "schedule":
		return fSchedule
	case "tag_names":
		return fTagNames
	}
	return -1
}

// looseName reduces an ASCII key to lower case without '_' and '-', so
// that every key encoding/json could match to a field case-insensitively
// (with or without its delimiters) reduces to the field's loose name.
func looseName(key []byte, buf *[32]byte) ([]byte, bool) {
	out := buf[:0]
	for _, c := range key {
		switch {
		case c == '_' || c == '-':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if len(out) == len(buf) {
			return nil, false // longer than any field name
		}
		out = append(out, c)
	}
	return out, true
}

// nearBodyField reports whether key, which is no exact field name, could
// still name a field of body for encoding/json.
func nearBodyField(key []byte) bool {
	var buf [32]byte
	l, ok := looseName(key, &buf)
	if !ok {
		return false
	}
	switch string(l) {
	case "campaignid", "canvasid", "sendid", "scheduleid", "segmentid", "broadcast",
		"externaluserids", "useraliases", "recipients", "messages", "schedule", "tagnames":
		return true
	}
	return false
}

// nearRecipientField is nearBodyField for recipientObject and userAlias.
func nearRecipientField(key []byte) bool {
	// Most keys (trigger_properties…) start with no field's first letter.
	i := 0
	for i < len(key) && (key[i] == '_' || key[i] == '-') {
		i++
	}
	if i == len(key) {
		return false
	}
	switch key[i] | 0x20 { // ASCII lower case (other bytes: no match)
	case 'e', 'u', 'b':
	default:
		return false
	}
	var buf [32]byte
	l, ok := looseName(key, &buf)
	if !ok {
		return false
	}
	switch string(l) {
	case "externaluserid", "useralias", "email", "brazeid":
		return true
	}
	return false
}

// bodyScan is the result of scanning one request body.
type bodyScan struct {
	done  bool // scan ran
	valid bool // the body, trimmed by bytes.TrimSpace, is a JSON object
	// fast reports that decode may fill a body from the spans below: no key
	// needs encoding/json's reading and only JSON white space surrounds
	// the object.
	fast  bool
	vals  [numBodyFields][]byte // raw value of each field, nil when absent
	lists [numBodyFields][2]int // element range in elems of the list fields
	elems []json.RawMessage     // elements of the list fields, back to back
	// recs are the recipients elements as decodeRecipientObject reads them,
	// read while validating.
	recs []recipientRead
	// decoded reports that decode filled the call's body: its Recipients
	// are then the elements recs describe.
	decoded bool
}

// recipientRead is the reading of one recipients element.
type recipientRead struct {
	fields recipientFields
	res    fieldResult
}

// element appends the element b[start:end] of a list field to elems, with
// no room to append: appending to it must not overwrite the body.
func (sc *bodyScan) element(b []byte, start, end int) {
	sc.elems = append(sc.elems, b[start:end:end])
}

// scanListElement scans an element of external_user_ids or user_aliases.
func (sc *bodyScan) scanListElement(b []byte, i, depth int) (int, bool) {
	end, ok := scanValue(b, i, depth)
	if ok {
		sc.element(b, i, end)
	}
	return end, ok
}

// scanRecipient scans an element of recipients and reads it as
// decodeRecipientObject does.
func (sc *bodyScan) scanRecipient(b []byte, i, depth int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	var rr recipientRead
	var end int
	var ok bool
	switch b[i] {
	case '{':
		end, ok = scanRecipientObject(b, i, depth+1, &rr)
	case 'n':
		end, ok = jsonbytes.ScanLiteral(b, i, "null") // reads as a zero object
	default:
		end, ok = scanValue(b, i, depth)
		rr.res = fieldTypeErr
	}
	if ok {
		sc.element(b, i, end)
		sc.recs = append(sc.recs, rr)
	}
	return end, ok
}

// scanRecipientObject is scanObject for a recipient object, which it also
// reads into rr as decodeRecipientObject does.
func scanRecipientObject(b []byte, i, depth int, rr *recipientRead) (int, bool) {
	if depth > maxJSONDepth {
		return 0, false
	}
	var seen uint8
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, false
		}
		kend, esc, high, ok := scanString(b, i)
		if !ok {
			return 0, false
		}
		key := b[i+1 : kend-1]
		if i = jsonbytes.SkipSpace(b, kend); i >= len(b) || b[i] != ':' {
			return 0, false
		}
		vstart := jsonbytes.SkipSpace(b, i+1)
		plain := false // the value is a string without escapes, all ASCII
		if vstart < len(b) && b[vstart] == '"' {
			var vesc, vhigh bool
			i, vesc, vhigh, ok = scanString(b, vstart)
			plain = !vesc && !vhigh
		} else {
			i, ok = scanValue(b, vstart, depth)
		}
		if !ok {
			return 0, false
		}
		if rr.res == fieldOK {
			rr.res = rr.fields.take(key, esc || high, b[vstart:i], plain, &seen)
		}
		if i = jsonbytes.SkipSpace(b, i); i >= len(b) {
			return 0, false
		}
		switch b[i] {
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		case '}':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// isList reports whether field f is a []json.RawMessage.
func isList(f int) bool { return f == fExternalUserIDs || f == fUserAliases || f == fRecipients }

// scan validates raw as the API does (bytes.TrimSpace, then an object that
// json.Valid accepts) and notes the spans of body's fields.
func (sc *bodyScan) scan(raw []byte) {
	sc.done, sc.valid = true, false
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return
	}
	start, end := jsonbytes.SkipSpace(raw, 0), len(raw)
	for end > start && isJSONSpace(raw[end-1]) {
		end--
	}
	// TrimSpace also trims Unicode spaces, which encoding/json rejects.
	sc.fast = end-start == len(t)
	clear(sc.vals[:])
	sc.elems = sc.elems[:0]
	sc.recs = sc.recs[:0]
	sc.decoded = false
	var seen uint32
	i := jsonbytes.SkipSpace(t, 1)
	if i < len(t) && t[i] == '}' {
		i++
	} else {
		for {
			if i >= len(t) || t[i] != '"' {
				return
			}
			kend, esc, high, ok := scanString(t, i)
			if !ok {
				return
			}
			key := t[i+1 : kend-1]
			f := -1
			if esc || high {
				sc.fast = false
			} else if f = bodyField(key); f < 0 && nearBodyField(key) {
				sc.fast = false
			}
			if i = jsonbytes.SkipSpace(t, kend); i >= len(t) || t[i] != ':' {
				return
			}
			vstart := jsonbytes.SkipSpace(t, i+1)
			if f >= 0 && isList(f) && vstart < len(t) && t[vstart] == '[' {
				lo := len(sc.elems)
				each := sc.scanListElement
				if f == fRecipients {
					sc.recs = sc.recs[:0]
					each = sc.scanRecipient
				}
				i, ok = scanElements(t, vstart, 2, each)
				sc.lists[f] = [2]int{lo, len(sc.elems)}
			} else {
				i, ok = scanValue(t, vstart, 1)
			}
			if !ok {
				return
			}
			if f >= 0 {
				if seen&(1<<f) != 0 {
					sc.fast = false // the last one wins: let encoding/json merge them
				}
				seen |= 1 << f
				sc.vals[f] = t[vstart:i]
			}
			if i = jsonbytes.SkipSpace(t, i); i >= len(t) {
				return
			}
			if t[i] == '}' {
				i++
				break
			}
			if t[i] != ',' {
				return
			}
			i = jsonbytes.SkipSpace(t, i+1)
		}
	}
	sc.valid = jsonbytes.SkipSpace(t, i) == len(t)
}

// decode fills b (zero) from the scan as json.Unmarshal(raw, b) would; false
// means it cannot, and b must be reset and decoded with encoding/json.
func (sc *bodyScan) decode(b *body) bool {
	sc.decoded = sc.valid && sc.fast && sc.fill(b)
	return sc.decoded
}

// recipients returns the readings of b.Recipients when decode filled b.
func (sc *bodyScan) recipients(b *body) []recipientRead {
	if !sc.decoded || len(sc.recs) != len(b.Recipients) {
		return nil
	}
	return sc.recs
}

func (sc *bodyScan) fill(b *body) bool {
	for f, v := range sc.vals {
		if v == nil {
			continue
		}
		switch f {
		case fCampaignID, fCanvasID, fSendID, fScheduleID, fSegmentID:
			dst := [...]*string{&b.CampaignID, &b.CanvasID, &b.SendID, &b.ScheduleID, &b.SegmentID}[f]
			if decodeString(v, dst) != fieldOK {
				return false
			}
		case fBroadcast:
			b.Broadcast = v
		case fSchedule:
			b.Schedule = v
		case fTagNames:
			b.TagNames = v
		case fExternalUserIDs, fUserAliases, fRecipients:
			var list []json.RawMessage
			switch v[0] {
			case '[':
				lo, hi := sc.lists[f][0], sc.lists[f][1]
				list = sc.elems[lo:hi:hi]
				if list == nil {
					list = []json.RawMessage{}
				}
			case 'n':
			default:
				return false
			}
			switch f {
			case fExternalUserIDs:
				b.ExternalUserIDs = list
			case fUserAliases:
				b.UserAliases = list
			default:
				b.Recipients = list
			}
		case fMessages:
			if v[0] != '{' && v[0] != 'n' {
				return false
			}
			// An object always decodes into map[string]json.RawMessage.
			if json.Unmarshal(v, &b.Messages) != nil {
				return false
			}
		}
	}
	return true
}

// fieldResult is what decoding one field gave.
type fieldResult int

const (
	fieldOK      fieldResult = iota
	fieldTypeErr             // encoding/json reports an UnmarshalTypeError
	fieldSlow                // only encoding/json can tell
)

// jsonString is a JSON string as encoding/json decodes it: when plain, the
// bytes between the quotes (no copy), else the decoded string.
type jsonString struct {
	plain   []byte
	decoded string
	slow    bool
}

func (j jsonString) empty() bool {
	if j.slow {
		return j.decoded == ""
	}
	return len(j.plain) == 0
}

// withPrefix returns p followed by the string, in one allocation.
func (j jsonString) withPrefix(p string) string {
	if j.slow {
		return p + j.decoded
	}
	return p + string(j.plain)
}

// readString reads the valid JSON value v as encoding/json decodes it into
// a string: a string is read, null reads as empty (callers read a field
// once: null would leave it empty), anything else is a type error.
func readString(v []byte) (jsonString, fieldResult) {
	switch v[0] {
	case '"':
		in := v[1 : len(v)-1]
		if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
			return jsonString{plain: in}, fieldOK
		}
		// Escapes, or bytes encoding/json replaces by U+FFFD.
		s, ok := unquoteSlow(v)
		if !ok {
			return jsonString{}, fieldSlow
		}
		return jsonString{decoded: s, slow: true}, fieldOK
	case 'n':
		return jsonString{}, fieldOK
	}
	return jsonString{}, fieldTypeErr
}

// unquoteSlow decodes the JSON string v with encoding/json. It is a
// function of its own so that only its callers pay for the variable
// json.Unmarshal makes escape to the heap.
func unquoteSlow(v []byte) (string, bool) {
	var s string
	err := json.Unmarshal(v, &s)
	return s, err == nil
}

// decodeString decodes the valid JSON value v into *dst as encoding/json
// would: a string is stored, null leaves *dst alone, anything else is a
// type error.
func decodeString(v []byte, dst *string) fieldResult {
	if v[0] == 'n' {
		return fieldOK
	}
	js, res := readString(v)
	if res != fieldOK {
		return res
	}
	if js.slow {
		*dst = js.decoded
	} else {
		*dst = string(js.plain)
	}
	return fieldOK
}

// recipientFields are the fields of a recipient object read by the fast
// path; it never reads a user_alias.
type recipientFields struct {
	externalUserID, email, brazeID jsonString
}

// decodeRecipientObject is json.Unmarshal(el, &r) for an element of a valid
// recipients array, r a zero recipientObject: fieldTypeErr stands for an
// error, fieldSlow for an element only encoding/json can read.
func decodeRecipientObject(el []byte, r *recipientFields) fieldResult {
	switch el[0] {
	case 'n':
		return fieldOK
	case '{':
	default:
		return fieldTypeErr
	}
	var seen uint8
	i := jsonbytes.SkipSpace(el, 1)
	if el[i] == '}' {
		return fieldOK
	}
	for {
		kend, esc, high, _ := scanString(el, i)
		vstart := jsonbytes.SkipSpace(el, jsonbytes.SkipSpace(el, kend)+1)
		vend, _ := scanValue(el, vstart, 0)
		if res := r.take(el[i+1:kend-1], esc || high, el[vstart:vend], false, &seen); res != fieldOK {
			return res
		}
		i = jsonbytes.SkipSpace(el, vend)
		if el[i] == '}' {
			return fieldOK
		}
		i = jsonbytes.SkipSpace(el, i+1) // past ','
	}
}

// take reads the member key: v of a recipient object; odd is set when the
// key has an escape or a non-ASCII byte, plain when v is known to be a
// string without either; seen tracks the fields read.
func (r *recipientFields) take(key []byte, odd bool, v []byte, plain bool, seen *uint8) fieldResult {
	if odd {
		return fieldSlow
	}
	var dst *jsonString
	var bit uint8
	switch string(key) {
	case "external_user_id":
		dst, bit = &r.externalUserID, 1
	case "email":
		dst, bit = &r.email, 2
	case "braze_id":
		dst, bit = &r.brazeID, 4
	case "user_alias":
		return fieldSlow
	default:
		if nearRecipientField(key) {
			return fieldSlow
		}
		return fieldOK
	}
	if *seen&bit != 0 {
		return fieldSlow // the last one wins unless null: let encoding/json merge them
	}
	*seen |= bit
	if plain {
		*dst = jsonString{plain: v[1 : len(v)-1]}
		return fieldOK
	}
	js, res := readString(v)
	if res == fieldOK {
		*dst = js
	}
	return res
}
