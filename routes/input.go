package routes

import (
	"bytes"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/brazegw/gateway/event"
)

// Format is how a product event was carried in its Kafka record.
type Format uint8

// Product event formats.
const (
	// Plain is a JSON record that is not a CloudEvent: the whole value is data.
	Plain Format = iota
	// Structured is a structured-mode CloudEvent (the value is the JSON event).
	Structured
	// Binary is a binary-mode CloudEvent (ce_ headers, the value is data).
	Binary
)

// String returns "plain", "structured" or "binary".
func (f Format) String() string {
	switch f {
	case Structured:
		return "structured"
	case Binary:
		return "binary"
	}
	return "plain"
}

// input is one product event as the expressions see it. It is the
// activation of every evaluation for that event: variables are built when
// an expression first reads them, and cached for the next expression.
type input struct {
	rec    *event.Record
	format Format
	// The CloudEvents attributes, unquoted; strings are made when read.
	id, source, typ, subject []byte
	sourceStr                string
	time                     time.Time
	data                     []byte // raw JSON; nil: null
	env                      []byte // the structured-mode envelope (for extensions)
	// dataMembers are data's members when parsing split them already.
	dataMembers []member

	// top, members and objs are recycled storage: the members of the
	// record's top-level object, of the event's other objects, and objects.
	top     [16]member
	ntop    int
	members []member
	objs    [8]object
	nobj    int

	vals [numVars]ref.Val
}

// Variable names, as expressions use them.
const (
	varData       = "data"
	varID         = "id"
	varSource     = "source"
	varType       = "type"
	varSubject    = "subject"
	varTime       = "time"
	varExtensions = "extensions"
	varKey        = "key"
	varHeaders    = "headers"
	varTopic      = "topic"
)

const (
	slotData = iota
	slotID
	slotSource
	slotType
	slotSubject
	slotTime
	slotExtensions
	slotKey
	slotHeaders
	slotTopic
	numVars
)

// ResolveName implements interpreter.Activation.
func (in *input) ResolveName(name string) (any, bool) {
	slot := -1
	switch name {
	case varData:
		slot = slotData
	case varID:
		slot = slotID
	case varSource:
		slot = slotSource
	case varType:
		slot = slotType
	case varSubject:
		slot = slotSubject
	case varTime:
		slot = slotTime
	case varExtensions:
		slot = slotExtensions
	case varKey:
		slot = slotKey
	case varHeaders:
		slot = slotHeaders
	case varTopic:
		slot = slotTopic
	default:
		return nil, false
	}
	if v := in.vals[slot]; v != nil {
		return v, true
	}
	v := in.value(slot)
	in.vals[slot] = v
	return v, true
}

// Parent implements interpreter.Activation.
func (in *input) Parent() interpreter.Activation { return nil }

func (in *input) value(slot int) ref.Val {
	switch slot {
	case slotData:
		if in.data == nil {
			return types.NullValue
		}
		if in.dataMembers != nil {
			o := in.newObject(in.data)
			o.members, o.indexed = in.dataMembers, true
			return o
		}
		return in.jsonValue(in.data)
	case slotID:
		return types.String(in.id)
	case slotSource:
		return types.String(in.source)
	case slotType:
		return types.String(in.typ)
	case slotSubject:
		return types.String(in.subject)
	case slotTime:
		return types.Timestamp{Time: in.time}
	case slotKey:
		return types.String(in.rec.Key)
	case slotTopic:
		return types.String(in.rec.Topic)
	case slotHeaders:
		m := make(map[string]string, len(in.rec.Headers))
		for _, h := range in.rec.Headers {
			m[h.Key] = string(h.Value)
		}
		return types.NewStringStringMap(types.DefaultTypeAdapter, m)
	case slotExtensions:
		switch in.format {
		case Structured:
			o := in.newObject(in.env)
			o.skip = isContextAttribute
			return o
		case Binary:
			m := map[string]string{}
			for _, h := range in.rec.Headers {
				if name, ok := strings.CutPrefix(h.Key, "ce_"); ok && !contextAttributes[name] {
					m[name] = string(h.Value)
				}
			}
			return types.NewStringStringMap(types.DefaultTypeAdapter, m)
		}
		return types.NewStringStringMap(types.DefaultTypeAdapter, map[string]string{})
	}
	return types.NullValue
}

