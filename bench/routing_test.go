package bench

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/benchdata"
	"github.com/brazegw/gateway/internal/cputime"
	"github.com/brazegw/gateway/routes"
)

// otpRequested is product event i, which the typical route of
// benchdata.OTPRoutes turns into the trigger record(i) carries (about 300
// bytes).
func otpRequested(i int) *event.Record {
	user := fmt.Sprintf("user-%07d", i)
	v := `{"specversion":"1.0","id":"otp.` + strconv.Itoa(i) + `","source":"/accounts","type":"com.example.login.otp_requested",` +
		`"time":"2026-03-01T12:00:00.123456789Z","data":{"user_id":"` + user + `","otp":"` + strconv.Itoa(100000+i) +
		`","profile":{"first_name":"Ann","locale":"en"},"channel":"email","sent_ns":1772366400123456789}}`
	return &event.Record{Topic: "accounts", Key: []byte(user), Value: []byte(v)}
}

// BenchmarkRoutingAdds measures, in one run, what routing adds to the
// path of an event through the gateway. The same trigger reaches the
// dispatcher either as a Braze event (record(i): decoded, its request
// checked) or as a product event that a typical route turns into it
// (otpRequested(i): routed, which writes and assembles the derived event,
// and its request checked). Fetching, dispatch, HTTP and results are the
// same for both and left out. Blocks of each kind alternate, so that a
// busy machine slows both alike, and events cycle through 16,384 distinct
// records of each kind (about 10 MB) so that, as in the gateway, they are
// seldom in the processor's caches.
//
// It reports wall time and process CPU (the collector's share included)
// per event of each kind, and their difference: added-ns/event and
// added-cpu-ns/event; and each path's allocations per event. CPU is read
// per block with getrusage, which may count another thread's time (the
// collector's) late: it is exact over the run, coarse per block.
func BenchmarkRoutingAdds(b *testing.B) {
	tab, err := routes.Parse("otp.yaml", benchdata.OTPRoutes("accounts", "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f"))
	if err != nil {
		b.Fatal(err)
	}
	const n, block = 1 << 14, 256
	direct, product := make([]*event.Record, n), make([]*event.Record, n)
	for i := range n {
		direct[i], product[i] = record(i), otpRequested(i)
	}
	var room event.Event
	lim := event.Limits{}
	check := func(ev *event.Event) {
		if err := rules.Check(ev.Spec.Endpoint, ev.Data, rules.Options{ValidJSON: ev.DataValid}); err != nil {
			b.Fatal(err)
		}
	}
	routed := func(rec *event.Record) *event.Event {
		res := tab.RouteInto(rec, lim, &room)
		if len(res.Ops) != 1 || res.Ops[0].Err != nil {
			b.Fatalf("routed to %+v", res)
		}
		ev := res.Ops[0].Event
		res.Release() // as the pipeline does
		return ev
	}
	// The two paths reach the dispatcher with the same request (but for
	// sent_ns, which the route reads as a double: docs/routing.md).
	for i := range 3 {
		d, err := event.Decode(direct[i], lim)
		if err != nil {
			b.Fatal(err)
		}
		r := routed(product[i])
		if d.Batch == nil || r.Batch == nil || d.Batch.Key != r.Batch.Key || d.Batch.Recipients[0].Key != r.Batch.Recipients[0].Key {
			b.Fatalf("event %d: direct %+v, routed %+v", i, d.Batch, r.Batch)
		}
	}

	// Allocations per event of each path, measured apart (an op is 512
	// events, so B/op and allocs/op are per 512).
	i := 0
	directAllocs := testing.AllocsPerRun(1000, func() {
		if err := event.DecodeInto(&room, direct[i%n], lim); err != nil {
			b.Fatal(err)
		}
		check(&room)
		i++
	})
	routedAllocs := testing.AllocsPerRun(1000, func() {
		check(routed(product[i%n]))
		i++
	})

	var wall, cpu [2]time.Duration // direct, routed
	next := 0
	for b.Loop() {
		start, c0 := time.Now(), cpuNow()
		for k := range block {
			if err := event.DecodeInto(&room, direct[(next+k)%n], lim); err != nil {
				b.Fatal(err)
			}
			check(&room)
		}
		mid, c1 := time.Now(), cpuNow()
		for k := range block {
			check(routed(product[(next+k)%n]))
		}
		end, c2 := time.Now(), cpuNow()
		wall[0], wall[1] = wall[0]+mid.Sub(start), wall[1]+end.Sub(mid)
		cpu[0], cpu[1] = cpu[0]+c1-c0, cpu[1]+c2-c1
		next = (next + block) % n
	}
	events := float64(b.N * block)
	per := func(d time.Duration) float64 { return float64(d) / events }
	b.ReportMetric(per(wall[0]), "direct-ns/event")
	b.ReportMetric(per(wall[1]), "routed-ns/event")
	b.ReportMetric(per(wall[1]-wall[0]), "added-ns/event")
	if cpu[0] > 0 {
		b.ReportMetric(per(cpu[0]), "direct-cpu-ns/event")
		b.ReportMetric(per(cpu[1]), "routed-cpu-ns/event")
		b.ReportMetric(per(cpu[1]-cpu[0]), "added-cpu-ns/event")
	}
	b.ReportMetric(directAllocs, "direct-allocs/event")
	b.ReportMetric(routedAllocs, "routed-allocs/event")
	b.ReportMetric(0, "ns/op") // an op is two blocks: the per-event figures say it
}

// cpuNow is the process's CPU time, 0 where it cannot be read.
func cpuNow() time.Duration {
	d, _ := cputime.Process()
	return d
}
