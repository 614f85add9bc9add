package event

import (
	"sort"
	"strings"
	"testing"
)

// contractTypes is the event type table of DESIGN.md §2.
var contractTypes = []string{
	"braze.messages.send",
	"braze.campaigns.trigger.send",
	"braze.canvas.trigger.send",
	"braze.messages.schedule.create",
	"braze.messages.schedule.update",
	"braze.messages.schedule.delete",
	"braze.campaigns.trigger.schedule.create",
	"braze.campaigns.trigger.schedule.update",
	"braze.campaigns.trigger.schedule.delete",
	"braze.canvas.trigger.schedule.create",
	"braze.canvas.trigger.schedule.update",
	"braze.canvas.trigger.schedule.delete",
	"braze.sends.id.create",
	"braze.campaigns.duplicate",
	"braze.canvas.duplicate",
	"braze.messages.live_activity.start",
	"braze.messages.live_activity.update",
}

func TestSpecsCoverTheContract(t *testing.T) {
	if len(contractTypes) != 17 {
		t.Fatalf("the contract lists 17 types, the test %d", len(contractTypes))
	}
	got := Specs()
	if len(got) != len(contractTypes) {
		t.Fatalf("Specs() has %d types, want %d", len(got), len(contractTypes))
	}
	want := append([]string(nil), contractTypes...)
	sort.Strings(want)
	for i, s := range got {
		if s.Type != want[i] {
			t.Errorf("Specs()[%d].Type = %q, want %q (sorted)", i, s.Type, want[i])
		}
	}
}

func TestSpecs(t *testing.T) {
	batchable := map[string]Targeting{
		"braze.messages.send":          UserIDs,
		"braze.campaigns.trigger.send": RecipientObjects,
		"braze.canvas.trigger.send":    RecipientObjects,
	}
	for _, typ := range contractTypes {
		t.Run(typ, func(t *testing.T) {
			s, ok := Lookup(typ)
			if !ok {
				t.Fatalf("Lookup(%q) found nothing", typ)
			}
			if s.Type != typ {
				t.Errorf("Type = %q", s.Type)
			}
			endpoint := "/" + strings.ReplaceAll(strings.TrimPrefix(typ, "braze."), ".", "/")
			if s.Endpoint != endpoint {
				t.Errorf("Endpoint = %q, want %q", s.Endpoint, endpoint)
			}
			targeting, wantBatch := batchable[typ]
			if s.Batchable != wantBatch {
				t.Errorf("Batchable = %v, want %v", s.Batchable, wantBatch)
			}
			if s.Targeting != targeting {
				t.Errorf("Targeting = %v, want %v", s.Targeting, targeting)
			}
			op := NotSchedule
			if strings.Contains(typ, ".schedule.") {
				switch {
				case strings.HasSuffix(typ, ".create"):
					op = ScheduleCreate
				case strings.HasSuffix(typ, ".update"):
					op = ScheduleUpdate
				case strings.HasSuffix(typ, ".delete"):
					op = ScheduleDelete
				}
			}
			if s.Schedule != op {
				t.Errorf("Schedule = %v, want %v", s.Schedule, op)
			}
		})
	}
}

func TestScheduleTypes(t *testing.T) {
	n := map[ScheduleOp]int{}
	for _, s := range Specs() {
		n[s.Schedule]++
	}
	if n[ScheduleCreate] != 3 || n[ScheduleUpdate] != 3 || n[ScheduleDelete] != 3 || n[NotSchedule] != 8 {
		t.Errorf("schedule ops per kind = %v, want 3 create, 3 update, 3 delete, 8 others", n)
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, typ := range []string{"", "braze.users.track", "messages.send", "braze.messages.send ", "BRAZE.MESSAGES.SEND",
		"braze.messages.scheduled_broadcasts", "/messages/send"} {
		if s, ok := Lookup(typ); ok || s != nil {
			t.Errorf("Lookup(%q) = %+v, %v; want nothing", typ, s, ok)
		}
	}
}

func TestSpecsIsACopy(t *testing.T) {
	got := Specs()
	for i := range got {
		got[i].Endpoint = "/changed"
		got[i].Batchable = true
	}
	s, ok := Lookup("braze.canvas.duplicate")
	if !ok || s.Endpoint != "/canvas/duplicate" || s.Batchable {
		t.Errorf("changing Specs() changed the table: %+v", s)
	}
	if Specs()[0].Endpoint == "/changed" {
		t.Error("Specs() returned the table itself")
	}
}
