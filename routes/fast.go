package routes

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/brazegw/gateway/internal/jsonbytes"
)

// This file evaluates the most common shapes of expression without CEL: a
// literal, a variable, a member selection (data.customer.id), an optional
// selection with a literal default (data.customer.?opt_in.orValue(true)),
// and ==, !=, &&, ||, ! and ?: over these. The shape is recognised in the
// checked AST when the file is loaded.
//
// The fast evaluation answers only when the event makes CEL's answer
// certain: every member selected is present, every object selected through
// is an object, every operand of a logical operator is a bool, no value is
// an error. Otherwise it declines, and the expression is evaluated by CEL,
// so that failures (no such key, no such overload, a number out of range)
// are CEL's own. When it answers, the value is the one CEL produces:
// selections go through the same lazy objects and member values CEL reads
// (object.member, input.memberValue), equality is types.Equal as in CEL's
// interpreter, and && and || short-circuit the same way. fast_test.go
// checks that both ways agree.

type fastOp uint8

const (
	fastLit     fastOp = iota // lit
	fastVar                   // the variable in slot
	fastSelect                // data.path[0].path[1]…
	fastOrValue               // data.path[:opt] then .?path[opt:], .orValue(lit)
	fastEq                    // args[0] == args[1]
	fastNe                    // args[0] != args[1]
	fastAnd                   // args[0] && args[1] && …
	fastOr                    // args[0] || args[1] || …
	fastNot                   // !args[0]
	fastCond                  // args[0] ? args[1] : args[2]
)

// fast is an expression of a shape evaluated without CEL.
type fast struct {
	op   fastOp
	slot int      // fastVar
	lit  ref.Val  // fastLit; fastOrValue: the default
	path []string // fastSelect, fastOrValue: member names, from data
	sel  int      // fastSelect, fastOrValue: the pathNode of path
	opt  int      // fastOrValue: path[opt:] are optional selections
	args []*fast
}

// pathNode is a selection of members from data some expression of a table
// makes: data.name when parent is -1, else the parent selection's .name.
// The selections of a table are resolved once per event (input.resolve).
type pathNode struct {
	parent int
	name   string
	depth  int // 0 for the members of data
}

// pathSet numbers the selections of a table, and their prefixes.
type pathSet struct {
	nodes []pathNode
	ids   map[string]int
}

// id returns the number of the selection data.path[0].path[1]…,
// registering it and its prefixes.
func (ps *pathSet) id(path []string) int {
	if ps.ids == nil {
		ps.ids = map[string]int{}
	}
	parent := -1
	for depth, name := range path {
		key := strings.Join(path[:depth+1], "\x00")
		id, ok := ps.ids[key]
		if !ok {
			id = len(ps.nodes)
			ps.nodes = append(ps.nodes, pathNode{parent: parent, name: name, depth: depth})
			ps.ids[key] = id
		}
		parent = id
	}
	return parent
}

// compileFast returns the fast form of a checked expression, nil when it
// has no such form. Its selections are numbered in paths.
func compileFast(a *celast.AST, paths *pathSet) *fast {
	return fastCompiler{refs: a.ReferenceMap(), paths: paths}.compile(a.Expr())
}

// fastCompiler recognises the shapes; refs is the checker's reference map,
// which tells a variable from a type name or a qualified name.
type fastCompiler struct {
	refs  map[int64]*celast.ReferenceInfo
	paths *pathSet
}

// variable reports whether e is an identifier the checker resolved to the
// variable name.
func (fc fastCompiler) variable(e celast.Expr, name string) bool {
	if e.Kind() != celast.IdentKind || e.AsIdent() != name {
		return false
	}
	r := fc.refs[e.ID()]
	return r != nil && r.Name == name && r.Value == nil
}

func (fc fastCompiler) compile(e celast.Expr) *fast {
	switch e.Kind() {
	case celast.LiteralKind:
		v := e.AsLiteral()
		if types.IsUnknownOrError(v) {
			return nil
		}
		return &fast{op: fastLit, lit: v}
	case celast.IdentKind:
		if name := e.AsIdent(); slotOf(name) >= 0 && fc.variable(e, name) {
			return &fast{op: fastVar, slot: slotOf(name)}
		}
	case celast.SelectKind:
		if path, ok := fc.selectPath(e); ok {
			return &fast{op: fastSelect, path: path, sel: fc.paths.id(path)}
		}
	case celast.CallKind:
		return fc.call(e.AsCall())
	}
	return nil
}

