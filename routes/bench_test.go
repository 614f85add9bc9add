package routes

import (
	"testing"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/cputime"
)

// benchRoutes is a typical route: one condition on the type, one campaign
// trigger for the customer with three trigger properties.
const benchRoutes = `
routes:
  - name: order-shipped
    topics: [commerce.orders]
    when: type == "com.shop.order.shipped"
    emit:
      - type: braze.campaigns.trigger.send
        partition_key: data.customer_id
        body:
          campaign_id: '"6f1c2a9e-3b4d-4e5f-8a7b-9c0d1e2f3a4b"'
          recipients:
            - external_user_id: data.customer_id
              trigger_properties:
                order_id: data.order_id
                carrier: data.shipment.carrier
                tracking_url: data.shipment.tracking_url
`

const benchEvent = `{"specversion":"1.0","id":"0e8b1c8a-7f4e-4d1b-9a53-3c2f5e9d7a61","source":"/commerce/orders",` +
	`"type":"com.shop.order.shipped","time":"2025-03-04T10:15:00Z","datacontenttype":"application/json",` +
	`"data":{"order_id":"ORD-100234","customer_id":"cust-2001","total":{"amount":129.9,"currency":"EUR"},` +
	`"shipment":{"carrier":"DHL","tracking_url":"https://track.example/ORD-100234"},"items":3}}`

func benchTable(b *testing.B) (*Table, *event.Record) {
	b.Helper()
	t, err := Parse("bench.yaml", []byte(benchRoutes))
	if err != nil {
		b.Fatal(err)
	}
	rec := &event.Record{Topic: "commerce.orders", Key: []byte("cust-2001"), Value: []byte(benchEvent)}
	return t, rec
}

// loop runs f b.N times and reports, besides ns/op (wall time, which a
// busy machine inflates), the process's CPU time per op.
func loop(b *testing.B, f func()) {
	b.Helper()
	b.ReportAllocs()
	start, ok := cputime.Process()
	for b.Loop() {
		f()
	}
	if end, ok2 := cputime.Process(); ok && ok2 && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRoute measures routing a product event for a typical route up
// to the derived record: reading the event, the condition, the
// operation's fields and body, the derived id and the derived CloudEvent.
// BenchmarkRouteAssembled adds making the derived event from what the
// route knows of it (event.Assemble), the counterpart of the decoding
// every Braze event read from Kafka gets (BenchmarkDecodeDirect);
// bench.BenchmarkRoutingAdds sets the two paths against each other.
func BenchmarkRoute(b *testing.B) {
	t, rec := benchTable(b)
	res := t.Route(rec, event.Limits{})
	if len(res.Ops) != 1 || res.Ops[0].Err != nil {
		b.Fatalf("route: %+v", res)
	}
	loop(b, func() { t.derive(rec).Release() })
}

// BenchmarkRouteAssembled is BenchmarkRoute plus event.Assemble of the
// derived event, as the pipeline routes: into the consumed message's room,
// the result released.
func BenchmarkRouteAssembled(b *testing.B) {
	t, rec := benchTable(b)
	var room event.Event
	loop(b, func() { t.RouteInto(rec, event.Limits{}, &room).Release() })
}

// BenchmarkDecodeDirect decodes the Braze event BenchmarkRoute derives, as
// the consumer decodes a direct event of the same content.
func BenchmarkDecodeDirect(b *testing.B) {
	t, rec := benchTable(b)
	direct := t.Route(rec, event.Limits{}).Ops[0].Record
	loop(b, func() {
		if _, err := event.Decode(&direct, event.Limits{}); err != nil {
			b.Fatal(err)
		}
	})
}
