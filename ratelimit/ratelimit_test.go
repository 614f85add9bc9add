package ratelimit

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/rules"
)

// clock is a fake clock that moves only when told to.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// base is the start of a clock-aligned window of every length used here.
var base = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

var shared = []rules.Charge{{Budget: rules.BudgetShared}}

// newBudgets returns Budgets on a fake clock at base+offset. Unless cfg
// says otherwise the shared budget is 10 calls per second and pacing allows
// a whole window back to back, so that only the window counts.
func newBudgets(t *testing.T, cfg Config, offset time.Duration) (*Budgets, *clock) {
	t.Helper()
	if cfg.Limits == nil {
		cfg.Limits = map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 10, Window: time.Second}}
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	clk := &clock{t: base.Add(offset)}
	b, err := New(cfg, clk.now)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b, clk
}

// wait calls Wait with a deadline d away, and fails the test if Wait does
// not return soon after it.
func wait(t *testing.T, b *Budgets, ws string, charges []rules.Charge, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return result(t, waitAsync(ctx, b, ws, charges))
}

// mustGo asserts that n calls go at once.
func mustGo(t *testing.T, b *Budgets, ws string, charges []rules.Charge, n int) {
	t.Helper()
	for i := range n {
		if err := wait(t, b, ws, charges, 5*time.Second); err != nil {
			t.Fatalf("call %d of %d: Wait = %v, want nil", i+1, n, err)
		}
	}
}

// mustBlock asserts that a call is not allowed now: Wait is still blocked
// when a short deadline passes, and the refused call is not counted.
func mustBlock(t *testing.T, b *Budgets, ws string, charges []rules.Charge) {
	t.Helper()
	before := used(b)
	if err := wait(t, b, ws, charges, 30*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want it blocked until the deadline", err)
	}
	if after := used(b); !maps.Equal(before, after) {
		t.Fatalf("a refused call was counted:\nbefore %v\nafter  %v", before, after)
	}
}

// used returns the calls counted per budget, leaving out unused ones.
func used(b *Budgets) map[string]int {
	out := make(map[string]int)
	for _, s := range b.Snapshots() {
		if s.Used > 0 {
			out[s.Workspace+" "+string(s.Budget)+" "+s.Key] = s.Used
		}
	}
	return out
}

// snapshots returns Snapshots in a fixed order.
func snapshots(b *Budgets) []Snapshot {
	s := b.Snapshots()
	slices.SortFunc(s, func(x, y Snapshot) int {
		return strings.Compare(x.Workspace+"\x00"+string(x.Budget)+"\x00"+x.Key,
			y.Workspace+"\x00"+string(y.Budget)+"\x00"+y.Key)
	})
	return s
}

func snapshot(t *testing.T, b *Budgets, ws string, c rules.Charge) Snapshot {
	t.Helper()
	for _, s := range b.Snapshots() {
		if s.Workspace == ws && s.Budget == c.Budget && s.Key == c.Key {
			return s
		}
	}
	t.Fatalf("no snapshot of %s %s %q", ws, c.Budget, c.Key)
	return Snapshot{}
}

// waitAsync starts Wait in a goroutine and returns its outcome's channel.
func waitAsync(ctx context.Context, b *Budgets, ws string, charges []rules.Charge) <-chan error {
	done := make(chan error, 1)
	go func() { done <- b.Wait(ctx, ws, charges, 0) }()
	return done
}

// result waits (with a deadline) for the outcome of waitAsync.
func result(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return within 10s")
		return nil
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"zero value", Config{}, ""},
		{"full", Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 5, Window: time.Minute}}, Share: 1, Burst: 1}, ""},
		{"zero requests", Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Window: time.Minute}}}, "shared"},
		{"zero window", Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetAudience: {Requests: 5}}}, "audience"},
		{"negative share", Config{Share: -0.5}, "share"},
		{"share above one", Config{Share: 1.5}, "share"},
		{"negative burst", Config{Burst: -0.1}, "burst"},
		{"burst above one", Config{Burst: 2}, "burst"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want an error naming %q", err, tt.wantErr)
			}
			if _, err := New(tt.cfg, nil); err == nil {
				t.Fatal("New accepted an invalid Config")
			}
		})
	}
}

