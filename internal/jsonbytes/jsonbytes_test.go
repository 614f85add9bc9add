package jsonbytes

import (
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
