package routes

import (
	"bytes"
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/jsonbytes"
	"github.com/brazegw/gateway/internal/rfc3339"
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
	// sourceJSON is the source member of a structured-mode CloudEvent as
	// written, when appendString writes source the same; nil otherwise.
	sourceJSON []byte
	time       time.Time
	// timeText is the time attribute as written when it is also how
	// derived events write time (see rfc3339.Parse); nil otherwise.
	timeText []byte
	// b is the record's value (the data of a binary-mode CloudEvent):
	// members and objects are places in it.
	b      []byte
	data   []byte // raw JSON; nil: null
	dataAt int    // where data starts in b
	env    []byte // the structured-mode envelope (for extensions)
	envAt  int    // where env starts in b
	// When parsing split data (an object), its members are
	// members[dataFirst:dataFirst+dataN]; env's are at envFirst.
	dataSplit        bool
	dataFirst, dataN int
	envFirst, envN   int

	// members, stack, cache and objs are recycled storage: the members of
	// the event's objects (each object's members are a block of members),
	// the splitter's stack, the members' values once decoded (cache[i] is
	// the value of members[i]), and objects.
	members []member
	stack   []member
	cache   []ref.Val
	objs    [8]object
	nobj    int
	// scratch is where derived events are written before being copied
	// to a buffer of their size.
	scratch []byte
	// lastSource is the source of the events last derived from a
	// CloudEvent, kept across events: the next event of the same source
	// shares the string.
	lastSource string

	vals [numVars]ref.Val
	used uint16 // the slots of vals set

	// paths are the selections of the table routing the event, memo
	// their status for the event of generation gen (fast.go).
	paths []pathNode
	memo  []memo
	gen   uint32
}