// TestWaitWindow checks that Wait allows exactly the budget's calls per
// window and then blocks until the next window of the clock, not until a
// window's length after the first call.
func TestWaitWindow(t *testing.T) {
	b, clk := newBudgets(t, Config{}, 500*time.Millisecond)
	mustGo(t, b, "ws", shared, 10)
	mustBlock(t, b, "ws", shared)
	if s := snapshot(t, b, "ws", shared[0]); s.Used != 10 || s.Limit != 10 || s.Remote != -1 || s.Paused {
		t.Fatalf("snapshot = %+v, want 10 of 10 used, remote unknown, not paused", s)
	}

	clk.set(base.Add(time.Second - time.Nanosecond))
	mustBlock(t, b, "ws", shared)

	// A caller blocked at the end of the window goes when the clock reaches
	// the next one.
	done := waitAsync(context.Background(), b, "ws", shared)
	clk.set(base.Add(time.Second))
	if err := result(t, done); err != nil {
		t.Fatalf("Wait in the next window = %v, want nil", err)
	}
	// Later in the same window (and with the pacer refilled) the rest of
	// the window's calls go, and no more.
	clk.set(base.Add(1900 * time.Millisecond))
	mustGo(t, b, "ws", shared, 9)
	mustBlock(t, b, "ws", shared)
	if s := snapshot(t, b, "ws", shared[0]); s.Used != 10 {
		t.Fatalf("second window: Used = %d, want 10", s.Used)
	}
}

func TestWaitShare(t *testing.T) {
	b, _ := newBudgets(t, Config{Share: 0.5}, 0)
	mustGo(t, b, "ws", shared, 5)
	mustBlock(t, b, "ws", shared)
	if s := snapshot(t, b, "ws", shared[0]); s.Limit != 5 || s.Used != 5 {
		t.Fatalf("snapshot = %+v, want 5 of 5 used", s)
	}
}

// TestWaitShareAtLeastOne checks that a share smaller than one call still
// allows one call per window.
func TestWaitShareAtLeastOne(t *testing.T) {
	b, _ := newBudgets(t, Config{Share: 0.01}, 0)
	mustGo(t, b, "ws", shared, 1)
	mustBlock(t, b, "ws", shared)
}

func TestWaitDefaultLimits(t *testing.T) {
	b, _ := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{}}, 0)
	audience := []rules.Charge{{Budget: rules.BudgetAudience, Key: `{"segment_id":"s"}`}}
	mustGo(t, b, "ws", audience, 10) // Braze's 10 per minute
	mustBlock(t, b, "ws", audience)
	if s := snapshot(t, b, "ws", audience[0]); s.Limit != 10 {
		t.Fatalf("audience limit = %d, want Braze's default 10", s.Limit)
	}
	mustGo(t, b, "ws", shared, 1)
	if s := snapshot(t, b, "ws", shared[0]); s.Limit != 250000 {
		t.Fatalf("shared limit = %d, want Braze's default 250000", s.Limit)
	}
}

// TestWaitPacing checks that with the default burst the calls of a window
// are spread over it rather than made back to back: pacing follows the
// injected clock.
func TestWaitPacing(t *testing.T) {
	b, clk := newBudgets(t, Config{Burst: 0.01}, 0) // 10/s, burst of 1 call
	mustGo(t, b, "ws", shared, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := waitAsync(ctx, b, "ws", shared)
	waitFor(t, func() bool { return b.Waiting() == 1 }, "second call is not waiting")
	select {
	case err := <-done:
		t.Fatalf("second call at the same instant went (%v); want it paced", err)
	default:
	}
	clk.set(base.Add(100 * time.Millisecond))
	if err := result(t, done); err != nil {
		t.Fatalf("second call after one pacing interval: %v", err)
	}
	if s := snapshot(t, b, "ws", shared[0]); s.Used != 2 {
		t.Fatalf("Used = %d, want 2", s.Used)
	}
	// A window later the pacer is full again: nothing to wait for.
	clk.set(base.Add(time.Second))
	mustGo(t, b, "ws", shared, 1)
}

// TestLanes checks that a waiting call of a higher lane goes before calls
// of lower lanes that waited longer.
func TestLanes(t *testing.T) {
	b, clk := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 1, Window: time.Second}}}, 0)
	mustGo(t, b, "ws", shared, 1)
	granted := map[int]chan struct{}{}
	for _, lane := range []int{2, 1, 0} { // lowest priority arrives first
		granted[lane] = make(chan struct{})
		go func() {
			if b.Wait(context.Background(), "ws", shared, lane) == nil {
				close(granted[lane])
			}
		}()
		want := 3 - lane
		waitFor(t, func() bool { return b.Waiting() == want }, "caller not waiting")
	}
	for i, lane := range []int{0, 1, 2} {
		clk.set(base.Add(time.Duration(i+1) * time.Second)) // one call of room per window
		select {
		case <-granted[lane]:
		case <-time.After(5 * time.Second):
			t.Fatalf("window %d: lane %d not granted", i+1, lane)
		}
		if w := b.Waiting(); w != 2-i {
			t.Fatalf("window %d: %d calls still wait, want %d", i+1, w, 2-i)
		}
	}
}