func (fc fastCompiler) call(c celast.CallExpr) *fast {
	fn, args := c.FunctionName(), c.Args()
	if c.IsMemberFunction() {
		// x.?a.?b.orValue(literal)
		if fn != "orValue" || len(args) != 1 || args[0].Kind() != celast.LiteralKind {
			return nil
		}
		def := fc.compile(args[0])
		path, opt, ok := fc.optionalPath(c.Target())
		if def == nil || !ok {
			return nil
		}
		return &fast{op: fastOrValue, path: path, sel: fc.paths.id(path), opt: opt, lit: def.lit}
	}
	var op fastOp
	switch {
	case fn == operators.Equals && len(args) == 2:
		op = fastEq
	case fn == operators.NotEquals && len(args) == 2:
		op = fastNe
	case fn == operators.LogicalAnd && len(args) >= 2:
		op = fastAnd
	case fn == operators.LogicalOr && len(args) >= 2:
		op = fastOr
	case fn == operators.LogicalNot && len(args) == 1:
		op = fastNot
	case fn == operators.Conditional && len(args) == 3:
		op = fastCond
	default:
		return nil
	}
	f := &fast{op: op, args: make([]*fast, len(args))}
	for i, a := range args {
		if f.args[i] = fc.compile(a); f.args[i] == nil {
			return nil
		}
	}
	return f
}

// selectPath returns the members of data a chain of plain selections
// (no has(), no optional) names.
func (fc fastCompiler) selectPath(e celast.Expr) ([]string, bool) {
	var rev []string
	for e.Kind() == celast.SelectKind {
		s := e.AsSelect()
		if s.IsTestOnly() || fc.refs[e.ID()] != nil {
			return nil, false
		}
		rev = append(rev, s.FieldName())
		e = s.Operand()
	}
	if !fc.variable(e, varData) || len(rev) == 0 {
		return nil, false
	}
	path := make([]string, len(rev))
	for i, name := range rev {
		path[len(rev)-1-i] = name
	}
	return path, true
}

// optionalPath reads data, plain selections, then at least one optional
// selection with a literal string name, and nothing else after the first
// optional one: path[opt:] are the optional selections.
func (fc fastCompiler) optionalPath(e celast.Expr) (path []string, opt int, ok bool) {
	var rev []string // optional names, innermost last
	for e.Kind() == celast.CallKind {
		c := e.AsCall()
		args := c.Args()
		if c.FunctionName() != operators.OptSelect || c.IsMemberFunction() || len(args) != 2 ||
			args[1].Kind() != celast.LiteralKind {
			return nil, 0, false
		}
		name, isStr := args[1].AsLiteral().(types.String)
		if !isStr {
			return nil, 0, false
		}
		rev = append(rev, string(name))
		e = args[0]
	}
	if len(rev) == 0 {
		return nil, 0, false
	}
	if e.Kind() == celast.IdentKind {
		if !fc.variable(e, varData) {
			return nil, 0, false
		}
	} else if path, ok = fc.selectPath(e); !ok {
		return nil, 0, false
	}
	opt = len(path)
	for i := len(rev) - 1; i >= 0; i-- {
		path = append(path, rev[i])
	}
	return path, opt, true
}

// eval returns the expression's value; ok is false when CEL must decide.
func (f *fast) eval(in *input) (v ref.Val, ok bool) {
	switch f.op {
	case fastLit:
		return f.lit, true
	case fastVar:
		v = in.variable(f.slot)
		return v, !types.IsUnknownOrError(v)
	case fastSelect, fastOrValue:
		i, ok := f.selected(in)
		if !ok {
			return nil, false
		}
		if i < 0 {
			return f.lit, true
		}
		v = in.memberValue(i)
		return v, !types.IsUnknownOrError(v)
	case fastCond:
		c, ok := f.args[0].test(in)
		if !ok {
			return nil, false
		}
		if c {
			return f.args[1].eval(in)
		}
		return f.args[2].eval(in)
	}
	b, ok := f.test(in)
	return types.Bool(b), ok
}

