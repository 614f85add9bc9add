package brazetest

import (
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/brazegw/gateway/braze/rules"
)

// budgets are Braze's rate budgets (braze-api.md §2): per workspace, fixed
// windows aligned to the clock (rules.WindowStart), one counter per budget
// and, for keyed budgets (the per-audience one), per key. Safe for
// concurrent use.
type budgets struct {
	limits map[rules.Budget]rules.Limit // nil: no rate limiting
	mu     sync.Mutex
	ws     map[string]map[rules.Budget]*window
}

// window counts the calls charged to one budget in its current window.
type window struct {
	start time.Time
	used  map[string]int // by charge key ("" for unkeyed budgets)
}

// rateHeaders are the X-RateLimit-* values of one answer.
type rateHeaders struct {
	set       bool
	limit     int
	remaining int
	reset     time.Time
}

func (h rateHeaders) write(w http.ResponseWriter) {
	if !h.set {
		return
	}
	// Braze's spelling, kept by assigning the map directly (Set would
	// canonicalise it to X-Ratelimit-…); clients match case-insensitively.
	hd := w.Header()
	hd["X-RateLimit-Limit"] = []string{strconv.Itoa(h.limit)}
	hd["X-RateLimit-Remaining"] = []string{strconv.Itoa(max(h.remaining, 0))}
	hd["X-RateLimit-Reset"] = []string{strconv.FormatInt(h.reset.Unix(), 10)}
}

func newBudgets(limits map[rules.Budget]rules.Limit) *budgets {
	var l map[rules.Budget]rules.Limit
	if limits != nil {
		l = make(map[rules.Budget]rules.Limit, len(limits))
		for b, lim := range limits {
			if lim.Requests > 0 && lim.Window > 0 {
				l[b] = lim
			}
		}
	}
	return &budgets{limits: l, ws: map[string]map[rules.Budget]*window{}}
}

// limited reports whether any budget has a limit; when none has, every
// method answers without looking at the charges.
func (bs *budgets) limited() bool { return len(bs.limits) > 0 }

// current returns the window of budget b of workspace ws at now, rolling it
// over (and forgetting every key) when the clock has left it. b must have a
// limit. Callers hold mu.
func (bs *budgets) current(ws string, b rules.Budget, now time.Time) (*window, rules.Limit) {
	lim := bs.limits[b]
	start := rules.WindowStart(now, lim.Window)
	m := bs.ws[ws]
	if m == nil {
		m = map[rules.Budget]*window{}
		bs.ws[ws] = m
	}
	w := m[b]
	if w == nil || !w.start.Equal(start) {
		w = &window{start: start, used: map[string]int{}}
		m[b] = w
	}
	return w, lim
}

// headersFor are the headers of charge c in window w after the call.
func headersFor(w *window, lim rules.Limit, c rules.Charge) rateHeaders {
	return rateHeaders{set: true, limit: int(lim.Requests), remaining: int(lim.Requests) - w.used[c.Key], reset: w.start.Add(lim.Window)}
}

// charge draws one call from every budget in cs for workspace ws. When one
// of them is exhausted nothing is drawn and ok is false; the headers are
// then those of the exhausted budget. Otherwise they are those of the
// budget the caller will run into first (see tighter).
func (bs *budgets) charge(ws string, cs []rules.Charge, now time.Time) (h rateHeaders, ok bool) {
	if bs.limits == nil {
		return rateHeaders{}, true
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	for _, c := range cs {
		if _, limited := bs.limits[c.Budget]; !limited {
			continue
		}
		w, lim := bs.current(ws, c.Budget, now)
		if w.used[c.Key] >= int(lim.Requests) {
			return headersFor(w, lim, c), false
		}
	}
	for _, c := range cs {
		if _, limited := bs.limits[c.Budget]; !limited {
			continue
		}
		w, lim := bs.current(ws, c.Budget, now)
		w.used[c.Key]++
		h = tighter(h, headersFor(w, lim, c))
	}
	return h, true
}

// refund gives back a call charged to c, if its window is still current.
func (bs *budgets) refund(ws string, c rules.Charge, now time.Time) rateHeaders {
	if bs.limits == nil {
		return rateHeaders{}
	}
	if _, limited := bs.limits[c.Budget]; !limited {
		return rateHeaders{}
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	w, lim := bs.current(ws, c.Budget, now)
	if w.used[c.Key] > 0 {
		w.used[c.Key]--
	}
	return headersFor(w, lim, c)
}

// peek returns the headers a call charged to cs would see, without charging
// it: for answers given before the rate-limit step (404, 401, 403, 415,
// malformed JSON). ws may be "" for an unknown key: the budget then shows as
// untouched.
func (bs *budgets) peek(ws string, cs []rules.Charge, now time.Time) rateHeaders {
	if bs.limits == nil {
		return rateHeaders{}
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	var h rateHeaders
	for _, c := range cs {
		lim, limited := bs.limits[c.Budget]
		if !limited {
			continue
		}
		var hc rateHeaders
		if ws == "" {
			start := rules.WindowStart(now, lim.Window)
			hc = rateHeaders{set: true, limit: int(lim.Requests), remaining: int(lim.Requests), reset: start.Add(lim.Window)}
		} else {
			w, _ := bs.current(ws, c.Budget, now)
			hc = headersFor(w, lim, c)
		}
		h = tighter(h, hc)
	}
	return h
}

// tighter returns the headers of the budget a caller runs into first: the
// one with fewer calls left, on a tie the smaller (more specific) one.
func tighter(h, hc rateHeaders) rateHeaders {
	if !h.set || hc.remaining < h.remaining || (hc.remaining == h.remaining && hc.limit < h.limit) {
		return hc
	}
	return h
}

// exhausted returns headers saying budget cs is used up until reset, for
// injected 429 storms.
func (bs *budgets) exhausted(ws string, cs []rules.Charge, now, reset time.Time) rateHeaders {
	h := bs.peek(ws, cs, now)
	if !h.set {
		return h
	}
	h.remaining = 0
	if !reset.IsZero() {
		h.reset = reset
	}
	return h
}

// BudgetState is the state of one rate budget of one workspace, in Stats.
type BudgetState struct {
	Workspace string
	Budget    rules.Budget
	// Keys is the number of distinct keys charged in the current window
	// (audiences, for the per-audience budget); 0 or 1 for other budgets.
	Keys int
	// Limit and Remaining are per key; for keyed budgets Remaining is that
	// of the most used key.
	Limit     int
	Remaining int
	Reset     time.Time
}

// snapshot reports every budget of every workspace in names at now.
func (bs *budgets) snapshot(names []string, now time.Time) []BudgetState {
	if bs.limits == nil {
		return nil
	}
	bs.mu.Lock()
	defer bs.mu.Unlock()
	kinds := make([]rules.Budget, 0, len(bs.limits))
	for b := range bs.limits {
		kinds = append(kinds, b)
	}
	sort.Slice(kinds, func(i, j int) bool { return kinds[i] < kinds[j] })
	var out []BudgetState
	for _, ws := range names {
		for _, b := range kinds {
			w, lim := bs.current(ws, b, now)
			most := 0
			for _, n := range w.used {
				most = max(most, n)
			}
			out = append(out, BudgetState{
				Workspace: ws, Budget: b, Keys: len(w.used),
				Limit: int(lim.Requests), Remaining: int(lim.Requests) - most, Reset: w.start.Add(lim.Window),
			})
		}
	}
	return out
}