// TestLanesLowerGetsLeftovers checks that with one call of room per window
// a high lane is served first and the low lane still progresses.
func TestLanesLowerGetsLeftovers(t *testing.T) {
	b, clk := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 1, Window: time.Second}}}, 0)
	mustGo(t, b, "ws", shared, 1)
	low, high := make(chan struct{}, 1), make(chan struct{}, 1)
	go func() {
		if b.Wait(context.Background(), "ws", shared, 3) == nil {
			low <- struct{}{}
		}
	}()
	waitFor(t, func() bool { return b.Waiting() == 1 }, "low not waiting")
	go func() {
		if b.Wait(context.Background(), "ws", shared, 0) == nil {
			high <- struct{}{}
		}
	}()
	waitFor(t, func() bool { return b.Waiting() == 2 }, "high not waiting")
	clk.set(base.Add(time.Second))
	<-high
	if b.Waiting() != 1 {
		t.Fatalf("after one window %d calls wait, want the low one", b.Waiting())
	}
	clk.set(base.Add(2 * time.Second))
	<-low
}

// TestSetShare checks that changing the share changes the allowance.
func TestSetShare(t *testing.T) {
	b, clk := newBudgets(t, Config{}, 0)
	b.SetShare(0.3)
	mustGo(t, b, "ws", shared, 3)
	mustBlock(t, b, "ws", shared)
	b.SetShare(0.5)
	clk.set(base.Add(500 * time.Millisecond)) // the pacer refills at the new pace
	mustGo(t, b, "ws", shared, 2)
	mustBlock(t, b, "ws", shared)
	if b.Share() != 0.5 {
		t.Fatalf("Share = %v", b.Share())
	}
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestObserve429(t *testing.T) {
	window := time.Second
	tests := []struct {
		name        string
		rl          braze.RateLimit
		stillPaused time.Duration // offset from base at which calls must still wait
		free        time.Duration // offset from base at which calls go again
	}{
		{"reset", braze.RateLimit{Present: true, Limit: 10, Reset: base.Add(3 * window)}, 3*window - time.Nanosecond, 3 * window},
		{"retry-after beyond the window", braze.RateLimit{RetryAfter: 2500 * time.Millisecond}, 2600*time.Millisecond - time.Nanosecond, 2600 * time.Millisecond},
		{"no headers: a short pause (here the rest of the window)", braze.RateLimit{}, window - time.Nanosecond, window},
		{"reset at the window's end", braze.RateLimit{Present: true, Limit: 10, Reset: base.Add(window)}, window - time.Nanosecond, window},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newBudgets(t, Config{}, 100*time.Millisecond)
			mustGo(t, b, "ws", shared, 1)
			b.Observe("ws", shared, http.StatusTooManyRequests, tt.rl)
			if s := snapshot(t, b, "ws", shared[0]); !s.Paused || s.Remote != 0 {
				t.Fatalf("after a 429: snapshot = %+v, want paused with nothing left", s)
			}
			mustBlock(t, b, "ws", shared)
			clk.set(base.Add(tt.stillPaused))
			mustBlock(t, b, "ws", shared)
			clk.set(base.Add(tt.free))
			mustGo(t, b, "ws", shared, 1)
			if s := snapshot(t, b, "ws", shared[0]); s.Paused {
				t.Fatalf("after the reset: snapshot = %+v, want not paused", s)
			}
		})
	}
}

