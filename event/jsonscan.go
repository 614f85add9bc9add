package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"unicode/utf8"
)

// This file holds a small scanner for JSON that has already been validated
// (json.Valid or json.Unmarshal into RawMessage). It splits objects and
// arrays into their raw members without building maps, so free-form fields
// (trigger_properties, context, messages) are never decoded on the hot path.

type member struct {
	raw   []byte // the key as written, quotes included
	value []byte // raw JSON, trimmed
}

// name returns the member's key, unquoted. Hot paths compare raw instead,
// which allocates nothing.
func (m member) name() string {
	k, err := unquote(m.raw)
	if err != nil {
		return string(m.raw)
	}
	return k
}

// members splits a JSON object into its members, in document order.
func members(obj []byte) ([]member, error) {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil, errNotObject
	}
	var out []member
	i = skipWS(obj, i+1)
	if i < len(obj) && obj[i] == '}' {
		return out, nil
	}
	for i < len(obj) {
		ks := i
		ke, err := skipString(obj, i)
		if err != nil {
			return nil, err
		}
		if _, err := unquoteCheck(obj[ks:ke]); err != nil {
			return nil, err
		}
		i = skipWS(obj, ke)
		if i >= len(obj) || obj[i] != ':' {
			return nil, errMalformed
		}
		vs := skipWS(obj, i+1)
		ve, err := skipValue(obj, vs)
		if err != nil {
			return nil, err
		}
		out = append(out, member{raw: obj[ks:ke], value: obj[vs:ve]})
		i = skipWS(obj, ve)
		if i >= len(obj) {
			return nil, errMalformed
		}
		if obj[i] == '}' {
			return out, nil
		}
		if obj[i] != ',' {
			return nil, errMalformed
		}
		i = skipWS(obj, i+1)
	}
	return nil, errMalformed
}

// elements splits a JSON array into its raw elements.
func elements(arr []byte) ([][]byte, error) {
	i := skipWS(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return nil, errNotArray
	}
	var out [][]byte
	i = skipWS(arr, i+1)
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
		i = skipWS(arr, ve)
		if i >= len(arr) {
			return nil, errMalformed
		}
		if arr[i] == ']' {
			return out, nil
		}
		if arr[i] != ',' {
			return nil, errMalformed
		}
		i = skipWS(arr, i+1)
	}
	return nil, errMalformed
}

var (
	errMalformed = errors.New("malformed JSON")
	errNotObject = errors.New("not a JSON object")
	errNotArray  = errors.New("not a JSON array")
)

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipString returns the index just past the string starting at b[i].
func skipString(b []byte, i int) (int, error) {
	if i >= len(b) || b[i] != '"' {
		return 0, errMalformed
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, nil
		}
	}
	return 0, errMalformed
}

// skipValue returns the index just past the JSON value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				e, err := skipString(b, i)
				if err != nil {
					return 0, err
				}
				i = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, nil
				}
			}
		}
		return 0, errMalformed
	default: // number, true, false, null
		s := i
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if i == s {
					return 0, errMalformed
				}
				return i, nil
			}
			i++
		}
		if i == s {
			return 0, errMalformed
		}
		return i, nil
	}
}

// unquote returns the Go string of a raw JSON string, as encoding/json
// decodes it (invalid UTF-8 becomes U+FFFD).
func unquote(raw []byte) (string, error) {
	if len(raw) < 2 {
		return "", errMalformed
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
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
		ms, err := members(v)
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
