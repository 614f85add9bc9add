package rules

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fieldStructs are the structs the fast path fills.
func fieldStructs() []func() rawFields {
	return []func() rawFields{
		func() rawFields { return new(request) },
		func() rawFields { return new(recipient) },
		func() rawFields { return new(userAlias) },
		func() rawFields { return new(countRecipients) },
	}
}

// TestFieldTables checks that each struct's field table names every field
// by its json tag and returns that very field.
func TestFieldTables(t *testing.T) {
	for _, mk := range fieldStructs() {
		f := mk()
		v := reflect.ValueOf(f).Elem()
		t.Run(v.Type().Name(), func(t *testing.T) {
			tagged := 0 // request also has unexported helpers
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					tagged++
				}
			}
			if got := len(f.names()); got != tagged {
				t.Fatalf("names() has %d entries, the struct %d JSON fields", got, tagged)
			}
			for i := range v.NumField() {
				if !v.Type().Field(i).IsExported() {
					continue
				}
				tag := v.Type().Field(i).Tag.Get("json")
				if !strings.Contains(","+strings.Join(f.names(), ",")+",", ","+tag+",") {
					t.Fatalf("field %s (json %q) is not in names()", v.Type().Field(i).Name, tag)
				}
				p := f.field([]byte(tag))
				if p == nil || reflect.ValueOf(p).Pointer() != v.Field(i).Addr().Pointer() {
					t.Fatalf("field(%q) does not return field %s", tag, v.Type().Field(i).Name)
				}
			}
			if f.field([]byte("no_such_field")) != nil {
				t.Fatal("field of an unknown name is not nil")
			}
		})
	}
}

// decodeCases are bodies on which the fast path must agree with
// encoding/json: it decodes them to the same fields, or declines.
func decodeCases(t testing.TB) [][]byte {
	t.Helper()
	cases := []string{
		`{}`, ` { } `, `{"campaign_id":"c1"}`, `{"campaign_id":"c1","campaign_id":"c2"}`,
		`{"CAMPAIGN_ID":"c1"}`, `{"campaign_id":"c1","Campaign_Id":"c2"}`, `{"Campaign_Id":"c2","campaign_id":"c1"}`,
		`{"campaign\u005fid":"c1"}`, `{"campaıgn_id":"c1"}`, `{"ſegment_id":"s"}`, `{"\u212aey":1}`,
		`{"recipients":[{"external_user_id":"u1","trigger_properties":{"a":[1,2,{"b":null}]}}]}`,
		`{"recipients":[null,{"EMAIL":"a@b.c","prioritization":["identified"]}]}`,
		`{"recipients":[1]}`, `{"recipients":["x"]}`, `{"recipients":{"a":1}}`, `{"recipients":[]}`,
		`{"external_user_ids":["a","b",null,3]}`, `{"user_aliases":[{"alias_name":"n","alias_label":"l"}]}`,
		`{"broadcast":true,"audience":{"AND":[{"custom_attribute":{"custom_attribute_name":"x"}}]}}`,
		`{"a":-0.5e+10,"b":0,"c":-0,"d":1.0E-2,"e":true,"f":false,"g":null}`,
		`{"a":01}`, `{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":truex}`,
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"tab\there\"}", `{"a":"\"\\\/\b\f\n\r\t\u00e9"}`,
		`{"a":1,}`, `{,"a":1}`, `{"a" 1}`, `{"a":1 "b":2}`, `{"a":[1,]}`, `{"a":[,1]}`, `{"a":[1 2]}`,
		`{"a":1}x`, `{"a":1} {}`, `{"a":1`, `{"a":"`, `[]`, `"x"`, `null`, ``, ` `, `{"a":{"b":{"c":[[[[]]]]}}}`,
		"{\"a\":\"\xff\xfe\"}", "{\"\xff\":1}", `{"name":"x","NAME":"y","Name":"z"}`,
		`{"recipients":[{"user_alias":{"alias_name":"a","ALIAS_LABEL":"b","alias_label":"c"}}]}`,
		strings.Repeat(`{"a":`, maxFastDepth+5) + "1" + strings.Repeat("}", maxFastDepth+5),
		strings.Repeat("[", maxFastDepth+5) + strings.Repeat("]", maxFastDepth+5),
	}
	var out [][]byte
	for _, c := range cases {
		out = append(out, []byte(c))
	}
	for _, b := range validBodies() {
		out = append(out, []byte(b))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCheck", "*"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		// Corpus files hold go test fuzz v1 lines; the body is the last
		// []byte(...) argument. Use the raw file too: any input will do.
		out = append(out, b)
		if i := bytes.LastIndex(b, []byte("[]byte(")); i >= 0 {
			out = append(out, b[i:])
		}
	}
	return out
}

