package event

import "time"

// Attributes are the CloudEvents attributes of an event the gateway writes
// itself (see Assemble), as DecodeInto would read them back.
type Attributes struct {
	ID, Source string
	// Spec is the event type's entry in the type table.
	Spec *Spec
	// Time and Deadline are as DecodeInto reads them back: UTC, unless
	// their text was copied as it was read, and in years RFC 3339 can
	// write (0000-9999). Time is zero if unknown.
	Time time.Time
	// Workspace is "" for the default workspace.
	Workspace, PartitionKey, ScheduleKey string
	Deadline                             time.Time
}

// Assemble fills ev with the event the gateway wrote as rec: a
// structured-mode record whose value holds the attributes a, written as
// JSON writes them (valid UTF-8), and data, a JSON object within
// rec.Value. The result is what DecodeInto reads back from rec, without
// reading the attributes again: data is validated and split in one scan
// (for the batching view), and the record's size and data's depth are
// checked as DecodeInto checks them. ev is overwritten; its strings and
// slices share memory with a and rec.Value, which must not be changed
// afterwards.
func Assemble(ev *Event, rec *Record, a Attributes, data []byte, lim Limits) error {
	*ev = Event{ID: a.ID, Source: a.Source, Time: a.Time, Workspace: a.Workspace, PartitionKey: a.PartitionKey,
		ScheduleKey: a.ScheduleKey, Deadline: a.Deadline, Data: data, Spec: a.Spec, Mode: Structured,
		DataValid: true, Size: len(rec.Key) + len(rec.Value)} // or an error below
	for _, h := range rec.Headers {
		ev.Size += len(h.Key) + len(h.Value)
	}
	switch {
	case a.ID == "":
		return Errorf(ReasonInvalidEvent, "attribute id is missing")
	case a.Source == "":
		return Errorf(ReasonInvalidEvent, "attribute source is missing")
	case a.Spec == nil:
		return Errorf(ReasonInvalidEvent, "attribute type is missing")
	case len(data) == 0 || data[0] != '{':
		return Errorf(ReasonInvalidEvent, "data is not a JSON object")
	}
	ev.Type = a.Spec.Type
	if ev.Workspace == "" {
		ev.Workspace = DefaultWorkspace
	}
	var spBuf, rmBuf [16]member
	var objBuf [4]splitObject
	sp := split{members: spBuf[:0], rmembers: rmBuf[:0], objects: objBuf[:0]}
	deep := 1 // as the envelope scan counts: data's members are at depth 1
	end, sp, ok := scanDataSplitting(data, 0, 1, &deep, sp, false)
	depth := deep - 1
	switch {
	case ok && end == len(data):
		sp.value = data
	case !validJSON(data): // the scanner leaves the deepest values to encoding/json
		return Errorf(ReasonInvalidEvent, "data is not valid JSON")
	default:
		sp, depth = split{}, -1
	}
	return ev.check(sp, depth, lim)
}
