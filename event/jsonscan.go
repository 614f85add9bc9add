package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// This file holds a small scanner for JSON that has already been validated
// (json.Valid or json.Unmarshal into RawMessage). It splits objects and
// arrays into their raw members without building maps, so free-form fields
// (trigger_properties, context, messages) are never decoded on the hot path.

type member struct {
	raw   []byte // the key as written, quotes included
	value []byte // raw JSON, trimmed
	start int    // offset of value in the scanned object
	depth int32  // nesting depth of value (0 for scalars); -1 when not known (members)
	// plain marks a string value of printable ASCII without escapes
	// (validMembersSplitting only; false says nothing).
	plain bool
}

// offset returns where m's value starts in the object it was split from.
func (m member) offset() int { return m.start }

// name returns the member's key, unquoted. Hot paths compare raw instead,
// which allocates nothing.
func (m member) name() string {
	k, err := unquote(m.raw)
	if err != nil {
		return string(m.raw)
	}
	return k
}

// members splits a JSON object into its members, in document order,
// appending them to dst (which may be a buffer on the caller's stack).
func members(dst []member, obj []byte) ([]member, error) {
	out, _, err := membersAt(dst, obj, jsonbytes.SkipSpace(obj, 0))
	return out, err
}

// membersAt splits the object that starts at b[i] (not validated, as
// members) and returns where it ends. The members' start offsets count
// from b[0].
func membersAt(dst []member, b []byte, i int) ([]member, int, error) {
	if i >= len(b) || b[i] != '{' {
		return nil, 0, errNotObject
	}
	out := dst
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, i + 1, nil
	}
	for i < len(b) {
		ks := i
		ke, err := skipString(b, i)
		if err != nil {
			return nil, 0, err
		}
		if _, err := unquoteCheck(b[ks:ke]); err != nil {
			return nil, 0, err
		}
		i = jsonbytes.SkipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, errMalformed
		}
		vs := jsonbytes.SkipSpace(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, member{raw: b[ks:ke], value: b[vs:ve], start: vs, depth: -1})
		i = jsonbytes.SkipSpace(b, ve)
		if i >= len(b) {
			return nil, 0, errMalformed
		}
		if b[i] == '}' {
			return out, i + 1, nil
		}
		if b[i] != ',' {
			return nil, 0, errMalformed
		}
		i = jsonbytes.SkipSpace(b, i+1)
	}
	return nil, 0, errMalformed
}

// arrayStart returns where the first element of the JSON array arr
// starts, or done for an empty array.
func arrayStart(arr []byte) (i int, done bool, err error) {
	i = jsonbytes.SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return 0, false, errNotArray
	}
	i = jsonbytes.SkipSpace(arr, i+1)
	return i, i < len(arr) && arr[i] == ']', nil
}

// arrayNext returns where the element after the one that ends at ve
// starts, or done at the array's end.
func arrayNext(arr []byte, ve int) (i int, done bool, err error) {
	i = jsonbytes.SkipSpace(arr, ve)
	switch {
	case i >= len(arr):
		return 0, false, errMalformed
	case arr[i] == ']':
		return i, true, nil
	case arr[i] != ',':
		return 0, false, errMalformed
	}
	return jsonbytes.SkipSpace(arr, i+1), false, nil
}

// eachElement calls f with each raw element of a JSON array, in order,
// until f returns false.
func eachElement(arr []byte, f func(e []byte) bool) error {
	i, done, err := arrayStart(arr)
	for ; err == nil && !done; i, done, err = arrayNext(arr, i) {
		if i >= len(arr) {
			return errMalformed
		}
		vs := i
		if i, err = skipValue(arr, vs); err != nil {
			return err
		}
		if !f(arr[vs:i]) {
			return nil
		}
	}
	return err
}

