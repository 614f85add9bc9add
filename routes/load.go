package routes

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/event"
)

// maxErrors bounds how many problems one load reports.
const maxErrors = 20

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// Load reads and compiles the routes file at path. A file with problems
// yields no table and an error listing each problem with its line.
func Load(path string) (*Table, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	return Parse(path, b)
}

// Parse compiles a routes file's content; file names it in errors. Every
// expression is compiled and type-checked, and every expression that reads
// nothing from the event is evaluated, so that a table that loads can only
// fail at run time on what an event holds. The error joins *Error values.
func Parse(file string, content []byte) (*Table, error) {
	sum := sha256.Sum256(content)
	c := &compiler{file: file}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	c.env = env
	t := &Table{Version: hex.EncodeToString(sum[:6]), File: file, sum: sum, byTopic: map[string][]*route{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil, c.yamlError(err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: file, Msg: "the file is empty: it must hold a routes: list"}
	}
	root := doc.Content[0]
	if c.expect(root, yaml.MappingNode, "the file") {
		var list *yaml.Node
		c.members(root, "the file", func(k string, kn, v *yaml.Node) {
			switch k {
			case "routes":
				list = v
			default:
				c.errorf(kn, "unknown key %q at the top level (want routes)", k)
			}
		})
		if list == nil {
			c.errorf(root, "the file has no routes: list")
		} else if c.expect(list, yaml.SequenceNode, "routes") {
			seen := map[string]int{}
			for _, rn := range list.Content {
				r := c.route(rn)
				if r == nil {
					continue
				}
				if first, dup := seen[r.name]; dup {
					c.errorf(rn, "route name %q is used twice (first at line %d): names make the derived event ids and must be unique", r.name, first)
					continue
				}
				seen[r.name] = r.line
				t.routes = append(t.routes, r)
			}
			if len(list.Content) == 0 {
				c.errorf(list, "routes: the list is empty")
			}
		}
	}
	if len(c.errs) > 0 {
		return nil, errors.Join(c.errs...)
	}
	for _, r := range t.routes {
		for _, topic := range r.topics {
			t.byTopic[topic] = append(t.byTopic[topic], r)
		}
	}
	t.paths = c.paths.nodes
	return t, nil
}

// newEnv declares the variables of DESIGN.md §2's product events and the
// standard extension libraries.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Variable(varData, cel.DynType),
		cel.Variable(varID, cel.StringType),
		cel.Variable(varSource, cel.StringType),
		cel.Variable(varType, cel.StringType),
		cel.Variable(varSubject, cel.StringType),
		cel.Variable(varTime, cel.TimestampType),
		cel.Variable(varExtensions, cel.MapType(cel.StringType, cel.DynType)),
		cel.Variable(varKey, cel.StringType),
		cel.Variable(varHeaders, cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable(varTopic, cel.StringType),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Encoders(),
		ext.Math(),
		ext.Lists(ext.ListsMaxRangeSize(1000)),
		ext.Sets(),
	)
}

// compiler collects the problems of one file.
type compiler struct {
	file  string
	env   *cel.Env
	errs  []error
	paths pathSet // the selections fast expressions make
}

func (c *compiler) errorf(n *yaml.Node, format string, args ...any) {
	c.add(n.Line, n.Column, fmt.Sprintf(format, args...))
}