// TestObserve429EarlierWindow checks that a 429 answered for a call of the
// previous window, arriving after the window rolled over, does not stop the
// new window: Braze's reset has already happened.
func TestObserve429EarlierWindow(t *testing.T) {
	for _, reset := range []time.Time{base.Add(time.Second), base.Add(500 * time.Millisecond), base.Add(-time.Hour)} {
		t.Run(reset.Format(time.TimeOnly+".000"), func(t *testing.T) {
			b, _ := newBudgets(t, Config{}, time.Second+100*time.Millisecond)
			mustGo(t, b, "ws", shared, 1)
			b.Observe("ws", shared, http.StatusTooManyRequests, braze.RateLimit{Present: true, Limit: 10, Remaining: 0, Reset: reset})
			if s := snapshot(t, b, "ws", shared[0]); s.Paused || s.Remote != -1 {
				t.Fatalf("snapshot = %+v, want not paused and Braze's count unknown", s)
			}
			mustGo(t, b, "ws", shared, 9)
			mustBlock(t, b, "ws", shared)
		})
	}
}

// TestObserve429ResetInsideWindow checks that a 429 whose reset (or
// Retry-After) comes before the end of the budget's window pauses the budget
// until then only: calls go again at the reset, not at the end of the window.
func TestObserve429ResetInsideWindow(t *testing.T) {
	hourly := Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 1000, Window: time.Hour}}}
	at := base.Add(10 * time.Minute)
	tests := []struct {
		name string
		rl   braze.RateLimit
		free time.Time
	}{
		{"reset", braze.RateLimit{Present: true, Limit: 1000, Remaining: 0, Reset: at.Add(time.Second)}, at.Add(time.Second)},
		{"retry-after", braze.RateLimit{RetryAfter: 2 * time.Second}, at.Add(2 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newBudgets(t, hourly, 10*time.Minute)
			mustGo(t, b, "ws", shared, 1)
			b.Observe("ws", shared, http.StatusTooManyRequests, tt.rl)
			if s := snapshot(t, b, "ws", shared[0]); !s.Paused {
				t.Fatalf("after a 429: snapshot = %+v, want paused", s)
			}
			mustBlock(t, b, "ws", shared)
			clk.set(tt.free)
			mustGo(t, b, "ws", shared, 5)
		})
	}
}

func TestObserveRemaining(t *testing.T) {
	reset := base.Add(time.Second) // the end of the first window
	tests := []struct {
		name   string
		rl     braze.RateLimit
		status int
		goes   int // calls allowed afterwards in the same window
	}{
		{"remaining zero", braze.RateLimit{Present: true, Limit: 10, Remaining: 0, Reset: reset}, http.StatusOK, 0},
		{"remaining zero on an error answer", braze.RateLimit{Present: true, Limit: 10, Remaining: 0, Reset: reset}, http.StatusInternalServerError, 0},
		{"remaining zero without a reset", braze.RateLimit{Present: true, Remaining: 0}, http.StatusOK, 0},
		{"negative remaining", braze.RateLimit{Present: true, Remaining: -3, Reset: reset}, http.StatusOK, 0},
		{"remaining below the local count", braze.RateLimit{Present: true, Limit: 10, Remaining: 3, Reset: reset}, http.StatusOK, 3},
		{"remaining above the local count", braze.RateLimit{Present: true, Limit: 100, Remaining: 90, Reset: reset}, http.StatusOK, 9},
		{"no headers", braze.RateLimit{}, http.StatusOK, 9},
		{"headers of an earlier window", braze.RateLimit{Present: true, Limit: 10, Remaining: 0, Reset: base}, http.StatusOK, 9},
		{"headers of a later window", braze.RateLimit{Present: true, Limit: 10, Remaining: 0, Reset: base.Add(2 * time.Second)}, http.StatusOK, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, clk := newBudgets(t, Config{}, 200*time.Millisecond)
			mustGo(t, b, "ws", shared, 1)
			b.Observe("ws", shared, tt.status, tt.rl)
			mustGo(t, b, "ws", shared, tt.goes)
			mustBlock(t, b, "ws", shared)
			// The next window starts afresh: Braze's count of the old one
			// no longer applies.
			clk.set(reset)
			mustGo(t, b, "ws", shared, 10)
			mustBlock(t, b, "ws", shared)
		})
	}
}

