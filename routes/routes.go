package routes

import (
	"fmt"
	"sort"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"

	"github.com/brazegw/gateway/event"
)

// Table is a compiled routes file: every expression parsed, type-checked
// and planned once. A Table is immutable and safe for concurrent use;
// reloading builds a new one.
type Table struct {
	// Version identifies the file's content: the first 12 hex digits of
	// its SHA-256.
	Version string
	// File is the path the table was read from ("" when parsed from bytes).
	File    string
	sum     [32]byte
	routes  []*route
	byTopic map[string][]*route
	// paths are the selections the fast expressions make (fast.go).
	paths []pathNode
	// inputs recycles the storage of product events being routed.
	inputs sync.Pool
	// counters are the table's metric series, set by the Router that
	// puts the table in force (before it does).
	counters *counters
}

// route is one compiled route.
type route struct {
	name   string
	line   int
	topics []string
	when   *program // nil: every event of the topics
	ops    []*operation
	// plainSource is the derived source of a plain JSON record's
	// operations: "/routes/<name>"; plainSourceJSON is it as a JSON string.
	plainSource     string
	plainSourceJSON []byte
}

// operation is one Braze operation a route produces.
type operation struct {
	index int
	key   string // the operation's name, or its index
	spec  *event.Spec
	line  int
	when  *program

	workspace, partitionKey, scheduleKey, deliverBy *program
	body                                            *node
	// typeJSON is spec.Type written as a JSON string; typeField is the
	// derived event's member `,"type":<typeJSON>`.
	typeJSON, typeField []byte
	// idSuffix is what follows the product event's identity in the input
	// of the derived id: "\x00<route>\x00<key>" (DerivedID).
	idSuffix []byte
}

// program is one compiled expression and where it was written.
type program struct {
	field string // e.g. emit[0].body.recipients[0].external_user_id
	line  int
	prg   cel.Program
	// constant is the expression's value when it reads no variable: it is
	// evaluated once, at load.
	constant ref.Val
	// fast evaluates the expression without CEL when it has one of the
	// common shapes fast.go knows; nil otherwise.
	fast *fast
}

// node is a part of a body: an expression, an object or an array.
type node struct {
	expr   *program
	fields []field // object members, in file order
	items  []*node // array elements
	kind   nodeKind
	// constJSON is the node written as JSON when nothing in it depends on
	// the event.
	constJSON []byte
}

type nodeKind uint8

const (
	exprNode nodeKind = iota
	objectNode
	arrayNode
)

type field struct {
	prefix []byte // `"name":`
	node   *node
}

// Routes returns the names of the routes, in file order.
func (t *Table) Routes() []string {
	out := make([]string, len(t.routes))
	for i, r := range t.routes {
		out[i] = r.name
	}
	return out
}

// Topics returns the topics some route listens to, sorted.
func (t *Table) Topics() []string {
	out := make([]string, 0, len(t.byTopic))
	for topic := range t.byTopic {
		out = append(out, topic)
	}
	sort.Strings(out)
	return out
}

// Listens reports whether some route listens to topic: the records of such
// a topic are product events, routed rather than read as Braze events.
func (t *Table) Listens(topic string) bool {
	_, ok := t.byTopic[topic]
	return ok
}

// Result is what the routes made of one product event.
type Result struct {
	// Version is the version of the table that routed the event.
	Version string
	// Format is how the product event was carried.
	Format Format
	// Err is set when the record is not a product event the routes can
	// read (reason invalid_event), and, under the dead_letter policy, when
	// no route matched (reason no_route). It is an *event.Error.
	Err error
	// Matched lists the routes whose condition held, in file order.
	Matched []string
	// Ops are the Braze operations produced, in file order.
	Ops []Op
	// Failures are the routes whose expressions failed on this event; such
	// a route produces no operation.
	Failures []Failure

	buf *resultBuf // the storage r is part of; nil once released
}

// Op is one Braze operation derived from a product event.
type Op struct {
	// Route is the route that produced it.
	Route string
	// Key is the operation's name in the routes file, or its index in the
	// route's emit list when it has none.
	Key string
	// Type is the Braze event type, e.g. "braze.canvas.trigger.send".
	Type string
	// Endpoint is the Braze path the operation calls.
	Endpoint string
	// ID and Source are the derived event's identity (DESIGN.md §2):
	// stable for a given product event, route and operation.
	ID, Source string
	// Body is the Braze request body.
	Body []byte
	// Record is the derived structured-mode CloudEvent, carrying the
	// product record's topic, partition, offset and key.
	Record event.Record
	// Event is Record as event.Decode reads it (but for DataValid, false
	// for the few read back from Record: see derive); nil when Err is set.
	Event *event.Event
	// Err is why the derived event is not a valid messaging event (an
	// *event.Error, e.g. too_large).
	Err error

	attrs event.Attributes // Record's, from which Event is assembled
	// readBack says Record reads back otherwise than attrs (see derive):
	// Event is then decoded from Record.
	readBack bool
}

// Failure is a route whose expressions failed on an event.
type Failure struct {
	Route string
	// Op is the key of the operation that failed ("" for the route's condition).
	Op string
	// Type is the Braze type of the failed operation ("" for the condition).
	Type string
	// Err is an *event.Error with reason route_error naming the route.
	Err error
}

// Error is a problem in a routes file, with the place it was found.
type Error struct {
	File   string
	Line   int
	Column int // 0: unknown
	Msg    string
}

// Error implements error: "FILE:LINE:COLUMN: message".
func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "routes"
	}
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", file, e.Msg)
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", file, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, e.Line, e.Column, e.Msg)
}