// elements splits a JSON array into its raw elements.
func elements(arr []byte) ([][]byte, error) {
	i := jsonbytes.SkipSpace(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, errNotArray
	}
	var out [][]byte
	i = jsonbytes.SkipSpace(arr, i+1)
	if i < len(arr) && arr[i] == ']' {
		return out, nil
	}
	for i < len(arr) {
		vs := i
		ve, err := skipValue(arr, vs)
		if err != nil {
			return nil, err
		}
		out = append(out, arr[vs:ve])
		i = jsonbytes.SkipSpace(arr, ve)
		if i >= len(arr) {
			return nil, errMalformed
		}
		if arr[i] == ']' {
			return out, nil
		}
		if arr[i] != ',' {
			return nil, errMalformed
		}
		i = jsonbytes.SkipSpace(arr, i+1)
	}
	return nil, errMalformed
}

var (
	errMalformed = errors.New("malformed JSON")
	errNotObject = errors.New("not a JSON object")
	errNotArray  = errors.New("not a JSON array")
)

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	if e, ok := jsonbytes.SkipString(b, i); ok {
		return e, nil
	}
	return 0, errMalformed
}

// skipValue returns the index just past the JSON value starting at b[i],
// which is known to be valid JSON.
func skipValue(b []byte, i int) (int, error) {
	if e, ok := jsonbytes.SkipValue(b, i); ok {
		return e, nil
	}
	return 0, errMalformed
}

// plain reports whether the raw JSON string decodes to its bytes between
// the quotes: no escapes, valid UTF-8.
func plain(raw []byte) bool {
	return len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)
}

// unquote returns the Go string of a raw JSON string, as encoding/json
// decodes it (invalid UTF-8 becomes U+FFFD).
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 {
		return "", errMalformed
	}
	if plain(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// appendCanonical appends the canonical form of the raw JSON value v:
// objects with their members sorted by key (stably, so repeated keys keep
// their order), no insignificant whitespace, recursively. Two values with
// equal canonical forms are equal JSON values. (Strings, keys included, are
// kept as written, so "\u0041" and "A" differ: a conservative choice that can
// only keep two equal values apart, never merge unequal ones.)
func appendCanonical(dst, v []byte) ([]byte, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return dst, errMalformed
	}
	switch v[0] {
	case '{':
		var buf [8]member
		ms, err := members(buf[:0], v)
		if err != nil {
			return dst, err
		}
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].name() < ms[j].name() })
		dst = append(dst, '{')
		for i, m := range ms {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, m.raw...)
			dst = append(dst, ':')
			if dst, err = appendCanonical(dst, m.value); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case '[':
		es, err := elements(v)
		if err != nil {
			return dst, err
		}
		dst = append(dst, '[')
		for i, e := range es {
			if i > 0 {
				dst = append(dst, ',')
			}
			if dst, err = appendCanonical(dst, e); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return append(dst, v...), nil
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }

func itoa(n int) string { return strconv.Itoa(n) }

// unquoteCheck reports whether raw is a well-formed JSON string, without
// allocating when it holds no escapes.
func unquoteCheck(raw []byte) (bool, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return false, errMalformed
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return true, nil
	}
	_, err := unquote(raw)
	return err == nil, err
}

// The validating scanner below replaces a json.Valid pass followed by
// members: it checks the grammar and splits the top-level object in one
// pass. It is strict where encoding/json is strict (strings, escapes,
// numbers, literals, nesting) and accepts what it accepts (invalid UTF-8
// inside strings); when it rejects a value, callers ask encoding/json,
// which also words the error, so decisions never differ. Given trusted
// (Limits.Trusted), the same functions skip values instead of validating
// them, and still split and measure depth.

// maxScanDepth is the deepest nesting the validating scanner follows;
// deeper values are left to encoding/json.
const maxScanDepth = 200

// validMembers splits obj, which must be exactly one JSON object
// (surrounding white space allowed), into its members while validating
// it, appending them to dst, with the nesting depth of each value. ok is
// false when obj is not such an object or the scanner cannot decide.
func validMembers(dst []member, obj []byte) (ms []member, ok bool) {
	ms, _, ok = validMembersSplitting(dst, obj, "", split{}, false)
	return ms, ok
}

