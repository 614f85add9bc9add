package event

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// scanCases are inputs on which the validating scanner must agree with
// json.Valid and members.
func scanCases(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range []string{
		`{}`, ` {} `, `{"a":1}`, `{"a":1}x`, `{"a":1} {}`, `{"a":1,}`, `{,}`, `{"a" 1}`, `{"a":[1,]}`, `{"a":[1 2]}`,
		`[]`, `[1]`, `"x"`, `1`, `-0.5e+3`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `truex`, `nul`, `null`, ``, ` `,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"t\tb\"}", `{"a":"\"\\\/\b\f\n\r\t\u00e9"}`,
		"{\"a\":\"\xff\xfe\"}", "{\"\xff\":1}", `{"a":{"b":[{"c":null},true,false,-1.25E-7]}}`, `{"a":1`, `{"a":"`,
		`{"specversion":"1.0","id":"1","source":"/s","type":"braze.campaigns.trigger.send","data":{"campaign_id":"c"}}`,
		strings.Repeat(`{"a":`, maxScanDepth+3) + "1" + strings.Repeat("}", maxScanDepth+3),
		strings.Repeat("[", maxScanDepth+3) + strings.Repeat("]", maxScanDepth+3),
	} {
		out = append(out, []byte(s))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "*", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
		if i := bytes.Index(b, []byte("{")); i >= 0 {
			out = append(out, b[i:])
		}
	}
	return out
}

func checkScan(t *testing.T, in []byte) {
	t.Helper()
	valid := json.Valid(in)
	if got := validJSON(in); got != valid {
		t.Fatalf("validJSON(%q) = %v, json.Valid %v", in, got, valid)
	}
	ms, ok := validMembers(nil, in)
	if !ok {
		return
	}
	if !valid {
		t.Fatalf("validMembers accepts %q, which json.Valid rejects", in)
	}
	want, err := members(nil, in)
	if err != nil {
		t.Fatalf("validMembers accepts %q, members fails: %v", in, err)
	}
	if len(ms) != len(want) {
		t.Fatalf("validMembers(%q) has %d members, members %d", in, len(ms), len(want))
	}
	for i := range ms {
		if !bytes.Equal(ms[i].raw, want[i].raw) || !bytes.Equal(ms[i].value, want[i].value) {
			t.Fatalf("member %d of %q: %q:%q, members gives %q:%q", i, in, ms[i].raw, ms[i].value, want[i].raw, want[i].value)
		}
	}
}

func TestValidatingScanner(t *testing.T) {
	for _, in := range scanCases(t) {
		checkScan(t, in)
	}
	if _, ok := validMembers(nil, []byte(`{"a":{"b":[1,2]},"c":"d"}`)); !ok {
		t.Fatal("validMembers declines a plain object")
	}
}

func FuzzValidatingScanner(f *testing.F) {
	for _, in := range scanCases(f) {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkScan(t, in) })
}