// test returns the expression's value when it is a bool; ok is false when
// CEL must decide.
func (f *fast) test(in *input) (b, ok bool) {
	switch f.op {
	case fastEq, fastNe:
		eq, ok := f.equal(in)
		return eq == (f.op == fastEq), ok
	case fastAnd, fastOr:
		// CEL's && is false as soon as an operand is false, whatever the
		// others are (errors included); || likewise for true.
		stop := f.op == fastOr
		for _, a := range f.args {
			b, ok := a.test(in)
			if !ok {
				return false, false
			}
			if b == stop {
				return stop, true
			}
		}
		return !stop, true
	case fastNot:
		b, ok := f.args[0].test(in)
		return !b, ok
	}
	v, ok := f.eval(in)
	if !ok {
		return false, false
	}
	bv, isBool := v.(types.Bool)
	return bool(bv), isBool
}

// equal compares the operands as CEL's == does.
func (f *fast) equal(in *input) (eq, ok bool) {
	a, b := f.args[0], f.args[1]
	// A string compared with a string literal: no value is made.
	if s, isStr := b.lit.(types.String); isStr && b.op == fastLit {
		if eq, ok := a.isString(in, string(s)); ok {
			return eq, true
		}
	} else if s, isStr := a.lit.(types.String); isStr && a.op == fastLit {
		if eq, ok := b.isString(in, string(s)); ok {
			return eq, true
		}
	}
	l, ok := a.eval(in)
	if !ok {
		return false, false
	}
	r, ok := b.eval(in)
	if !ok {
		return false, false
	}
	res, isBool := types.Equal(l, r).(types.Bool)
	return bool(res), isBool
}

// isString compares the expression's value with s when that value is a
// string it can read without making it; ok is false otherwise.
func (f *fast) isString(in *input, s string) (eq, ok bool) {
	switch f.op {
	case fastVar:
		switch f.slot {
		case slotID:
			return string(in.id) == s, true
		case slotSource:
			return string(in.source) == s, true
		case slotType:
			return string(in.typ) == s, true
		case slotSubject:
			return string(in.subject) == s, true
		case slotKey:
			return string(in.rec.Key) == s, true
		case slotTopic:
			return in.rec.Topic == s, true
		}
	case fastSelect, fastOrValue:
		if m := f.member(in); m != nil && in.b[m.vs] == '"' {
			if raw := m.val(in.b); m.plain || bytes.IndexByte(raw, '\\') < 0 {
				return string(raw[1:len(raw)-1]) == s, true
			}
		}
	}
	return false, false
}

// raw returns the raw JSON of the member of the event whose value is the
// expression's value, nil when there is none (see member).
func (f *fast) raw(in *input) []byte {
	if m := f.member(in); m != nil {
		return m.val(in.b)
	}
	return nil
}

// member returns the member of the event whose value is the expression's
// value, nil when there is none (the expression is not a selection, CEL
// must decide, or an optional selection falls back to its default).
func (f *fast) member(in *input) *member {
	if f == nil || (f.op != fastSelect && f.op != fastOrValue) {
		return nil
	}
	i, ok := f.selected(in)
	if !ok || i < 0 {
		return nil
	}
	return &in.members[i]
}

// selected returns the index in in.members of the member a selection
// reaches, or -1 when an optional selection finds no member (the default
// applies); ok is false when CEL must decide: data or a member on the way
// is not an object, or a plain selection finds no member, which CEL
// reports as an error.
func (f *fast) selected(in *input) (i int, ok bool) {
	st := in.resolve(f.sel)
	switch {
	case st >= 0:
		return st, true
	case st == declined || f.op != fastOrValue:
		return -1, false
	}
	missingAt := -1 - st
	return -1, missingAt >= f.opt
}

// declined is the status of a selection CEL must decide.
const declined = math.MinInt

// memo is the status of a selection for the event of generation gen: the
// member's index in in.members (≥ 0), -1-depth when the selection at that
// depth finds no member, declined when something on the way is not an
// object.
type memo struct {
	gen    uint32
	status int
}

