package dispatcher

import (
	"time"

	"github.com/brazegw/gateway/event"
)

// pending is an open batch: events with one batching key, waiting for more
// recipients until it is full or its linger time is up.
type pending struct {
	key    string
	req    *request
	ids    map[string]struct{} // recipients already in the batch
	timer  *time.Timer
	closed bool
}

// add puts a batchable job into an open batch of its key that has room and
// does not already name any of its recipients, opening a new batch if none
// does. It returns the batch's request when the job filled it.
func (d *Dispatcher) add(j *Job) *request {
	b := j.Event.Batch
	n := len(b.Recipients)
	d.mu.Lock()
	defer d.mu.Unlock()
	var p *pending
	for _, c := range d.open[b.Key] {
		if len(c.req.recips)+n <= d.cfg.MaxRecipients && !c.names(b.Recipients) {
			p = c
			break
		}
	}
	if p == nil {
		p = &pending{
			key: b.Key,
			req: &request{ws: j.Event.Workspace, endpoint: j.Event.Spec.Endpoint, batch: b, lane: j.Lane,
				recips: make([]event.Recipient, 0, d.cfg.MaxRecipients)},
			ids: make(map[string]struct{}, d.cfg.MaxRecipients),
		}
		d.open[b.Key] = append(d.open[b.Key], p)
		if n < d.cfg.MaxRecipients {
			p.timer = time.AfterFunc(d.cfg.Linger, func() { d.expire(p) })
		}
	}
	p.req.jobs = append(p.req.jobs, j)
	p.req.recips = append(p.req.recips, b.Recipients...)
	if j.Lane < p.req.lane {
		p.req.lane = j.Lane
	}
	for _, r := range b.Recipients {
		p.ids[r.ID] = struct{}{}
	}
	if len(p.req.recips) >= d.cfg.MaxRecipients {
		d.closeLocked(p)
		return p.req
	}
	return nil
}

func (p *pending) names(rs []event.Recipient) bool {
	for _, r := range rs {
		if _, ok := p.ids[r.ID]; ok {
			return true
		}
	}
	return false
}

// expire sends a batch whose linger time is up.
func (d *Dispatcher) expire(p *pending) {
	d.mu.Lock()
	if p.closed {
		d.mu.Unlock()
		return
	}
	d.closeLocked(p)
	d.mu.Unlock()
	d.requeue(p.req)
}

// closeLocked removes p from the open batches. d.mu must be held.
func (d *Dispatcher) closeLocked(p *pending) {
	p.closed = true
	if p.timer != nil {
		p.timer.Stop()
	}
	list := d.open[p.key]
	for i, c := range list {
		if c == p {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(d.open, p.key)
	} else {
		d.open[p.key] = list
	}
}
