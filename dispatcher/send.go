package dispatcher

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
)

// request is one Braze call in the making: the events it carries and, for
// a batch, their recipients.
type request struct {
	ws       string
	endpoint string
	jobs     []*Job
	batch    *event.Batch      // base fields of a batch; nil for an event sent on its own
	recips   []event.Recipient // recipients of a batch, in job order
	body     []byte            // built lazily for batches
	lane     int
	attempts int
	first    time.Time
	charges  []rules.Charge

	// sibling is the other half of a rejected batch, held back until this
	// half is settled: if this half is accepted, the sibling certainly holds
	// the offender and is split without being sent again.
	sibling *request
	// cause is the rejection that made this request a half.
	cause *rejection
}

// rejection is Braze's answer to a rejected batch.
type rejection struct {
	err  *braze.Error
	body []byte
}

func (d *Dispatcher) work(ctx context.Context, highestOnly bool) {
	for {
		r := d.next(ctx, highestOnly)
		if r == nil {
			return
		}
		d.send(ctx, r)
	}
}

// send makes one attempt of r and settles or reschedules its events.
func (d *Dispatcher) send(ctx context.Context, r *request) {
	if d.quiescing.Load() {
		d.handBack(r)
		return
	}
	if r = d.dropExpired(r); r == nil {
		return
	}
	d.prepare(r)
	if !d.health.admit(d.now()) {
		// Paused: wait for the probe's verdict instead of calling.
		d.later(r, d.cfg.Pause.ProbeInterval)
		return
	}
	waitStart := d.now()
	if err := d.limiter.Wait(ctx, r.ws, r.charges, r.lane); err != nil {
		return // stopping: the events are handed back
	}
	d.m.waited(r.ws, r.charges, r.lane, d.now().Sub(waitStart))
	// The wait may have been long: a deadline may have passed meanwhile.
	if r = d.dropExpired(r); r == nil {
		return
	}
	d.prepare(r) // a batch that lost events needs a new body
	now := d.now()
	if r.first.IsZero() {
		r.first = now
	}
	r.attempts++
	for _, j := range r.jobs {
		j.attempts++
		if j.first.IsZero() {
			j.first = now
		}
	}
	resp, err := d.senders[r.ws].Post(ctx, r.endpoint, r.body)
	elapsed := d.now().Sub(now)
	status, rl := 0, braze.RateLimit{}
	var be *braze.Error
	switch {
	case resp != nil:
		status, rl = resp.Status, resp.RateLimit
	case errors.As(err, &be):
		// An answer whose body could not be read: its status and
		// rate-limit hints came with the error.
		status, rl = be.Status, be.RateLimit
	}
	d.m.request(r.endpoint, status, elapsed, d.recipients(r))
	d.limiter.Observe(r.ws, r.charges, status, rl)
	if err == nil {
		d.health.success(d.now())
		d.succeed(r, resp)
		return
	}
	if ctx.Err() != nil {
		return // stopping mid-call: hand the events back rather than guess
	}
	d.fail(r, resp, err)
}

// prepare builds the body of a batch and the budgets r is charged to,
// unless they are built already.
func (d *Dispatcher) prepare(r *request) {
	if r.body == nil {
		r.body = r.batch.AppendBody(make([]byte, 0, 64+len(r.recips)*96), r.recips)
	}
	if r.charges == nil {
		if r.batch != nil && len(r.recips) > 0 {
			// A batch lists its recipients: no need to read it back.
			r.charges = rules.ClassifyListed("POST", r.endpoint)
		} else {
			r.charges = rules.Classify("POST", r.endpoint, r.body)
		}
	}
}

func (d *Dispatcher) recipients(r *request) int {
	if r.batch != nil {
		return len(r.recips)
	}
	return 1
}

// dropExpired dead-letters the events of r whose deliver-by time has
// passed and returns what is left of r (nil if nothing).
func (d *Dispatcher) dropExpired(r *request) *request {
	now := d.now()
	expired := false
	for _, j := range r.jobs {
		if dl := j.Event.Deadline; !dl.IsZero() && now.After(dl) {
			expired = true
			break
		}
	}
	if !expired {
		return r
	}
	keep := r.jobs[:0:0]
	for _, j := range r.jobs {
		if dl := j.Event.Deadline; !dl.IsZero() && now.After(dl) {
			d.finish(j, Result{Outcome: Expired, Reason: event.ReasonExpired,
				Err: "deliver-by time " + dl.UTC().Format(time.RFC3339) + " passed before Braze accepted the event"}, len(r.jobs))
			continue
		}
		keep = append(keep, j)
	}
	if len(keep) == len(r.jobs) {
		return r
	}
	if len(keep) == 0 {
		d.release(r)
		return nil
	}
	n := d.subset(r, keep)
	n.cause = r.cause
	// The dropped events may be what Braze rejected: if the rest is
	// accepted, that no longer proves the held sibling bad, so the sibling
	// is sent on its own.
	d.release(r)
	return n
}