func TestObserveRemoteCountsDown(t *testing.T) {
	b, _ := newBudgets(t, Config{}, 0)
	mustGo(t, b, "ws", shared, 1)
	b.Observe("ws", shared, http.StatusOK, braze.RateLimit{Present: true, Limit: 10, Remaining: 2, Reset: base.Add(time.Second)})
	mustGo(t, b, "ws", shared, 1)
	if s := snapshot(t, b, "ws", shared[0]); s.Remote != 1 || s.Used != 2 {
		t.Fatalf("snapshot = %+v, want 2 used and 1 left remotely", s)
	}
	mustGo(t, b, "ws", shared, 1)
	mustBlock(t, b, "ws", shared)
}

func TestObserveNoCharges(t *testing.T) {
	b, _ := newBudgets(t, Config{}, 0)
	b.Observe("ws", nil, http.StatusTooManyRequests, braze.RateLimit{})
	if s := b.Snapshots(); len(s) != 0 {
		t.Fatalf("Observe without charges created budgets: %+v", s)
	}
	mustGo(t, b, "ws", shared, 10)
}

func broadcastLimits() Config {
	return Config{Limits: map[rules.Budget]rules.Limit{
		rules.BudgetBroadcast: {Requests: 5, Window: time.Second},
		rules.BudgetAudience:  {Requests: 2, Window: time.Second},
	}}
}

func broadcast(audience string) []rules.Charge {
	return []rules.Charge{{Budget: rules.BudgetBroadcast}, {Budget: rules.BudgetAudience, Key: audience}}
}

// TestWaitBroadcastCharges checks that a broadcast call counts against both
// the broadcast budget and its audience's budget, and waits while either is
// spent.
func TestWaitBroadcastCharges(t *testing.T) {
	b, _ := newBudgets(t, broadcastLimits(), 0)
	mustGo(t, b, "ws", broadcast("a"), 2)
	mustBlock(t, b, "ws", broadcast("a")) // audience a spent
	mustGo(t, b, "ws", broadcast("b"), 2)
	mustGo(t, b, "ws", broadcast("c"), 1)
	mustBlock(t, b, "ws", broadcast("c")) // broadcast spent, audience c is not
	mustBlock(t, b, "ws", broadcast("d"))

	for _, tc := range []struct {
		c    rules.Charge
		used int
	}{
		{rules.Charge{Budget: rules.BudgetBroadcast}, 5},
		{rules.Charge{Budget: rules.BudgetAudience, Key: "a"}, 2},
		{rules.Charge{Budget: rules.BudgetAudience, Key: "b"}, 2},
		{rules.Charge{Budget: rules.BudgetAudience, Key: "c"}, 1},
	} {
		if s := snapshot(t, b, "ws", tc.c); s.Used != tc.used {
			t.Fatalf("%s %q: Used = %d, want %d", tc.c.Budget, tc.c.Key, s.Used, tc.used)
		}
	}
	// A non-broadcast call draws from the shared pool only.
	mustGo(t, b, "ws", shared, 1)
}

// TestObserveReportedBudget checks that the headers of a broadcast call
// correct the budget whose size they report.
func TestObserveReportedBudget(t *testing.T) {
	t.Run("audience", func(t *testing.T) {
		b, _ := newBudgets(t, broadcastLimits(), 0)
		mustGo(t, b, "ws", broadcast("a"), 1)
		b.Observe("ws", broadcast("a"), http.StatusOK, braze.RateLimit{Present: true, Limit: 2, Remaining: 0})
		mustBlock(t, b, "ws", broadcast("a"))
		mustGo(t, b, "ws", broadcast("b"), 1)
	})
	t.Run("broadcast", func(t *testing.T) {
		b, _ := newBudgets(t, broadcastLimits(), 0)
		mustGo(t, b, "ws", broadcast("a"), 1)
		b.Observe("ws", broadcast("a"), http.StatusOK, braze.RateLimit{Present: true, Limit: 5, Remaining: 0})
		mustBlock(t, b, "ws", broadcast("a"))
		mustBlock(t, b, "ws", broadcast("b"))
	})
	t.Run("unknown size: the first charge", func(t *testing.T) {
		b, _ := newBudgets(t, broadcastLimits(), 0)
		mustGo(t, b, "ws", broadcast("a"), 1)
		b.Observe("ws", broadcast("a"), http.StatusTooManyRequests, braze.RateLimit{Present: true, Limit: 777, Remaining: 0})
		if s := snapshot(t, b, "ws", rules.Charge{Budget: rules.BudgetBroadcast}); !s.Paused {
			t.Fatalf("broadcast snapshot = %+v, want paused", s)
		}
		if s := snapshot(t, b, "ws", rules.Charge{Budget: rules.BudgetAudience, Key: "a"}); s.Paused {
			t.Fatalf("audience snapshot = %+v, want not paused", s)
		}
	})
}

