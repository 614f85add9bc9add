package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unsafe"
)

const (
	trigger = "braze.campaigns.trigger.send"
	canvas  = "braze.canvas.trigger.send"
	send    = "braze.messages.send"
)

// decodeBody decodes a structured event of type typ whose data is data, in
// workspace ws ("" for the default).
func decodeBody(t *testing.T, typ, data, ws string) *Event {
	t.Helper()
	over := []string{"type", typ, "data", data}
	if ws != "" {
		over = append(over, "brazeworkspace", ws)
	}
	ev, err := Decode(structuredRecord(base(over...)), Limits{})
	if err != nil {
		t.Fatalf("Decode(%s): %v", data, err)
	}
	return ev
}

func batchOf(t *testing.T, typ, data, ws string) *Batch {
	t.Helper()
	ev := decodeBody(t, typ, data, ws)
	if ev.Batch == nil {
		t.Fatalf("event %s has no batching view", data)
	}
	return ev.Batch
}

func TestBatchKey(t *testing.T) {
	type body struct{ typ, data, ws string }
	tests := []struct {
		name  string
		a, b  body
		equal bool
	}{
		{
			name:  "trigger: different recipients and their properties",
			a:     body{trigger, `{"campaign_id":"c","trigger_properties":{"x":1},"recipients":[{"external_user_id":"u1","trigger_properties":{"n":"Ann"}}]}`, ""},
			b:     body{trigger, `{"campaign_id":"c","trigger_properties":{"x":1},"recipients":[{"user_alias":{"alias_name":"a","alias_label":"l"}},{"email":"b@x.io","prioritization":["identified"]}]}`, ""},
			equal: true,
		},
		{
			name:  "canvas: different recipients",
			a:     body{canvas, `{"canvas_id":"cv","recipients":[{"external_user_id":"u1","context":{"a":1}}]}`, ""},
			b:     body{canvas, `{"recipients":[{"braze_id":"b1"}],"canvas_id":"cv"}`, ""},
			equal: true,
		},
		{
			name:  "messages.send: external ids versus aliases versus both",
			a:     body{send, `{"external_user_ids":["u1"],"messages":{"sms":{"body":"hi"}}}`, ""},
			b:     body{send, `{"messages":{"sms":{"body":"hi"}},"user_aliases":[{"alias_name":"a","alias_label":"l"}],"external_user_ids":["u2","u3"]}`, ""},
			equal: true,
		},
		{
			name:  "messages.send: a null recipient list is no field",
			a:     body{send, `{"external_user_ids":["u1"],"user_aliases":null,"messages":{}}`, ""},
			b:     body{send, `{"external_user_ids":["u2"],"messages":{}}`, ""},
			equal: true,
		},
		{
			name:  "key order and whitespace, nested",
			a:     body{trigger, `{"campaign_id":"c","trigger_properties":{"a":1,"b":{"x":[1,{"p":true,"q":null}],"y":"z"}},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:     body{trigger, "{ \"recipients\" : [ {\"external_user_id\":\"u2\"} ] ,\n\t\"trigger_properties\": { \"b\" : { \"y\" : \"z\" , \"x\" : [ 1 , { \"q\" : null , \"p\" : true } ] } , \"a\" : 1 } , \"campaign_id\" : \"c\" }", ""},
			equal: true,
		},
		{
			name:  "same workspace named and default",
			a:     body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1"}]}`, "default"},
			b:     body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u2"}]}`, ""},
			equal: true,
		},
		{
			name: "workspace",
			a:    body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1"}]}`, "eu"},
			b:    body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u2"}]}`, "us"},
		},
		{
			name: "endpoint",
			a:    body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{canvas, `{"campaign_id":"c","recipients":[{"external_user_id":"u2"}]}`, ""},
		},
		{
			name: "campaign_id",
			a:    body{trigger, `{"campaign_id":"c1","recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c2","recipients":[{"external_user_id":"u1"}]}`, ""},
		},
		{
			name: "top-level trigger_properties value",
			a:    body{trigger, `{"campaign_id":"c","trigger_properties":{"coupon":"A"},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","trigger_properties":{"coupon":"B"},"recipients":[{"external_user_id":"u2"}]}`, ""},
		},
		{
			name: "nested array order",
			a:    body{trigger, `{"campaign_id":"c","trigger_properties":{"skus":[1,2]},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","trigger_properties":{"skus":[2,1]},"recipients":[{"external_user_id":"u2"}]}`, ""},
		},
		{
			name: "broadcast present versus absent",
			a:    body{trigger, `{"campaign_id":"c","broadcast":false,"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u2"}]}`, ""},
		},
		{
			name: "extra field",
			a:    body{send, `{"external_user_ids":["u1"],"messages":{}}`, ""},
			b:    body{send, `{"external_user_ids":["u1"],"messages":{},"send_id":"s"}`, ""},
		},
		{
			name: "nested value type",
			a:    body{send, `{"external_user_ids":["u1"],"messages":{"sms":{"body":"1"}}}`, ""},
			b:    body{send, `{"external_user_ids":["u1"],"messages":{"sms":{"body":1}}}`, ""},
		},
		{
			name: "value moved between fields",
			a:    body{send, `{"external_user_ids":["u1"],"a":"b","c":"d"}`, ""},
			b:    body{send, `{"external_user_ids":["u1"],"a":"bc","":"d"}`, ""},
		},
		{
			name: "key holding a separator",
			a:    body{send, `{"external_user_ids":["u1"],"a":1,"b":2}`, ""},
			b:    body{send, `{"external_user_ids":["u1"],"a\u00001\u0000b":2}`, ""},
		},
		{
			name: "workspace holding a separator",
			a:    body{send, `{"external_user_ids":["u1"],"a":1}`, "x"},
			b:    body{send, `{"external_user_ids":["u1"]}`, "\x00" + `"x\u0000\"a\"\u00001"`},
		},
		{
			name: "keys that decode to the same replacement character",
			a:    body{trigger, `{"campaign_id":"c","trigger_properties":{"\ud800":1},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","trigger_properties":{"\udc00":1},"recipients":[{"external_user_id":"u1"}]}`, ""},
		},
		{
			name: "duplicate keys in a different order",
			a:    body{trigger, `{"campaign_id":"c","trigger_properties":{"a":1,"a":2},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","trigger_properties":{"a":2,"a":1},"recipients":[{"external_user_id":"u1"}]}`, ""},
		},
		{
			name: "escaped and literal duplicate keys in a different order",
			a:    body{trigger, `{"campaign_id":"c","trigger_properties":{"a":1,"\u0061":2},"recipients":[{"external_user_id":"u1"}]}`, ""},
			b:    body{trigger, `{"campaign_id":"c","trigger_properties":{"\u0061":2,"a":1},"recipients":[{"external_user_id":"u1"}]}`, ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := batchOf(t, tt.a.typ, tt.a.data, tt.a.ws)
			b := batchOf(t, tt.b.typ, tt.b.data, tt.b.ws)
			if (a.Key == b.Key) != tt.equal {
				t.Errorf("keys equal = %v, want %v\n a: %q\n b: %q", a.Key == b.Key, tt.equal, a.Key, b.Key)
			}
		})
	}
}