// contextAttributes are the CloudEvents attributes that are not extensions.
var contextAttributes = map[string]bool{
	"specversion": true, "id": true, "source": true, "type": true, "subject": true, "time": true,
	"datacontenttype": true, "dataschema": true, "data": true, "data_base64": true,
}

func isContextAttribute(key []byte) bool { return contextAttributes[string(key)] }

// attribute returns the name of the context attribute key is, "" for an
// extension (without allocating).
func attribute(key []byte) string {
	switch {
	case string(key) == "specversion":
		return "specversion"
	case string(key) == "id":
		return "id"
	case string(key) == "source":
		return "source"
	case string(key) == "type":
		return "type"
	case string(key) == "subject":
		return "subject"
	case string(key) == "time":
		return "time"
	case string(key) == "datacontenttype":
		return "datacontenttype"
	case string(key) == "dataschema":
		return "dataschema"
	case string(key) == "data":
		return "data"
	case string(key) == "data_base64":
		return "data_base64"
	}
	return ""
}

// parse reads a product event from rec: a binary-mode CloudEvent when it
// has a ce_specversion header, a structured-mode CloudEvent when the value
// is a JSON object with a specversion member, any other JSON value as a
// plain record. Errors carry event.ReasonInvalidEvent.
func parse(rec *event.Record) (*input, error) {
	return new(input).parse(rec)
}

// newObject returns an object over raw, from the input's storage while it
// lasts.
func (in *input) newObject(raw []byte) *object {
	if in.nobj < len(in.objs) {
		o := &in.objs[in.nobj]
		in.nobj++
		*o = object{in: in, raw: raw}
		return o
	}
	return &object{in: in, raw: raw}
}

// reset forgets the event, keeping the storage for the next one. It
// clears only what the event used.
func (in *input) reset() {
	clear(in.members)
	clear(in.top[:in.ntop])
	clear(in.objs[:in.nobj])
	in.vals = [numVars]ref.Val{}
	in.members, in.ntop, in.nobj = in.members[:0], 0, 0
	in.rec, in.format, in.time, in.data, in.env, in.dataMembers = nil, Plain, time.Time{}, nil, nil, nil
	in.id, in.source, in.typ, in.subject, in.sourceStr = nil, nil, nil, nil, ""
}

func (in *input) parse(rec *event.Record) (*input, error) {
	in.rec, in.time = rec, rec.Time
	for _, h := range rec.Headers {
		if h.Key == "ce_specversion" {
			return in, in.parseBinary()
		}
	}
	v := rec.Value
	if len(v) == 0 {
		return nil, event.Errorf(event.ReasonInvalidEvent, "record has no value (tombstone)")
	}
	start := skipWS(v, 0)
	var ms []member
	var end int
	var err error
	if start < len(v) && v[start] == '{' {
		ms, end, err = scanMembers(in.top[:0], v, start, &in.members)
		in.ntop = min(len(ms), len(in.top))
	} else {
		end, err = scanValue(v, start)
	}
	if err == nil && skipWS(v, end) != len(v) {
		err = errMalformed
	}
	if err != nil {
		return nil, event.Errorf(event.ReasonInvalidEvent, "value is not JSON: %v", err)
	}
	v = v[start:end]
	for _, m := range ms {
		if string(m.key) == "specversion" {
			in.env = v
			if n := len(in.members); n > 0 {
				in.dataMembers = in.members[:n:n] // split while validating
			}
			return in, in.parseStructured(ms)
		}
	}
	in.members = in.members[:0]
	in.format, in.data = Plain, v
	if ms != nil {
		in.dataMembers = ms // already split: data is the whole value
	}
	return in, nil
}

