package dispatcher

import (
	"hash/maphash"
	"time"

	"github.com/brazegw/gateway/event"
)

// pending is an open batch: events with one batching key, waiting for more
// recipients until it is full or its linger time is up.
type pending struct {
	key string
	req *request
	// ids are the hashes of the identities (kind and key) of the
	// recipients already in the batch. Two identities with one hash (a
	// 64-bit collision) keep their events in different batches: that
	// costs room in a batch, never a wrong request, and unlike a map of
	// the identities it allocates once per batch.
	ids    []uint64
	timer  *time.Timer
	closed bool
}

// add puts a batchable job into an open batch of its key that has room and
// does not already name any of its recipients, opening a new batch if none
// does. It returns the batch's request when the job filled it.
func (d *Dispatcher) add(j *Job) *request {
	b := j.Event.Batch
	n := len(b.Recipients)
	var buf [4]uint64
	ids := buf[:0]
	for _, r := range b.Recipients {
		// The kind, xored into the low bits, sets apart equal keys of two kinds.
		ids = append(ids, maphash.String(d.seed, r.Key)^uint64(r.Kind))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	var p *pending
	for _, c := range d.open[b.Key] {
		if len(c.req.recips)+n <= d.cfg.MaxRecipients && !c.names(ids) {
			p = c
			break
		}
	}
	if p == nil {
		p = &pending{
			key: b.Key,
			req: &request{ws: j.Event.Workspace, endpoint: j.Event.Spec.Endpoint, batch: b, lane: j.Lane,
				jobs:   make([]*Job, 0, d.cfg.MaxRecipients), // every job brings a recipient at least
				recips: make([]event.Recipient, 0, d.cfg.MaxRecipients)},
			ids: make([]uint64, 0, d.cfg.MaxRecipients),
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
	p.ids = append(p.ids, ids...)
	if len(p.req.recips) >= d.cfg.MaxRecipients {
		d.closeLocked(p)
		return p.req
	}
	return nil
}

// names reports whether the batch holds a recipient of one of the
// identity hashes ids.
func (p *pending) names(ids []uint64) bool {
	for _, id := range ids {
		for _, held := range p.ids {
			if held == id {
				return true
			}
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