func TestBatchKeyIsStable(t *testing.T) {
	data := `{"campaign_id":"c","trigger_properties":{"z":1,"a":[{"k":"v","b":2}]},"recipients":[{"external_user_id":"u1"}]}`
	first := batchOf(t, trigger, data, "").Key
	for range 5 {
		if k := batchOf(t, trigger, data, "").Key; k != first {
			t.Fatalf("key changed between decodes: %q then %q", first, k)
		}
	}
}

func TestRecipientIDs(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		data  string
		want  []string
		alias []bool // for messages.send
	}{
		{
			name: "trigger, each identifier kind",
			typ:  trigger,
			data: `{"campaign_id":"c","recipients":[` +
				`{"external_user_id":"u1","trigger_properties":{"a":1}},` +
				`{"user_alias":{"alias_name":"lead-77","alias_label":"crm_id"}},` +
				`{"email":"Ann.Lee@Example.COM","prioritization":["identified"]},` +
				`{"braze_id":"x"},` +
				`{"external_user_id":"caf\u00e9","send_to_existing_only":false,"attributes":{"email":"a@b.c"}}]}`,
			want: []string{"external_user_id:u1", "alias:crm_id:lead-77", "email:ann.lee@example.com", "braze_id:x", "external_user_id:café"},
		},
		{
			name: "canvas, alias with extra fields",
			typ:  canvas,
			data: `{"canvas_id":"cv","recipients":[{"user_alias":{"alias_label":"l","alias_name":"n","x":1},"context":{}}]}`,
			want: []string{"alias:l:n"},
		},
		{
			name:  "messages.send, ids then aliases in document order",
			typ:   send,
			data:  `{"user_aliases":[{"alias_name":"n1","alias_label":"l"}],"messages":{},"external_user_ids":["u1","u2"]}`,
			want:  []string{"alias:l:n1", "external_user_id:u1", "external_user_id:u2"},
			alias: []bool{true, false, false},
		},
		{
			name:  "messages.send, escaped external ids",
			typ:   send,
			data:  `{"messages":{},"external_user_ids":["caf\u00e9","a\"b","u3"]}`,
			want:  []string{"external_user_id:café", `external_user_id:a"b`, "external_user_id:u3"},
			alias: []bool{false, false, false},
		},
		{
			name:  "aliases read by their exact member names",
			typ:   send,
			data:  `{"user_aliases":[{"alias_name":"n","alias_label":"l","Alias_Name":"m"},{"alias_label":"\u006c","alias_name":"\u006e2"}],"messages":{}}`,
			want:  []string{"alias:l:n", "alias:l:n2"},
			alias: []bool{true, true},
		},
		{
			name: "trigger alias read by its exact member names",
			typ:  trigger,
			data: `{"campaign_id":"c","recipients":[{"user_alias":{"alias_label":"l","ALIAS_LABEL":"x","alias_name":"n"}}]}`,
			want: []string{"alias:l:n"},
		},
		{
			name:  "messages.send, only aliases",
			typ:   send,
			data:  `{"user_aliases":[{"alias_name":"n1","alias_label":"l"},{"alias_name":"n2","alias_label":"l"}],"messages":{}}`,
			want:  []string{"alias:l:n1", "alias:l:n2"},
			alias: []bool{true, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := batchOf(t, tt.typ, tt.data, "")
			var got []string
			for _, r := range b.Recipients {
				got = append(got, r.ID())
				if !json.Valid(r.Raw) {
					t.Errorf("recipient %s: Raw %q is not JSON", r.ID(), r.Raw)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("IDs = %q, want %q", got, tt.want)
			}
			for i, r := range b.Recipients {
				if want := tt.alias != nil && tt.alias[i]; r.Alias != want {
					t.Errorf("recipient %s: Alias = %v, want %v", r.ID(), r.Alias, want)
				}
			}
		})
	}
}

