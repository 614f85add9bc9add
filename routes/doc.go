// Package routes turns product events into Braze operations, as a routes
// file says (DESIGN.md §2, docs/routing.md). A route names the Kafka topics
// it listens to, a condition, and the Braze operations to produce; the
// condition and every field of an operation are CEL expressions
// (github.com/google/cel-go) over the product event: a CloudEvent in either
// Kafka binding mode, or a plain JSON record.
//
// Every expression is compiled and type-checked when the file is loaded
// (Load, Parse), so a table that loads fails at run time only on what an
// event holds. Expressions of the commonest shapes (a member selection such
// as data.customer.id, a comparison with a literal, && and || of these)
// are evaluated without CEL when the event allows it, with the value CEL
// would give; otherwise CEL evaluates them. A Router keeps the table in force and swaps it atomically
// on Reload (SIGHUP) or when the file changes; a file that does not load
// never replaces a good one.
//
// Each derived operation gets a stable id (DerivedID) and is written as a
// structured-mode CloudEvent, made into the event.Event that event.Decode
// would read from it (event.Assemble, without reading it back), so that
// validation, batching, budgets, retries, dead-lettering and results treat
// it exactly like a Braze event read from Kafka. This package only derives: it sends
// nothing, writes no output and knows no Kafka client (package pipeline
// does the rest).
package routes
