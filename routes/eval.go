package routes

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/rfc3339"
)

// OriginHeader is added to the dead-lettered copy of a plain JSON product
// record (one without a CloudEvents id): "topic/partition/offset" of where
// it was first read. A replayed record that carries it keeps its first
// identity, so that the operations already sent are recognised as
// duplicates. Replay keeps it (it is not a dlq.* header).
const OriginHeader = "route.origin"

// Route evaluates the routes listening to rec's topic on the product event
// rec holds and returns the operations they produce. It never fails as a
// whole: an unreadable record sets Result.Err, a failing route is listed in
// Result.Failures and the other routes still produce their operations.
// lim bounds the derived events as it bounds consumed ones.
func (t *Table) Route(rec *event.Record, lim event.Limits) *Result {
	return t.RouteInto(rec, lim, nil)
}

// RouteInto is Route that makes the first operation's event in room,
// when room is not nil, instead of a new Event: room can be part of an
// allocation the caller makes anyway (the consumed record's message). Room
// is written whenever there is a first operation, also when its event is
// not valid (Op.Err).
func (t *Table) RouteInto(rec *event.Record, lim event.Limits, room *event.Event) *Result {
	res := t.derive(rec)
	for i := range res.Ops {
		op := &res.Ops[i]
		ev := room
		if i > 0 || ev == nil {
			ev = new(event.Event)
		}
		// The derived record is seldom read back: derive knows its
		// attributes, and Assemble validates and splits the body in one
		// scan (FuzzRoute holds the result to a decode of the record).
		if op.readBack {
			trusted := lim
			trusted.Trusted = true
			op.Err = event.DecodeInto(ev, &op.Record, trusted)
		} else {
			op.Err = event.Assemble(ev, &op.Record, op.attrs, op.Body, lim)
		}
		if op.Err == nil {
			op.Event = ev
		}
	}
	return res
}

// derive routes rec up to the derived records and their attributes, from
// which RouteInto assembles the events.
func (t *Table) derive(rec *event.Record) *Result {
	buf, _ := results.Get().(*resultBuf)
	if buf == nil {
		buf = new(resultBuf)
	}
	buf.Result = Result{Version: t.Version, buf: buf}
	res := &buf.Result
	in, _ := t.inputs.Get().(*input)
	if in == nil {
		in = new(input).forTable(t.paths)
	}
	defer func() {
		in.reset()
		t.inputs.Put(in)
	}()
	if _, err := in.parse(rec); err != nil {
		res.Err = err
		return res
	}
	res.Format = in.format
	var idBuf [128]byte
	identity := in.appendIdentity(idBuf[:0])
	for _, r := range t.byTopic[rec.Topic] {
		ok, err := r.when.test(in)
		if err != nil {
			res.Failures = append(res.Failures, r.failure(nil, err))
			continue
		}
		if !ok {
			continue
		}
		if res.Matched == nil {
			res.Matched = buf.matched[:0]
		}
		res.Matched = append(res.Matched, r.name)
		n := len(res.Ops)
		for _, op := range r.ops {
			none := res.Ops == nil // Ops stays nil until an operation is made
			if none {
				res.Ops = buf.ops[:0]
			}
			d := nextOp(&res.Ops)
			made, err := op.derive(d, in, r, identity)
			switch {
			case err != nil:
				clear(res.Ops[n:])
				res.Ops = res.Ops[:n] // a route produces all its operations or none
			case !made:
				res.Ops = res.Ops[:len(res.Ops)-1] // d is still zero
			}
			if none && len(res.Ops) == 0 {
				res.Ops = nil
			}
			if err != nil {
				res.Failures = append(res.Failures, r.failure(op, err))
				break
			}
		}
	}
	return res
}

// nextOp extends ops by one Op and returns it, so that the operation is
// written in place. Ops beyond len(*ops) are zero: those cut back are
// cleared or were never written.
func nextOp(ops *[]Op) *Op {
	if len(*ops) < cap(*ops) {
		*ops = (*ops)[:len(*ops)+1]
	} else {
		*ops = append(*ops, Op{})
	}
	return &(*ops)[len(*ops)-1]
}

// resultBuf is a Result with room for the names and operations of a
// typical event, so that routing it allocates them at once, and seldom:
// Release recycles it.
type resultBuf struct {
	Result
	matched [2]string
	ops     [1]Op
}

// results recycles the storage of Results (see Result.Release).
var results sync.Pool

// Release gives the result's storage back for the routing of another
// event. r, the Ops and Failures in it and the slices it holds must not be
// used afterwards; what they point to stays valid: the derived events, the
// bytes of their records and bodies, and the strings. Releasing is
// optional, and a result is released at most once (a second Release may
// recycle the storage of a result another goroutine has since been
// given); releasing a copy of a Result does nothing.
func (r *Result) Release() {
	b := r.buf
	if b == nil || &b.Result != r {
		return // a copy, or a result not from the pool
	}
	*b = resultBuf{}
	results.Put(b)
}

