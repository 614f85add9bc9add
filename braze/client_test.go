package braze_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
)

// testKey is distinctive so that a leak into any error string is caught.
const testKey = "brz-SECRET-5c1e0a7d-4b2f-4e61-9d3a-kEy"

// captured is one request as the fake server saw it.
type captured struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// reply is what the fake server answers. Header names are set through the
// raw map, so lower-case names go out on the wire unchanged.
type reply struct {
	Status int
	Header map[string]string
	Body   string
}

// recorder is a real HTTP server that records requests and answers with a
// fixed reply.
type recorder struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []captured
}

func newRecorder(t *testing.T, rp reply) *recorder {
	t.Helper()
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rec.mu.Unlock()
		for k, v := range rp.Header {
			w.Header()[k] = []string{v}
		}
		w.WriteHeader(rp.Status)
		io.WriteString(w, rp.Body)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// last returns the most recent request; it fails the test if there was none.
func (rec *recorder) last(t *testing.T) captured {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) == 0 {
		t.Fatal("server received no request")
	}
	return rec.reqs[len(rec.reqs)-1]
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func newClient(t *testing.T, baseURL string, timeout time.Duration) *braze.Client {
	t.Helper()
	c, err := braze.New(braze.Config{BaseURL: baseURL, APIKey: testKey, Timeout: timeout}, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestRequestHeaders(t *testing.T) {
	rec := newRecorder(t, reply{Status: 201, Body: `{"message":"success"}`})
	c := newClient(t, rec.srv.URL+"/", 0) // trailing slash is trimmed
	ctx := context.Background()

	if _, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{CampaignID: "c1", Broadcast: braze.Bool(true)}); err != nil {
		t.Fatalf("TriggerCampaign: %v", err)
	}
	post := rec.last(t)
	if _, err := c.ScheduledBroadcasts(ctx, time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("ScheduledBroadcasts: %v", err)
	}
	get := rec.last(t)

	tests := []struct {
		name string
		got  string
		want string
	}{
		{"post path", post.Path, "/campaigns/trigger/send"},
		{"post method", post.Method, http.MethodPost},
		{"authorization", post.Header.Get("Authorization"), "Bearer " + testKey},
		{"authorization values", strings.Join(post.Header.Values("Authorization"), "|"), "Bearer " + testKey},
		{"content type", post.Header.Get("Content-Type"), "application/json"},
		{"accept", post.Header.Get("Accept"), "application/json"},
		{"user agent", post.Header.Get("User-Agent"), "braze-gateway"},
		{"get method", get.Method, http.MethodGet},
		{"get path", get.Path, "/messages/scheduled_broadcasts"},
		{"get query", get.RawQuery, "end_time=2026-04-30T00%3A00%3A00Z"},
		{"get authorization", get.Header.Get("Authorization"), "Bearer " + testKey},
		{"get content type", get.Header.Get("Content-Type"), ""},
		{"get body", string(get.Body), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func TestUserAgent(t *testing.T) {
	rec := newRecorder(t, reply{Status: 200, Body: `{"message":"success"}`})
	c, err := braze.New(braze.Config{BaseURL: rec.srv.URL, APIKey: testKey, UserAgent: "backfill/1.0"}, rec.srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Post(context.Background(), "/messages/send", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if got := rec.last(t).Header.Get("User-Agent"); got != "backfill/1.0" {
		t.Errorf("User-Agent = %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     braze.Config
		wantErr bool
	}{
		{"valid", braze.Config{BaseURL: "https://rest.fra-01.braze.eu", APIKey: testKey}, false},
		{"no url", braze.Config{APIKey: testKey}, true},
		{"not http", braze.Config{BaseURL: "ftp://x", APIKey: testKey}, true},
		{"no key", braze.Config{BaseURL: "https://x"}, true},
		{"trailing newline", braze.Config{BaseURL: "https://x", APIKey: testKey + "\n"}, true},
		{"inner space", braze.Config{BaseURL: "https://x", APIKey: "brz SECRET"}, true},
		{"negative timeout", braze.Config{BaseURL: "https://x", APIKey: testKey, Timeout: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := braze.New(tt.cfg, nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error leaks the key: %q", err)
			}
		})
	}
}

func TestAnyTwoHundredIsAccepted(t *testing.T) {
	tests := []struct {
		status     int
		body       string
		wantQueued bool
	}{
		{200, `{"message":"success","dispatch_id":"d1"}`, false},
		{201, `{"message":"success","dispatch_id":"d1"}`, false},
		{202, `{"message":"queued"}`, true},
		{204, ``, false},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			rec := newRecorder(t, reply{Status: tt.status, Body: tt.body})
			c := newClient(t, rec.srv.URL, 0)
			res, err := c.SendMessages(context.Background(), &braze.MessagesSendRequest{ExternalUserIDs: []string{"u1"}})
			if err != nil {
				t.Fatalf("SendMessages: %v", err)
			}
			if res.Status != tt.status || res.Queued() != tt.wantQueued {
				t.Errorf("status %d queued %v, want %d %v", res.Status, res.Queued(), tt.status, tt.wantQueued)
			}
		})
	}
}

func TestResponseFields(t *testing.T) {
	body := `{"message":"success","dispatch_id":"disp-1","send_id":"snd-1","schedule_id":"sch-1",
		"notice":"The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect.",
		"errors":["user cust-9 is not eligible",{"type":"unknown user","input_array":"recipients","index":3}]}`
	rec := newRecorder(t, reply{Status: 201, Body: body, Header: map[string]string{
		"x-ratelimit-limit": "250000", "x-ratelimit-remaining": "249990", "x-ratelimit-reset": "1777777200",
	}})
	c := newClient(t, rec.srv.URL, 0)
	ctx := context.Background()

	send, err := c.TriggerCanvas(ctx, &braze.CanvasTriggerSendRequest{CanvasID: "cv"})
	if err != nil {
		t.Fatal(err)
	}
	if send.DispatchID != "disp-1" || send.SendID != "snd-1" || !strings.HasPrefix(send.Notice, "The Canvas is paused") {
		t.Errorf("send fields = %+v", send)
	}
	if len(send.Errors) != 2 || send.Errors[0].Text != "user cust-9 is not eligible" ||
		send.Errors[1].InputArray != "recipients" || send.Errors[1].Index == nil || *send.Errors[1].Index != 3 {
		t.Errorf("minor errors = %+v", send.Errors)
	}
	rl := send.RateLimit
	if !rl.Present || rl.Limit != 250000 || rl.Remaining != 249990 || !rl.Reset.Equal(time.Unix(1777777200, 0)) {
		t.Errorf("rate limit = %+v", rl)
	}
	if string(send.Body) != body {
		t.Errorf("body not kept raw: %s", send.Body)
	}

	sched, err := c.ScheduleCanvasTrigger(ctx, &braze.CanvasTriggerScheduleCreateRequest{CanvasID: "cv"})
	if err != nil {
		t.Fatal(err)
	}
	if sched.DispatchID != "disp-1" || sched.ScheduleID != "sch-1" || sched.Message != "success" {
		t.Errorf("schedule fields = %+v", sched)
	}
	sid, err := c.CreateSendID(ctx, &braze.SendIDCreateRequest{CampaignID: "c"})
	if err != nil || sid.SendID != "snd-1" {
		t.Errorf("CreateSendID = %+v, %v", sid, err)
	}
}

func TestScheduledBroadcastsDecodes(t *testing.T) {
	rec := newRecorder(t, reply{Status: 200, Body: `{"scheduled_broadcasts":[{"name":"Weekly digest",
		"id":"e3b0","type":"Campaign","tags":["newsletter"],"next_send_time":"2026-04-06T09:00:00",
		"schedule_type":"local_time_zones"}],"message":"success"}`})
	c := newClient(t, rec.srv.URL, 0)
	res, err := c.ScheduledBroadcasts(context.Background(), time.Date(2026, 5, 1, 2, 0, 0, 0, time.FixedZone("CEST", 7200)))
	if err != nil {
		t.Fatal(err)
	}
	want := braze.ScheduledBroadcast{Name: "Weekly digest", ID: "e3b0", Type: "Campaign", Tags: []string{"newsletter"},
		NextSendTime: "2026-04-06T09:00:00", ScheduleType: "local_time_zones"}
	if len(res.ScheduledBroadcasts) != 1 || !equalJSON(t, res.ScheduledBroadcasts[0], want) {
		t.Errorf("got %+v", res.ScheduledBroadcasts)
	}
	if q := rec.last(t).RawQuery; q != "end_time=2026-05-01T00%3A00%3A00Z" {
		t.Errorf("end_time not sent in UTC: %s", q)
	}
}

func TestScheduledBroadcastsBadBody(t *testing.T) {
	rec := newRecorder(t, reply{Status: 200, Body: `<html>maintenance</html>`})
	c := newClient(t, rec.srv.URL, 0)
	_, err := c.ScheduledBroadcasts(context.Background(), time.Now())
	if err == nil || braze.IsRetryable(err) {
		t.Fatalf("err = %v, want a non-retryable decode error", err)
	}
}

// equalJSON compares a and b by their JSON encodings.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err1 := json.Marshal(a)
	jb, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatalf("marshal: %v %v", err1, err2)
	}
	return string(ja) == string(jb)
}
