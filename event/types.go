package event

import "sort"

// Targeting says where a batchable request carries its recipients.
type Targeting uint8

const (
	// NoTargeting: the request names no per-recipient list the gateway merges.
	NoTargeting Targeting = iota
	// UserIDs: "external_user_ids" (strings) and "user_aliases" (alias objects),
	// as /messages/send takes them.
	UserIDs
	// RecipientObjects: "recipients", an array of recipient objects, as the
	// trigger endpoints take them.
	RecipientObjects
)

// ScheduleOp is the schedule lifecycle step a type performs.
type ScheduleOp uint8

// Schedule steps.
const (
	NotSchedule ScheduleOp = iota
	ScheduleCreate
	ScheduleUpdate
	ScheduleDelete
)

// Spec describes one event type: the Braze endpoint it calls and how the
// gateway may coalesce events of that type.
type Spec struct {
	// Type is the CloudEvents type, e.g. "braze.campaigns.trigger.send".
	Type string
	// Endpoint is the Braze path, e.g. "/campaigns/trigger/send".
	Endpoint string
	// Batchable types may be merged into one request when all their fields
	// but the recipients are equal.
	Batchable bool
	// Targeting says which fields hold the recipients of a batchable type.
	Targeting Targeting
	// Schedule is the schedule step of schedule types.
	Schedule ScheduleOp
}

// The 17 event types of the contract (DESIGN.md §2): the type is the Braze
// path with dots for slashes, prefixed "braze.".
var specs = []Spec{
	{Type: "braze.messages.send", Endpoint: "/messages/send", Batchable: true, Targeting: UserIDs},
	{Type: "braze.campaigns.trigger.send", Endpoint: "/campaigns/trigger/send", Batchable: true, Targeting: RecipientObjects},
	{Type: "braze.canvas.trigger.send", Endpoint: "/canvas/trigger/send", Batchable: true, Targeting: RecipientObjects},
	{Type: "braze.messages.schedule.create", Endpoint: "/messages/schedule/create", Schedule: ScheduleCreate},
	{Type: "braze.messages.schedule.update", Endpoint: "/messages/schedule/update", Schedule: ScheduleUpdate},
	{Type: "braze.messages.schedule.delete", Endpoint: "/messages/schedule/delete", Schedule: ScheduleDelete},
	{Type: "braze.campaigns.trigger.schedule.create", Endpoint: "/campaigns/trigger/schedule/create", Schedule: ScheduleCreate},
	{Type: "braze.campaigns.trigger.schedule.update", Endpoint: "/campaigns/trigger/schedule/update", Schedule: ScheduleUpdate},
	{Type: "braze.campaigns.trigger.schedule.delete", Endpoint: "/campaigns/trigger/schedule/delete", Schedule: ScheduleDelete},
	{Type: "braze.canvas.trigger.schedule.create", Endpoint: "/canvas/trigger/schedule/create", Schedule: ScheduleCreate},
	{Type: "braze.canvas.trigger.schedule.update", Endpoint: "/canvas/trigger/schedule/update", Schedule: ScheduleUpdate},
	{Type: "braze.canvas.trigger.schedule.delete", Endpoint: "/canvas/trigger/schedule/delete", Schedule: ScheduleDelete},
	{Type: "braze.sends.id.create", Endpoint: "/sends/id/create"},
	{Type: "braze.campaigns.duplicate", Endpoint: "/campaigns/duplicate"},
	{Type: "braze.canvas.duplicate", Endpoint: "/canvas/duplicate"},
	{Type: "braze.messages.live_activity.start", Endpoint: "/messages/live_activity/start"},
	{Type: "braze.messages.live_activity.update", Endpoint: "/messages/live_activity/update"},
}

var byType = func() map[string]*Spec {
	m := make(map[string]*Spec, len(specs))
	for i := range specs {
		m[specs[i].Type] = &specs[i]
	}
	return m
}()

// Lookup returns the Spec of an event type.
func Lookup(typ string) (*Spec, bool) {
	s, ok := byType[typ]
	return s, ok
}

// Specs returns every event type, sorted by type. The slice is a copy.
func Specs() []Spec {
	out := append([]Spec(nil), specs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