func TestWorkspacesIsolated(t *testing.T) {
	b, _ := newBudgets(t, Config{}, 0)
	mustGo(t, b, "one", shared, 10)
	mustBlock(t, b, "one", shared)
	mustGo(t, b, "two", shared, 3)
	b.Observe("two", shared, http.StatusTooManyRequests, braze.RateLimit{})
	mustBlock(t, b, "two", shared)
	mustGo(t, b, "three", shared, 10)
	if s := snapshot(t, b, "one", shared[0]); s.Paused || s.Used != 10 {
		t.Fatalf("workspace one = %+v, want 10 used and not paused", s)
	}
}

// TestWaitCancel checks that a Wait blocked for a long window returns as
// soon as its context is cancelled, without counting a call.
func TestWaitCancel(t *testing.T) {
	b, _ := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 2, Window: time.Hour}}}, time.Minute)
	mustGo(t, b, "ws", shared, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := waitAsync(ctx, b, "ws", shared)
	cancel()
	if err := result(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
	if s := snapshot(t, b, "ws", shared[0]); s.Used != 2 {
		t.Fatalf("Used = %d after a cancelled Wait, want 2", s.Used)
	}

	// A Wait whose context has already ended does not block either.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx, "ws", shared, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestSnapshots(t *testing.T) {
	b, _ := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{
		rules.BudgetShared:    {Requests: 10, Window: time.Second},
		rules.BudgetBroadcast: {Requests: 4, Window: time.Second},
		rules.BudgetAudience:  {Requests: 2, Window: time.Second},
	}, Share: 0.5}, 0)
	if s := b.Snapshots(); len(s) != 0 {
		t.Fatalf("Snapshots before any call = %+v, want none", s)
	}
	mustGo(t, b, "a", shared, 3)
	mustGo(t, b, "b", broadcast("x"), 1)
	b.Observe("a", shared, http.StatusOK, braze.RateLimit{Present: true, Limit: 10, Remaining: 4, Reset: base.Add(time.Second)})
	b.Observe("b", broadcast("x"), http.StatusTooManyRequests, braze.RateLimit{Present: true, Limit: 2, Remaining: 0, Reset: base.Add(time.Second)})
	want := []Snapshot{
		{Workspace: "a", Budget: rules.BudgetShared, Limit: 5, Used: 3, Remote: 4},
		{Workspace: "b", Budget: rules.BudgetAudience, Key: "x", Limit: 1, Used: 1, Remote: 0, Paused: true},
		{Workspace: "b", Budget: rules.BudgetBroadcast, Limit: 2, Used: 1, Remote: -1},
	}
	if got := snapshots(b); !slices.Equal(got, want) {
		t.Fatalf("Snapshots() =\n%+v\nwant\n%+v", got, want)
	}
}

func BenchmarkWaitUncontended(b *testing.B) {
	budgets, err := New(Config{
		Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 1 << 30, Window: time.Hour}},
		Burst:  1,
	}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := budgets.Wait(ctx, "ws", shared, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestObserve429WithoutHintInLongWindow checks that a 429 without any hint
// pauses an hourly budget briefly, not until the top of the hour.
func TestObserve429WithoutHintInLongWindow(t *testing.T) {
	b, clk := newBudgets(t, Config{Limits: map[rules.Budget]rules.Limit{rules.BudgetShared: {Requests: 1000, Window: time.Hour}}}, 0)
	mustGo(t, b, "ws", shared, 1)
	b.Observe("ws", shared, http.StatusTooManyRequests, braze.RateLimit{})
	mustBlock(t, b, "ws", shared)
	clk.set(base.Add(noHintPause))
	mustGo(t, b, "ws", shared, 1)
}
