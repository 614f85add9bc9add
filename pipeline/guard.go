package pipeline

import (
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
)

// broadcast reports whether ev's request would message a whole segment, an
// audience or a campaign's or Canvas's whole audience (DESIGN.md §2, the
// broadcast guard): a request of a targeting endpoint without an explicit
// list of users. A request that names its users is never a broadcast, even
// if it narrows them by segment or audience; one that names users and also
// says "broadcast": true is not sent either, but it is refused as
// invalid_request (Braze's rule), not as a broadcast.
func broadcast(ev *event.Event) bool {
	if ev.Batch != nil {
		return false // explicit recipients
	}
	return rules.IsBroadcast(ev.Spec.Endpoint, ev.Data)
}
