package routes

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/cel-go/common/types/ref"
)

// This file holds the small JSON scanner behind the lazy values of value.go:
// a product event is validated in one pass, and then only the members an
// expression reads are decoded. Nothing here builds maps.

var errMalformed = errors.New("malformed JSON")

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

// scanValue validates the JSON value starting at b[i] and returns the index
// just after it.
func scanValue(b []byte, i int) (int, error) {
	return scanDepth(b, i, 0)
}

const maxDepth = 512

func scanDepth(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errMalformed
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		if depth >= maxDepth {
			return 0, errors.New("JSON nested too deeply")
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(b) || b[i] != '"' {
				return 0, errMalformed
			}
			end, _, err := scanString(b, i)
			if err != nil {
				return 0, err
			}
			i = skipWS(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, errMalformed
			}
			if i, err = scanDepth(b, skipWS(b, i+1), depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == '}' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = skipWS(b, i+1)
		}
	case c == '[':
		if depth >= maxDepth {
			return 0, errors.New("JSON nested too deeply")
		}
		i = skipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanDepth(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = skipWS(b, i+1)
		}
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(b, i)
	}
	return 0, errMalformed
}

func literal(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errMalformed
	}
	return i + len(lit), nil
}

func scanNumber(b []byte, i int) (int, error) {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, errMalformed
	}
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, errMalformed
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == s {
			return 0, errMalformed
		}
	}
	return i, nil
}

// scanString validates the string starting at b[i] (a quote) and returns
// the index after its closing quote and whether it holds escapes.
func scanString(b []byte, i int) (int, bool, error) {
	escaped := false
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return 0, false, errMalformed
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex4(b[i+1:i+5]) {
					return 0, false, errMalformed
				}
				i += 4
			default:
				return 0, false, errMalformed
			}
		case c < 0x20:
			return 0, false, errMalformed
		}
	}
	return 0, false, errMalformed
}

func isHex4(b []byte) bool {
	for _, c := range b[:4] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// unquote decodes a validated JSON string (quotes included).
func unquote(raw []byte) string {
	body := raw[1 : len(raw)-1]
	esc := false
	for _, c := range body {
		if c == '\\' {
			esc = true
			break
		}
	}
	if !esc {
		return string(body)
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch body[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(body[i+1:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 < len(body) && body[i+1] == '\\' && body[i+2] == 'u' {
					r2 = hex4(body[i+3:])
				}
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					r = d
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default: // '"', '\\', '/'
			out = append(out, body[i])
		}
	}
	return string(out)
}

func hex4(b []byte) rune {
	n, _ := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				const hex = "0123456789abcdef"
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// member is one member of a JSON object: its unquoted key and raw value.
type member struct {
	key []byte
	val []byte
	v   ref.Val // val decoded, once read (see object.Find)
}

// scanMembers validates the object starting at b[i] and appends its
// members to dst; it returns them and the index just after the object.
// With data set, the members of a "data" member that is an object are
// split into *data (from its start) as they are validated.
func scanMembers(dst []member, b []byte, i int, data *[]member) ([]member, int, error) {
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, 0, errMalformed
		}
		end, esc, err := scanString(b, i)
		if err != nil {
			return nil, 0, err
		}
		key := b[i+1 : end-1]
		if esc {
			key = []byte(unquote(b[i:end]))
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, 0, errMalformed
		}
		vs := skipWS(b, i+1)
		var ve int
		if data != nil && string(key) == "data" && vs < len(b) && b[vs] == '{' {
			*data, ve, err = scanMembers((*data)[:0], b, vs, nil)
		} else {
			ve, err = scanDepth(b, vs, 1)
		}
		if err != nil {
			return nil, 0, err
		}
		dst = append(dst, member{key: key, val: b[vs:ve]})
		i = skipWS(b, ve)
		if i >= len(b) {
			return nil, 0, errMalformed
		}
		if b[i] == '}' {
			return dst, i + 1, nil
		}
		if b[i] != ',' {
			return nil, 0, errMalformed
		}
		i = skipWS(b, i+1)
	}
}

// skip returns the index just after the validated JSON value at b[i].
func skip(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// skipString returns the index just after the validated string at b[i].
func skipString(b []byte, i int) int {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j
		n := 0 // backslashes before the quote
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// objectMembers splits a validated JSON object into its members, appending
// them to dst.
func objectMembers(dst []member, obj []byte) []member {
	if dst == nil {
		dst = make([]member, 0, 8)
	}
	i := skipWS(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return dst
	}
	for i < len(obj) {
		end := skipString(obj, i)
		key := obj[i+1 : end-1]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = []byte(unquote(obj[i:end]))
		}
		vs := skipWS(obj, skipWS(obj, end)+1)
		ve := skip(obj, vs)
		dst = append(dst, member{key: key, val: obj[vs:ve]})
		i = skipWS(obj, ve)
		if i >= len(obj) || obj[i] == '}' {
			return dst
		}
		i = skipWS(obj, i+1)
	}
	return dst
}

// arrayElements splits a validated JSON array into its raw elements.
func arrayElements(arr []byte) [][]byte {
	var out [][]byte
	i := skipWS(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return out
	}
	for i < len(arr) {
		ve := skip(arr, i)
		out = append(out, arr[i:ve])
		i = skipWS(arr, ve)
		if i >= len(arr) || arr[i] == ']' {
			return out
		}
		i = skipWS(arr, i+1)
	}
	return out
}
