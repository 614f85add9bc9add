package braze_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
)

// class is the expected classification of a failed call.
type class struct {
	retryable, rateLimited, auth, rejected, timeout bool
}

func classify(e *braze.Error) class {
	return class{e.Retryable(), e.RateLimited(), e.AuthFailure(), e.Rejected(), e.Timeout()}
}

// assertNoLeak fails when err (or the *Error inside it) exposes the key or a URL.
func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	var be *braze.Error
	texts := []string{err.Error(), fmt.Sprintf("%v", err)}
	if errors.As(err, &be) {
		texts = append(texts, be.Message, string(be.Body))
	}
	for _, s := range texts {
		if strings.Contains(s, testKey) || strings.Contains(s, "SECRET") {
			t.Errorf("error exposes the API key: %q", s)
		}
		if strings.Contains(s, "http://") {
			t.Errorf("error exposes a URL: %q", s)
		}
	}
}

func TestStatusErrors(t *testing.T) {
	now := time.Now()
	reset := now.Add(37 * time.Second).Truncate(time.Second)
	resetHdr := fmt.Sprint(reset.Unix())
	httpDate := now.Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name        string
		reply       reply
		want        class
		wantMessage string
		// wantRetryAt is the expected RetryAt offset from now; 0 means none.
		wantRetryAt time.Duration
		retryAtSlop time.Duration
	}{
		{name: "400 rejected", reply: reply{Status: 400, Body: `{"message":"No Recipients","errors":["no external IDs"]}`},
			want: class{rejected: true}, wantMessage: "No Recipients"},
		{name: "400 live activity error key", reply: reply{Status: 400, Body: `{"error":"\nProblem:\n  message body does not match declared format\n"}`},
			want: class{rejected: true}, wantMessage: "Problem:\n  message body does not match declared format"},
		{name: "401 auth", reply: reply{Status: 401, Body: `{"message":"Invalid API key"}`},
			want: class{auth: true}, wantMessage: "Invalid API key"},
		{name: "403 auth", reply: reply{Status: 403, Body: `{"message":"Access Denied"}`},
			want: class{auth: true}, wantMessage: "Access Denied"},
		{name: "404 rejected", reply: reply{Status: 404, Body: `Not Found`}, want: class{rejected: true}},
		{name: "415 rejected", reply: reply{Status: 415, Body: `{"message":"Unsupported Media Type"}`},
			want: class{rejected: true}, wantMessage: "Unsupported Media Type"},
		{name: "429 reset", reply: reply{Status: 429, Body: `{"message":"Rate Limited"}`, Header: map[string]string{
			"X-RateLimit-Limit": "250", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": resetHdr}},
			want: class{retryable: true, rateLimited: true}, wantMessage: "Rate Limited",
			wantRetryAt: reset.Sub(now), retryAtSlop: time.Second},
		{name: "429 lower-case headers", reply: reply{Status: 429, Header: map[string]string{
			"x-ratelimit-limit": "250", "x-ratelimit-remaining": "0", "x-ratelimit-reset": resetHdr}},
			want: class{retryable: true, rateLimited: true}, wantRetryAt: reset.Sub(now), retryAtSlop: time.Second},
		{name: "429 retry-after seconds wins over reset", reply: reply{Status: 429, Header: map[string]string{
			"retry-after": "3", "X-RateLimit-Reset": resetHdr}},
			want: class{retryable: true, rateLimited: true}, wantRetryAt: 3 * time.Second, retryAtSlop: 0},
		{name: "429 retry-after date", reply: reply{Status: 429, Header: map[string]string{"Retry-After": httpDate}},
			want: class{retryable: true, rateLimited: true}, wantRetryAt: 90 * time.Second, retryAtSlop: 2 * time.Second},
		{name: "429 no hint", reply: reply{Status: 429}, want: class{retryable: true, rateLimited: true}},
		{name: "500 retryable", reply: reply{Status: 500, Body: `{"message":"Internal Server Error"}`},
			want: class{retryable: true}, wantMessage: "Internal Server Error"},
		{name: "502 html from proxy", reply: reply{Status: 502, Body: `<html><body>Bad Gateway</body></html>`},
			want: class{retryable: true}},
		{name: "503 retryable", reply: reply{Status: 503}, want: class{retryable: true}},
		{name: "504 retryable", reply: reply{Status: 504}, want: class{retryable: true}},
		{name: "server echoes the key", reply: reply{Status: 401, Body: `{"message":"Invalid API key: ` + testKey + `"}`},
			want: class{auth: true}, wantMessage: "Invalid API key: [REDACTED]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t, tt.reply)
			c := newClient(t, rec.srv.URL, 0)
			res, err := c.SendMessages(context.Background(), &braze.MessagesSendRequest{Broadcast: braze.Bool(true), SegmentID: "s"})
			if err == nil {
				t.Fatalf("got %+v, want an error", res)
			}
			if res != nil {
				t.Errorf("typed result %+v returned with an error", res)
			}
			assertNoLeak(t, err)
			var be *braze.Error
			if !errors.As(err, &be) {
				t.Fatalf("%T is not a *braze.Error", err)
			}
			if be.Status != tt.reply.Status || be.Endpoint != "/messages/send" {
				t.Errorf("status %d endpoint %q", be.Status, be.Endpoint)
			}
			if got := classify(be); got != tt.want {
				t.Errorf("class = %+v, want %+v", got, tt.want)
			}
			if braze.IsRetryable(fmt.Errorf("wrapped: %w", err)) != tt.want.retryable {
				t.Errorf("IsRetryable through a wrapper disagrees")
			}
			if be.Message != tt.wantMessage {
				t.Errorf("Message = %q, want %q", be.Message, tt.wantMessage)
			}
			if want := fmt.Sprintf("status %d", tt.reply.Status); !strings.Contains(err.Error(), want) {
				t.Errorf("Error() = %q lacks %q", err, want)
			}
			at, ok := be.RetryAt(now)
			if ok != (tt.wantRetryAt != 0) {
				t.Fatalf("RetryAt ok = %v (at %v)", ok, at)
			}
			if ok {
				if d := at.Sub(now) - tt.wantRetryAt; d < -tt.retryAtSlop || d > tt.retryAtSlop {
					t.Errorf("RetryAt = now+%v, want now+%v", at.Sub(now), tt.wantRetryAt)
				}
			}
		})
	}
}

