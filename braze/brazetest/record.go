package brazetest

import (
	"encoding/json"
	"sync"
	"time"
)

// Request is one received call to a Braze API path, as recorded.
type Request struct {
	// Index is the request's position in arrival order since start (or the
	// last Reset), counting from 0; Delivery.Request refers to it.
	Index  int
	Method string
	Path   string
	// Query is the raw query string (GET /messages/scheduled_broadcasts).
	Query string
	// Status is the HTTP status answered; 0 when the call got no answer
	// (a timeout or connection reset fault) or is still being served.
	Status int
	// Fault names the injected fault that decided the answer, if any:
	// "timeout", "reset", "auth_fail", "outage", "storm429", "error_rate",
	// "reject" or "minor_errors"; "client_gone" when the client hung up
	// while a latency held the answer back (the call was processed).
	Fault string
	// Body is the request body (nil with Config.DropBodies).
	Body []byte
	// Time is when the call arrived, on the server's clock.
	Time time.Time
	// Workspace is the name of the workspace the key belongs to ("" if the
	// key was not recognised). The key itself is never recorded.
	Workspace  string
	DispatchID string
	ScheduleID string
	SendID     string
}

// Delivery is one recipient accepted for sending by a successful call: the
// call answered 2xx and the recipient was not skipped (paused Canvas, minor
// error). Recipients repeated within one call count once (the last entry
// wins, as in Braze). Broadcasts name no recipients and record none.
type Delivery struct {
	// Endpoint is the path called, e.g. "/campaigns/trigger/send".
	Endpoint string
	// Recipient is the canonical id: "external_user_id:<id>",
	// "alias:<label>:<name>", "email:<addr>" or "braze_id:<id>".
	Recipient  string
	DispatchID string
	// Body is the recipient as sent: the id string, alias object or
	// recipient object (nil with Config.DropBodies).
	Body json.RawMessage
	// Request is the Index of the call that delivered it.
	Request int
	Time    time.Time
}

// recorder keeps the record of requests and deliveries, and the counters
// behind DeliveryCount and Stats. It is safe for concurrent use.
type recorder struct {
	mu         sync.Mutex
	maxReqs    int
	maxDels    int
	next       int        // Index of the next request
	reqs       []*Request // in arrival order, trimmed to maxReqs
	dels       []Delivery
	perRcpt    map[string]int
	reqCount   map[statKey]uint64 // monotonic, survives reset
	delCount   map[string]uint64  // by endpoint, monotonic
	dropBodies bool
}

type statKey struct {
	endpoint string
	status   int
}

func newRecorder(cfg Config) *recorder {
	return &recorder{
		maxReqs:    cfg.MaxRequests,
		maxDels:    cfg.MaxDeliveries,
		perRcpt:    map[string]int{},
		reqCount:   map[statKey]uint64{},
		delCount:   map[string]uint64{},
		dropBodies: cfg.DropBodies,
	}
}

// arrive records a call as it arrives, so that Requests keeps arrival
// order; the returned record is completed by finish.
func (r *recorder) arrive(method, path, query string, body []byte, now time.Time) *Request {
	if r.dropBodies {
		body = nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	req := &Request{Index: r.next, Method: method, Path: path, Query: query, Body: body, Time: now}
	r.next++
	r.reqs = append(r.reqs, req)
	if r.maxReqs > 0 && len(r.reqs) >= 2*r.maxReqs {
		r.reqs = keepLast(r.reqs, r.maxReqs)
	}
	return req
}

// keepLast moves the last n items of s to its front, in place, and clears
// the rest; the record is trimmed only when it has grown to 2n, so the cost
// of a move is spread over n calls.
func keepLast[T any](s []T, n int) []T {
	k := copy(s, s[len(s)-n:])
	clear(s[k:])
	return s[:k]
}

// finish completes req with its outcome and records the deliveries to dels,
// recipients of the call to label (its endpoint), which arrived at req.Time.
func (r *recorder) finish(req *Request, out outcome, label string, dels []recipient) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req.Status = out.status
	req.Fault = out.fault
	req.Workspace = out.workspace
	req.DispatchID = out.dispatchID
	req.ScheduleID = out.scheduleID
	req.SendID = out.sendID
	r.reqCount[statKey{label, out.status}]++
	if len(dels) == 0 {
		return
	}
	for i := range dels {
		r.perRcpt[dels[i].id]++
	}
	r.delCount[label] += uint64(len(dels))
	kept := dels
	if r.maxDels > 0 && len(kept) > r.maxDels {
		kept = kept[len(kept)-r.maxDels:] // the others would be trimmed below
	}
	for _, rc := range kept {
		d := Delivery{Endpoint: label, Recipient: rc.id, DispatchID: out.dispatchID, Request: req.Index, Time: req.Time}
		if !r.dropBodies {
			d.Body = rc.body
		}
		r.dels = append(r.dels, d)
	}
	if r.maxDels > 0 && len(r.dels) >= 2*r.maxDels {
		r.dels = keepLast(r.dels, r.maxDels)
	}
}

func (r *recorder) requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	reqs := r.reqs
	if r.maxReqs > 0 && len(reqs) > r.maxReqs {
		reqs = reqs[len(reqs)-r.maxReqs:]
	}
	out := make([]Request, len(reqs))
	for i, p := range reqs {
		out[i] = *p
	}
	return out
}

func (r *recorder) deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	dels := r.dels
	if r.maxDels > 0 && len(dels) > r.maxDels {
		dels = dels[len(dels)-r.maxDels:]
	}
	return append([]Delivery(nil), dels...)
}

func (r *recorder) deliveryCount(recipient string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perRcpt[recipient]
}

// reset forgets requests and deliveries; Stats counters keep counting.
// Calls in flight still complete their (now detached) records.
func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next = 0
	r.reqs = nil
	r.dels = nil
	r.perRcpt = map[string]int{}
}
