package routes

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
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
		i = skipSpace(b, i+1)
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
			i = skipSpace(b, end)
			if i >= len(b) || b[i] != ':' {
				return 0, errMalformed
			}
			if i, err = scanDepth(b, skipSpace(b, i+1), depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == '}' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = skipSpace(b, i+1)
		}
	case c == '[':
		if depth >= maxDepth {
			return 0, errors.New("JSON nested too deeply")
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = scanDepth(b, i, depth+1); err != nil {
				return 0, err
			}
			i = skipSpace(b, i)
			if i >= len(b) {
				return 0, errMalformed
			}
			if b[i] == ']' {
				return i + 1, nil
			}
			if b[i] != ',' {
				return 0, errMalformed
			}
			i = skipSpace(b, i+1)
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

// skipSpace is jsonbytes.SkipSpace, the usual case (no white space) first.
func skipSpace(b []byte, i int) int {
	if i < len(b) && b[i] > ' ' {
		return i
	}
	return jsonbytes.SkipSpace(b, i)
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
	end, kind, err := scanText(b, i)
	return end, kind&textEscaped != 0, err
}

// textKind says what a JSON string holds besides plain ASCII.
type textKind uint8

const (
	textEscaped  textKind = 1 << iota // a backslash escape
	textNonASCII                      // a byte ≥ 0x80, raw
)

// scanText validates the string starting at b[i] (a quote) and returns the
// index after its closing quote and what it holds. Runs of plain ASCII are
// skipped eight bytes at a time.
func scanText(b []byte, i int) (int, textKind, error) {
	var kind textKind
	for i++; ; i++ {
		for len(b)-i >= 8 {
			if m := specialBytes(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		if i >= len(b) {
			return 0, 0, errMalformed
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, kind, nil
		case c == '\\':
			kind |= textEscaped
			i++
			if i >= len(b) {
				return 0, 0, errMalformed
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 || !isHex4(b[i+1:i+5]) {
					return 0, 0, errMalformed
				}
				i += 4
			default:
				return 0, 0, errMalformed
			}
		case c < 0x20:
			return 0, 0, errMalformed
		case c >= utf8.RuneSelf:
			kind |= textNonASCII
		}
	}
}

// specialBytes has the high bit set in the byte of w (eight bytes read as
// a little-endian word) that is the first quote, backslash, control or
// non-ASCII byte, if any; bytes above it may be marked wrongly. It is
// jsonbytes.SkipPlain's test, written here so that scanText's loop has no
// call in it.
func specialBytes(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := w ^ ('"' * ones)
	bslash := w ^ ('\\' * ones)
	return (((quote - ones) &^ quote) | ((bslash - ones) &^ bslash) | ((w - 0x20*ones) &^ w) | w) & highs
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

// appendStringBytes is appendString for bytes: plain ASCII is written as
// it is.
func appendStringBytes(dst, b []byte) []byte {
	if jsonbytes.SkipPlain(b, 0) == len(b) {
		dst = append(dst, '"')
		dst = append(dst, b...)
		return append(dst, '"')
	}
	return appendString(dst, string(b))
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
	// plain is set when the value is a string without escapes, ascii when
	// it is moreover all ASCII (by the splitter; objectMembers leaves both
	// unset).
	plain, ascii bool
}

// val returns the member's raw value.
func (m *member) val(b []byte) []byte { return b[m.vs:m.ve] }

// plainText reports whether the member's value is a string appendString
// writes back as it was read (see plainString), using what the splitter
// learnt of it when it can.
func (m *member) plainText(b []byte) bool {
	return m.ascii || plainString(m.val(b))
}

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
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, len(sp.out), 0, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, 0, 0, errMalformed
		}
		ks := i + 1
		kend, kkind, err := scanText(b, i)
		if err != nil {
			return 0, 0, 0, err
		}
		i = skipSpace(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, 0, 0, errMalformed
		}
		vs := skipSpace(b, i+1)
		var ve, sub, nsub int
		var vkind textKind
		str, obj := false, false
		switch {
		case vs >= len(b):
			return 0, 0, 0, errMalformed
		case b[vs] == '"':
			str = true
			ve, vkind, err = scanText(b, vs)
		case b[vs] == '{':
			obj = true
			d := depth + 1
			if top && isKey(b, ks, kend-1, kkind, "data") {
				d = depth
			} else if depth >= maxDepth {
				return 0, 0, 0, errors.New("JSON nested too deeply")
			}
			ve, sub, nsub, err = sp.object(vs, d, false)
		case b[vs] == '-' || b[vs]-'0' <= 9:
			var ok bool
			if ve, ok = jsonbytes.ScanNumber(b, vs); !ok {
				err = errMalformed
			}
		default:
			ve, err = scanDepth(b, vs, depth)
		}
		if err != nil {
			return 0, 0, 0, err
		}
		// The member is written in place, field by field: building it
		// aside and copying it costs more.
		sp.stack = append(sp.stack, member{})
		m := &sp.stack[len(sp.stack)-1]
		m.ks, m.ke, m.vs, m.ve = int32(ks), int32(kend-1), int32(vs), int32(ve)
		m.esc = kkind&textEscaped != 0
		if obj {
			m.sub, m.nsub, m.split = int32(sub), int32(nsub), true
		} else if str {
			m.plain, m.ascii = vkind&textEscaped == 0, vkind == 0
		}
		i = skipSpace(b, ve)
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
		i = skipSpace(b, i+1)
	}
}

// isKey reports whether the key b[ks:ke], of the kind scanText found, is
// name.
func isKey(b []byte, ks, ke int, kind textKind, name string) bool {
	if kind&textEscaped == 0 {
		return string(b[ks:ke]) == name
	}
	return unquote(b[ks-1:ke+1]) == name
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
	if e, ok := jsonbytes.SkipValue(b, i); ok {
		return e
	}
	return len(b)
}

// skipString returns the index just after the validated string at b[i].
func skipString(b []byte, i int) int {
	if e, ok := jsonbytes.SkipString(b, i); ok {
		return e
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
