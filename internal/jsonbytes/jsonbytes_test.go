package jsonbytes

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// naive is SkipPlain one byte at a time.
func naive(b []byte, i int) int {
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
			return i
		}
	}
	return i
}

// TestSkipPlainEveryByte puts every byte value at every position of a
// run of plain bytes, with every start offset.
func TestSkipPlainEveryByte(t *testing.T) {
	for n := 0; n <= 20; n++ {
		for pos := 0; pos < n; pos++ {
			for c := 0; c < 256; c++ {
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a'
				}
				b[pos] = byte(c)
				for start := 0; start <= n; start++ {
					if got, want := SkipPlain(b, start), naive(b, start); got != want {
						t.Fatalf("SkipPlain(%q, %d) = %d, want %d", b, start, got, want)
					}
					if got, want := SkipPlainString(string(b), start), naive(b, start); got != want {
						t.Fatalf("SkipPlainString(%q, %d) = %d, want %d", b, start, got, want)
					}
				}
			}
		}
	}
}

// TestSkipPlainRandom compares with the naive loop on random bytes biased
// towards the special ones.
func TestSkipPlainRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', 'Z', '0', ' ', '"', '\\', 0x00, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff, '!', '#'}
	for range 200000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(4) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = byte('a' + rng.IntN(26))
			}
		}
		start := 0
		if len(b) > 0 {
			start = rng.IntN(len(b) + 1)
		}
		if got, want := SkipPlain(b, start), naive(b, start); got != want {
			t.Fatalf("SkipPlain(%q, %d) = %d, want %d", b, start, got, want)
		}
		if got, want := SkipPlainString(string(b), start), naive(b, start); got != want {
			t.Fatalf("SkipPlainString(%q, %d) = %d, want %d", b, start, got, want)
		}
	}
}

func BenchmarkSkipPlain(b *testing.B) {
	s := []byte(`c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f and some longer text before the quote"`)
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if SkipPlain(s, 0) != len(s)-1 {
			b.Fatal("wrong")
		}
	}
}

// TestScanNumber holds ScanNumber to JSON's grammar on valid and invalid
// numbers, followed by what may end one.
func TestScanNumber(t *testing.T) {
	valid := []string{"0", "-0", "7", "-12", "10", "0.5", "-0.5", "1.25e10", "1E+2", "1e-2", "123456789012345678901234567890"}
	invalid := []string{"", "-", "+1", "01", ".5", "1.", "1e", "1e+", "-a", "0x1", "e1"}
	for _, n := range valid {
		for _, end := range []string{"", ",", "}", "]", " "} {
			b := []byte(n + end)
			if e, ok := ScanNumber(b, 0); !ok || e != len(n) {
				t.Errorf("ScanNumber(%q) = %d, %v; want %d, true", b, e, ok, len(n))
			}
		}
	}
	for _, n := range invalid {
		if e, ok := ScanNumber([]byte(n), 0); ok && e == len(n) && n != "" {
			t.Errorf("ScanNumber(%q) accepted the whole of it", n)
		} else if n == "" && ok {
			t.Errorf("ScanNumber(%q) = %d, true", n, e)
		}
	}
	if _, ok := ScanNumber([]byte("1"), 5); ok {
		t.Error("ScanNumber past the end found a number")
	}
}

// TestScanLiteral matches literals at and near the end of the input.
func TestScanLiteral(t *testing.T) {
	for _, tc := range []struct {
		in, lit string
		i       int
		end     int
		ok      bool
	}{
		{"true", "true", 0, 4, true},
		{"[null]", "null", 1, 5, true},
		{"tru", "true", 0, 0, false},
		{"false", "fals", 0, 4, true},
		{"nul", "null", 1, 0, false},
		{"x", "null", 5, 0, false},
	} {
		end, ok := ScanLiteral([]byte(tc.in), tc.i, tc.lit)
		if end != tc.end || ok != tc.ok {
			t.Errorf("ScanLiteral(%q, %d, %q) = %d, %v; want %d, %v", tc.in, tc.i, tc.lit, end, ok, tc.end, tc.ok)
		}
	}
	for c := 0; c < 256; c++ {
		want := '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		if IsHex(byte(c)) != want {
			t.Errorf("IsHex(%#x) = %v", c, !want)
		}
	}
}