func TestTransportErrors(t *testing.T) {
	// stall answers with status (0: no answer at all) and then blocks until
	// the client gives up, so that only a timeout can end the call.
	stall := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// The server notices a closed connection (and cancels r's
			// context) only once the request body has been consumed.
			io.Copy(io.Discard, r.Body)
			if status != 0 {
				w.Header().Set("X-RateLimit-Reset", fmt.Sprint(time.Now().Add(time.Minute).Unix()))
				w.WriteHeader(status)
				w.Write([]byte(`{"message":`))
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second): // guard only: the client must give up first
			}
		}
	}
	hangUp := func(rst bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			if tc, ok := conn.(*net.TCPConn); ok && rst {
				tc.SetLinger(0) // close with RST: "connection reset by peer"
			}
			conn.Close()
		}
	}
	closedURL := func() string {
		s := httptest.NewServer(http.NotFoundHandler())
		s.Close()
		return s.URL
	}()

	tests := []struct {
		name       string
		handler    http.Handler // nil: use closedURL
		timeout    time.Duration
		ctx        func() (context.Context, context.CancelFunc)
		want       class
		wantStatus int
		wantHint   bool
		wantText   string
	}{
		{name: "connection closed", handler: hangUp(false), want: class{retryable: true}, wantText: "EOF"},
		{name: "connection reset", handler: hangUp(true), want: class{retryable: true}, wantText: "reset"},
		{name: "server closed", want: class{retryable: true}, wantText: "refused"},
		{name: "attempt timeout", handler: stall(0), timeout: 50 * time.Millisecond, want: class{retryable: true, timeout: true},
			wantText: "deadline exceeded"},
		{name: "caller deadline", handler: stall(0), ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, want: class{retryable: true, timeout: true}, wantText: "deadline exceeded"},
		{name: "caller cancelled", handler: stall(0), ctx: func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, want: class{}, wantText: "canceled"},
		{name: "503 body stalls", handler: stall(503), timeout: 50 * time.Millisecond,
			want: class{retryable: true, timeout: true}, wantStatus: 503, wantText: "status 503: read response"},
		{name: "429 body stalls keeps hint", handler: stall(429), timeout: 50 * time.Millisecond,
			want: class{retryable: true, rateLimited: true, timeout: true}, wantStatus: 429, wantHint: true, wantText: "status 429: read response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := closedURL
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			c := newClient(t, url, tt.timeout)
			start := time.Now()
			_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{CampaignID: "c", Broadcast: braze.Bool(true)})
			if err == nil {
				t.Fatal("want an error")
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("call took %v", el)
			}
			assertNoLeak(t, err)
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Error() = %q, want it to contain %q", err, tt.wantText)
			}
			var be *braze.Error
			if !errors.As(err, &be) {
				t.Fatalf("%T is not a *braze.Error", err)
			}
			if be.Status != tt.wantStatus || be.Err == nil {
				t.Errorf("status %d err %v", be.Status, be.Err)
			}
			if got := classify(be); got != tt.want {
				t.Errorf("class = %+v, want %+v (%v)", got, tt.want, err)
			}
			if _, ok := be.RetryAt(time.Now()); ok != tt.wantHint {
				t.Errorf("RetryAt ok = %v, want %v", ok, tt.wantHint)
			}
		})
	}
}

