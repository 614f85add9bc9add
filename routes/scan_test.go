package routes

import (
	"bytes"
	"math/rand"
	"testing"
	"unicode/utf8"
)

// The scanners of json.go read eight bytes at a time (internal/jsonbytes);
// these tests hold them to byte-at-a-time references on strings with the
// interesting bytes at every offset.

// scanStringRef is scanString one byte at a time.
func scanStringRef(b []byte, i int) (int, bool, error) {
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

// appendStringRef is appendString one byte at a time.
func appendStringRef(dst []byte, s string) []byte {
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

// randomBytes mixes ordinary letters with the bytes the scanners look at.
func randomBytes(r *rand.Rand, n int) []byte {
	pieces := []string{"a", "b", "Z", "0", " ", "~", "\x7f", `"`, `\`, `\"`, `\\`, `\n`, `\u00e9`, `\uZZ`, `\x`,
		"\x00", "\x1f", "\t", "é", "😀", "\xff", "\xc3", "\xe2\x82"}
	var b []byte
	for len(b) < n {
		if r.Intn(3) > 0 {
			b = append(b, "abcdefgh"[r.Intn(8)])
			continue
		}
		b = append(b, pieces[r.Intn(len(pieces))]...)
	}
	return b
}

func TestScannersMatchByteAtATime(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for i := 0; i < 200000; i++ {
		body := randomBytes(r, r.Intn(40))
		b := append(append([]byte(`"`), body...), []byte(`"  ,`)[:r.Intn(5)]...)
		end, esc, err := scanString(b, 0)
		wend, wesc, werr := scanStringRef(b, 0)
		if end != wend || esc != wesc || (err == nil) != (werr == nil) {
			t.Fatalf("scanString(%q) = %d %v %v, want %d %v %v", b, end, esc, err, wend, wesc, werr)
		}
		if err == nil {
			if got := skipString(b, 0); got != end {
				t.Fatalf("skipString(%q) = %d, want %d", b, got, end)
			}
			raw := b[:end]
			want := bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && utf8.Valid(raw[1:len(raw)-1])
			if got := plainString(raw); got != want {
				t.Fatalf("plainString(%q) = %v, want %v", raw, got, want)
			}
		}
		s := string(body)
		if got, want := appendString([]byte("x"), s), appendStringRef([]byte("x"), s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %q, want %q", s, got, want)
		}
	}
}