func (c *compiler) add(line, col int, msg string) {
	if len(c.errs) == maxErrors {
		c.errs = append(c.errs, &Error{File: c.file, Msg: "too many problems; stopping"})
	}
	if len(c.errs) > maxErrors {
		return
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Column: col, Msg: msg})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (c *compiler) yamlError(err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: c.file, Line: line, Msg: "YAML: " + m[2]}
	}
	return &Error{File: c.file, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

var kindNames = map[yaml.Kind]string{
	yaml.MappingNode: "a mapping", yaml.SequenceNode: "a list", yaml.ScalarNode: "a value", yaml.AliasNode: "an alias",
}

func (c *compiler) expect(n *yaml.Node, kind yaml.Kind, what string) bool {
	if n.Kind == kind {
		return true
	}
	c.errorf(n, "%s must be %s, not %s", what, kindNames[kind], kindNames[n.Kind])
	return false
}

// members calls fn for each key of a mapping, reporting duplicate keys.
func (c *compiler) members(n *yaml.Node, what string, fn func(key string, kn, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, v := n.Content[i], n.Content[i+1]
		if seen[kn.Value] {
			c.errorf(kn, "%s: key %q appears twice", what, kn.Value)
			continue
		}
		seen[kn.Value] = true
		fn(kn.Value, kn, v)
	}
}

func (c *compiler) scalar(n *yaml.Node, what string) (string, bool) {
	if !c.expect(n, yaml.ScalarNode, what) {
		return "", false
	}
	return n.Value, true
}

func (c *compiler) route(n *yaml.Node) *route {
	if !c.expect(n, yaml.MappingNode, "a route") {
		return nil
	}
	r := &route{line: n.Line}
	var emit, when *yaml.Node
	c.members(n, "route", func(k string, kn, v *yaml.Node) {
		switch k {
		case "name":
			if s, ok := c.scalar(v, "name"); ok {
				if !namePattern.MatchString(s) {
					c.errorf(v, "route name %q must be 1 to 100 letters, digits, '.', '_' or '-'", s)
				}
				r.name, r.plainSource = s, "/routes/"+s
				r.plainSourceJSON = appendString(nil, r.plainSource)
			}
		case "description":
			c.scalar(v, "description")
		case "topics":
			r.topics = c.topics(v)
		case "when":
			when = v
		case "emit":
			emit = v
		default:
			c.errorf(kn, "unknown key %q in a route (want name, description, topics, when, emit)", k)
		}
	})
	if r.name == "" {
		c.errorf(n, "a route needs a name")
		return nil
	}
	what := fmt.Sprintf("route %q", r.name)
	if len(r.topics) == 0 {
		c.errorf(n, "%s: topics: at least one topic is required", what)
	}
	if when != nil {
		r.when = c.expr(when, what, "when", exprBool)
	}
	if emit == nil {
		c.errorf(n, "%s: emit: at least one operation is required", what)
		return r
	}
	if c.expect(emit, yaml.SequenceNode, what+": emit") {
		if len(emit.Content) == 0 {
			c.errorf(emit, "%s: emit: at least one operation is required", what)
		}
		keys := map[string]bool{}
		for i, on := range emit.Content {
			op := c.operation(on, what, i)
			if op == nil {
				continue
			}
			if keys[op.key] {
				c.errorf(on, "%s: emit[%d]: operation name %q is used twice", what, i, op.key)
			}
			keys[op.key] = true
			op.idSuffix = idSuffix(r.name, op.key)
			r.ops = append(r.ops, op)
		}
	}
	return r
}

func (c *compiler) topics(n *yaml.Node) []string {
	var nodes []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		nodes = []*yaml.Node{n}
	case yaml.SequenceNode:
		nodes = n.Content
	default:
		c.errorf(n, "topics must be a list of topic names")
		return nil
	}
	var out []string
	for _, tn := range nodes {
		if s, ok := c.scalar(tn, "a topic"); ok {
			if s == "" {
				c.errorf(tn, "a topic name must not be empty")
				continue
			}
			out = append(out, s)
		}
	}
	return out
}

