// Package ratelimit models Braze's rate budgets (braze-api.md §2) on the
// gateway's side, so that the gateway never exceeds a budget on its own
// account: per workspace, each budget has Braze's fixed, clock-aligned
// window with a hard cap on calls, a token bucket that spreads the calls
// over the window instead of spending it all at its start, header sync (the
// X-RateLimit-* headers of every answer correct the local view, since other
// systems may share the key) and a pause until the reset after a 429.
//
// Which budgets a call draws from is decided by package braze/rules; this
// package only counts. It does not call Braze and does not log.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/rules"
)

// Config configures the budgets of all workspaces.
type Config struct {
	// Limits overrides Braze's default limits, by budget name (customers
	// get raised limits). Budgets not named keep Braze's defaults.
	Limits map[rules.Budget]rules.Limit
	// Workspaces overrides limits per workspace (on top of Limits).
	Workspaces map[string]map[rules.Budget]rules.Limit
	// Share is the fraction of each budget this replica may spend
	// (0 < Share <= 1); zero means 1. SetShare changes it at run time.
	Share float64
	// Burst is the fraction of a window's calls that may be made back to
	// back before pacing applies; zero means 1%.
	Burst float64
}

// Validate names the first invalid setting.
func (c Config) Validate() error {
	for name, l := range c.Limits {
		if l.Requests < 1 || l.Window <= 0 {
			return fmt.Errorf("ratelimit: budget %q: requests and window must be positive", name)
		}
	}
	for ws, ls := range c.Workspaces {
		for name, l := range ls {
			if l.Requests < 1 || l.Window <= 0 {
				return fmt.Errorf("ratelimit: workspace %q budget %q: requests and window must be positive", ws, name)
			}
		}
	}
	if c.Share < 0 || c.Share > 1 {
		return errors.New("ratelimit: share must be in (0, 1]")
	}
	if c.Burst < 0 || c.Burst > 1 {
		return errors.New("ratelimit: burst must be in [0, 1]")
	}
	return nil
}

// Budgets holds the budgets of every workspace. It is safe for concurrent use.
type Budgets struct {
	limits     map[rules.Budget]rules.Limit
	workspaces map[string]map[rules.Budget]rules.Limit
	burst      float64
	now        func() time.Time

	mu      sync.Mutex
	share   float64
	buckets map[bucketKey]*bucket
	queue   []*waiter // waiting calls, by lane then arrival
	timer   *time.Timer
	wakeAt  time.Time
}

// waiter is a call waiting for its budgets.
type waiter struct {
	buckets []*bucket
	lane    int
	ready   chan struct{} // closed when granted
	granted bool
}

type bucketKey struct {
	ws     string
	budget rules.Budget
	key    string
}

// New returns Budgets for cfg. now is the clock (nil: time.Now).
func New(cfg Config, now func() time.Time) (*Budgets, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	limits := rules.DefaultLimits()
	for name, l := range cfg.Limits {
		l.Budget = name
		limits[name] = l
	}
	b := &Budgets{limits: limits, workspaces: cfg.Workspaces, share: cfg.Share, burst: cfg.Burst, now: now, buckets: make(map[bucketKey]*bucket)}
	if b.share == 0 {
		b.share = 1
	}
	if b.burst == 0 {
		b.burst = 0.01
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b, nil
}

// bucket is one budget of one workspace.
type bucket struct {
	limit   rules.Limit
	allowed int // calls this replica may make per window
	pacer   *rate.Limiter

	window time.Time // start of the current window
	used   int       // calls made in the current window

	// Braze's own view, from the headers of the latest answer in this window.
	remote      int // calls Braze says are left (-1: unknown)
	pausedUntil time.Time
}

func (b *Budgets) bucket(ws string, c rules.Charge) *bucket {
	k := bucketKey{ws, c.Budget, c.Key}
	bk := b.buckets[k]
	if bk == nil {
		l, ok := b.workspaces[ws][c.Budget]
		if !ok {
			l, ok = b.limits[c.Budget]
		}
		if !ok {
			l = b.limits[rules.BudgetShared]
		}
		bk = &bucket{limit: l, remote: -1}
		bk.allowed = bk.allowance(b.share)
		// A new limiter starts full: burst calls may go back to back.
		bk.pacer = rate.NewLimiter(bk.rate(), bk.burstOf(b.burst))
		b.buckets[k] = bk
	}
	return bk
}

// allowance is the calls this replica may make per window.
func (bk *bucket) allowance(share float64) int {
	return max(int(float64(bk.limit.Requests)*share), 1)
}

// rate spreads the allowance evenly over the window.
func (bk *bucket) rate() rate.Limit {
	return rate.Limit(float64(bk.allowed) / bk.limit.Window.Seconds())
}

// burstOf is how many calls may go back to back before pacing applies.
func (bk *bucket) burstOf(burst float64) int {
	return max(int(float64(bk.allowed)*burst), 1)
}

// SetShare changes the fraction of every budget this replica may spend, e.g.
// when its share of the consumer group's partitions changes. Values outside
// (0, 1] are ignored.
func (b *Budgets) SetShare(share float64) {
	if share <= 0 || share > 1 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.share = share
	now := b.now()
	for _, bk := range b.buckets {
		bk.allowed = bk.allowance(share)
		bk.pacer.SetLimitAt(now, bk.rate())
		bk.pacer.SetBurstAt(now, bk.burstOf(b.burst))
	}
	b.pumpLocked()
}

// Share returns the fraction of every budget this replica may spend.
func (b *Budgets) Share() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.share
}