func (in *input) parseStructured(ms []member) error {
	in.format = Structured
	var specversion, t, contentType []byte
	for _, m := range ms {
		k := attribute(m.key)
		if k == "" || k == "data" || k == "dataschema" {
			if k == "data" {
				in.data = m.val
				if string(m.val) == "null" {
					in.data = nil
				}
			}
			continue
		}
		if k == "data_base64" {
			return event.Errorf(event.ReasonInvalidEvent, "data_base64 is not supported: data must be JSON")
		}
		if m.val[0] != '"' {
			return event.Errorf(event.ReasonInvalidEvent, "attribute %s is not a string", k)
		}
		s := unquoteBytes(m.val)
		switch k {
		case "specversion":
			specversion = s
		case "id":
			in.id = s
		case "source":
			in.source = s
		case "type":
			in.typ = s
		case "subject":
			in.subject = s
		case "time":
			t = s
		case "datacontenttype":
			contentType = s
		}
	}
	return in.check(specversion, t, contentType)
}

func (in *input) parseBinary() error {
	in.format = Binary
	var specversion, t, contentType []byte
	for _, h := range in.rec.Headers {
		name, ok := strings.CutPrefix(h.Key, "ce_")
		if !ok {
			if strings.EqualFold(h.Key, "content-type") {
				contentType = h.Value
			}
			continue
		}
		switch name {
		case "specversion":
			specversion = h.Value
		case "id":
			in.id = h.Value
		case "source":
			in.source = h.Value
		case "type":
			in.typ = h.Value
		case "subject":
			in.subject = h.Value
		case "time":
			t = h.Value
		}
	}
	if v := in.rec.Value; len(v) > 0 {
		start := skipWS(v, 0)
		var end int
		var err error
		if start < len(v) && v[start] == '{' {
			in.members, end, err = scanMembers(in.members[:0], v, start, nil)
			if n := len(in.members); err == nil && n > 0 {
				in.dataMembers = in.members[:n:n]
			}
		} else {
			end, err = scanValue(v, start)
		}
		if err == nil && skipWS(v, end) != len(v) {
			err = errMalformed
		}
		if err != nil {
			return event.Errorf(event.ReasonInvalidEvent, "value (data) is not JSON: %v", err)
		}
		if in.data = v[start:end]; string(in.data) == "null" {
			in.data = nil
		}
	}
	return in.check(specversion, t, contentType)
}

func (in *input) check(specversion, t, contentType []byte) error {
	switch {
	case string(specversion) != "1.0":
		return event.Errorf(event.ReasonInvalidEvent, "specversion %q is not 1.0", clip(string(specversion), 20))
	case len(in.id) == 0:
		return event.Errorf(event.ReasonInvalidEvent, "attribute id is missing")
	case len(in.source) == 0:
		return event.Errorf(event.ReasonInvalidEvent, "attribute source is missing")
	case len(in.typ) == 0:
		return event.Errorf(event.ReasonInvalidEvent, "attribute type is missing")
	case len(contentType) > 0 && !containsJSON(contentType):
		return event.Errorf(event.ReasonInvalidEvent, "datacontenttype %q is not JSON", clip(string(contentType), 60))
	}
	if len(t) > 0 {
		tm, err := time.Parse(time.RFC3339Nano, string(t))
		if err != nil {
			return event.Errorf(event.ReasonInvalidEvent, "time %q is not RFC 3339", clip(string(t), 40))
		}
		in.time = tm
	}
	return nil
}

// containsJSON reports whether a content type mentions json, in any case.
func containsJSON(ct []byte) bool {
	for i := 0; i+4 <= len(ct); i++ {
		if ct[i]|0x20 == 'j' && ct[i+1]|0x20 == 's' && ct[i+2]|0x20 == 'o' && ct[i+3]|0x20 == 'n' {
			return true
		}
	}
	return false
}

// unquoteBytes decodes a validated JSON string; without escapes it is a
// slice of raw.
func unquoteBytes(raw []byte) []byte {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 {
		return body
	}
	return []byte(unquote(raw))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// sourceString returns the source attribute, made once.
func (in *input) sourceString() string {
	if in.sourceStr == "" {
		in.sourceStr = string(in.source)
	}
	return in.sourceStr
}
