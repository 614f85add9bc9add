package routes

import (
	"bytes"
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// This file holds the small JSON scanner behind the lazy values of value.go:
// a product event is validated in one pass, and then only the members an
// expression reads are decoded. Nothing here builds maps.

var errMalformed = errors.New("malformed JSON")

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
		i = jsonbytes.SkipSpace(b, i+1)
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
			i = jsonbytes.SkipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, errMalformed
			}
			if i, err = scanDepth(b, jsonbytes.SkipSpace(b, i+1), depth+1); err != nil {
				return 0, err
			}
			i = jsonbytes.SkipSpace(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == '}' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = jsonbytes.SkipSpace(b, i+1)
		}
	case c == '[':
		if depth >= maxDepth {
			return 0, errors.New("JSON nested too deeply")
		}
		i = jsonbytes.SkipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanDepth(b, i, depth+1); err != nil {
				return 0, err
			}
			i = jsonbytes.SkipSpace(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = jsonbytes.SkipSpace(b, i+1)
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
	if e, ok := jsonbytes.ScanNumber(b, i); ok {
		return e, nil
	}
	return 0, errMalformed
}

// scanString validates the string starting at b[i] (a quote) and returns
// the index after its closing quote and whether it holds escapes.
func scanString(b []byte, i int) (int, bool, error) {
	escaped := false
	for i++; i < len(b); i++ {
		i = skipOrdinary(b, i)
		if i >= len(b) {
			break
		}
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

// skipOrdinary returns the index of the first quote, backslash or control
// byte of b at or after i (len(b) if none), skipping the rest eight bytes
// at a time.
func skipOrdinary(b []byte, i int) int {
	for {
		i = jsonbytes.SkipPlain(b, i)
		if i >= len(b) || b[i] < utf8.RuneSelf {
			return i
		}
		i++ // non-ASCII: ordinary here
	}
}

func isHex4(b []byte) bool {
	return jsonbytes.IsHex(b[0]) && jsonbytes.IsHex(b[1]) && jsonbytes.IsHex(b[2]) && jsonbytes.IsHex(b[3])
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
		// Eight bytes at a time while none needs a look.
		if j := jsonbytes.SkipPlainString(s, i); j > i {
			i = j
			continue
		}
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

// member is one member of a JSON object: where its key (quotes excluded)
// and raw value are in the record's value. It holds no pointer, so that
// splitting objects costs the garbage collector nothing; the member's
// decoded value, once read, is kept in input.cache. Places are int32: a
// record routed is shorter than 2 GiB (input.parse refuses longer ones).
type member struct {
	ks, ke int32 // the key, b[ks:ke], escapes and all
	vs, ve int32 // the raw value
	// sub and nsub place the members of an object value when it was split
	// with its parent (split): members[sub:sub+nsub].
	sub, nsub int32
	split     bool
	esc       bool // the key has escapes
	// plain is set when the value is a string without escapes (by the
	// splitter; objectMembers leaves it unset).
	plain bool
}

// val returns the member's raw value.
func (m *member) val(b []byte) []byte { return b[m.vs:m.ve] }

// splitter validates JSON objects and splits them into members, the
// objects in their members too (not those in arrays): the members of each
// object are a block of out, the blocks of nested objects coming before
// their parent's. stack holds the members of the objects being scanned.
type splitter struct {
	b          []byte
	stack, out []member
}

// object validates the object at b[i], whose values are at depth as
// scanDepth counts it, and splits it. It returns the index just after the
// object and the place of its block in out. With top set (the record's
// top level) the object of a "data" member counts as a top-level one.
func (sp *splitter) object(i, depth int, top bool) (end, first, n int, err error) {
	b := sp.b
	base := len(sp.stack)
	i = jsonbytes.SkipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, len(sp.out), 0, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, 0, 0, errMalformed
		}
		kend, esc, err := scanString(b, i)
		if err != nil {
			return 0, 0, 0, err
		}
		m := member{ks: int32(i + 1), ke: int32(kend - 1), esc: esc}
		i = jsonbytes.SkipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, 0, 0, errMalformed
		}
		vs := jsonbytes.SkipSpace(b, i+1)
		var ve int
		switch {
		case vs >= len(b):
			return 0, 0, 0, errMalformed
		case b[vs] == '"':
			var vesc bool
			ve, vesc, err = scanString(b, vs)
			m.plain = !vesc
		case b[vs] == '{':
			d := depth + 1
			if top && m.is(b, "data") {
				d = depth
			} else if depth >= maxDepth {
				return 0, 0, 0, errors.New("JSON nested too deeply")
			}
			var sub, nsub int
			ve, sub, nsub, err = sp.object(vs, d, false)
			m.sub, m.nsub, m.split = int32(sub), int32(nsub), true
		default:
			ve, err = scanDepth(b, vs, depth)
		}
		if err != nil {
			return 0, 0, 0, err
		}
		m.vs, m.ve = int32(vs), int32(ve)
		sp.stack = append(sp.stack, m)
		i = jsonbytes.SkipSpace(b, ve)
		if i >= len(b) {
			return 0, 0, 0, errMalformed
		}
		if b[i] == '}' {
			first = len(sp.out)
			sp.out = append(sp.out, sp.stack[base:]...)
			sp.stack = sp.stack[:base]
			return i + 1, first, len(sp.out) - first, nil
		}
		if b[i] != ',' {
			return 0, 0, 0, errMalformed
		}
		i = jsonbytes.SkipSpace(b, i+1)
	}
}

// key returns the member's key, unquoted; without escapes it is a slice of
// b.
func (m *member) key(b []byte) []byte {
	if !m.esc {
		return b[m.ks:m.ke]
	}
	return []byte(unquote(b[m.ks-1 : m.ke+1]))
}

// is reports whether the member's key is name.
func (m *member) is(b []byte, name string) bool {
	if !m.esc {
		return string(b[m.ks:m.ke]) == name
	}
	return unquote(b[m.ks-1:m.ke+1]) == name
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
	for i++; i < len(b); i++ {
		i = skipOrdinary(b, i)
		if i >= len(b) {
			break
		}
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // the escaped character
		}
	}
	return len(b)
}

// objectMembers splits the validated JSON object b[start:end] into its
// members, appending them to dst.
func objectMembers(dst []member, b []byte, start, end int) []member {
	i := jsonbytes.SkipSpace(b, start+1)
	if i < end && b[i] == '}' {
		return dst
	}
	for i < end {
		ke := skipString(b, i)
		esc := bytes.IndexByte(b[i+1:ke-1], '\\') >= 0
		vs := jsonbytes.SkipSpace(b, jsonbytes.SkipSpace(b, ke)+1)
		ve := skip(b, vs)
		dst = append(dst, member{ks: int32(i + 1), ke: int32(ke - 1), vs: int32(vs), ve: int32(ve), esc: esc})
		i = jsonbytes.SkipSpace(b, ve)
		if i >= end || b[i] == '}' {
			return dst
		}
		i = jsonbytes.SkipSpace(b, i+1)
	}
	return dst
}

// nextElement returns where the element of a validated JSON array that
// starts at or after b[i] begins and ends, and ok false after the last one.
// Start with i just after the '['; continue with the end returned.
func nextElement(b []byte, i int) (start, end int, ok bool) {
	i = jsonbytes.SkipSpace(b, i)
	if i < len(b) && b[i] == ',' {
		i = jsonbytes.SkipSpace(b, i+1)
	}
	if i >= len(b) || b[i] == ']' {
		return 0, 0, false
	}
	return i, skip(b, i), true
}