func TestRecipientRawIsProducerJSON(t *testing.T) {
	r0 := `{ "external_user_id" : "u1", "trigger_properties" : {"b":2,"a":1} }`
	b := batchOf(t, trigger, `{"campaign_id":"c","recipients":[`+r0+`]}`, "")
	if string(b.Recipients[0].Raw) != r0 {
		t.Errorf("Raw = %s, want %s", b.Recipients[0].Raw, r0)
	}
}

func TestNoBatch(t *testing.T) {
	tests := []struct {
		name, typ, data string
	}{
		{"trigger broadcast", trigger, `{"campaign_id":"c","broadcast":true}`},
		{"trigger broadcast with audience", trigger, `{"campaign_id":"c","broadcast":true,"audience":{"AND":[]}}`},
		{"messages.send segment broadcast", send, `{"broadcast":true,"segment_id":"s","messages":{}}`},
		{"no recipients field", trigger, `{"campaign_id":"c"}`},
		{"empty recipients", trigger, `{"campaign_id":"c","recipients":[]}`},
		{"null recipients", trigger, `{"campaign_id":"c","recipients":null}`},
		{"messages.send empty lists", send, `{"external_user_ids":[],"user_aliases":[],"messages":{}}`},
		{"recipient with two identifiers", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1","user_alias":{"alias_name":"n","alias_label":"l"}}]}`},
		{"recipient with id and email", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1","email":"a@b.c"}]}`},
		{"recipient with the same identifier twice", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1","external_user_id":"u2"}]}`},
		{"recipient without identifier", trigger, `{"campaign_id":"c","recipients":[{"trigger_properties":{}}]}`},
		{"non-string external_user_id", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":42}]}`},
		{"null external_user_id", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":null}]}`},
		{"empty external_user_id", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":""}]}`},
		{"non-string email", trigger, `{"campaign_id":"c","recipients":[{"email":["a@b.c"]}]}`},
		{"alias without label", trigger, `{"campaign_id":"c","recipients":[{"user_alias":{"alias_name":"n"}}]}`},
		{"alias with a repeated name", trigger, `{"campaign_id":"c","recipients":[{"user_alias":{"alias_name":"n","alias_label":"l","alias_name":"m"}}]}`},
		{"alias name in another case only", send, `{"user_aliases":[{"ALIAS_NAME":"n","alias_label":"l"}],"messages":{}}`},
		{"alias name not a string", send, `{"user_aliases":[{"alias_name":1,"alias_label":"l"}],"messages":{}}`},
		{"alias label empty", send, `{"user_aliases":[{"alias_name":"n","alias_label":""}],"messages":{}}`},
		{"alias not an object", trigger, `{"campaign_id":"c","recipients":[{"user_alias":"n"}]}`},
		{"recipient not an object", trigger, `{"campaign_id":"c","recipients":["u1"]}`},
		{"one bad recipient among good ones", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1"},{"braze_id":7}]}`},
		{"recipients an object", trigger, `{"campaign_id":"c","recipients":{"external_user_id":"u1"}}`},
		{"recipients a string", canvas, `{"canvas_id":"c","recipients":"u1"}`},
		{"external_user_ids a string", send, `{"external_user_ids":"u1","messages":{}}`},
		{"external_user_ids with a number", send, `{"external_user_ids":["u1",2],"messages":{}}`},
		{"external_user_ids with an empty id", send, `{"external_user_ids":[""],"messages":{}}`},
		{"user_aliases with a string", send, `{"user_aliases":["n"],"messages":{}}`},
		{"user_aliases with null", send, `{"user_aliases":[null],"messages":{}}`},
		{"user_aliases without name", send, `{"user_aliases":[{"alias_label":"l"}],"messages":{}}`},
		{"user_aliases an object", send, `{"user_aliases":{"alias_name":"n","alias_label":"l"},"messages":{}}`},
		{"trigger recipients on a non-batchable type", "braze.campaigns.trigger.schedule.create",
			`{"campaign_id":"c","recipients":[{"external_user_id":"u1"}],"schedule":{"time":"2030-01-01T00:00:00Z"}}`},
		{"messages.send recipients field is not its targeting", send, `{"recipients":[{"external_user_id":"u1"}],"messages":{}}`},
		{"trigger external_user_ids is not its targeting", trigger, `{"campaign_id":"c","external_user_ids":["u1"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := decodeBody(t, tt.typ, tt.data, "")
			if ev.Batch != nil {
				t.Errorf("Batch = %+v, want nil", ev.Batch)
			}
		})
	}
}

// decodeJSON decodes b into a generic value, failing the test if it is not JSON.
func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	if !json.Valid(b) {
		t.Fatalf("not valid JSON: %s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %s: %v", b, err)
	}
	return m
}

func TestAppendBody(t *testing.T) {
	tests := []struct {
		name   string
		typ    string
		bodies []string
		// want lists the merged recipient fields: field name → JSON array.
		want map[string]string
	}{
		{
			name: "trigger recipients",
			typ:  trigger,
			bodies: []string{
				`{"campaign_id":"c","trigger_properties":{"coupon":"S","nested":{"a":[1,2]}},"recipients":[{"external_user_id":"u1","trigger_properties":{"n":"<Ann & co>"}}]}`,
				"{\"recipients\":[{\"user_alias\":{\"alias_name\":\"n\",\"alias_label\":\"l\"}},{\"email\":\"a@b.c\",\"prioritization\":[\"identified\"]}],\n \"trigger_properties\":{\"nested\":{\"a\":[1,2]},\"coupon\":\"S\"},\"campaign_id\":\"c\"}",
			},
			want: map[string]string{"recipients": `[{"external_user_id":"u1","trigger_properties":{"n":"<Ann & co>"}},` +
				`{"user_alias":{"alias_name":"n","alias_label":"l"}},{"email":"a@b.c","prioritization":["identified"]}]`},
		},
		{
			name: "canvas recipients, no other field",
			typ:  canvas,
			bodies: []string{
				`{"recipients":[{"external_user_id":"u1"}]}`,
				`{"recipients":[{"external_user_id":"u2","context":{"k":"v"}}]}`,
			},
			want: map[string]string{"recipients": `[{"external_user_id":"u1"},{"external_user_id":"u2","context":{"k":"v"}}]`},
		},
		{
			name: "messages.send mixed ids and aliases",
			typ:  send,
			bodies: []string{
				`{"campaign_id":"c","messages":{"email":{"app_id":"a","subject":"S","body":"<b>hi</b>"}},"external_user_ids":["u1"]}`,
				`{"user_aliases":[{"alias_name":"n2","alias_label":"l"}],"campaign_id":"c","messages":{"email":{"app_id":"a","subject":"S","body":"<b>hi</b>"}}}`,
				`{"campaign_id":"c","external_user_ids":["u3","u4"],"messages":{"email":{"app_id":"a","subject":"S","body":"<b>hi</b>"}},"user_aliases":[{"alias_name":"n3","alias_label":"l"}]}`,
			},
			want: map[string]string{
				"external_user_ids": `["u1","u3","u4"]`,
				"user_aliases":      `[{"alias_name":"n2","alias_label":"l"},{"alias_name":"n3","alias_label":"l"}]`,
			},
		},
		{
			name: "messages.send only aliases",
			typ:  send,
			bodies: []string{
				`{"messages":{"sms":{"body":"x"}},"user_aliases":[{"alias_name":"n1","alias_label":"l"}]}`,
				`{"messages":{"sms":{"body":"x"}},"user_aliases":[{"alias_name":"n2","alias_label":"l"}]}`,
			},
			want: map[string]string{"user_aliases": `[{"alias_name":"n1","alias_label":"l"},{"alias_name":"n2","alias_label":"l"}]`},
		},
		{
			name: "messages.send only ids, no other field",
			typ:  send,
			bodies: []string{
				`{"external_user_ids":["u1"]}`,
				`{"external_user_ids":["u2"]}`,
			},
			want: map[string]string{"external_user_ids": `["u1","u2"]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var first *Batch
			var rs []Recipient
			for _, data := range tt.bodies {
				b := batchOf(t, tt.typ, data, "")
				if first == nil {
					first = b
				} else if b.Key != first.Key {
					t.Fatalf("bodies do not share a batch key:\n%q\n%q", first.Key, b.Key)
				}
				rs = append(rs, b.Recipients...)
			}
			prefix := []byte("prefix")
			out := first.AppendBody(append([]byte(nil), prefix...), rs)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("AppendBody lost dst: %s", out)
			}
			got := decodeJSON(t, out[len(prefix):])
			want := decodeJSON(t, []byte(tt.bodies[0]))
			delete(want, "external_user_ids")
			delete(want, "user_aliases")
			delete(want, "recipients")
			for field, arr := range tt.want {
				var v any
				if err := json.Unmarshal([]byte(arr), &v); err != nil {
					t.Fatal(err)
				}
				want[field] = v
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s\nwant %v", out[len(prefix):], want)
			}
		})
	}
}

func TestAppendBodyKeepsFieldsAsWritten(t *testing.T) {
	data := `{"messages" : {"sms": {"body": "caf\u00e9 <3", "n": 1.50}}, "external_user_ids":["u1"], "campaign_id":"c"}`
	b := batchOf(t, send, data, "")
	out := string(b.AppendBody(nil, b.Recipients))
	want := `{"messages":{"sms": {"body": "caf\u00e9 <3", "n": 1.50}},"campaign_id":"c","external_user_ids":["u1"]}`
	if out != want {
		t.Errorf("body = %s\nwant %s", out, want)
	}
}

func TestAppendBodyWithoutRecipients(t *testing.T) {
	tests := []struct {
		name, typ, data, want string
	}{
		{"trigger", trigger, `{"campaign_id":"c","recipients":[{"external_user_id":"u1"}]}`, `{"campaign_id":"c","recipients":[]}`},
		{"messages.send", send, `{"campaign_id":"c","external_user_ids":["u1"]}`, `{"campaign_id":"c"}`},
		{"messages.send, nothing else", send, `{"external_user_ids":["u1"]}`, `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := batchOf(t, tt.typ, tt.data, "")
			if got := string(b.AppendBody(nil, nil)); got != tt.want {
				t.Errorf("AppendBody(nil) = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestWithField(t *testing.T) {
	tests := []struct {
		name, obj, key, value string
		want                  map[string]any
	}{
		{"empty object", `{}`, "schedule_id", "s-1", map[string]any{"schedule_id": "s-1"}},
		{"empty object with spaces", " { \n } ", "schedule_id", "s-1", map[string]any{"schedule_id": "s-1"}},
		{"one member with spaces", `{ "a":1 }`, "schedule_id", "s-1", map[string]any{"schedule_id": "s-1", "a": 1.0}},
		{"leading whitespace and newlines", "\n\t{\n  \"schedule\": {\"time\": \"2030-01-01T00:00:00Z\"},\n  \"messages\": {}\n}\n",
			"schedule_id", "s-2", map[string]any{"schedule_id": "s-2", "schedule": map[string]any{"time": "2030-01-01T00:00:00Z"}, "messages": map[string]any{}}},
		{"nil", "", "schedule_id", "s-1", map[string]any{"schedule_id": "s-1"}},
		{"blank", " \n", "schedule_id", "s-1", map[string]any{"schedule_id": "s-1"}},
		{"not an object", `[1]`, "schedule_id", "s-1", map[string]any{"schedule_id": "s-1"}},
		{"value needing escapes", `{"a":"b"}`, "schedule_id", "q\"u<o>t\\e\n", map[string]any{"schedule_id": "q\"u<o>t\\e\n", "a": "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := []byte(tt.obj)
			out := WithField(obj, tt.key, tt.value)
			if string(obj) != tt.obj {
				t.Errorf("WithField changed its input to %q", obj)
			}
			got := decodeJSON(t, out)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("WithField = %s, want %v", out, tt.want)
			}
			if !strings.HasPrefix(string(out), `{"`+tt.key+`":`) {
				t.Errorf("WithField = %s, want %q first", out, tt.key)
			}
		})
	}
}

// TestAppendQuoted holds the workspace quoting to strconv.Quote.
func TestAppendQuoted(t *testing.T) {
	for _, s := range []string{"", "default", "eu-01", "a b~", `a"b`, `a\b`, "tab\there", "nul\x00", "caf\u00e9", "\xff", "\x7f"} {
		if got, want := string(appendQuoted([]byte("k"), s)), "k"+strconv.Quote(s); got != want {
			t.Errorf("appendQuoted(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestBatchKeyShared: events with the same batching key share one string
// (keyCache), and a different key is not mistaken for it.
func TestBatchKeyShared(t *testing.T) {
	a := batchOf(t, trigger, `{"campaign_id":"shared-key","recipients":[{"external_user_id":"u1"}]}`, "")
	b := batchOf(t, trigger, `{"campaign_id":"shared-key","recipients":[{"external_user_id":"u2"}]}`, "")
	c := batchOf(t, trigger, `{"campaign_id":"other-key","recipients":[{"external_user_id":"u3"}]}`, "")
	if a.Key != b.Key || unsafe.StringData(a.Key) != unsafe.StringData(b.Key) {
		t.Errorf("two events of one campaign do not share their key")
	}
	if c.Key == a.Key {
		t.Errorf("two campaigns share a key")
	}
}
