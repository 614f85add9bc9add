// Package jsonbytes holds the byte-level primitive the gateway's JSON
// scanners and writers share: skipping the plain bytes of a JSON string
// (those written as they are) eight at a time.
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
