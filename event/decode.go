package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/brazegw/gateway/internal/jsonbytes"
	"github.com/brazegw/gateway/internal/rfc3339"
)

// Header is a Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is a Kafka record as the gateway read it. Key, Value and Headers are
// kept byte for byte so that a dead-lettered record can be republished as it was.
type Record struct {
	Topic     string
	Partition int
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
	Time      time.Time
}

// Mode is the CloudEvents Kafka binding mode a record used.
type Mode uint8

// CloudEvents Kafka binding modes.
const (
	Structured Mode = iota
	Binary
)

func (m Mode) String() string {
	if m == Binary {
		return "binary"
	}
	return "structured"
}

// Event is a decoded messaging event.
type Event struct {
	ID     string
	Source string
	Type   string
	// Time is when the product event happened (zero if the producer did not say).
	Time time.Time
	// Workspace names the configured Braze workspace; "default" when absent.
	Workspace string
	// PartitionKey is the CloudEvents partitionkey extension.
	PartitionKey string
	// ScheduleKey is the brazeschedulekey extension of schedule events.
	ScheduleKey string
	// Deadline is the brazedeadline extension (zero if absent).
	Deadline time.Time
	// Data is the Braze request body, as the producer sent it.
	Data json.RawMessage
	// Spec is the type's entry in the type table.
	Spec *Spec
	// Mode is the binding mode the record used.
	Mode Mode
	// DataValid says decoding (or Assemble) validated Data as JSON:
	// always, except for a Trusted decode (see Limits.Trusted), which only
	// split it.
	DataValid bool
	// Size is the record's size in bytes (key, value and headers).
	Size int
	// Batch holds the batching view of a batchable event with explicit
	// recipients; nil otherwise (the event is sent on its own).
	Batch *Batch

	batch Batch // what Batch points to: one allocation holds both
}

// DefaultWorkspace is the workspace of events that name none.
const DefaultWorkspace = "default"

// Limits bounds what Decode accepts.
type Limits struct {
	// MaxRecordBytes is the largest record (key + value + headers) accepted;
	// larger ones fail with ReasonTooLarge. Zero means 1 MiB.
	MaxRecordBytes int
	// MaxDepth is the deepest nesting of objects and arrays accepted in
	// data; deeper ones fail with ReasonTooLarge. Zero means 64.
	MaxDepth int
	// Trusted says that a structured-mode record's value was written by
	// the gateway itself (an event a route derived) and is valid JSON: it
	// is split without being validated again. Its attributes, size and
	// depth are checked as any record's. Given invalid JSON, a trusted
	// decode may accept what it should refuse; it never panics.
	Trusted bool
}

// Decode reads rec as a CloudEvent. A record with a ce_specversion header is
// binary mode (the value is data); any other record is structured mode (the
// value is the JSON event). Errors are *Error values carrying the first
// dead-letter reason that applies, in the order of DESIGN.md §4b. Decode never
// panics, whatever the input.
func Decode(rec *Record, lim Limits) (*Event, error) {
	ev := new(Event)
	if err := DecodeInto(ev, rec, lim); err != nil {
		return nil, err
	}
	return ev, nil
}

// DecodeInto is Decode into an Event the caller provides (which may be part
// of a larger struct, so that one allocation holds both); ev is overwritten.
// On error ev holds nothing of use. The event's strings and slices share
// memory with rec.Value, which must not be changed afterwards.
func DecodeInto(ev *Event, rec *Record, lim Limits) error {
	*ev = Event{Size: len(rec.Key) + len(rec.Value)}
	for _, h := range rec.Headers {
		ev.Size += len(h.Key) + len(h.Value)
	}
	var err error
	depth := -1 // the nesting depth of data, when the envelope scan found it
	// data's members and recipient objects, when the envelope scan (which
	// validates unless lim.Trusted) split them on its way
	var spBuf, rmBuf [16]member
	var objBuf [4]splitObject
	sp := split{members: spBuf[:0], rmembers: rmBuf[:0], objects: objBuf[:0]}
	if hasHeader(rec.Headers, "ce_specversion") {
		depth, err = decodeBinary(rec, ev)
		ev.DataValid = true
	} else {
		depth, sp, err = decodeStructured(rec.Value, ev, sp, lim.Trusted)
		ev.DataValid = !lim.Trusted
	}
	if err != nil {
		return err
	}
	spec, ok := Lookup(ev.Type)
	if !ok {
		return Errorf(ReasonUnknownType, "type %q is not a known event type", truncate(ev.Type, 100))
	}
	ev.Spec = spec
	return ev.check(sp, depth, lim)
}