func TestEncodeErrorIsNotRetryable(t *testing.T) {
	rec := newRecorder(t, reply{Status: 201})
	c := newClient(t, rec.srv.URL, 0)
	ctx := context.Background()
	_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{CampaignID: "c", TriggerProperties: []byte(`{bad`)})
	if err == nil || braze.IsRetryable(err) {
		t.Errorf("invalid trigger_properties: err = %v", err)
	}
	_, err = c.SendMessages(ctx, nil)
	if err == nil || braze.IsRetryable(err) {
		t.Errorf("nil request: err = %v", err)
	}
	if n := rec.count(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestIsRetryable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"plain", errors.New("boom"), false},
		{"429", &braze.Error{Status: 429}, true},
		{"wrapped 503", fmt.Errorf("send: %w", &braze.Error{Status: 503}), true},
		{"400", &braze.Error{Status: 400}, false},
		{"canceled", &braze.Error{Err: context.Canceled}, false},
		{"deadline", &braze.Error{Err: context.DeadlineExceeded}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := braze.IsRetryable(tt.err); got != tt.want {
				t.Errorf("IsRetryable = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRateLimit(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name string
		h    http.Header
		want braze.RateLimit
	}{
		{"none", http.Header{}, braze.RateLimit{}},
		{"canonical", http.Header{"X-Ratelimit-Limit": {"250"}, "X-Ratelimit-Remaining": {"7"}, "X-Ratelimit-Reset": {"1700000060"}},
			braze.RateLimit{Present: true, Limit: 250, Remaining: 7, Reset: time.Unix(1700000060, 0)}},
		{"lower-case raw map", http.Header{"x-ratelimit-limit": {"250"}, "x-ratelimit-remaining": {"0"}, "x-ratelimit-reset": {"1700000060"}},
			braze.RateLimit{Present: true, Limit: 250, Reset: time.Unix(1700000060, 0)}},
		{"mixed case raw map", http.Header{"X-RateLimit-Remaining": {" 5 "}}, braze.RateLimit{Present: true, Remaining: 5}},
		{"retry-after fractional", http.Header{"retry-after": {"1.5"}}, braze.RateLimit{RetryAfter: 1500 * time.Millisecond}},
		{"x-ratelimit-retry-after", http.Header{"X-RateLimit-Retry-After": {"4"}}, braze.RateLimit{RetryAfter: 4 * time.Second}},
		{"retry-after date", http.Header{"Retry-After": {now.Add(time.Minute).UTC().Format(http.TimeFormat)}},
			braze.RateLimit{RetryAfter: time.Minute}},
		{"garbage ignored", http.Header{"X-Ratelimit-Limit": {"many"}, "Retry-After": {"soon"}}, braze.RateLimit{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := braze.ParseRateLimit(tt.h, now)
			if got.Present != tt.want.Present || got.Limit != tt.want.Limit || got.Remaining != tt.want.Remaining ||
				!got.Reset.Equal(tt.want.Reset) || got.RetryAfter != tt.want.RetryAfter {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