func (c *compiler) operation(n *yaml.Node, routeWhat string, index int) *operation {
	what := fmt.Sprintf("%s: emit[%d]", routeWhat, index)
	if !c.expect(n, yaml.MappingNode, what) {
		return nil
	}
	op := &operation{index: index, key: strconv.Itoa(index), line: n.Line}
	var body *yaml.Node
	exprs := map[string]*yaml.Node{}
	typed := false
	c.members(n, what, func(k string, kn, v *yaml.Node) {
		switch k {
		case "type":
			typed = true
			if s, ok := c.scalar(v, what+".type"); ok {
				spec, known := event.Lookup(s)
				if !known {
					c.errorf(v, "%s.type: %q is not a Braze event type (braze.messages.send, braze.campaigns.trigger.send, …)", what, s)
				}
				op.spec = spec
				if spec != nil {
					op.typeJSON = appendString(nil, spec.Type)
					op.typeField = append([]byte(`,"type":`), op.typeJSON...)
				}
			}
		case "name":
			if s, ok := c.scalar(v, what+".name"); ok {
				if !namePattern.MatchString(s) || isIndex(s) {
					c.errorf(v, "%s.name %q must be 1 to 100 letters, digits, '.', '_' or '-', and not a number", what, s)
				}
				op.key = s
			}
		case "when", "workspace", "partition_key", "schedule_key", "deliver_by":
			exprs[k] = v
		case "body":
			body = v
		default:
			c.errorf(kn, "unknown key %q in an operation (want type, name, when, body, workspace, partition_key, schedule_key, deliver_by)", k)
		}
	})
	if !typed {
		c.errorf(n, "%s: type is required", what)
	}
	if v := exprs["when"]; v != nil {
		op.when = c.expr(v, what, "when", exprBool)
	}
	if v := exprs["workspace"]; v != nil {
		op.workspace = c.expr(v, what, "workspace", exprString)
	}
	if v := exprs["partition_key"]; v != nil {
		op.partitionKey = c.expr(v, what, "partition_key", exprString)
	}
	if v := exprs["schedule_key"]; v != nil {
		op.scheduleKey = c.expr(v, what, "schedule_key", exprString)
	}
	if v := exprs["deliver_by"]; v != nil {
		op.deliverBy = c.expr(v, what, "deliver_by", exprTime)
	}
	if body == nil {
		c.errorf(n, "%s: body is required", what)
	} else {
		op.body = c.body(body, what, "body", true)
	}
	if op.spec == nil {
		return nil
	}
	return op
}

func isIndex(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// exprKind says what an expression must produce.
type exprKind uint8

const (
	exprAny exprKind = iota
	exprBool
	exprString
	exprTime
	exprMap
)

var kindTypes = map[exprKind][]*cel.Type{
	exprBool:   {cel.BoolType},
	exprString: {cel.StringType, cel.NullType},
	exprTime:   {cel.TimestampType, cel.StringType, cel.NullType},
	exprMap:    {cel.MapType(cel.StringType, cel.DynType)},
}

var kindWant = map[exprKind]string{
	exprBool: "bool", exprString: "string", exprTime: "timestamp or RFC 3339 string", exprMap: "map",
}

// join names a field of what: `route "r": when`, `route "r": emit[0].body`.
func join(what, field string) string {
	if strings.Contains(what, ": ") {
		return what + "." + field
	}
	return what + ": " + field
}

// expr compiles the expression of scalar node n.
func (c *compiler) expr(n *yaml.Node, what, field string, kind exprKind) *program {
	src, ok := c.scalar(n, join(what, field))
	if !ok {
		return nil
	}
	what = join(what, field)
	p := &program{field: field, line: n.Line}
	if strings.TrimSpace(src) == "" {
		c.errorf(n, "%s: the expression is empty", what)
		return nil
	}
	if n.Tag == "!!null" {
		src = "null" // a YAML null (~, null) is CEL null
	}
	checked, iss := c.env.Compile(src)
	if iss != nil && iss.Err() != nil {
		for _, e := range iss.Errors() {
			line, col := position(n, e.Location.Line(), e.Location.Column())
			c.add(line, col, fmt.Sprintf("%s: %s", what, e.Message))
		}
		return nil
	}
	if want := kindTypes[kind]; want != nil {
		out := checked.OutputType()
		fits := out.IsExactType(cel.DynType)
		for _, w := range want {
			fits = fits || w.IsAssignableType(out)
		}
		if !fits {
			c.errorf(n, "%s: the expression produces %s, want %s", what, out, kindWant[kind])
			return nil
		}
	}
	prg, err := c.env.Program(checked, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		c.errorf(n, "%s: %v", what, err)
		return nil
	}
	p.prg = prg
	if readsNothing(checked) {
		v, _, err := prg.Eval(cel.NoVars())
		if err != nil {
			c.errorf(n, "%s: %v", what, err)
			return nil
		}
		p.constant = v
	} else {
		p.fast = compileFast(checked.NativeRep(), &c.paths)
	}
	return p
}

// position maps a CEL location (line from 1, column from 0) inside the
// expression of n to the file.
func position(n *yaml.Node, line, col int) (int, int) {
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		return n.Line + line, 0 // block scalar: the expression starts on the next line
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		if line == 1 {
			return n.Line, n.Column + 1 + col
		}
		return n.Line, 0
	}
	if line == 1 {
		return n.Line, n.Column + col
	}
	return n.Line + line - 1, 0
}

