package event

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestAssembleIsDecode writes events as a route does and holds Assemble to
// DecodeInto of the record, errors included (by reason and text; invalid
// data by reason): data valid or not, nested beyond the limits, records
// over the size limit, and missing attributes.
func TestAssembleIsDecode(t *testing.T) {
	spec, _ := Lookup("braze.campaigns.trigger.send")
	when := time.Date(2025, 3, 4, 10, 15, 0, 500, time.UTC)
	deep := strings.Repeat(`[`, 70) + strings.Repeat(`]`, 70)
	cases := []struct {
		name string
		a    Attributes
		data string
		lim  Limits
	}{
		{"trigger", Attributes{ID: "i1", Source: "/s", Spec: spec, Time: when, PartitionKey: "u1"},
			`{"campaign_id":"c","recipients":[{"external_user_id":"u1","trigger_properties":{"n":1}}]}`, Limits{}},
		{"workspace and keys", Attributes{ID: "i2", Source: "/s", Spec: spec, Workspace: "eu", ScheduleKey: "k", Deadline: when},
			`{"campaign_id":"c","broadcast":true}`, Limits{}},
		{"many recipients", Attributes{ID: "i3", Source: "/s", Spec: spec},
			`{"campaign_id":"c","recipients":[` + strings.Repeat(`{"external_user_id":"u"},`, 6) + `{"external_user_id":"v"}]}`, Limits{}},
		{"invalid", Attributes{ID: "i4", Source: "/s", Spec: spec}, `{"campaign_id":"c",}`, Limits{}},
		{"invalid string", Attributes{ID: "i5", Source: "/s", Spec: spec}, `{"campaign_id":"c` + "\x01" + `"}`, Limits{}},
		{"too deep", Attributes{ID: "i6", Source: "/s", Spec: spec}, `{"x":` + deep + `}`, Limits{}},
		{"deeper than the scanner", Attributes{ID: "i7", Source: "/s", Spec: spec},
			`{"x":` + strings.Repeat(`[`, 250) + strings.Repeat(`]`, 250) + `}`, Limits{MaxDepth: 300}},
		{"deep enough", Attributes{ID: "i8", Source: "/s", Spec: spec}, `{"x":[[1]]}`, Limits{MaxDepth: 3}},
		{"too large", Attributes{ID: "i9", Source: "/s", Spec: spec}, `{"x":"` + strings.Repeat("y", 300) + `"}`, Limits{MaxRecordBytes: 300}},
		{"no id", Attributes{Source: "/s", Spec: spec}, `{}`, Limits{}},
		{"no source", Attributes{ID: "i10", Spec: spec}, `{}`, Limits{}},
	}
	for _, c := range cases {
		v := `{"specversion":"1.0","id":"` + c.a.ID + `","source":"` + c.a.Source + `","type":"` + spec.Type + `"`
		if !c.a.Time.IsZero() {
			v += `,"time":"` + c.a.Time.Format(time.RFC3339Nano) + `"`
		}
		for _, f := range []struct{ name, v string }{{"brazeworkspace", c.a.Workspace}, {"partitionkey", c.a.PartitionKey}, {"brazeschedulekey", c.a.ScheduleKey}} {
			if f.v != "" {
				v += `,"` + f.name + `":"` + f.v + `"`
			}
		}
		if !c.a.Deadline.IsZero() {
			v += `,"brazedeadline":"` + c.a.Deadline.Format(time.RFC3339Nano) + `"`
		}
		v += `,"data":`
		at := len(v)
		v += c.data + `}`
		rec := &Record{Topic: "t", Key: []byte("k"), Value: []byte(v)}
		var got Event
		err := Assemble(&got, rec, c.a, rec.Value[at:len(v)-1], c.lim)
		want, werr := Decode(rec, c.lim)
		// Invalid data is named as such: the record is the gateway's own.
		r, _ := ReasonOf(err)
		wr, _ := ReasonOf(werr)
		sameText := strings.HasPrefix(c.name, "invalid") || err == nil || err.Error() == werr.Error()
		if (err == nil) != (werr == nil) || r != wr || !sameText {
			t.Errorf("%s: Assemble %v, Decode %v", c.name, err, werr)
			continue
		}
		if err == nil && !reflect.DeepEqual(&got, want) {
			t.Errorf("%s:\nassembled %+v\n  decoded %+v", c.name, got, *want)
		}
	}
}