// subset returns a new request for some of r's jobs.
func (d *Dispatcher) subset(r *request, jobs []*Job) *request {
	n := &request{ws: r.ws, endpoint: r.endpoint, jobs: jobs, batch: r.batch, lane: r.lane,
		attempts: r.attempts, first: r.first}
	if r.batch == nil {
		n.body = r.body
		return n
	}
	for _, j := range jobs {
		n.recips = append(n.recips, j.Event.Batch.Recipients...)
	}
	return n
}

// succeed settles the events of an accepted request. Recipients that Braze
// names among the non-fatal errors of its answer are dead-lettered as
// rejected; the others are sent.
func (d *Dispatcher) succeed(r *request, resp *braze.Response) {
	res := Result{Outcome: Sent, Status: resp.Status, DispatchID: resp.DispatchID,
		ScheduleID: resp.ScheduleID, SendID: resp.SendID, Notice: resp.Notice}
	bad := badRecipients(r, resp.MinorErrors())
	pos := 0
	for _, j := range r.jobs {
		n := 0
		if j.Event.Batch != nil {
			n = len(j.Event.Batch.Recipients)
		}
		if msg, ok := firstBad(bad, pos, n); ok {
			d.finish(j, Result{Outcome: DeadLettered, Reason: event.ReasonRejected, Status: resp.Status,
				Err: "Braze listed this event's recipient among the errors of its answer: " + msg, Response: resp.Body}, len(r.jobs))
		} else {
			d.finish(j, res, len(r.jobs))
		}
		pos += n
	}
	if r.sibling != nil {
		d.knownBad(r.sibling)
	}
}

// knownBad handles the half of a rejected batch whose other half Braze
// accepted: it holds the offender, so it is split again (or, down to one
// event, dead-lettered with the batch's rejection) without another call.
func (d *Dispatcher) knownBad(r *request) {
	if len(r.jobs) == 1 {
		d.deadLetter(r, event.ReasonRejected, r.cause.err, r.cause.body)
		return
	}
	d.split(r, r.cause)
}

// split halves a rejected batch: the first half is sent, the second held
// as its sibling.
func (d *Dispatcher) split(r *request, cause *rejection) {
	h := len(r.jobs) / 2
	a, b := d.subset(r, r.jobs[:h]), d.subset(r, r.jobs[h:])
	a.attempts, b.attempts = 0, 0
	a.cause, b.cause = cause, cause
	a.sibling = b
	d.m.retry(r.endpoint, "split")
	go d.requeue(a)
}

// release sends a held sibling whose half ended without telling anything
// about it.
func (d *Dispatcher) release(r *request) {
	if r.sibling != nil {
		s := r.sibling
		r.sibling = nil
		go d.requeue(s)
	}
}

// badRecipients maps Braze's minor errors to positions in r.recips: by
// input_array and index when Braze gives them, else by a recipient's
// identifier appearing in the error text.
func badRecipients(r *request, errs []braze.MinorError) map[int]string {
	if len(errs) == 0 || r.batch == nil {
		return nil
	}
	bad := map[int]string{}
	for _, e := range errs {
		text := oneLine(string(e.Raw), 512)
		if e.Index != nil {
			if i, ok := position(r.recips, e.InputArray, *e.Index); ok {
				bad[i] = text
				continue
			}
		}
		for i, rc := range r.recips {
			if mentions(e.Text, recipientValue(&rc)) {
				bad[i] = text
			}
		}
	}
	return bad
}

// position returns the index in recips of the idx-th entry of the request
// array named array ("recipients", "external_user_ids", "user_aliases"),
// as AppendBody laid them out.
func position(recips []event.Recipient, array string, idx int) (int, bool) {
	n := 0
	for i, rc := range recips {
		match := array == "recipients" || array == "" ||
			array == "external_user_ids" && !rc.Alias || array == "user_aliases" && rc.Alias
		if !match {
			continue
		}
		if n == idx {
			return i, true
		}
		n++
	}
	return 0, false
}

func firstBad(bad map[int]string, from, n int) (string, bool) {
	for i := from; i < from+n; i++ {
		if msg, ok := bad[i]; ok {
			return msg, true
		}
	}
	return "", false
}