// split is an object member's value split into its own members during the
// same validating pass (see validMembersSplitting). When that object has a
// "recipients" array whose elements are all objects, they are split too, so
// that the batching view reads each recipient's members without scanning
// it again.
type split struct {
	value   []byte   // the object split; nil if none was
	members []member // its members, without depths
	// recipients is the value of the object's last "recipients" member
	// when it is an array of objects that all fit in objects and
	// rmembers without growing them (nil otherwise); objects are its
	// elements, and their members are rmembers[from:to].
	recipients []byte
	objects    []splitObject
	rmembers   []member
}

// splitObject is one object of a split recipients array.
type splitObject struct {
	raw      []byte
	from, to int
}

// reset empties sp for another split, keeping its buffers.
func (sp split) reset() split {
	return split{members: sp.members[:0], objects: sp.objects[:0], rmembers: sp.rmembers[:0]}
}

// validMembersSplitting is validMembers that also splits the value of the
// member named key (quotes included) when it is an object, appending its
// members to sp.members, so that a caller who needs both levels scans the
// bytes once. When the name repeats, the last one's members are returned,
// as the last value is the one that counts. (Slices go in and out by value:
// stored through a pointer, the caller's stack buffer would escape.) With
// trusted set, obj is known to be valid JSON (see Limits.Trusted): values
// are skipped, not validated, and their depths still measured.
func validMembersSplitting(dst []member, obj []byte, key string, sp split, trusted bool) (ms []member, _ split, ok bool) {
	i := jsonbytes.SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, split{}, false
	}
	ms = dst
	i = jsonbytes.SkipSpace(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return ms, sp, jsonbytes.SkipSpace(obj, i+1) == len(obj)
	}
	for {
		ks := i
		ke, ok := jsonbytes.ScanString(obj, i)
		if !ok {
			return nil, split{}, false
		}
		i = jsonbytes.SkipSpace(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return nil, split{}, false
		}
		vs := jsonbytes.SkipSpace(obj, i+1)
		deep := 1
		var ve int
		plain := false
		if key != "" && string(obj[ks:ke]) == key {
			sp = sp.reset()
			if vs < len(obj) && obj[vs] == '{' {
				if ve, sp, ok = scanDataSplitting(obj, vs, 1, &deep, sp, trusted); ok {
					sp.value = obj[vs:ve]
				}
			} else {
				ve, ok = valueEnd(obj, vs, 1, &deep, trusted)
			}
		} else if plain = vs < len(obj) && obj[vs] == '"'; plain {
			// A string, most often plain: the scan that validates it
			// tells so.
			if ve = jsonbytes.SkipPlain(obj, vs+1); ve < len(obj) && obj[ve] == '"' {
				ve++
			} else {
				plain = false
				ve, ok = valueEnd(obj, vs, 1, &deep, trusted)
			}
		} else {
			ve, ok = valueEnd(obj, vs, 1, &deep, trusted)
		}
		if !ok {
			return nil, split{}, false
		}
		ms = append(ms, member{raw: obj[ks:ke], value: obj[vs:ve], start: vs, depth: int32(deep - 1), plain: plain})
		i = jsonbytes.SkipSpace(obj, ve)
		if i >= len(obj) {
			return nil, split{}, false
		}
		switch obj[i] {
		case '}':
			return ms, sp, jsonbytes.SkipSpace(obj, i+1) == len(obj)
		case ',':
			i = jsonbytes.SkipSpace(obj, i+1)
		default:
			return nil, split{}, false
		}
	}
}

