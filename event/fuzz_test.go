package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary
// tests; `go test -fuzz=FuzzDecode ./event/` explores further.

// FuzzDecode decodes arbitrary record values in structured mode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(base()))
	f.Fuzz(func(t *testing.T, value []byte) {
		rec := &Record{Topic: "t", Key: []byte("k"), Value: value}
		ev, err := Decode(rec, Limits{})
		checkDecoded(t, rec, Limits{}, ev, err)
		if err == nil && ev.Mode != Structured {
			t.Errorf("Mode = %v, want structured", ev.Mode)
		}
		if json.Valid(value) {
			checkTrusted(t, rec, ev, err)
		} else {
			Decode(rec, Limits{Trusted: true}) // any answer, but no panic
		}
	})
}

// checkTrusted checks that a trusted decode of a valid JSON value is the
// validating one's: the same event or the same error.
func checkTrusted(t *testing.T, rec *Record, want *Event, wantErr error) {
	t.Helper()
	got, err := Decode(rec, Limits{Trusted: true})
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("trusted decode: error %v, validating decode %v", err, wantErr)
	}
	if err != nil {
		return
	}
	if got.DataValid || !want.DataValid {
		t.Fatalf("DataValid %v after a trusted decode, %v after a validating one", got.DataValid, want.DataValid)
	}
	got.DataValid = true
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("trusted decode %+v\nvalidating decode %+v", got, want)
	}
}

// FuzzDecodeBinary decodes arbitrary binary-mode records.
func FuzzDecodeBinary(f *testing.F) {
	f.Add("1.0", "e-1", "/s", trigger, "", "", "", "application/json", []byte(triggerData))
	f.Fuzz(func(t *testing.T, specversion, id, source, typ, tm, workspace, deadline, contentType string, value []byte) {
		rec := &Record{Topic: "t", Key: []byte(id), Value: value, Headers: []Header{
			{Key: "ce_specversion", Value: []byte(specversion)},
			{Key: "ce_id", Value: []byte(id)},
			{Key: "ce_source", Value: []byte(source)},
			{Key: "ce_type", Value: []byte(typ)},
		}}
		for _, h := range []Header{
			{Key: "ce_time", Value: []byte(tm)},
			{Key: "ce_brazeworkspace", Value: []byte(workspace)},
			{Key: "ce_brazedeadline", Value: []byte(deadline)},
			{Key: "content-type", Value: []byte(contentType)},
		} {
			if len(h.Value) > 0 {
				rec.Headers = append(rec.Headers, h)
			}
		}
		lim := Limits{MaxRecordBytes: 4096}
		ev, err := Decode(rec, lim)
		checkDecoded(t, rec, lim, ev, err)
		if err == nil && ev.Mode != Binary {
			t.Errorf("Mode = %v, want binary", ev.Mode)
		}
	})
}

