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
// as route_error. The product record is done once every outcome derived
// from it is durable; with none (no route matched, skip policy), at once.
func (p *Pipeline) handleRouted(ctx context.Context, m *item, res *routes.Result) error {
	var items []*item
	switch {
	case res.Err != nil:
		items = append(items, &item{Record: m.Record, Err: res.Err, Lane: m.Lane})
	default:
		plain := res.Format == routes.Plain
		for _, f := range res.Failures {
			items = append(items, &item{Record: m.Record, Err: f.Err, Lane: m.Lane, route: f.Route, opKey: f.Op, opType: f.Type, plain: plain})
		}
		for i := range res.Ops {
			op := &res.Ops[i]
			items = append(items, &item{Record: m.Record, Event: op.Event, Err: op.Err, Lane: m.Lane,
				route: op.Route, opKey: op.Key, opType: op.Type, derivedID: op.ID, plain: plain})
		}
	}
	if len(items) == 0 {
		m.Done()
		return nil
	}
	// The product record is done when all its items are; if any of them
	// was handed back (the gateway is stopping), it is handed back too.
	var pending atomic.Int32
	var handedBack atomic.Bool
	pending.Store(int32(len(items)))
	finish := func() {
		if pending.Add(-1) != 0 {
			return
		}
		if handedBack.Load() {
			m.HandBack()
		} else {
			m.Done()
		}
	}
	handBack := func() {
		handedBack.Store(true)
		finish()
	}
	for _, it := range items {
		it.done, it.handBack = finish, handBack
		if err := p.handle(ctx, it); err != nil {
			// ctx ended: the items not handed on never finish, so the
			// product record stays uncommitted and is read again (the
			// operations already sent are then duplicates, skipped).
			return err
		}
	}
	return nil
}

// deadLetterRecord is the record written to the dead-letter topic for m:
// the consumed record, plus, for an item derived by a route, headers
// naming the route and operation (and, for a plain JSON record, where it
// was first read, so that a replay keeps its identity).
func (m *item) deadLetterRecord() *event.Record {
	if m.route == "" {
		return &m.Record
	}
	rec := m.Record
	rec.Headers = make([]event.Header, 0, len(m.Record.Headers)+4)
	origin := false
	for _, h := range m.Record.Headers {
		origin = origin || h.Key == routes.OriginHeader
		rec.Headers = append(rec.Headers, h)
	}
	if !origin && m.plain {
		rec.Headers = append(rec.Headers, event.Header{Key: routes.OriginHeader, Value: []byte(routes.Origin(&m.Record))})
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