// scanObjectSplitting is scanValue for the object starting at b[i] that
// also appends its members to dst (their start is relative to the object,
// as members gives it) while dst has room: it never grows dst, and all is
// false when some member did not fit.
func scanObjectSplitting(b []byte, i, depth int, deep *int, dst []member, trusted bool) (end int, out []member, all, ok bool) {
	if depth >= maxScanDepth {
		return 0, dst, false, false
	}
	if depth >= *deep {
		*deep = depth + 1
	}
	obj := i
	i, done := objectStart(b, i)
	all = true
	for !done {
		ks, ke, vs, ok := memberKey(b, i)
		if !ok {
			return 0, dst, false, false
		}
		ve, ok := valueEnd(b, vs, depth+1, deep, trusted)
		if !ok {
			return 0, dst, false, false
		}
		if len(dst) < cap(dst) {
			dst = append(dst, member{raw: b[ks:ke], value: b[vs:ve], start: vs - obj})
		} else {
			all = false
		}
		if i, done, ok = memberNext(b, ve); !ok {
			return 0, dst, false, false
		}
	}
	return i, dst, all, true
}

// scanDataSplitting is scanObjectSplitting for data (the object starting
// at b[i]) into sp.members, which also splits its "recipients" array (see
// split). (Separate from scanObjectSplitting, which splits the recipient
// objects: a function that called itself through scanRecipients would
// make the caller's buffers escape to the heap.)
func scanDataSplitting(b []byte, i, depth int, deep *int, sp split, trusted bool) (int, split, bool) {
	if depth >= maxScanDepth {
		return 0, sp, false
	}
	if depth >= *deep {
		*deep = depth + 1
	}
	obj := i
	i, end := objectStart(b, i)
	for !end {
		ks, ke, vs, ok := memberKey(b, i)
		if !ok {
			return 0, sp, false
		}
		var ve int
		if string(b[ks:ke]) == `"recipients"` {
			ve, sp, ok = scanRecipients(b, vs, depth+1, deep, sp, trusted)
		} else {
			ve, ok = valueEnd(b, vs, depth+1, deep, trusted)
		}
		if !ok {
			return 0, sp, false
		}
		sp.members = append(sp.members, member{raw: b[ks:ke], value: b[vs:ve], start: vs - obj})
		if i, end, ok = memberNext(b, ve); !ok {
			return 0, sp, false
		}
	}
	return i, sp, true
}

// objectStart returns where the first member of the object starting at
// b[i] (a '{') starts, or the index past the object and end when it is
// empty.
func objectStart(b []byte, i int) (next int, end bool) {
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	return i, false
}

// memberKey validates the key of the member starting at b[i] and its
// colon, and returns where the key starts and ends and the value starts.
func memberKey(b []byte, i int) (ks, ke, vs int, ok bool) {
	ke, ok = jsonbytes.ScanString(b, i)
	if !ok {
		return 0, 0, 0, false
	}
	j := jsonbytes.SkipSpace(b, ke)
	if j >= len(b) || b[j] != ':' {
		return 0, 0, 0, false
	}
	return i, ke, jsonbytes.SkipSpace(b, j+1), true
}

// memberNext reads what follows a member's value ending at b[ve]: the
// next member's start, or the index past the object and end.
func memberNext(b []byte, ve int) (next int, end, ok bool) {
	i := jsonbytes.SkipSpace(b, ve)
	if i >= len(b) {
		return 0, false, false
	}
	switch b[i] {
	case '}':
		return i + 1, true, true
	case ',':
		return jsonbytes.SkipSpace(b, i+1), false, true
	}
	return 0, false, false
}