func (r *route) failure(op *operation, err error) Failure {
	f := Failure{Route: r.name}
	where := "when"
	if op != nil {
		f.Op, f.Type = op.key, op.spec.Type
		where = "emit[" + strconv.Itoa(op.index) + "]"
		if op.key != strconv.Itoa(op.index) {
			where += " (" + op.key + ")"
		}
	}
	f.Err = event.Errorf(event.ReasonRouteError, "route %q, %s: %s", r.name, where, clip(oneLine(err.Error()), 600))
	return f
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// appendIdentity appends what makes the product event unique: its
// CloudEvents source and id, or where a plain record was (first) read.
func (in *input) appendIdentity(dst []byte) []byte {
	if in.format != Plain {
		dst = append(dst, "ce\x00"...)
		dst = append(dst, in.source...)
		dst = append(dst, 0)
		return append(dst, in.id...)
	}
	dst = append(dst, "kafka\x00"...)
	for _, h := range in.rec.Headers {
		if h.Key == OriginHeader {
			return append(dst, h.Value...)
		}
	}
	return append(dst, Origin(in.rec)...)
}

// Origin returns "topic/partition/offset" of rec.
func Origin(rec *event.Record) string {
	return rec.Topic + "/" + strconv.Itoa(rec.Partition) + "/" + strconv.FormatInt(rec.Offset, 10)
}

// DerivedID returns the id of the operation op (its name, or its index in
// the emit list) of route for the product event of the given identity:
// the first 32 hex digits of SHA-256("<identity>\x00<route>\x00<op>"),
// where identity is "ce\x00<source>\x00<id>" for a CloudEvent and
// "kafka\x00<topic>/<partition>/<offset>" for a plain JSON record.
func DerivedID(identity, route, op string) string {
	return string(appendDerivedID(nil, []byte(identity), route, op))
}

func appendDerivedID(dst, identity []byte, route, op string) []byte {
	return appendIDHex(dst, identity, idSuffix(route, op))
}

// idSuffix returns what follows the identity in the input of DerivedID:
// "\x00<route>\x00<op>".
func idSuffix(route, op string) []byte {
	b := make([]byte, 0, 2+len(route)+len(op))
	b = append(b, 0)
	b = append(b, route...)
	b = append(b, 0)
	return append(b, op...)
}

// appendIDHex appends the first 32 hex digits of SHA-256(identity+suffix).
func appendIDHex(dst, identity, suffix []byte) []byte {
	var buf [256]byte
	b := append(buf[:0], identity...)
	b = append(b, suffix...)
	sum := sha256.Sum256(b)
	return hex.AppendEncode(dst, sum[:16])
}

// test evaluates a condition; a nil program always holds.
func (p *program) test(in *input) (bool, error) {
	if p == nil {
		return true, nil
	}
	v, err := p.eval(in)
	if err != nil {
		return false, err
	}
	b, ok := v.(types.Bool)
	if !ok {
		return false, fmt.Errorf("%s: the condition produced %s, not a bool", p.field, v.Type().TypeName())
	}
	return bool(b), nil
}

func (p *program) eval(in *input) (ref.Val, error) {
	if p.constant != nil {
		return p.constant, nil
	}
	if p.fast != nil {
		if v, ok := p.fast.eval(in); ok {
			return v, nil
		}
	}
	v, _, err := p.prg.Eval(in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.field, err)
	}
	return v, nil
}

// jsonString is a string an expression produced: s, or raw when the
// string is a member of the event that is written as JSON as it was read.
type jsonString struct {
	s   string
	raw []byte // the JSON string, quotes included; plain text (no escapes)
}

func (j jsonString) empty() bool { return j.raw == nil && j.s == "" }

// validUTF8 reports whether the string is valid UTF-8, which JSON writes
// as it is.
func (j *jsonString) validUTF8() bool { return j.raw != nil || utf8.ValidString(j.s) }

// text returns the string; when it was copied as read, it is cut from the
// event it was read from (a record's value, which is never changed).
func (j *jsonString) text() string {
	if j.raw == nil {
		return j.s
	}
	return unsafe.String(&j.raw[1], len(j.raw)-2) // raw is plain text, and not ""
}

func (j jsonString) appendTo(dst []byte) []byte {
	if j.raw != nil {
		return append(dst, j.raw...)
	}
	return appendString(dst, j.s)
}

