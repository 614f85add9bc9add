package brazetest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// examplesDir holds one CloudEvents file per event type.
const examplesDir = "../../examples"

// eventTypes are the 17 event types of the gateway's contract (DESIGN.md §2).
var eventTypes = []string{
	"braze.messages.send", "braze.campaigns.trigger.send", "braze.canvas.trigger.send",
	"braze.messages.schedule.create", "braze.messages.schedule.update", "braze.messages.schedule.delete",
	"braze.campaigns.trigger.schedule.create", "braze.campaigns.trigger.schedule.update", "braze.campaigns.trigger.schedule.delete",
	"braze.canvas.trigger.schedule.create", "braze.canvas.trigger.schedule.update", "braze.canvas.trigger.schedule.delete",
	"braze.sends.id.create", "braze.campaigns.duplicate", "braze.canvas.duplicate",
	"braze.messages.live_activity.start", "braze.messages.live_activity.update",
}

// TestExamplesAcceptedByDevConfig plays every file of examples/ in name
// order against a DevConfig server, the way the gateway would: the endpoint
// from the type, data as the body, and for schedule updates and deletes the
// schedule_id that the create of the same brazeschedulekey returned.
func TestExamplesAcceptedByDevConfig(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	s := devServer(t, nil)
	seenType := map[string]bool{}
	seenID := map[string]bool{}
	scheduleIDs := map[string]string{} // brazeschedulekey → schedule_id
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var ev map[string]json.RawMessage
			dec := json.NewDecoder(bytes.NewReader(raw))
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("not a JSON object: %v", err)
			}
			str := func(k string) string {
				var v string
				if b, ok := ev[k]; ok {
					if err := json.Unmarshal(b, &v); err != nil {
						t.Fatalf("%s is not a string: %s", k, b)
					}
				}
				return v
			}
			typ, id := str("type"), str("id")
			if str("specversion") != "1.0" || id == "" || str("source") != "/examples" || typ == "" {
				t.Fatalf("bad envelope: specversion %q id %q source %q type %q", str("specversion"), id, str("source"), typ)
			}
			if _, err := time.Parse(time.RFC3339, str("time")); err != nil {
				t.Fatalf("time: %v", err)
			}
			if seenID[id] {
				t.Fatalf("id %q used twice", id)
			}
			seenID[id] = true
			if seenType[typ] {
				t.Fatalf("type %q has two files", typ)
			}
			seenType[typ] = true
			if !strings.Contains(filepath.Base(f), typ+".json") {
				t.Fatalf("file name does not name its type %q", typ)
			}
			data := ev["data"]
			if len(data) == 0 || data[0] != '{' {
				t.Fatalf("data is not a JSON object: %s", data)
			}
			pk := str("partitionkey")
			if pk == "" {
				t.Fatal("no partitionkey")
			}
			path := "/" + strings.ReplaceAll(strings.TrimPrefix(typ, "braze."), ".", "/")
			if strings.Contains(typ, ".schedule.") {
				key := str("brazeschedulekey")
				if key == "" || pk != key {
					t.Fatalf("schedule event: brazeschedulekey %q, partitionkey %q", key, pk)
				}
				if !strings.HasSuffix(typ, ".create") {
					var d map[string]json.RawMessage
					if err := json.Unmarshal(data, &d); err != nil {
						t.Fatal(err)
					}
					if _, ok := d["schedule_id"]; ok {
						t.Fatal("update/delete data must leave schedule_id to the gateway")
					}
					sid, ok := scheduleIDs[key]
					if !ok {
						t.Fatalf("no earlier create for schedule key %q", key)
					}
					d["schedule_id"], _ = json.Marshal(sid)
					data, _ = json.Marshal(d)
				}
			}
			a := post(t, s, path, string(data))
			if a.status/100 != 2 {
				t.Fatalf("%s answered %d: %s", path, a.status, a.raw)
			}
			if strings.HasSuffix(typ, ".schedule.create") {
				scheduleIDs[str("brazeschedulekey")] = a.env.ScheduleID
			}
		})
	}
	for _, typ := range eventTypes {
		if !seenType[typ] {
			t.Errorf("no example for %s", typ)
		}
	}
	if len(files) != len(eventTypes) {
		t.Errorf("%d example files, want %d", len(files), len(eventTypes))
	}
	if n := len(s.Schedules()); n != 0 {
		t.Errorf("%d schedules left after the examples' deletes", n)
	}
}
