package braze

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Envelope is the JSON body Braze answers with. Fields that an endpoint does
// not return stay empty.
type Envelope struct {
	// Message is "success" (or the legacy "queued") on 2xx, the fatal error otherwise.
	Message string `json:"message,omitempty"`
	// Errors lists non-fatal ("minor") problems of a 2xx answer, or the
	// details of a fatal one. Braze documents strings; objects are kept raw.
	Errors []json.RawMessage `json:"errors,omitempty"`
	// DispatchID identifies the send of a send or schedule-create call.
	DispatchID string `json:"dispatch_id,omitempty"`
	// ScheduleID is returned by the schedule-create endpoints.
	ScheduleID string `json:"schedule_id,omitempty"`
	// SendID is returned by /sends/id/create and tracked broadcast sends.
	SendID string `json:"send_id,omitempty"`
	// Notice is set by /canvas/trigger/send when the Canvas is paused or archived.
	Notice string `json:"notice,omitempty"`
	// Error carries the message of live-activity 4xx answers.
	Error string `json:"error,omitempty"`
}

// Response is a Braze answer: status, rate-limit headers, raw body and the
// parsed envelope.
type Response struct {
	Status    int
	RateLimit RateLimit
	Body      []byte
	Envelope
}

// RateLimit is what Braze's X-RateLimit-* headers (and a Retry-After header,
// if present) say about the budget the call was charged to.
type RateLimit struct {
	// Present is true when at least X-RateLimit-Limit or -Remaining was sent.
	Present   bool
	Limit     int
	Remaining int
	// Reset is when the current window ends (zero if not sent).
	Reset time.Time
	// RetryAfter is an explicit wait asked for by a Retry-After or
	// X-RateLimit-Retry-After header (zero if none).
	RetryAfter time.Duration
}

// ParseRateLimit reads the rate-limit headers of h. Header names are matched
// case-insensitively (HTTP/2 sends them lower-case). now anchors Retry-After.
func ParseRateLimit(h http.Header, now time.Time) RateLimit {
	var rl RateLimit
	if v, ok := headerInt(h, "X-Ratelimit-Limit"); ok {
		rl.Limit, rl.Present = int(v), true
	}
	if v, ok := headerInt(h, "X-Ratelimit-Remaining"); ok {
		rl.Remaining, rl.Present = int(v), true
	}
	if v, ok := headerInt(h, "X-Ratelimit-Reset"); ok && v > 0 {
		rl.Reset = time.Unix(v, 0)
	}
	for _, name := range []string{"Retry-After", "X-Ratelimit-Retry-After"} {
		s := strings.TrimSpace(headerGet(h, name))
		if s == "" {
			continue
		}
		if secs, err := strconv.ParseFloat(s, 64); err == nil && secs >= 0 {
			rl.RetryAfter = time.Duration(secs * float64(time.Second))
			break
		}
		if t, err := http.ParseTime(s); err == nil {
			if d := t.Sub(now); d > 0 {
				rl.RetryAfter = d
			}
			break
		}
	}
	return rl
}

// headerGet returns the first value of the header name, matched
// case-insensitively. http.Header.Get only finds canonical keys; a map built
// by hand (or by an HTTP/2 layer that does not canonicalise) may hold
// lower-case ones.
func headerGet(h http.Header, name string) string {
	if v := h.Get(name); v != "" {
		return v
	}
	for k, vs := range h {
		if len(vs) > 0 && strings.EqualFold(k, name) {
			return vs[0]
		}
	}
	return ""
}

// headerInt reads an integer header, matching its name case-insensitively.
func headerInt(h http.Header, name string) (int64, bool) {
	s := strings.TrimSpace(headerGet(h, name))
	if s == "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	return v, true
}

// Error is a failed Braze call: a non-2xx answer (Status set) or a transport
// failure (Err set, Status 0). It never contains the API key.
type Error struct {
	Endpoint  string
	Status    int
	Message   string
	Body      []byte
	RateLimit RateLimit
	Err       error
}

// Error implements error.
func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("braze %s: %v", e.Endpoint, e.Err)
	}
	s := fmt.Sprintf("braze %s: status %d", e.Endpoint, e.Status)
	if e.Message != "" {
		s += ": " + oneLine(e.Message, 200)
	}
	if e.Err != nil {
		// The status arrived but the body did not (read failure).
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the transport error, if any.
func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same call may succeed later: 429, 5xx,
// timeouts and connection errors. Context cancellation by the caller is not
// retryable.
func (e *Error) Retryable() bool {
	switch {
	case e.Status == http.StatusTooManyRequests, e.Status >= 500:
		return true
	case e.Status != 0:
		return false
	case errors.Is(e.Err, context.Canceled):
		return false
	}
	return true
}

// RateLimited reports whether Braze answered 429.
func (e *Error) RateLimited() bool { return e.Status == http.StatusTooManyRequests }

// RetryAt is the earliest time Braze asks a rate-limited caller to retry:
// the Retry-After hint if given, else the X-RateLimit-Reset time. ok is
// false when the answer was not a 429 or carried no hint.
func (e *Error) RetryAt(now time.Time) (t time.Time, ok bool) {
	if !e.RateLimited() {
		return time.Time{}, false
	}
	if e.RateLimit.RetryAfter > 0 {
		return now.Add(e.RateLimit.RetryAfter), true
	}
	if !e.RateLimit.Reset.IsZero() {
		return e.RateLimit.Reset, true
	}
	return time.Time{}, false
}

// AuthFailure reports whether Braze refused the credentials (401) or the
// key's permissions or plan (403). Such failures are not the request's fault.
func (e *Error) AuthFailure() bool {
	return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
}

// Rejected reports whether Braze refused the request itself: a 4xx other
// than 401, 403 and 429. Sending it again will fail again.
func (e *Error) Rejected() bool {
	return e.Status >= 400 && e.Status < 500 && !e.AuthFailure() && !e.RateLimited()
}

// Timeout reports whether the failure was a timeout (of the attempt or the network).
func (e *Error) Timeout() bool {
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(e.Err, &ne) && ne.Timeout()
}

// IsRetryable reports whether err is a Braze error that may succeed later.
func IsRetryable(err error) bool {
	var be *Error
	return errors.As(err, &be) && be.Retryable()
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