// check applies the limits on a decoded event's size and data depth (depth
// -1 when the scan that split data did not measure it) and makes its
// batching view; sp is data as that scan split it, if it did.
func (ev *Event) check(sp split, depth int, lim Limits) error {
	max := lim.MaxRecordBytes
	if max <= 0 {
		max = 1 << 20
	}
	if ev.Size > max {
		return Errorf(ReasonTooLarge, "record is %d bytes, more than the maximum of %d", ev.Size, max)
	}
	maxDepth := lim.MaxDepth
	if maxDepth <= 0 {
		maxDepth = 64
	}
	if depth > maxDepth || depth < 0 && depthOver(ev.Data, maxDepth) {
		return Errorf(ReasonTooLarge, "data nests objects and arrays more than %d levels deep", maxDepth)
	}
	if sp.value == nil || !jsonbytes.Same(sp.value, ev.Data) {
		sp = split{} // data was not split (binary mode, or the scanner left it)
	}
	if ev.Spec.Batchable && ev.batch.init(ev, sp) {
		ev.Batch = &ev.batch
	}
	return nil
}

// envelope is the structured-mode JSON event. Data stays raw: the gateway
// forwards it and decodes only what routing and batching need.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	DataContentType string          `json:"datacontenttype"`
	Data            json.RawMessage `json:"data"`
	DataBase64      *string         `json:"data_base64"`
	Workspace       string          `json:"brazeworkspace"`
	PartitionKey    string          `json:"partitionkey"`
	Deadline        string          `json:"brazedeadline"`
	ScheduleKey     string          `json:"brazeschedulekey"`
}

// decodeStructured fills ev from a structured-mode value and returns the
// nesting depth of data (-1 when it is not known). The scan also splits
// data, appending its members to sp.members, when it can.
func decodeStructured(value []byte, ev *Event, sp split, trusted bool) (int, split, error) {
	if len(value) == 0 {
		return -1, sp, Errorf(ReasonInvalidEvent, "record has no value (tombstone)")
	}
	// One pass that validates (unless trusted) and splits the top-level
	// members: data stays raw and nothing is decoded that routing and
	// batching do not need.
	var buf [16]member
	ms, sp, ok := validMembersSplitting(buf[:0], value, `"data"`, sp, trusted)
	if !ok {
		sp = split{}
		if !json.Valid(value) {
			var env envelope
			return -1, sp, Errorf(ReasonInvalidEvent, "value is not a JSON CloudEvent: %s", jsonErr(json.Unmarshal(value, &env)))
		}
		var err error
		if ms, err = members(buf[:0], value); err != nil {
			return -1, sp, Errorf(ReasonInvalidEvent, "value is not a JSON object")
		}
	}
	// Attribute strings are cut from the value itself, which DecodeInto's
	// caller leaves unchanged, rather than copied one by one.
	sv := view(value)
	var a attrs
	var data []byte
	depth := -1
	for _, m := range ms {
		var dst *string
		switch string(m.raw) {
		case `"data"`:
			data, depth = m.value, int(m.depth)
			if string(data) == "null" {
				data = nil
			}
			continue
		case `"data_base64"`:
			if string(m.value) != "null" {
				return -1, sp, Errorf(ReasonInvalidEvent, "data_base64 is not supported: data must be a JSON object")
			}
			continue
		case `"specversion"`:
			dst = &a.specversion
		case `"id"`:
			dst = &a.id
		case `"source"`:
			dst = &a.source
		case `"type"`:
			dst = &a.typ
		case `"time"`:
			dst = &a.time
		case `"datacontenttype"`:
			dst = &a.contentType
		case `"brazeworkspace"`:
			dst = &a.workspace
		case `"partitionkey"`:
			dst = &a.partitionKey
		case `"brazedeadline"`:
			dst = &a.deadline
		case `"brazeschedulekey"`:
			dst = &a.scheduleKey
		default:
			continue
		}
		if string(m.value) == "null" {
			*dst = ""
			continue
		}
		if m.value[0] != '"' {
			return -1, sp, Errorf(ReasonInvalidEvent, "attribute %s is not a string", m.name())
		}
		if m.plain || plain(m.value) {
			*dst = sv[m.offset()+1 : m.offset()+len(m.value)-1]
			continue
		}
		v, err := unquote(m.value)
		if err != nil {
			return -1, sp, Errorf(ReasonInvalidEvent, "attribute %s is not a valid string", m.name())
		}
		*dst = v
	}
	ev.Mode = Structured
	return depth, sp, fill(ev, a, data)
}