// rfc3339Year reports whether appendTime writes t in a form RFC 3339 (and
// so the decoder) reads: a UTC year of 0000-9999. The zero time passes.
func rfc3339Year(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// str evaluates an optional string field; empty when absent or null.
func (p *program) str(in *input) (jsonString, error) {
	if p == nil {
		return jsonString{}, nil
	}
	if m := p.fast.member(in); m != nil && m.plainText(in.b) {
		raw := m.val(in.b)
		if len(raw) == 2 {
			return jsonString{}, nil // ""
		}
		return jsonString{raw: raw}, nil
	}
	v, err := p.eval(in)
	if err != nil {
		return jsonString{}, err
	}
	switch x := v.(type) {
	case types.String:
		return jsonString{s: string(x)}, nil
	case types.Null:
		return jsonString{}, nil
	}
	return jsonString{}, fmt.Errorf("%s: produced %s, want a string", p.field, v.Type().TypeName())
}

// deadline evaluates deliver_by: a timestamp or an RFC 3339 string.
func (p *program) deadline(in *input) (time.Time, error) {
	if p == nil {
		return time.Time{}, nil
	}
	v, err := p.eval(in)
	if err != nil {
		return time.Time{}, err
	}
	switch x := v.(type) {
	case types.Timestamp:
		return x.Time, nil
	case types.String:
		t, _, err := rfc3339.Parse(string(x))
		if err != nil {
			return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time", p.field, clip(string(x), 40))
		}
		return t, nil
	case types.Null:
		return time.Time{}, nil
	}
	return time.Time{}, fmt.Errorf("%s: produced %s, want a timestamp", p.field, v.Type().TypeName())
}

// derive writes the operation for one product event in d, which is zero;
// made is false when the operation's own condition does not hold, and d
// is then left zero, as it is on an error.
func (op *operation) derive(d *Op, in *input, r *route, identity []byte) (made bool, err error) {
	if ok, err := op.when.test(in); err != nil || !ok {
		return false, err
	}
	var f derivedFields
	if f.workspace, err = op.workspace.str(in); err != nil {
		return false, err
	}
	if f.partitionKey, err = op.partitionKey.str(in); err != nil {
		return false, err
	}
	if f.scheduleKey, err = op.scheduleKey.str(in); err != nil {
		return false, err
	}
	if f.deadline, err = op.deliverBy.deadline(in); err != nil {
		return false, err
	}
	// The derived event is a structured-mode CloudEvent, made into the
	// event a decode of it would give (RouteInto), so that everything
	// downstream is unchanged. It is written in the input's scratch
	// buffer, followed by its id and, for a CloudEvent whose source is not
	// the previous event's, its source, then copied to one buffer of that
	// size.
	v, bodyAt, err := op.appendEvent(in.scratch[:0], in, r, identity, &f)
	if err != nil {
		in.scratch = v[:0]
		return false, err
	}
	n := len(v)
	v = append(v, v[len(eventPrefix):len(eventPrefix)+idLen]...) // the id, after the event's prefix
	newSource := in.format != Plain && string(in.source) != in.lastSource
	if newSource {
		v = append(v, in.source...)
	}
	in.scratch = v[:0]
	value, ids := output(v, n)

	d.Route, d.Key, d.Type, d.Endpoint = r.name, op.key, op.spec.Type, op.spec.Endpoint
	d.ID = ids[:idLen]
	switch {
	case in.format == Plain:
		d.Source = r.plainSource
	case newSource:
		d.Source = ids[idLen:]
		in.lastSource = d.Source
	default:
		d.Source = in.lastSource // a topic's events mostly share their source
	}
	d.Body = value[bodyAt : n-1 : n-1]
	d.attrs = event.Attributes{ID: d.ID, Source: d.Source, Spec: op.spec,
		Workspace:    f.workspace.text(),
		PartitionKey: f.partitionKey.text(),
		ScheduleKey:  f.scheduleKey.text()}
	if !in.time.IsZero() {
		d.attrs.Time = in.time // as the event's time attribute reads
		if in.timeText == nil {
			d.attrs.Time = in.time.UTC() // as appendTime wrote it
		}
	}
	if !f.deadline.IsZero() {
		d.attrs.Deadline = f.deadline.UTC()
	}
	// The record says otherwise than the attributes when JSON wrote a
	// string that is not UTF-8 (with U+FFFD in place of its bad bytes), or
	// appendTime a year RFC 3339 cannot hold (the record does not decode).
	d.readBack = !utf8.ValidString(d.Source) || !f.workspace.validUTF8() || !f.partitionKey.validUTF8() ||
		!f.scheduleKey.validUTF8() || in.timeText == nil && !rfc3339Year(d.attrs.Time) || !rfc3339Year(d.attrs.Deadline)
	rec := in.rec
	d.Record = event.Record{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: value, Time: rec.Time}
	return true, nil
}

// derivedFields are the values of an operation's optional fields for one
// event.
type derivedFields struct {
	workspace, partitionKey, scheduleKey jsonString
	deadline                             time.Time
}

// eventPrefix starts every derived event; the id follows it.
const eventPrefix = `{"specversion":"1.0","id":"`

// idLen is the length of a derived id: 32 hex digits.
const idLen = 32

// appendEvent writes the derived event and returns where its data (the
// body) starts.
func (op *operation) appendEvent(v []byte, in *input, r *route, identity []byte, f *derivedFields) (_ []byte, bodyAt int, err error) {
	v = append(v, eventPrefix...)
	v = appendIDHex(v, identity, op.idSuffix)
	v = append(v, `","source":`...)
	switch {
	case in.sourceJSON != nil:
		v = append(v, in.sourceJSON...)
	case in.format == Plain:
		v = append(v, r.plainSourceJSON...)
	default:
		v = appendStringBytes(v, in.source)
	}
	v = append(v, op.typeField...)
	if !in.time.IsZero() {
		v = append(v, `,"time":"`...)
		if in.timeText != nil {
			v = append(v, in.timeText...)
		} else {
			v = appendTime(v, in.time)
		}
		v = append(v, '"')
	}
	v = appendStringField(v, `,"brazeworkspace":`, f.workspace)
	v = appendStringField(v, `,"partitionkey":`, f.partitionKey)
	v = appendStringField(v, `,"brazeschedulekey":`, f.scheduleKey)
	if !f.deadline.IsZero() {
		v = append(v, `,"brazedeadline":"`...)
		v = appendTime(v, f.deadline)
		v = append(v, '"')
	}
	v = append(v, `,"data":`...)
	bodyAt = len(v)
	if v, err = op.body.appendTo(v, in, true); err != nil {
		return v, 0, err
	}
	return append(v, '}'), bodyAt, nil
}

// appendStringField appends the member name (`,"name":`) and s, unless s
// is empty.
func appendStringField(v []byte, name string, s jsonString) []byte {
	if s.empty() {
		return v
	}
	v = append(v, name...)
	return s.appendTo(v)
}

// output copies v to a buffer of its size, allocated once: v[:n] is the
// derived event, the record's value; the rest (the id, maybe the source)
// is returned as a string sharing that buffer.
func output(v []byte, n int) (value []byte, rest string) {
	buf := append([]byte(nil), v...)
	value = buf[:n:n]
	// value's capacity ends at n, so the bytes after it can only be
	// reached through rest, and are never written again: they may be a
	// string's (this saves an allocation per operation).
	rest = unsafe.String(&buf[n], len(buf)-n)
	return value, rest
}

// appendTo writes the node as JSON.
func (n *node) appendTo(dst []byte, in *input, top bool) ([]byte, error) {
	if n.constJSON != nil {
		return append(dst, n.constJSON...), nil
	}
	switch n.kind {
	case objectNode:
		dst = append(dst, '{')
		first := true
		for _, f := range n.fields {
			mark := len(dst)
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, f.prefix...)
			var err error
			if f.node.kind == exprNode && f.node.constJSON == nil {
				var omit bool
				if dst, omit, err = f.node.appendExpr(dst, in, false, true); err != nil {
					return dst, err
				}
				if omit {
					dst = dst[:mark] // a null member is left out
					continue
				}
			} else if dst, err = f.node.appendTo(dst, in, false); err != nil {
				return dst, err
			}
			first = false
		}
		return append(dst, '}'), nil
	case arrayNode:
		dst = append(dst, '[')
		for i, item := range n.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = item.appendTo(dst, in, false); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	dst, _, err := n.appendExpr(dst, in, top, false)
	return dst, err
}

// appendExpr writes the value of an expression node. The whole body (top)
// must be a map. An object member (member) that is null or an empty
// optional is not written: omit reports it.
func (n *node) appendExpr(dst []byte, in *input, top, member bool) (out []byte, omit bool, err error) {
	p := n.expr
	// A member of the event is copied as it was read when that is what
	// appendJSON would write.
	if m := p.fast.member(in); m != nil && (!top || in.b[m.vs] == '{') {
		if out, ok := appendMember(dst, in.b, m); ok {
			return out, false, nil
		}
	}
	v, err := p.eval(in)
	if err != nil {
		return dst, false, err
	}
	if member && (v == types.NullValue || isEmptyOptional(v)) {
		return dst, true, nil
	}
	if top {
		if _, ok := v.(traits.Mapper); !ok {
			return dst, false, fmt.Errorf("%s: produced %s, want a map", p.field, v.Type().TypeName())
		}
	}
	if dst, err = appendJSON(dst, v); err != nil {
		return dst, false, fmt.Errorf("%s: %w", p.field, err)
	}
	return dst, false, nil
}

func isEmptyOptional(v ref.Val) bool {
	o, ok := v.(*types.Optional)
	return ok && !o.HasValue()
}
