// Package jsonbytes holds the byte-level primitives the gateway's JSON
// scanners and writers share: skipping the plain bytes of a JSON string
// (those written as they are) eight at a time, and reading JSON's numbers
// and literals.
package jsonbytes

import (
	"encoding/binary"
	"math/bits"
)

// Byte-parallel tests on 8 bytes read as a little-endian word (SWAR).
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special has the high bit set in the byte of w that is the first '"',
// '\\', control (< 0x20) or non-ASCII byte, if any. Bytes above it may be
// marked wrongly (borrows propagate upwards): only the lowest mark counts.
func special(w uint64) uint64 {
	quote := w ^ ('"' * ones)
	bslash := w ^ ('\\' * ones)
	return (((quote - ones) &^ quote) | ((bslash - ones) &^ bslash) | ((w - 0x20*ones) &^ w) | w) & highs
}

// SkipPlain returns the index of the first byte of b at or after i that
// is a quote, a backslash, a control byte or a non-ASCII byte (len(b) if
// there is none): the end of the run of bytes a JSON string holds as they
// are, when i is inside one.
func SkipPlain(b []byte, i int) int {
	for len(b)-i >= 8 {
		if m := special(binary.LittleEndian.Uint64(b[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(b) {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
		i++
	}
	return i
}

// SkipPlainString is SkipPlain for a string.
func SkipPlainString(s string, i int) int {
	for len(s)-i >= 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if m := special(w); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	for i < len(s) {
		if c := s[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
		i++
	}
	return i
}

// ScanNumber returns the index just past the JSON number starting at b[i]
// (-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?), or false when there is
// none there.
func ScanNumber(b []byte, i int) (int, bool) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		s := i + 1
		if i = digits(b, s); i == s {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		s := i
		if i = digits(b, s); i == s {
			return 0, false
		}
	}
	return i, true
}

// digits returns the index of the first non-digit of b at or after i.
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// ScanLiteral returns the index just past lit (true, false or null) when b
// holds it at i.
func ScanLiteral(b []byte, i int, lit string) (int, bool) {
	if i < 0 || len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// IsHex reports whether c is a hexadecimal digit, as a \u escape needs.
func IsHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// Same reports whether a and b are the same bytes of memory (one start,
// one length), not merely equal ones: whether a part split from a value
// is the part in hand.
func Same(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// SkipSpace returns the index of the first byte of b at or after i that is
// not JSON white space.
func SkipSpace(b []byte, i int) int {
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

// ScanString validates the JSON string starting at b[i] (a quote) and
// returns the index just past it: no control bytes, only JSON's escapes.
// Invalid UTF-8 is accepted, as encoding/json accepts it.
func ScanString(b []byte, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		for i = SkipPlain(b, i); i < len(b) && b[i] >= 0x80; i = SkipPlain(b, i+1) {
			// non-ASCII: taken as it is
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c < 0x20:
			return 0, false
		default: // a backslash
			i++
			if i >= len(b) {
				return 0, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i <= 4 || !IsHex(b[i+1]) || !IsHex(b[i+2]) || !IsHex(b[i+3]) || !IsHex(b[i+4]) {
					return 0, false
				}
				i += 4
			default:
				return 0, false
			}
		}
	}
	return 0, false
}

// SkipString returns the index just past the JSON string starting at b[i]
// (a quote), without validating it: it finds the closing quote. ok is
// false when b ends first.
func SkipString(b []byte, i int) (end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		i = SkipPlain(b, i)
		if i >= len(b) {
			break
		}
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// SkipValue returns the index just past the JSON value starting at b[i],
// for input already known to be valid JSON: it finds the value's end
// (strings skipped eight bytes at a time, containers by counting
// brackets) without checking what it passes over. Given invalid JSON it
// returns some end within b or ok false; it never reads outside b.
func SkipValue(b []byte, i int) (end int, ok bool) {
	end, _, ok = SkipValueDepth(b, i)
	return end, ok
}

// SkipValueDepth is SkipValue that also returns how deeply the value nests
// objects and arrays: 0 for a string, number or literal, 1 for an object
// or array holding none, and so on.
func SkipValueDepth(b []byte, i int) (end, depth int, ok bool) {
	if i >= len(b) {
		return 0, 0, false
	}
	switch b[i] {
	case '"':
		end, ok = SkipString(b, i)
		return end, 0, ok
	case '{', '[':
		level := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				e, ok := SkipString(b, i)
				if !ok {
					return 0, 0, false
				}
				i = e - 1
			case '{', '[':
				if level++; level > depth {
					depth = level
				}
			case '}', ']':
				if level--; level == 0 {
					return i + 1, depth, true
				}
			}
		}
		return 0, 0, false
	default: // number, true, false, null
		s := i
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, 0, i > s
			}
		}
		return i, 0, i > s
	}
}