// decodeBinary fills ev from a binary-mode record and returns the nesting
// depth of data (-1 when it is not known).
func decodeBinary(rec *Record, ev *Event) (int, error) {
	var a attrs
	for _, h := range rec.Headers {
		if !strings.HasPrefix(h.Key, "ce_") {
			if strings.EqualFold(h.Key, "content-type") {
				a.contentType = string(h.Value)
			}
			continue
		}
		v := string(h.Value)
		switch h.Key[3:] {
		case "specversion":
			a.specversion = v
		case "id":
			a.id = v
		case "source":
			a.source = v
		case "type":
			a.typ = v
		case "time":
			a.time = v
		case "brazeworkspace":
			a.workspace = v
		case "partitionkey":
			a.partitionKey = v
		case "brazedeadline":
			a.deadline = v
		case "brazeschedulekey":
			a.scheduleKey = v
		}
	}
	if len(rec.Value) == 0 {
		return -1, Errorf(ReasonInvalidEvent, "record has no value (tombstone)")
	}
	depth, ok := validJSONDepth(rec.Value)
	if !ok {
		return -1, Errorf(ReasonInvalidEvent, "value (data) is not valid JSON")
	}
	ev.Mode = Binary
	return depth, fill(ev, a, rec.Value)
}

type attrs struct {
	specversion, id, source, typ, time, contentType string
	workspace, partitionKey, deadline, scheduleKey  string
}

func fill(ev *Event, a attrs, data []byte) error {
	switch {
	case a.specversion == "":
		return Errorf(ReasonInvalidEvent, "attribute specversion is missing")
	case a.specversion != "1.0":
		return Errorf(ReasonInvalidEvent, "specversion %q is not 1.0", truncate(a.specversion, 20))
	case a.id == "":
		return Errorf(ReasonInvalidEvent, "attribute id is missing")
	case a.source == "":
		return Errorf(ReasonInvalidEvent, "attribute source is missing")
	case a.typ == "":
		return Errorf(ReasonInvalidEvent, "attribute type is missing")
	}
	if ct := a.contentType; ct != "" && !strings.Contains(strings.ToLower(ct), "json") {
		return Errorf(ReasonInvalidEvent, "datacontenttype %q is not JSON", truncate(ct, 60))
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return Errorf(ReasonInvalidEvent, "attribute data is missing")
	}
	if data[0] != '{' {
		return Errorf(ReasonInvalidEvent, "data is not a JSON object")
	}
	ev.ID, ev.Source, ev.Type, ev.Data = a.id, a.source, a.typ, data
	ev.PartitionKey, ev.ScheduleKey = a.partitionKey, a.scheduleKey
	ev.Workspace = a.workspace
	if ev.Workspace == "" {
		ev.Workspace = DefaultWorkspace
	}
	if a.time != "" {
		t, _, err := rfc3339.Parse(a.time)
		if err != nil {
			return Errorf(ReasonInvalidEvent, "time %q is not RFC 3339", truncate(a.time, 40))
		}
		ev.Time = t
	}
	if a.deadline != "" {
		t, _, err := rfc3339.Parse(a.deadline)
		if err != nil {
			return Errorf(ReasonInvalidEvent, "brazedeadline %q is not RFC 3339", truncate(a.deadline, 40))
		}
		ev.Deadline = t
	}
	return nil
}

func hasHeader(hs []Header, key string) bool {
	for _, h := range hs {
		if h.Key == key {
			return true
		}
	}
	return false
}

// jsonErr shortens encoding/json errors to their cause, without echoing input.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case asErr(err, &se):
		return "syntax error at byte " + itoa(int(se.Offset))
	case asErr(err, &te):
		return "attribute " + te.Field + " has the wrong JSON type (" + te.Value + ")"
	}
	return truncate(err.Error(), 120)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// depthOver reports whether the valid JSON b nests deeper than max.
func depthOver(b []byte, max int) bool {
	_, depth, ok := jsonbytes.SkipValueDepth(b, jsonbytes.SkipSpace(b, 0))
	return ok && depth > max
}