// fail handles a failed attempt: split a rejected batch, dead-letter a
// rejected event, or schedule a retry. Retries wait on timers, never on a
// worker, so other keys and partitions keep flowing.
func (d *Dispatcher) fail(r *request, resp *braze.Response, err error) {
	var be *braze.Error
	if !errors.As(err, &be) {
		be = &braze.Error{Endpoint: r.endpoint, Err: err}
	}
	body := be.Body
	if resp != nil {
		body = resp.Body
	}
	now := d.now()
	switch {
	case be.Rejected():
		// This half failed too: its sibling may be good or bad, so send it.
		d.release(r)
		if len(r.jobs) > 1 {
			// Poison isolation: halve the batch until the offenders stand alone.
			d.split(r, &rejection{err: be, body: body})
			return
		}
		d.deadLetter(r, event.ReasonRejected, be, body)
	case be.RateLimited():
		wait := d.backoff(r.attempts)
		if at, ok := be.RetryAt(now); ok {
			wait = max(at.Sub(now), 0) + time.Duration(rand.Int64N(int64(250*time.Millisecond)))
		}
		r.attempts-- // waiting out a budget is not a failed attempt
		d.retryAfter(r, wait, "rate_limited")
	case be.AuthFailure():
		// Not the event's fault (DESIGN §4b.3): pause and probe; never dead-letter.
		d.health.failure(PauseAuth, now)
		r.attempts--
		d.retryAfter(r, min(d.backoff(r.attempts+1), d.cfg.Pause.ProbeInterval), "auth")
	case be.Retryable():
		if d.health.failure(PauseUnavailable, now) {
			// Braze fails for everyone: an outage is not this request's
			// fault, so it waits without using up its attempts.
			r.attempts--
			d.retryAfter(r, d.cfg.Pause.ProbeInterval, retryReason(be))
			return
		}
		if r.attempts >= d.cfg.Retry.MaxAttempts || now.Sub(r.first) >= d.cfg.Retry.MaxElapsed {
			if !d.health.succeededSince(r.first) {
				// No call has succeeded since this request's first attempt:
				// that is an outage (perhaps not yet long enough to pause),
				// not this request's fault. It keeps waiting; its failures
				// count towards the pause.
				r.attempts--
				d.retryAfter(r, min(d.backoff(r.attempts+1), d.cfg.Pause.ProbeInterval), retryReason(be))
				return
			}
			d.release(r)
			d.deadLetter(r, event.ReasonRetriesExhausted, be, body)
			return
		}
		d.retryAfter(r, d.backoff(r.attempts), retryReason(be))
	default:
		d.release(r)
		d.deadLetter(r, event.ReasonRejected, be, body)
	}
}

func retryReason(be *braze.Error) string {
	switch {
	case be.Status >= 500:
		return "server_error"
	case be.Timeout():
		return "timeout"
	}
	return "connection"
}

func (d *Dispatcher) deadLetter(r *request, reason event.Reason, be *braze.Error, body []byte) {
	for _, j := range r.jobs {
		d.finish(j, Result{Outcome: DeadLettered, Reason: reason, Status: be.Status, Err: be.Error(), Response: body}, len(r.jobs))
	}
}

func (d *Dispatcher) retryAfter(r *request, wait time.Duration, reason string) {
	d.m.retry(r.endpoint, reason)
	d.later(r, wait)
}

// later requeues r after wait. Quiesce hands back at once what waits here.
func (d *Dispatcher) later(r *request, wait time.Duration) {
	d.mu.Lock()
	if d.quiescing.Load() {
		d.mu.Unlock()
		d.handBack(r)
		return
	}
	d.waiting[r] = time.AfterFunc(wait, func() {
		d.mu.Lock()
		_, ok := d.waiting[r] // not taken by Quiesce
		delete(d.waiting, r)
		d.mu.Unlock()
		if ok {
			d.requeue(r)
		}
	})
	d.mu.Unlock()
}

// backoff is exponential with full jitter: uniform in [0, min(max, initial·2^(n-1))].
func (d *Dispatcher) backoff(attempt int) time.Duration {
	c := d.cfg.Retry.InitialBackoff
	for i := 1; i < attempt && c < d.cfg.Retry.MaxBackoff; i++ {
		c *= 2
	}
	c = min(c, d.cfg.Retry.MaxBackoff)
	return time.Duration(rand.Int64N(int64(c) + 1))
}

// recipientValue is the identifier a producer wrote: the key, or the alias
// name of a user alias ("<label>:<name>"), which is what Braze reports.
func recipientValue(rc *event.Recipient) string {
	if rc.Kind == event.ByUserAlias {
		return rc.Key[strings.IndexByte(rc.Key, ':')+1:]
	}
	return rc.Key
}

// mentions reports whether text contains v as a whole token.
func mentions(text, v string) bool {
	if v == "" {
		return false
	}
	for i := 0; ; {
		k := strings.Index(text[i:], v)
		if k < 0 {
			return false
		}
		s, e := i+k, i+k+len(v)
		if (s == 0 || !wordByte(text[s-1])) && (e == len(text) || !wordByte(text[e])) {
			return true
		}
		i = s + 1
	}
}

func wordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == '@' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n]
	}
	return s
}