// resolve returns the status of selection id for this event (see memo),
// resolving it once.
func (in *input) resolve(id int) int {
	if e := in.memo[id]; e.gen == in.gen {
		return e.status
	}
	n := &in.paths[id]
	st := declined
	if first, cnt, ok := in.selectFrom(n.parent); ok {
		if st = in.find(first, cnt, n.name); st < 0 {
			st = -1 - n.depth
		}
	}
	in.memo[id] = memo{gen: in.gen, status: st}
	return st
}

// selectFrom returns the place in in.members of the members of the object
// a selection's parent reaches (data when parent is -1); ok is false when
// that is not an object. The objects the splitter split are read where it
// put their members, without making their values.
func (in *input) selectFrom(parent int) (first, n int, ok bool) {
	if parent < 0 {
		if len(in.data) == 0 || in.data[0] != '{' {
			return 0, 0, false
		}
		if in.dataSplit {
			return in.dataFirst, in.dataN, true
		}
		o, _ := in.variable(slotData).(*object)
		first, n = o.index()
		return first, n, true
	}
	st := in.resolve(parent)
	if st < 0 {
		return 0, 0, false
	}
	m := &in.members[st]
	switch {
	case in.b[m.vs] != '{':
		return 0, 0, false
	case m.split:
		return int(m.sub), int(m.nsub), true
	}
	o, _ := in.memberValue(st).(*object)
	first, n = o.index()
	return first, n, true
}

// appendRaw appends what appendJSON writes for the value jsonValue makes
// of raw, when it can without making that value: ok is false for null,
// for strings with escapes or invalid UTF-8 (appendString rewrites them)
// and for numbers out of range.
func appendRaw(dst, raw []byte) ([]byte, bool) {
	switch raw[0] {
	case '"':
		if !plainString(raw) {
			return dst, false
		}
		return append(dst, raw...), true
	case '{', '[', 't', 'f':
		// Objects and arrays are written as they were read; true and false
		// are themselves.
		return append(dst, raw...), true
	case 'n':
		return dst, false
	}
	if out, ok := appendInteger(dst, raw); ok {
		return out, true
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return dst, false
	}
	out, err := appendFloat(dst, f)
	return out, err == nil
}

// appendInteger appends what appendFloat writes for the JSON number raw
// when raw is an integer of at most 19 digits, without strconv.ParseFloat;
// ok is false for other numbers. Up to 2^53 an integer is exact as a
// double and written back with the same digits; beyond, it is rounded as
// ParseFloat rounds it (to the nearest double, ties to even, as Go
// converts an integer).
func appendInteger(dst, raw []byte) ([]byte, bool) {
	digits := raw
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 19 {
		return dst, false
	}
	var u uint64 // 19 digits fit
	for _, c := range digits {
		if c < '0' || c > '9' {
			return dst, false
		}
		u = u*10 + uint64(c-'0')
	}
	if u <= 1<<53 {
		return append(dst, raw...), true
	}
	f := float64(u)
	if len(digits) < len(raw) {
		f = -f
	}
	return strconv.AppendFloat(dst, f, 'f', -1, 64), true // below 1e21: what appendFloat writes
}

// appendMember is appendRaw for the value of a member, which it need not
// read again when the splitter found it a plain ASCII string.
func appendMember(dst, b []byte, m *member) ([]byte, bool) {
	if m.ascii {
		return append(dst, m.val(b)...), true
	}
	return appendRaw(dst, m.val(b))
}

// plainString reports whether the raw JSON string is written back
// unchanged by appendString: it has no escape and is valid UTF-8 (JSON
// strings hold no control characters).
func plainString(raw []byte) bool {
	if raw[0] != '"' {
		return false
	}
	body := raw[1 : len(raw)-1]
	// A validated string holds no bare quote or control byte: the first
	// byte SkipPlain stops at is a backslash or the first non-ASCII one.
	i := jsonbytes.SkipPlain(body, 0)
	switch {
	case i == len(body):
		return true
	case body[i] == '\\':
		return false
	}
	return bytes.IndexByte(body[i:], '\\') < 0 && utf8.Valid(body[i:]) // what precedes is ASCII
}