// TestScanStringMatchesEncodingJSON holds ScanString to json.Valid on
// strings built from the bytes that matter, and checks where it stops.
func TestScanStringMatchesEncodingJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parts := []string{"a", "Z", " ", `\"`, `\\`, `\/`, `\n`, `\u00e9`, `\u12G4`, `\x`, "\x00", "\x1f", "é", "\xff", `"`, `\`, "abcdefghij"}
	for range 100000 {
		s := `"`
		for range rng.IntN(8) {
			s += parts[rng.IntN(len(parts))]
		}
		if rng.IntN(4) > 0 {
			s += `"`
		}
		b := []byte(s + ",1")
		end, ok := ScanString(b, 0)
		// The string ends at the first quote ScanString accepts; a valid
		// JSON string there is exactly b[:end].
		want := false
		for e := 2; e <= len(s); e++ {
			if json.Valid(b[:e]) {
				want = true
				if ok && end != e {
					t.Fatalf("ScanString(%q) ends at %d, want %d", s, end, e)
				}
				break
			}
		}
		if ok != want {
			t.Fatalf("ScanString(%q) = %d, %v; json.Valid says %v", s, end, ok, want)
		}
	}
	if _, ok := ScanString([]byte(`x"`), 0); ok {
		t.Error("ScanString accepted a value that does not start with a quote")
	}
	if got := SkipSpace([]byte(" \t\r\n x"), 0); got != 5 {
		t.Errorf("SkipSpace = %d, want 5", got)
	}
}

// skipCases are valid JSON values, each followed by what may come after a
// value inside a document.
var skipCases = []string{
	`"x"`, `""`, `"a\"b\\"`, `"\u00e9 caf\u00e9 é"`, `0`, `-1.5e+3`, `true`, `false`, `null`,
	`{}`, `[]`, `{"a":[1,{"b":"}]"},null]}`, `[{"k":"v"},"[",{"x":{"y":[]}}]`,
	`{"s":"a string longer than eight bytes with \"escapes\" and \\ too"}`,
}

func TestSkipValue(t *testing.T) {
	for _, v := range skipCases {
		for _, tail := range []string{"", ",", "}", "]", " ", "\n,"} {
			b := []byte(v + tail)
			if end, ok := SkipValue(b, 0); !ok || end != len(v) {
				t.Errorf("SkipValue(%q) = %d, %v; want %d, true", b, end, ok, len(v))
			}
		}
	}
}

// FuzzSkipValue checks SkipValue against encoding/json's reading of valid
// values, and that it stays within any input.
func FuzzSkipValue(f *testing.F) {
	for _, v := range skipCases {
		f.Add([]byte(v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		end, ok := SkipValue(b, 0)
		if ok && (end < 0 || end > len(b)) {
			t.Fatalf("SkipValue(%q) = %d, outside the input", b, end)
		}
		if len(b) == 0 || b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r' || !json.Valid(b) {
			return
		}
		if !ok || SkipSpace(b, end) != len(b) {
			t.Fatalf("SkipValue(%q) = %d, %v; the value ends at %d", b, end, ok, len(b))
		}
	})
}

func TestSkipValueDepth(t *testing.T) {
	for v, want := range map[string]int{
		`"[{"`: 0, `12`: 0, `null`: 0, `{}`: 1, `[]`: 1, `{"a":[1,{"b":"}]"},null]}`: 3,
		`[[[]],[]]`: 3, `[{"x":"[[[["},[[{}]]]`: 4,
	} {
		end, depth, ok := SkipValueDepth([]byte(v+","), 0)
		if !ok || end != len(v) || depth != want {
			t.Errorf("SkipValueDepth(%q) = %d, %d, %v; want %d, %d, true", v, end, depth, ok, len(v), want)
		}
	}
}

func TestSame(t *testing.T) {
	b := []byte(`{"a":[1,2]}`)
	other := []byte(`{"a":[1,2]}`)
	for _, tc := range []struct {
		a, b []byte
		want bool
	}{
		{b, b, true},
		{b[5:10], b[5:10], true},
		{b, other, false},        // equal bytes elsewhere
		{b[5:10], b[5:9], false}, // same start, another length
		{b[5:10], b[6:11], false},
		{nil, b[:0], true},
	} {
		if got := Same(tc.a, tc.b); got != tc.want {
			t.Errorf("Same(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
