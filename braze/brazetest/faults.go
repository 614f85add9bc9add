package brazetest

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
)

// Faults are failures the simulator injects on the Braze API paths (never on
// /_sim/). The zero value injects nothing. They are set by Config.Faults and
// changed at run time with Server.SetFaults or PUT /_sim/faults; counted
// faults (Storm429.Calls, Outage5xx[i].Calls) count down as they fire and
// Server.Faults shows what is left.
//
// Per request, in this order: a connection reset or timeout (unless
// DropAfterProcessing), AuthFail, an active outage, a 429 storm, an
// ErrorRate draw; then the normal pipeline, in which Reject and MinorErrors
// apply once the request passed Braze's own rules. Latency delays every
// answer.
//
// In JSON, durations are strings such as "250ms" and times RFC 3339.
type Faults struct {
	// AuthFail answers 401 to every call, as when the key was revoked.
	AuthFail bool
	// ErrorRate maps an HTTP status to the probability (0..1) that a call is
	// answered with it, e.g. {503: 0.1, 429: 0.05}. Probabilities add up; a
	// sum above 1 is an error.
	ErrorRate map[int]float64
	// Latency delays answers on top of Config.Latency.
	Latency Latency
	// Storm429 answers 429 to every call while it lasts.
	Storm429 *Storm
	// Outage5xx are windows in which every call answers a 5xx status.
	Outage5xx []Outage
	// Timeouts is the probability that a call gets no answer at all: the
	// server holds it until the client gives up (or the server closes).
	Timeouts float64
	// ConnectionResets is the probability that the connection is reset
	// (TCP RST) instead of answered.
	ConnectionResets float64
	// DropAfterProcessing makes Timeouts and ConnectionResets strike after
	// the request was processed, as when Braze accepted a call whose answer
	// was lost: its deliveries and state changes happen all the same.
	DropAfterProcessing bool
	// MinorErrors are recipients Braze refuses individually: a request naming
	// them still succeeds, lists each in "errors" and does not deliver to
	// them. Entries are canonical recipient ids ("external_user_id:u1",
	// "alias:<label>:<name>", "email:<addr>", "braze_id:<id>") or bare
	// external user ids.
	MinorErrors []string
	// Reject are recipients (same forms as MinorErrors) that make the whole
	// request fail with 400 and an answer naming no recipient, as a poison
	// item does.
	Reject []string
}

// Latency is a distribution of added delay: Fixed plus a uniform draw in
// [0, Jitter), plus, when P50 is set, a log-normal draw with that median
// whose 99th percentile is P99 (P99 ≤ P50 means always P50).
type Latency struct {
	Fixed  time.Duration
	Jitter time.Duration
	P50    time.Duration
	P99    time.Duration
}

// Storm is a 429 storm: it lasts until Until (if set) and for the next Calls
// calls (if > 0); with both set it ends at whichever comes first, with
// neither it lasts until the faults are changed. Its answers carry
// X-RateLimit-Reset = Until, or one second ahead for a counted storm.
type Storm struct {
	Until time.Time
	Calls int
}

// Outage answers Status (a 5xx; 0 means 503) to every call from From (zero =
// now) until Until (zero = open-ended) and, when Calls > 0, only for that
// many calls.
type Outage struct {
	Status int
	From   time.Time
	Until  time.Time
	Calls  int
}

// Validate reports the first bad fault setting.
func (f Faults) Validate() error {
	sum := 0.0
	for st, p := range f.ErrorRate {
		if st < 400 || st > 599 {
			return fmt.Errorf("brazetest: faults: error_rate status %d is not 4xx/5xx", st)
		}
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("brazetest: faults: error_rate[%d] = %v is not a probability", st, p)
		}
		sum += p
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("brazetest: faults: error_rate probabilities add up to %v > 1", sum)
	}
	for name, p := range map[string]float64{"timeouts": f.Timeouts, "connection_resets": f.ConnectionResets} {
		if p < 0 || p > 1 || math.IsNaN(p) {
			return fmt.Errorf("brazetest: faults: %s = %v is not a probability", name, p)
		}
	}
	if f.Timeouts+f.ConnectionResets > 1+1e-9 {
		return fmt.Errorf("brazetest: faults: timeouts + connection_resets > 1")
	}
	l := f.Latency
	if l.Fixed < 0 || l.Jitter < 0 || l.P50 < 0 || l.P99 < 0 {
		return fmt.Errorf("brazetest: faults: latency must not be negative")
	}
	if f.Storm429 != nil && f.Storm429.Calls < 0 {
		return fmt.Errorf("brazetest: faults: storm429.calls must not be negative")
	}
	for i, o := range f.Outage5xx {
		if o.Status != 0 && (o.Status < 500 || o.Status > 599) {
			return fmt.Errorf("brazetest: faults: outage5xx[%d]: status %d is not 5xx", i, o.Status)
		}
		if o.Calls < 0 {
			return fmt.Errorf("brazetest: faults: outage5xx[%d]: calls must not be negative", i)
		}
	}
	return nil
}