// checkDecoded asserts what Decode promises about any record.
func checkDecoded(t *testing.T, rec *Record, lim Limits, ev *Event, err error) {
	t.Helper()
	if err != nil {
		if ev != nil {
			t.Fatalf("Decode returned an event with error %v", err)
		}
		switch r, _ := ReasonOf(err); r {
		case ReasonInvalidEvent, ReasonUnknownType, ReasonTooLarge:
		default:
			t.Fatalf("error %v has reason %q", err, r)
		}
		if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > 1024 {
			t.Fatalf("error is not one short line: %q", msg)
		}
		return
	}
	if ev.Spec == nil {
		t.Fatal("Spec is nil")
	}
	if s, ok := Lookup(ev.Type); !ok || s != ev.Spec {
		t.Fatalf("Spec %+v is not the table's entry for %q", ev.Spec, ev.Type)
	}
	if ev.ID == "" || ev.Source == "" || ev.Workspace == "" {
		t.Fatalf("empty attribute: id %q source %q workspace %q", ev.ID, ev.Source, ev.Workspace)
	}
	if !json.Valid(ev.Data) || ev.Data[0] != '{' {
		t.Fatalf("Data is not a JSON object: %q", ev.Data)
	}
	max := lim.MaxRecordBytes
	if max <= 0 {
		max = 1 << 20
	}
	if ev.Size != recordSize(rec) || ev.Size > max {
		t.Fatalf("Size = %d for a %d-byte record (max %d)", ev.Size, recordSize(rec), max)
	}
	// The batching view is the same whether the validating scan split
	// data on its way (structured mode) or init splits it itself.
	var resplit Batch
	resplitOK := ev.Spec.Batchable && resplit.init(ev, split{})
	if resplitOK != (ev.Batch != nil) ||
		resplitOK && (resplit.Key != ev.Batch.Key || !reflect.DeepEqual(resplit.Recipients, ev.Batch.Recipients)) {
		t.Fatalf("batching view %+v, splitting data again gives %+v (%v)", ev.Batch, resplit, resplitOK)
	}
	if ev.Batch == nil {
		return
	}
	b := ev.Batch
	if !ev.Spec.Batchable || len(b.Recipients) == 0 {
		t.Fatalf("Batch on a %q event with %d recipients", ev.Type, len(b.Recipients))
	}
	for _, r := range b.Recipients {
		if r.Key == "" || r.Kind == 0 || !json.Valid(r.Raw) {
			t.Fatalf("recipient %q has Raw %q", r.ID(), r.Raw)
		}
	}
	if empty := b.AppendBody(nil, nil); !json.Valid(empty) {
		t.Fatalf("AppendBody(no recipients) is not JSON: %q", empty)
	}
	body := b.AppendBody(nil, b.Recipients)
	if !json.Valid(body) {
		t.Fatalf("AppendBody is not JSON: %q\nfrom data %q", body, ev.Data)
	}
	// The body is an event of the same batch: same key, same recipients
	// (ids before aliases for /messages/send, as the body lists them).
	again, err := Decode(&Record{Value: body, Headers: []Header{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte("x")},
		{Key: "ce_source", Value: []byte("x")},
		{Key: "ce_type", Value: []byte(ev.Type)},
		{Key: "ce_brazeworkspace", Value: []byte(ev.Workspace)},
	}}, Limits{MaxRecordBytes: 1 << 30})
	if err != nil {
		t.Fatalf("the merged body does not decode: %v\n%q", err, body)
	}
	if again.Batch == nil || again.Batch.Key != b.Key {
		t.Fatalf("the merged body has another batch (%+v)\nbody %q\nfrom %q", again.Batch, body, ev.Data)
	}
	var want, got []string
	for _, alias := range []bool{false, true} {
		for _, r := range b.Recipients {
			if r.Alias == alias {
				want = append(want, r.ID())
			}
		}
	}
	for _, r := range again.Batch.Recipients {
		got = append(got, r.ID())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the merged body's recipients are %q, want %q", got, want)
	}
}

// FuzzCanonical checks the JSON scanner and the canonical form.
func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"b":[1,{"y":2,"x":"\u0041"}],"a":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Any input: no panic (results are meaningless for invalid JSON).
		_, _ = members(nil, data)
		_, _ = elements(data)
		_, _ = appendCanonical(nil, data)
		if !json.Valid(data) {
			return
		}
		c, err := appendCanonical(nil, data)
		if err != nil {
			t.Fatalf("appendCanonical(%q): %v", data, err)
		}
		if !json.Valid(c) {
			t.Fatalf("canonical form %q of %q is not JSON", c, data)
		}
		if cc, err := appendCanonical(nil, c); err != nil || !bytes.Equal(cc, c) {
			t.Fatalf("canonical form is not idempotent: %q then %q (%v)", c, cc, err)
		}
		if !reflect.DeepEqual(decodeAny(t, c), decodeAny(t, data)) {
			t.Fatalf("canonical form %q means something else than %q", c, data)
		}
		var indented bytes.Buffer
		if err := json.Indent(&indented, data, "\n ", "\t"); err != nil {
			t.Fatal(err)
		}
		if ci, err := appendCanonical(nil, indented.Bytes()); err != nil || !bytes.Equal(ci, c) {
			t.Fatalf("whitespace changed the canonical form: %q then %q (%v)", c, ci, err)
		}
		data = bytes.TrimSpace(data)
		switch data[0] {
		case '{':
			ms, err := members(nil, data)
			if err != nil {
				t.Fatalf("members(%q): %v", data, err)
			}
			for _, m := range ms {
				var k string
				if err := json.Unmarshal(m.raw, &k); err != nil || k != m.name() || !json.Valid(m.value) {
					t.Fatalf("member %q (raw %q) = %q", m.name(), m.raw, m.value)
				}
			}
		case '[':
			es, err := elements(data)
			if err != nil {
				t.Fatalf("elements(%q): %v", data, err)
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(data, &arr); err != nil {
				t.Fatal(err)
			}
			if len(es) != len(arr) {
				t.Fatalf("elements(%q) has %d elements, want %d", data, len(es), len(arr))
			}
			for i, e := range es {
				if !bytes.Equal(e, arr[i]) {
					t.Fatalf("element %d = %q, want %q", i, e, arr[i])
				}
			}
		}
	})
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", b, err)
	}
	return v
}