// roll moves bk to the window that holds now.
func (bk *bucket) roll(now time.Time) {
	w := rules.WindowStart(now, bk.limit.Window)
	if !w.Equal(bk.window) {
		bk.window, bk.used, bk.remote = w, 0, -1
		// A fresh window owes nothing to the last one: the pacer starts full.
		bk.pacer = rate.NewLimiter(bk.rate(), bk.pacer.Burst())
	}
}

// readyAt returns when bk next has room for a call (now if it has).
func (bk *bucket) readyAt(now time.Time) time.Time {
	bk.roll(now)
	if now.Before(bk.pausedUntil) {
		return bk.pausedUntil
	}
	if bk.used >= bk.allowed || bk.remote == 0 {
		return bk.window.Add(bk.limit.Window)
	}
	if tokens := bk.pacer.TokensAt(now); tokens < 1 {
		return now.Add(time.Duration((1 - tokens) / float64(bk.pacer.Limit()) * float64(time.Second)))
	}
	return now
}

// take counts one call.
func (bk *bucket) take(now time.Time) {
	bk.used++
	if bk.remote > 0 {
		bk.remote--
	}
	bk.pacer.AllowN(now, 1)
}

// noHintPause is how long a budget pauses after a 429 that says neither
// when the window resets nor when to retry.
const noHintPause = time.Second

// Wait blocks until a call charged to charges may be made in workspace ws,
// and counts it. Calls are granted by priority: a waiting call of a higher
// lane (0 is the highest) goes before any call of a lower lane that needs
// the same budget, and calls of one lane go in arrival order; lower lanes
// get what higher lanes leave. Pacing and windows follow the injected
// clock. It returns ctx's error if ctx ends first; a refused call is not
// counted.
func (b *Budgets) Wait(ctx context.Context, ws string, charges []rules.Charge, lane int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(charges) == 0 {
		return nil
	}
	b.mu.Lock()
	w := &waiter{lane: lane, ready: make(chan struct{})}
	for _, c := range charges {
		w.buckets = append(w.buckets, b.bucket(ws, c))
	}
	i := len(b.queue)
	for i > 0 && b.queue[i-1].lane > lane {
		i--
	}
	b.queue = append(b.queue, nil)
	copy(b.queue[i+1:], b.queue[i:])
	b.queue[i] = w
	b.pumpLocked()
	b.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		defer b.mu.Unlock()
		if w.granted {
			return nil // granted as ctx ended: the caller decides
		}
		for i, q := range b.queue {
			if q == w {
				b.queue = append(b.queue[:i], b.queue[i+1:]...)
				break
			}
		}
		b.pumpLocked()
		return ctx.Err()
	}
}