// checkAgainstJSON fails unless the fast decode of body into fresh structs
// agrees with encoding/json: when the fast path decides, encoding/json
// succeeds and every field holds the same bytes.
func checkAgainstJSON(t *testing.T, body []byte) {
	t.Helper()
	for _, mk := range fieldStructs() {
		fast, slow := mk(), mk()
		if !fastDecodeObject(body, fast) {
			continue
		}
		if err := json.Unmarshal(body, slow); err != nil {
			t.Fatalf("fast path decoded %q into %T, encoding/json failed: %v", body, fast, err)
		}
		for _, n := range fast.names() {
			a, b := *fast.field([]byte(n)), *slow.field([]byte(n))
			if !bytes.Equal(a, b) || (a == nil) != (b == nil) {
				t.Fatalf("%T.%s of %q: fast %q, encoding/json %q", fast, n, body, a, b)
			}
		}
	}
	if got, ok := fastRawArray(body); ok {
		var want []json.RawMessage
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("fastRawArray decoded %q, encoding/json failed: %v", body, err)
		}
		if len(got) != len(want) {
			t.Fatalf("fastRawArray(%q) has %d elements, encoding/json %d", body, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("fastRawArray(%q)[%d] = %q, encoding/json %q", body, i, got[i], want[i])
			}
		}
		if n, ok := fastArrayLen(body); !ok || n != len(want) {
			t.Fatalf("fastArrayLen(%q) = %d, %v; want %d", body, n, ok, len(want))
		}
	} else if _, ok := fastArrayLen(body); ok {
		t.Fatalf("fastArrayLen accepts %q, fastRawArray does not", body)
	}
	for _, trusted := range []bool{false, true} {
		if trusted && !json.Valid(body) {
			break
		}
		got, ok := fastObjectList[recipient](nil, body, trusted)
		if !ok {
			continue
		}
		var want []recipient
		if err := json.Unmarshal(body, &want); err != nil {
			t.Fatalf("fastObjectList decoded %q, encoding/json failed: %v", body, err)
		}
		if !reflect.DeepEqual(normalise(got), normalise(want)) {
			t.Fatalf("fastObjectList(%q, trusted %v) = %q, encoding/json %q", body, trusted, got, want)
		}
	}
	if json.Valid(body) {
		// A trusted body: values skipped, the recipients decoded on the way.
		fast, slow := getRequest(), new(request)
		defer putRequest(fast)
		fast.list = true
		if v := decodeRequest(body, fast, true); v == nil {
			if err := json.Unmarshal(body, slow); err != nil {
				t.Fatalf("trusted decodeRequest decoded %q, encoding/json failed: %v", body, err)
			}
			for _, n := range requestNames {
				a, b := *fast.field([]byte(n)), *slow.field([]byte(n))
				if !bytes.Equal(a, b) || (a == nil) != (b == nil) {
					t.Fatalf("trusted request.%s of %q: %q, encoding/json %q", n, body, a, b)
				}
			}
			if got, ok := fast.recipients(); ok {
				var want []recipient
				if err := json.Unmarshal(slow.Recipients, &want); err != nil {
					t.Fatalf("recipients decoded with the request of %q, encoding/json failed: %v", body, err)
				}
				if !reflect.DeepEqual(normalise(got), normalise(want)) {
					t.Fatalf("recipients decoded with the request of %q = %q, encoding/json %q", body, got, want)
				}
			}
		}
	}
}