// readsNothing reports whether an expression names no identifier at all
// (and so reads no variable): its value is the same for every event.
func readsNothing(a *cel.Ast) bool {
	found := false
	celast.PreOrderVisit(a.NativeRep().Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		if e.Kind() == celast.IdentKind || e.Kind() == celast.ComprehensionKind {
			found = true
		}
	}))
	return !found
}

// body compiles a body: a mapping whose scalars are expressions (nested
// mappings and lists are objects and arrays), or one expression producing
// a map.
func (c *compiler) body(n *yaml.Node, what, path string, top bool) *node {
	switch n.Kind {
	case yaml.MappingNode:
		out := &node{kind: objectNode}
		c.members(n, what+"."+path, func(k string, kn, v *yaml.Node) {
			child := c.body(v, what, path+"."+k, false)
			if child == nil {
				return
			}
			if child.kind == exprNode && child.expr.constant == types.NullValue {
				return // a null member is left out
			}
			out.fields = append(out.fields, field{prefix: append(appendString(nil, k), ':'), node: child})
		})
		out.fold()
		return out
	case yaml.SequenceNode:
		if top {
			c.errorf(n, "%s.body must be a mapping or an expression producing a map, not a list", what)
			return nil
		}
		out := &node{kind: arrayNode}
		for i, item := range n.Content {
			if child := c.body(item, what, fmt.Sprintf("%s[%d]", path, i), false); child != nil {
				out.items = append(out.items, child)
			}
		}
		out.fold()
		return out
	case yaml.ScalarNode:
		kind := exprAny
		if top {
			kind = exprMap
		}
		p := c.expr(n, what, path, kind)
		if p == nil {
			return nil
		}
		out := &node{kind: exprNode, expr: p}
		out.fold()
		if p.constant != nil && out.constJSON == nil {
			_, err := appendJSON(nil, p.constant)
			c.errorf(n, "%s.%s: %v", what, path, err)
			return nil
		}
		return out
	}
	c.errorf(n, "%s.%s: aliases and anchors are not supported", what, path)
	return nil
}

// fold writes the node as JSON at load when nothing in it depends on the
// event.
func (n *node) fold() {
	switch n.kind {
	case exprNode:
		if n.expr.constant != nil {
			if b, err := appendJSON(nil, n.expr.constant); err == nil {
				n.constJSON = b
			}
		}
	case objectNode:
		var buf bytes.Buffer
		buf.WriteByte('{')
		for i, f := range n.fields {
			if f.node.constJSON == nil {
				return
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(f.prefix)
			buf.Write(f.node.constJSON)
		}
		buf.WriteByte('}')
		n.constJSON = buf.Bytes()
	case arrayNode:
		var buf bytes.Buffer
		buf.WriteByte('[')
		for i, item := range n.items {
			if item.constJSON == nil {
				return
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(item.constJSON)
		}
		buf.WriteByte(']')
		n.constJSON = buf.Bytes()
	}
}