// pumpLocked grants every waiting call that may go now, in priority order,
// and arms the timer for the earliest moment a blocked call may go. A
// budget that a waiting call needs is closed to every call behind it, so a
// lower lane never takes what a higher lane is waiting for.
func (b *Budgets) pumpLocked() {
	now := b.now()
	held := map[*bucket]bool{}
	var next time.Time
	kept := b.queue[:0]
	for _, w := range b.queue {
		ok := true
		var at time.Time
		for _, bk := range w.buckets {
			if held[bk] {
				ok = false
				continue
			}
			if t := bk.readyAt(now); t.After(now) {
				ok = false
				if t.After(at) {
					at = t
				}
			}
		}
		if ok {
			for _, bk := range w.buckets {
				bk.take(now)
			}
			w.granted = true
			close(w.ready)
			continue
		}
		for _, bk := range w.buckets {
			held[bk] = true
		}
		if !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
		kept = append(kept, w)
	}
	clear(b.queue[len(kept):])
	b.queue = kept
	if next.IsZero() || (!b.wakeAt.IsZero() && !next.Before(b.wakeAt)) {
		return
	}
	b.wakeAt = next
	d := max(next.Sub(now), 0)
	if b.timer == nil {
		b.timer = time.AfterFunc(d, b.wake)
	} else {
		b.timer.Reset(d)
	}
}

// wake re-examines the waiting calls when the earliest of them may go. With
// an injected clock that has not reached that moment yet, it looks again
// after the same interval.
func (b *Budgets) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wakeAt = time.Time{}
	b.pumpLocked()
	if len(b.queue) > 0 && b.wakeAt.IsZero() {
		// Nothing armed although calls wait (a budget with no end in view,
		// or a clock that stands still): poll, so the call is never stranded.
		b.wakeAt = b.now().Add(100 * time.Millisecond)
		b.timer.Reset(100 * time.Millisecond)
	}
}

// Waiting returns the number of calls waiting for a budget.
func (b *Budgets) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// Observe corrects the budgets charged for a call with Braze's answer: the
// rate-limit headers say how many calls Braze still allows in the window,
// and a 429 pauses the budget until Braze's reset (or its Retry-After; the
// end of the window when it gives neither). An answer whose reset lies
// outside the current window speaks of another window: a call made just
// before the window rolled over. Its count is ignored, and its 429 pauses
// nothing once that reset has passed.
func (b *Budgets) Observe(ws string, charges []rules.Charge, status int, rl braze.RateLimit) {
	if len(charges) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	bk := b.bucket(ws, b.reported(ws, charges, rl))
	bk.roll(now)
	end := bk.window.Add(bk.limit.Window)
	if status == http.StatusTooManyRequests {
		until := rl.Reset
		if rl.RetryAfter > 0 {
			until = now.Add(rl.RetryAfter)
		}
		if until.IsZero() {
			// No hint: Braze always sends one, so this 429 comes from
			// something in between (a proxy). Pause briefly rather than
			// until the end of the window, which may be an hour away.
			until = now.Add(noHintPause)
			if end.Before(until) {
				until = end
			}
		}
		if until.After(now) {
			bk.pausedUntil = until
			// Nothing is left until the window ends only if the pause
			// lasts that long; a pause that ends sooner (a reset or
			// Retry-After inside the window) leaves Braze's count unknown,
			// so that calls go again at its end and the next answer's
			// headers tell. Zero would close the budget for the rest of
			// the window (up to an hour) with no call left to reopen it.
			if !until.Before(end) {
				bk.remote = 0
			}
		}
		b.pumpLocked()
		return
	}
	if rl.Present && (rl.Reset.IsZero() || (rl.Reset.After(bk.window) && !rl.Reset.After(end))) {
		bk.remote = max(rl.Remaining, 0)
	}
}

// reported picks the charge that Braze's headers describe: the one whose
// limit matches X-RateLimit-Limit, else the first.
func (b *Budgets) reported(ws string, charges []rules.Charge, rl braze.RateLimit) rules.Charge {
	for _, c := range charges {
		if rl.Present && b.bucket(ws, c).limit.Requests == rl.Limit {
			return c
		}
	}
	return charges[0]
}

// Snapshot is the state of one budget, for metrics.
type Snapshot struct {
	Workspace string
	Budget    rules.Budget
	Key       string
	Limit     int // calls this replica may make per window
	Used      int
	Remote    int // calls Braze reported left (-1: unknown)
	Paused    bool
}

// Snapshots returns the state of every budget used so far.
func (b *Budgets) Snapshots() []Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	out := make([]Snapshot, 0, len(b.buckets))
	for k, bk := range b.buckets {
		bk.roll(now)
		out = append(out, Snapshot{Workspace: k.ws, Budget: k.budget, Key: k.key, Limit: bk.allowed,
			Used: bk.used, Remote: bk.remote, Paused: now.Before(bk.pausedUntil)})
	}
	return out
}