// normalise maps empty and nil slices alike, for comparison.
func normalise(rs []recipient) []recipient {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

func TestFastDecodeMatchesEncodingJSON(t *testing.T) {
	for _, body := range decodeCases(t) {
		checkAgainstJSON(t, body)
	}
	// Every prefix of a valid body is a syntax error the fast path must
	// leave to encoding/json.
	body := []byte(bodyCampaignTrigger)
	for i := range len(body) - 1 {
		for _, mk := range fieldStructs() {
			if fastDecodeObject(body[:i], mk()) {
				t.Fatalf("fast path accepts the truncated body %q", body[:i])
			}
		}
	}
}

// TestFastDecodeDecides checks that the fast path actually takes the
// common bodies (a fallback everywhere would pass the agreement tests).
func TestFastDecodeDecides(t *testing.T) {
	for path, body := range validBodies() {
		var r request
		if !fastDecodeObject([]byte(body), &r) {
			t.Errorf("%s: the fast path declines a valid body", path)
		}
		if present(r.Recipients) {
			if _, ok := fastObjectList[recipient](nil, r.Recipients, false); !ok {
				t.Errorf("%s: the fast path declines valid recipients", path)
			}
			trusted := getRequest()
			trusted.list = true
			if v := decodeRequest([]byte(body), trusted, true); v != nil {
				t.Errorf("%s: the trusted path declines a valid body: %v", path, v)
			} else if _, ok := trusted.recipients(); !ok && r.Recipients[0] == '[' {
				t.Errorf("%s: the trusted path does not decode the recipients with the request", path)
			}
			putRequest(trusted)
		}
	}
}

// TestCheckAllocations pins the cost of validating the common event: a
// single-recipient trigger send.
func TestCheckAllocations(t *testing.T) {
	body := []byte(`{"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f","recipients":[{"external_user_id":"user-0000001",` +
		`"trigger_properties":{"otp":"482913","first_name":"Ann"}}]}`)
	if err := Check(PathCampaignsTriggerSend, body, Options{}); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Check(PathCampaignsTriggerSend, body, Options{}) }); n > 3 {
		t.Fatalf("Check allocates %.0f times for a single-recipient trigger send, want at most 3", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = Classify("POST", PathCampaignsTriggerSend, body) }); n > 2 {
		t.Fatalf("Classify allocates %.0f times, want at most 2", n)
	}
}

// FuzzFastDecode checks the agreement with encoding/json on any input.
func FuzzFastDecode(f *testing.F) {
	for _, b := range decodeCases(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		orig := bytes.Clone(body)
		checkAgainstJSON(t, body)
		if !bytes.Equal(body, orig) {
			t.Fatal("body was modified")
		}
	})
}

// TestRecipientsListedOnlyForTriggerSends: a recipients array in the body
// of another endpoint is skipped, not decoded (a large one would cost
// memory for nothing).
func TestRecipientsListedOnlyForTriggerSends(t *testing.T) {
	body := []byte(`{"recipients":[` + strings.TrimSuffix(strings.Repeat(`{"external_user_id":"u"},`, 1000), ",") + `]}`)
	_ = Check(PathMessagesSend, body, Options{ValidJSON: true}) // warm the pool
	if n := testing.AllocsPerRun(20, func() { _ = Check(PathMessagesSend, body, Options{ValidJSON: true}) }); n > 2 {
		t.Fatalf("checking /messages/send with 1,000 recipient objects allocates %.0f times", n)
	}
	for _, p := range []string{PathCampaignsTriggerSend, PathCampaignsScheduleCreate, PathCanvasTriggerSend, PathCanvasScheduleCreate} {
		if !listsRecipients(lookup(p)) {
			t.Errorf("%s: recipients are not decoded with the request", p)
		}
	}
}

// TestPutRequestClearsWhatWasWritten: the recipients a check decoded are
// cleared when its request goes back to the pool (the pool must not keep
// a body alive), also past a shorter second recipients array.
func TestPutRequestClearsWhatWasWritten(t *testing.T) {
	r := getRequest()
	body := json.RawMessage(`"u"`)
	r.setBuf(append(r.buf[:0], recipient{ExternalUserID: body}, recipient{ExternalUserID: body}, recipient{ExternalUserID: body}))
	arr := r.buf[:3]
	r.setBuf(r.buf[:1]) // a second, shorter array
	putRequest(r)
	for i, rc := range arr {
		if rc.ExternalUserID != nil {
			t.Fatalf("recipient %d still refers to the body after putRequest", i)
		}
	}
}
