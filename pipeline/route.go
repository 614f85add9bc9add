package pipeline

import (
	"context"
	"sync/atomic"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/routes"
)

// productType is the "type" label of the outcomes of product events
// themselves (route_error, no_route): their own types are the producers'
// and would make the label unbounded.
const productType = "product"

// Dead-letter headers that say which route (and operation) a dead-lettered
// product record failed in (docs/routing.md). Replay drops them with the
// other dlq.* headers: the replayed record is routed again.
const (
	HeaderRoute          = "dlq.route"
	HeaderRouteOperation = "dlq.route.operation" // "<name or index>:<type>"
	HeaderRouteEventID   = "dlq.route.id"        // the derived event's id
)

// handleRouted takes a product event through its routes. Every derived
// operation goes through the same checks, dispatcher, dead-lettering and
// results as a Braze event read from Kafka; a failing route is dead-lettered
// as route_error. The product record (rec, read from a topic of the lane;
// owner is told its outcome) is done once every outcome derived from it is
// durable; with none (no route matched, skip policy), at once.
func (p *Pipeline) handleRouted(ctx context.Context, rec *event.Record, lane int, owner completer, res *routes.Result) error {
	n := len(res.Failures) + len(res.Ops)
	if res.Err != nil {
		n = 1
	}
	if n == 0 {
		owner.Done()
		return nil
	}
	f := &fanOut{owner: owner}
	f.pending.Store(int32(n))
	plain := res.Format == routes.Plain
	for i := range n {
		it := &f.first
		if i > 0 {
			it = new(item)
		}
		it.p, it.Record, it.Lane, it.fan = p, rec, int32(lane), f
		switch {
		case res.Err != nil:
			it.Err = res.Err
		case i < len(res.Failures):
			fl := &res.Failures[i]
			it.Err, it.route, it.opKey, it.opType, it.plain = fl.Err, fl.Route, fl.Op, fl.Type, plain
		default:
			op := &res.Ops[i-len(res.Failures)]
			it.Event, it.Err, it.route, it.opKey, it.opType, it.derivedID, it.plain =
				op.Event, op.Err, op.Route, op.Key, op.Type, op.ID, plain
		}
		if err := p.handle(ctx, it); err != nil {
			// ctx ended: the items not handed on never finish, so the
			// product record stays uncommitted and is read again (the
			// operations already sent are then duplicates, skipped).
			return err
		}
	}
	return nil
}

// completer is told the outcome of a consumed record (a *consumer.Message).
type completer interface {
	// Done reports the record's outcome durable.
	Done()
	// HandBack reports that the record gets none from this process.
	HandBack()
}

// fanOut is what the items derived from one product record share: the
// record is done when all of them are, and handed back (the gateway is
// stopping) if any of them was.
type fanOut struct {
	owner      completer
	pending    atomic.Int32
	handedBack atomic.Bool
	// first is the first derived item, allocated with the fanOut: most
	// product events produce one operation.
	first item
}

// finish counts one derived item down.
func (f *fanOut) finish(handedBack bool) {
	if handedBack {
		f.handedBack.Store(true)
	}
	if f.pending.Add(-1) != 0 {
		return
	}
	if f.handedBack.Load() {
		f.owner.HandBack()
	} else {
		f.owner.Done()
	}
}

// deadLetterRecord is the record written to the dead-letter topic for m:
// the consumed record, plus, for an item derived by a route, headers
// naming the route and operation (and, for a plain JSON record, where it
// was first read, so that a replay keeps its identity).
func (m *item) deadLetterRecord() *event.Record {
	if m.route == "" {
		return m.Record
	}
	rec := *m.Record
	rec.Headers = make([]event.Header, 0, len(m.Record.Headers)+4)
	origin := false
	for _, h := range m.Record.Headers {
		origin = origin || h.Key == routes.OriginHeader
		rec.Headers = append(rec.Headers, h)
	}
	if !origin && m.plain {
		rec.Headers = append(rec.Headers, event.Header{Key: routes.OriginHeader, Value: []byte(routes.Origin(m.Record))})
	}
	rec.Headers = append(rec.Headers, event.Header{Key: HeaderRoute, Value: []byte(m.route)})
	if m.opType != "" {
		rec.Headers = append(rec.Headers, event.Header{Key: HeaderRouteOperation, Value: []byte(m.opKey + ":" + m.opType)})
	}
	if m.derivedID != "" {
		rec.Headers = append(rec.Headers, event.Header{Key: HeaderRouteEventID, Value: []byte(m.derivedID)})
	}
	return &rec
}
