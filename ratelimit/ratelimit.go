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
	// Share is the fraction of each budget this replica may spend
	// (0 < Share <= 1); zero means 1.
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
	limits map[rules.Budget]rules.Limit
	share  float64
	burst  float64
	now    func() time.Time

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
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
	b := &Budgets{limits: limits, share: cfg.Share, burst: cfg.Burst, now: now, buckets: make(map[bucketKey]*bucket)}
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
		l, ok := b.limits[c.Budget]
		if !ok {
			l = b.limits[rules.Budget("shared")]
		}
		allowed := max(int(float64(l.Requests)*b.share), 1)
		perSec := float64(allowed) / l.Window.Seconds()
		bk = &bucket{
			limit:   l,
			allowed: allowed,
			pacer:   rate.NewLimiter(rate.Limit(perSec), max(int(float64(allowed)*b.burst), 1)),
			remote:  -1,
		}
		b.buckets[k] = bk
	}
	return bk
}

// roll moves bk to the window that holds now.
func (bk *bucket) roll(now time.Time) {
	w := rules.WindowStart(now, bk.limit.Window)
	if !w.Equal(bk.window) {
		bk.window, bk.used, bk.remote = w, 0, -1
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
	return now
}

// Wait blocks until a call charged to charges may be made in workspace ws,
// and counts it. It returns ctx's error if ctx ends first. lane is the
// caller's priority lane (0 highest).
func (b *Budgets) Wait(ctx context.Context, ws string, charges []rules.Charge, lane int) error {
	for {
		b.mu.Lock()
		now := b.now()
		var until time.Time
		for _, c := range charges {
			if t := b.bucket(ws, c).readyAt(now); t.After(now) && t.After(until) {
				until = t
			}
		}
		if until.IsZero() {
			var pace time.Duration
			for _, c := range charges {
				bk := b.bucket(ws, c)
				bk.used++
				if bk.remote > 0 {
					bk.remote--
				}
				pace = max(pace, bk.pacer.ReserveN(now, 1).DelayFrom(now))
			}
			b.mu.Unlock()
			return sleep(ctx, pace)
		}
		b.mu.Unlock()
		if err := sleep(ctx, until.Sub(now)); err != nil {
			return err
		}
	}
}

// Observe corrects the budgets charged for a call with Braze's answer: the
// rate-limit headers say how many calls Braze still allows in the window,
// and a 429 pauses the budget until Braze's reset.
func (b *Budgets) Observe(ws string, charges []rules.Charge, status int, rl braze.RateLimit) {
	if len(charges) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	bk := b.bucket(ws, b.reported(charges, rl))
	bk.roll(now)
	if status == http.StatusTooManyRequests {
		until := rl.Reset
		if rl.RetryAfter > 0 {
			until = now.Add(rl.RetryAfter)
		}
		if until.IsZero() || !until.After(now) {
			until = bk.window.Add(bk.limit.Window)
		}
		bk.pausedUntil = until
		bk.remote = 0
		return
	}
	if rl.Present && (rl.Reset.IsZero() || !rl.Reset.After(bk.window.Add(bk.limit.Window))) {
		bk.remote = max(rl.Remaining, 0)
	}
}

// reported picks the charge that Braze's headers describe: the one whose
// limit matches X-RateLimit-Limit, else the first.
func (b *Budgets) reported(charges []rules.Charge, rl braze.RateLimit) rules.Charge {
	for _, c := range charges {
		if l, ok := b.limits[c.Budget]; ok && rl.Present && l.Requests == rl.Limit {
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

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