// clone returns a deep copy, so that callers never share maps or slices
// with the server.
func (f Faults) clone() Faults {
	c := f
	if f.ErrorRate != nil {
		c.ErrorRate = make(map[int]float64, len(f.ErrorRate))
		for k, v := range f.ErrorRate {
			c.ErrorRate[k] = v
		}
	}
	if f.Storm429 != nil {
		s := *f.Storm429
		c.Storm429 = &s
	}
	c.Outage5xx = append([]Outage(nil), f.Outage5xx...)
	c.MinorErrors = append([]string(nil), f.MinorErrors...)
	c.Reject = append([]string(nil), f.Reject...)
	return c
}

// faultsJSON is the wire form of Faults (/_sim/faults and config files).
type faultsJSON struct {
	AuthFail            bool               `json:"auth_fail,omitempty"`
	ErrorRate           map[string]float64 `json:"error_rate,omitempty"`
	Latency             *latencyJSON       `json:"latency,omitempty"`
	Storm429            *stormJSON         `json:"storm429,omitempty"`
	Outage5xx           []outageJSON       `json:"outage5xx,omitempty"`
	Timeouts            float64            `json:"timeouts,omitempty"`
	ConnectionResets    float64            `json:"connection_resets,omitempty"`
	DropAfterProcessing bool               `json:"drop_after_processing,omitempty"`
	MinorErrors         []string           `json:"minor_errors,omitempty"`
	Reject              []string           `json:"reject,omitempty"`
}

type latencyJSON struct {
	Fixed  jsonDuration `json:"fixed,omitempty"`
	Jitter jsonDuration `json:"jitter,omitempty"`
	P50    jsonDuration `json:"p50,omitempty"`
	P99    jsonDuration `json:"p99,omitempty"`
}

type stormJSON struct {
	Until *time.Time `json:"until,omitempty"`
	Calls int        `json:"calls,omitempty"`
}

type outageJSON struct {
	Status int        `json:"status,omitempty"`
	From   *time.Time `json:"from,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	Calls  int        `json:"calls,omitempty"`
}

// jsonDuration is a time.Duration written as "1.5s" and read from such a
// string or from a number of seconds.
type jsonDuration time.Duration

// MarshalJSON writes d as a duration string.
func (d jsonDuration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = jsonDuration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\" or a number of seconds: %w", err)
	}
	*d = jsonDuration(secs * float64(time.Second))
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func timeVal(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// MarshalJSON writes f in its wire form: snake_case keys, durations as
// strings, statuses of error_rate as object keys.
func (f Faults) MarshalJSON() ([]byte, error) {
	w := faultsJSON{
		AuthFail: f.AuthFail, Timeouts: f.Timeouts, ConnectionResets: f.ConnectionResets,
		DropAfterProcessing: f.DropAfterProcessing, MinorErrors: f.MinorErrors, Reject: f.Reject,
	}
	if len(f.ErrorRate) > 0 {
		w.ErrorRate = make(map[string]float64, len(f.ErrorRate))
		for st, p := range f.ErrorRate {
			w.ErrorRate[fmt.Sprint(st)] = p
		}
	}
	if f.Latency != (Latency{}) {
		w.Latency = &latencyJSON{jsonDuration(f.Latency.Fixed), jsonDuration(f.Latency.Jitter), jsonDuration(f.Latency.P50), jsonDuration(f.Latency.P99)}
	}
	if f.Storm429 != nil {
		w.Storm429 = &stormJSON{Until: timePtr(f.Storm429.Until), Calls: f.Storm429.Calls}
	}
	for _, o := range f.Outage5xx {
		w.Outage5xx = append(w.Outage5xx, outageJSON{Status: o.Status, From: timePtr(o.From), Until: timePtr(o.Until), Calls: o.Calls})
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads the wire form written by MarshalJSON. Unknown keys are
// an error, so that a misspelt fault is not silently ignored.
func (f *Faults) UnmarshalJSON(b []byte) error {
	var w faultsJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return fmt.Errorf("brazetest: faults: %w", err)
	}
	out := Faults{
		AuthFail: w.AuthFail, Timeouts: w.Timeouts, ConnectionResets: w.ConnectionResets,
		DropAfterProcessing: w.DropAfterProcessing, MinorErrors: w.MinorErrors, Reject: w.Reject,
	}
	if len(w.ErrorRate) > 0 {
		out.ErrorRate = make(map[int]float64, len(w.ErrorRate))
		for k, p := range w.ErrorRate {
			var st int
			if _, err := fmt.Sscanf(k, "%d", &st); err != nil || fmt.Sprint(st) != k {
				return fmt.Errorf("brazetest: faults: error_rate key %q is not an HTTP status", k)
			}
			out.ErrorRate[st] = p
		}
	}
	if w.Latency != nil {
		out.Latency = Latency{time.Duration(w.Latency.Fixed), time.Duration(w.Latency.Jitter), time.Duration(w.Latency.P50), time.Duration(w.Latency.P99)}
	}
	if w.Storm429 != nil {
		out.Storm429 = &Storm{Until: timeVal(w.Storm429.Until), Calls: w.Storm429.Calls}
	}
	for _, o := range w.Outage5xx {
		out.Outage5xx = append(out.Outage5xx, Outage{Status: o.Status, From: timeVal(o.From), Until: timeVal(o.Until), Calls: o.Calls})
	}
	*f = out
	return nil
}
