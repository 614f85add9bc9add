package rfc3339

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cases are usual, unusual and invalid times.
var cases = []string{
	"2025-01-02T03:04:05Z", "2024-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2000-02-29T23:59:59Z",
	"1900-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-01T00:00:00Z", "2025-01-00T00:00:00Z",
	"2025-04-31T00:00:00Z", "2025-01-01T24:00:00Z", "2025-01-01T23:60:00Z", "2025-01-01T23:59:60Z",
	"2025-01-01T00:00:00.Z", "2025-01-01T00:00:00.1Z", "2025-01-01T00:00:00.10Z", "2025-01-01T00:00:00.000000001Z",
	"2025-01-01T00:00:00.123456789Z", "2025-01-01T00:00:00.1234567890Z", "2025-01-01T00:00:00,5Z",
	"2025-01-01t00:00:00z", "2025-01-01T00:00:00+01:00", "2025-01-01T00:00:00-00:00", "2025-01-01 00:00:00Z",
	"0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999Z", "1969-12-31T23:59:59.5Z",
	"1600-03-01T00:00:00Z", "2025-1-01T00:00:00Z", "20250-01-01T00:00:00Z", "2025-01-01T00:00:00",
	"2025-01-01T00:00:0aZ", "+025-01-01T00:00:00Z", "",
}

// check compares Parse with time.Parse, and a canonical text with what
// AppendFormat writes.
func check(t *testing.T, s string) {
	t.Helper()
	got, canonical, err := Parse(s)
	want, werr := time.Parse(time.RFC3339Nano, s)
	if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
		t.Fatalf("Parse(%q) error %v, time.Parse %v", s, err, werr)
	}
	if !got.Equal(want) || got.Location().String() != want.Location().String() || got.Format(time.RFC3339Nano) != want.Format(time.RFC3339Nano) {
		t.Fatalf("Parse(%q) = %v, time.Parse %v", s, got, want)
	}
	if _, _, ok := parseUsual(s); ok && !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(%q) = %#v, time.Parse %#v", s, got, want)
	}
	if canonical && got.UTC().Format(time.RFC3339Nano) != s {
		t.Fatalf("Parse(%q) says canonical, AppendFormat writes %s", s, got.UTC().Format(time.RFC3339Nano))
	}
	if b, bc, berr := Parse([]byte(s)); !b.Equal(got) || bc != canonical || (berr == nil) != (err == nil) {
		t.Fatalf("Parse([]byte(%q)) differs from Parse(string)", s)
	}
}

func TestParseMatchesTimeParse(t *testing.T) {
	for _, s := range cases {
		check(t, s)
	}
	r := rand.New(rand.NewSource(4))
	for i := 0; i < 100000; i++ {
		tm := time.Unix(r.Int63n(253402300800+62167219200)-62167219200, 0).UTC()
		switch r.Intn(4) {
		case 1:
			tm = tm.Add(time.Duration(r.Intn(1e9)))
		case 2:
			tm = tm.Add(time.Duration(r.Intn(1e3)) * time.Millisecond)
		}
		s := tm.Format(time.RFC3339Nano)
		if r.Intn(5) == 0 { // a non-canonical fraction
			s = strings.TrimSuffix(s, "Z") + ".000Z"
			if strings.Count(s, ".") > 1 {
				s = tm.Format("2006-01-02T15:04:05.000000000Z")
			}
		}
		check(t, s)
	}
}

// TestParseTakesTheUsualForm checks that the usual form is read directly,
// not only by time.Parse behind it.
func TestParseTakesTheUsualForm(t *testing.T) {
	for _, s := range []string{"2026-03-01T12:00:00Z", "2026-03-01T12:00:00.123456789Z", "2024-02-29T23:59:59.5Z"} {
		if _, _, ok := parseUsual(s); !ok {
			t.Errorf("parseUsual declines %q", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range cases {
		f.Add(s)
	}
	f.Fuzz(check)
}

func BenchmarkParse(b *testing.B) {
	const s = "2026-03-01T12:00:00.123456789Z"
	b.Run("Parse", func(b *testing.B) {
		for b.Loop() {
			if _, _, err := Parse(s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("time.Parse", func(b *testing.B) {
		for b.Loop() {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