// scanRecipients is scanValue for the value of a "recipients" member,
// starting at b[i], that also splits the objects of an array of objects
// into sp (see split) as far as sp's buffers go without growing: a longer
// array is only validated, and the batching view splits it itself.
func scanRecipients(b []byte, i, depth int, deep *int, sp split, trusted bool) (int, split, bool) {
	sp.recipients, sp.objects, sp.rmembers = nil, sp.objects[:0], sp.rmembers[:0]
	if i >= len(b) || b[i] != '[' {
		e, ok := valueEnd(b, i, depth, deep, trusted)
		return e, sp, ok
	}
	if depth >= maxScanDepth {
		return 0, sp, false
	}
	if depth >= *deep {
		*deep = depth + 1
	}
	start, objects := i, true
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		sp.recipients = b[start : i+1]
		return i + 1, sp, true
	}
	for {
		var e int
		var ok bool
		if objects && i < len(b) && b[i] == '{' && len(sp.objects) < cap(sp.objects) {
			from, all := len(sp.rmembers), false
			e, sp.rmembers, all, ok = scanObjectSplitting(b, i, depth+1, deep, sp.rmembers, trusted)
			if objects = all; ok && all {
				sp.objects = append(sp.objects, splitObject{raw: b[i:e], from: from, to: len(sp.rmembers)})
			}
		} else {
			objects = false
			e, ok = valueEnd(b, i, depth+1, deep, trusted)
		}
		if !ok {
			return 0, sp, false
		}
		i = jsonbytes.SkipSpace(b, e)
		if i >= len(b) {
			return 0, sp, false
		}
		switch b[i] {
		case ']':
			if objects {
				sp.recipients = b[start : i+1]
			}
			return i + 1, sp, true
		case ',':
			i = jsonbytes.SkipSpace(b, i+1)
		default:
			return 0, sp, false
		}
	}
}

// validJSON reports whether b is one valid JSON value, as json.Valid does.
func validJSON(b []byte) bool {
	_, ok := validJSONDepth(b)
	return ok
}

// validJSONDepth reports whether b is one valid JSON value, as json.Valid
// does, and how deeply it nests objects and arrays (-1 when the scanner
// left the decision to encoding/json).
func validJSONDepth(b []byte) (int, bool) {
	i := jsonbytes.SkipSpace(b, 0)
	deep := 0
	if e, ok := scanValue(b, i, 0, &deep); ok && jsonbytes.SkipSpace(b, e) == len(b) {
		return deep, true
	}
	return -1, json.Valid(b)
}

// valueEnd is scanValue, or skipDepth when trusted.
func valueEnd(b []byte, i, depth int, deep *int, trusted bool) (int, bool) {
	if trusted {
		return skipDepth(b, i, depth, deep)
	}
	return scanValue(b, i, depth, deep)
}

// skipDepth is scanValue for a value known to be valid JSON: it finds the
// value's end without validating it and raises *deep as scanValue does.
func skipDepth(b []byte, i, depth int, deep *int) (int, bool) {
	end, d, ok := jsonbytes.SkipValueDepth(b, i)
	if ok && d > 0 && depth+d > *deep {
		*deep = depth + d
	}
	return end, ok
}

// scanValue validates the JSON value starting at b[i], inside depth
// objects and arrays, and returns the index just past it. *deep is raised
// to the depth of the deepest object or array met (the outermost being at
// depth+1).
func scanValue(b []byte, i, depth int, deep *int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '{', '[':
		if depth >= maxScanDepth {
			return 0, false
		}
		if depth >= *deep {
			*deep = depth + 1
		}
		obj := b[i] == '{'
		closing := byte(']')
		if obj {
			closing = '}'
		}
		i = jsonbytes.SkipSpace(b, i+1)
		if i < len(b) && b[i] == closing {
			return i + 1, true
		}
		for {
			if obj {
				e, ok := jsonbytes.ScanString(b, i)
				if !ok {
					return 0, false
				}
				i = jsonbytes.SkipSpace(b, e)
				if i >= len(b) || b[i] != ':' {
					return 0, false
				}
				i = jsonbytes.SkipSpace(b, i+1)
			}
			e, ok := scanValue(b, i, depth+1, deep)
			if !ok {
				return 0, false
			}
			i = jsonbytes.SkipSpace(b, e)
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case closing:
				return i + 1, true
			case ',':
				i = jsonbytes.SkipSpace(b, i+1)
			default:
				return 0, false
			}
		}
	case '"':
		return jsonbytes.ScanString(b, i)
	case 't':
		return jsonbytes.ScanLiteral(b, i, "true")
	case 'f':
		return jsonbytes.ScanLiteral(b, i, "false")
	case 'n':
		return jsonbytes.ScanLiteral(b, i, "null")
	default:
		return jsonbytes.ScanNumber(b, i)
	}
}