// forTable readies a new input for the selections of a table.
func (in *input) forTable(paths []pathNode) *input {
	in.paths, in.memo = paths, make([]memo, len(paths))
	return in
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

// slotOf returns the slot of the variable name, -1 for an unknown name.
func slotOf(name string) int {
	switch name {
	case varData:
		return slotData
	case varID:
		return slotID
	case varSource:
		return slotSource
	case varType:
		return slotType
	case varSubject:
		return slotSubject
	case varTime:
		return slotTime
	case varExtensions:
		return slotExtensions
	case varKey:
		return slotKey
	case varHeaders:
		return slotHeaders
	case varTopic:
		return slotTopic
	}
	return -1
}

// ResolveName implements interpreter.Activation.
func (in *input) ResolveName(name string) (any, bool) {
	slot := slotOf(name)
	if slot < 0 {
		return nil, false
	}
	return in.variable(slot), true
}

// variable returns the value of the variable in slot, made once per event.
func (in *input) variable(slot int) ref.Val {
	if v := in.vals[slot]; v != nil {
		return v
	}
	v := in.value(slot)
	in.vals[slot] = v
	in.used |= 1 << slot
	return v
}

// Parent implements interpreter.Activation.
func (in *input) Parent() interpreter.Activation { return nil }

func (in *input) value(slot int) ref.Val {
	switch slot {
	case slotData:
		if in.data == nil {
			return types.NullValue
		}
		if in.dataSplit {
			o := in.newObject(in.dataAt, in.dataAt+len(in.data))
			o.first, o.n, o.indexed = in.dataFirst, in.dataN, true
			return o
		}
		return in.jsonValue(in.dataAt, in.dataAt+len(in.data))
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
			o := in.newObject(in.envAt, in.envAt+len(in.env))
			o.first, o.n, o.indexed, o.extensions = in.envFirst, in.envN, true, true
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

// attr is a CloudEvents context attribute of a structured-mode event.
type attr uint8

const (
	attrExtension attr = iota // not a context attribute
	attrSpecversion
	attrID
	attrSource
	attrType
	attrSubject
	attrTime
	attrContentType
	attrDataschema
	attrData
	attrDataBase64
)

// attrNames are the attributes' names, for messages.
var attrNames = [...]string{
	attrSpecversion: "specversion", attrID: "id", attrSource: "source", attrType: "type", attrSubject: "subject",
	attrTime: "time", attrContentType: "datacontenttype", attrDataschema: "dataschema", attrData: "data",
	attrDataBase64: "data_base64",
}

// attribute returns the context attribute key names, attrExtension for an
// extension (without allocating).
func attribute(key []byte) attr {
	switch string(key) {
	case "specversion":
		return attrSpecversion
	case "id":
		return attrID
	case "source":
		return attrSource
	case "type":
		return attrType
	case "subject":
		return attrSubject
	case "time":
		return attrTime
	case "datacontenttype":
		return attrContentType
	case "dataschema":
		return attrDataschema
	case "data":
		return attrData
	case "data_base64":
		return attrDataBase64
	}
	return attrExtension
}

// parse reads a product event from rec: a binary-mode CloudEvent when it
// has a ce_specversion header, a structured-mode CloudEvent when the value
// is a JSON object with a specversion member, any other JSON value as a
// plain record. Errors carry event.ReasonInvalidEvent.
func parse(rec *event.Record) (*input, error) {
	return new(input).parse(rec)
}

// newObject returns an object over b[s:e], from the input's storage while
// it lasts.
func (in *input) newObject(s, e int) *object {
	if in.nobj < len(in.objs) {
		o := &in.objs[in.nobj]
		in.nobj++
		if o.in != in {
			o.in = in
		}
		o.s, o.e, o.first, o.n, o.indexed, o.extensions = s, e, 0, 0, false, false
		return o
	}
	return &object{in: in, s: s, e: e}
}

// reset forgets the event, keeping the storage for the next one. Members
// and objects hold no pointer into the event: only the decoded values and
// the slices of the record are cleared.
func (in *input) reset() {
	clear(in.cache)
	for used := in.used; used != 0; used &= used - 1 {
		in.vals[bits.TrailingZeros16(used)] = nil
	}
	in.used = 0
	in.members, in.cache, in.nobj = in.members[:0], in.cache[:0], 0
	in.rec, in.format, in.time, in.timeText, in.b, in.data, in.env = nil, Plain, time.Time{}, nil, nil, nil, nil
	in.dataAt, in.envAt, in.dataSplit = 0, 0, false
	in.id, in.source, in.typ, in.subject, in.sourceJSON = nil, nil, nil, nil, nil
}

func (in *input) parse(rec *event.Record) (*input, error) {
	if in.gen++; in.gen == 0 { // wrapped: forget every memo
		clear(in.memo)
		in.gen = 1
	}
	in.rec, in.time = rec, rec.Time
	for _, h := range rec.Headers {
		if h.Key == "ce_specversion" {
			return in, in.parseBinary()
		}
	}
	v := rec.Value
	in.b = v
	if len(v) == 0 {
		return nil, event.Errorf(event.ReasonInvalidEvent, "record has no value (tombstone)")
	}
	if len(v) > math.MaxInt32 {
		return nil, event.Errorf(event.ReasonInvalidEvent, "value is too long (%d bytes)", len(v))
	}
	start := jsonbytes.SkipSpace(v, 0)
	var end, first, n int
	var err error
	object := start < len(v) && v[start] == '{'
	if object {
		end, first, n, err = in.split(start, true)
	} else {
		end, err = scanValue(v, start)
	}
	if err == nil && jsonbytes.SkipSpace(v, end) != len(v) {
		err = errMalformed
	}
	if err != nil {
		return nil, event.Errorf(event.ReasonInvalidEvent, "value is not JSON: %v", err)
	}
	v = v[start:end]
	if object {
		ms := in.members[first : first+n]
		for i := range ms {
			if ms[i].is(in.b, "specversion") {
				in.env, in.envAt, in.envFirst, in.envN = v, start, first, n
				return in, in.parseStructured(ms)
			}
		}
	}
	// Plain: data is the whole value.
	in.format, in.data, in.dataAt = Plain, v, start
	in.dataSplit, in.dataFirst, in.dataN = object, first, n
	return in, nil
}

// split validates and splits the object at in.b[start] (see splitter).
func (in *input) split(start int, top bool) (end, first, n int, err error) {
	sp := splitter{b: in.b, stack: in.stack[:0], out: in.members[:0]}
	end, first, n, err = sp.object(start, 1, top)
	in.stack, in.members = sp.stack[:0], sp.out
	return end, first, n, err
}

func (in *input) parseStructured(ms []member) error {
	in.format = Structured
	var specversion, t, contentType []byte
	for i := range ms {
		m := &ms[i]
		key := in.b[m.ks:m.ke]
		if m.esc {
			key = m.key(in.b)
		}
		k := attribute(key)
		val := m.val(in.b)
		switch k {
		case attrExtension, attrDataschema:
			continue
		case attrData: // the last one counts
			in.data, in.dataAt = val, int(m.vs)
			in.dataSplit, in.dataFirst, in.dataN = m.split, int(m.sub), int(m.nsub)
			if string(val) == "null" {
				in.data = nil
			}
			continue
		case attrDataBase64:
			return event.Errorf(event.ReasonInvalidEvent, "data_base64 is not supported: data must be JSON")
		}
		if val[0] != '"' {
			return event.Errorf(event.ReasonInvalidEvent, "attribute %s is not a string", attrNames[k])
		}
		s := val[1 : len(val)-1]
		if !m.plain {
			s = unquoteBytes(val)
		}
		switch k {
		case attrSpecversion:
			specversion = s
		case attrID:
			in.id = s
		case attrSource:
			in.source, in.sourceJSON = s, nil
			if m.plainText(in.b) {
				in.sourceJSON = val
			}
		case attrType:
			in.typ = s
		case attrSubject:
			in.subject = s
		case attrTime:
			t = s
		case attrContentType:
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
	in.b = in.rec.Value
	if v := in.b; len(v) > 0 {
		if len(v) > math.MaxInt32 {
			return event.Errorf(event.ReasonInvalidEvent, "value (data) is too long (%d bytes)", len(v))
		}
		start := jsonbytes.SkipSpace(v, 0)
		var end int
		var err error
		if start < len(v) && v[start] == '{' {
			end, in.dataFirst, in.dataN, err = in.split(start, false)
			in.dataSplit = err == nil
		} else {
			end, err = scanValue(v, start)
		}
		if err == nil && jsonbytes.SkipSpace(v, end) != len(v) {
			err = errMalformed
		}
		if err != nil {
			return event.Errorf(event.ReasonInvalidEvent, "value (data) is not JSON: %v", err)
		}
		if in.data, in.dataAt = v[start:end], start; string(in.data) == "null" {
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
		tm, canonical, err := rfc3339.Parse(t)
		if err != nil {
			return event.Errorf(event.ReasonInvalidEvent, "time %q is not RFC 3339", clip(string(t), 40))
		}
		in.time = tm
		if canonical {
			in.timeText = t
		}
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
