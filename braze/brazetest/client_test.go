package brazetest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/braze/rules"
)

// This file proves the typed client of package braze against the simulator
// over real HTTP: every endpoint with a valid request, the schedule
// lifecycle, and every kind of failure the client classifies.

// clientKey is distinctive so that a leak into an error string is caught.
const clientKey = "brz-CLIENT-9e1d4c2a-7b3f-4a58-8c6e-0f2d5b7a9c13"

// simStart is the simulator's clock in these tests: a quarter past ten, so
// that hourly windows reset at 11:00 and the daily dashboard broadcast of
// DevConfig is next due at 09:00 the following day.
var simStart = time.Date(2030, 3, 4, 10, 15, 0, 0, time.UTC)

// simClock is a settable clock for the simulator.
type simClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *simClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *simClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// newSimClient starts a DevConfig simulator for clientKey on a clock set to
// simStart, edited by mutate, and returns it with a client for key.
func newSimClient(t *testing.T, key string, mutate func(*brazetest.Config)) (*brazetest.Server, *braze.Client, *simClock) {
	t.Helper()
	clock := &simClock{t: simStart}
	cfg := brazetest.DevConfig(clientKey)
	cfg.Now = clock.Now
	cfg.Seed = 7
	if mutate != nil {
		mutate(&cfg)
	}
	srv := brazetest.NewServer(cfg)
	t.Cleanup(srv.Close)
	c, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: key, Timeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatalf("braze.New: %v", err)
	}
	return srv, c, clock
}

// Message objects DevConfig accepts with DevCampaignID.
var (
	pushMessages = json.RawMessage(`{"apple_push":{"alert":{"title":"Order shipped","body":"Your parcel is on its way."},"message_variation_id":"iosPush-1"},` +
		`"android_push":{"title":"Order shipped","alert":"Your parcel is on its way.","message_variation_id":"androidPush-1"}}`)
	emailMessages = json.RawMessage(`{"email":{"app_id":"2f5e1c6a-3b4d-4e7f-8a9b-0c1d2e3f4a5b","from":"Acme <news@example.com>",` +
		`"subject":"March update","body":"<p>Hello</p>","message_variation_id":"email-1"}}`)
	liveNotification = json.RawMessage(`{"alert":{"title":"Kick-off","body":"The match has started"}}`)
)

const liveAppID = "9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"

// checkAccepted fails unless res is a success answer with the wanted status
// and rate-limit headers that were parsed. GET /messages/scheduled_broadcasts
// answers with the list only (braze-api.md §3.5); every POST says "success".
func checkAccepted(t *testing.T, res braze.Result, status int) {
	t.Helper()
	if res.Status != status {
		t.Errorf("status = %d, want %d; body %s", res.Status, status, res.Body)
	}
	if want := "success"; res.Message != want && status != http.StatusOK {
		t.Errorf("message = %q, want %q", res.Message, want)
	}
	if len(res.Errors) != 0 {
		t.Errorf("minor errors %v, want none", res.Errors)
	}
	checkRateLimit(t, res.RateLimit)
}

// checkRateLimit fails unless rl holds the X-RateLimit-* headers of a
// window that is open at simStart.
func checkRateLimit(t *testing.T, rl braze.RateLimit) {
	t.Helper()
	if !rl.Present || rl.Limit <= 0 || rl.Remaining < 0 || rl.Remaining > rl.Limit {
		t.Errorf("rate limit %+v: want Limit > 0 and 0 <= Remaining <= Limit", rl)
	}
	if !rl.Reset.After(simStart) {
		t.Errorf("rate limit reset %v is not after the simulator's clock %v", rl.Reset, simStart)
	}
}

// TestClientEveryEndpoint calls each of the 18 typed methods once with a
// valid request, in an order where later calls use what earlier ones
// returned, and checks the documented fields of every answer.
func TestClientEveryEndpoint(t *testing.T) {
	srv, c, _ := newSimClient(t, clientKey, nil)
	ctx := context.Background()
	var (
		customSendID   = "newsletter-2030-w10"
		msgScheduleID  string
		campScheduleID string
		cnvScheduleID  string
	)
	later := func(d time.Duration) *braze.Schedule { return braze.ScheduleAt(simStart.Add(d)) }

	steps := []struct {
		name string
		call func(t *testing.T) braze.Result
		want int
	}{
		{"SendMessages", func(t *testing.T) braze.Result {
			res, err := c.SendMessages(ctx, &braze.MessagesSendRequest{
				ExternalUserIDs:            []string{"cust-1001", "cust-1002"},
				CampaignID:                 brazetest.DevCampaignID,
				RecipientSubscriptionState: braze.SubscriptionSubscribed,
				Messages:                   pushMessages,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.DispatchID == "" || res.SendID != "" || res.Notice != "" {
				t.Errorf("dispatch_id %q send_id %q notice %q: want a dispatch id only", res.DispatchID, res.SendID, res.Notice)
			}
			for _, u := range []string{"cust-1001", "cust-1002"} {
				if n := srv.DeliveryCount("external_user_id:" + u); n != 1 {
					t.Errorf("%s delivered %d times, want 1", u, n)
				}
			}
			return res.Result
		}, http.StatusCreated},
		{"TriggerCampaign", func(t *testing.T) braze.Result {
			res, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
				CampaignID:        brazetest.DevTriggerCampaignID,
				TriggerProperties: json.RawMessage(`{"coupon":"SPRING15"}`),
				Recipients: []braze.Recipient{
					{ExternalUserID: "cust-2001"},
					{UserAlias: &braze.UserAlias{AliasName: "lead-77", AliasLabel: "crm_id"}},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.DispatchID == "" {
				t.Error("no dispatch_id")
			}
			if n := srv.DeliveryCount("alias:crm_id:lead-77"); n != 1 {
				t.Errorf("alias delivered %d times, want 1", n)
			}
			return res.Result
		}, http.StatusCreated},
		{"TriggerCanvas", func(t *testing.T) braze.Result {
			res, err := c.TriggerCanvas(ctx, &braze.CanvasTriggerSendRequest{
				CanvasID:   brazetest.DevCanvasID,
				Context:    json.RawMessage(`{"plan":"pro"}`),
				Recipients: []braze.Recipient{{ExternalUserID: "cust-3001"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.DispatchID == "" || res.Notice != "" {
				t.Errorf("dispatch_id %q notice %q: want a dispatch id and no notice", res.DispatchID, res.Notice)
			}
			return res.Result
		}, http.StatusCreated},
		{"TriggerCanvas paused", func(t *testing.T) braze.Result {
			res, err := c.TriggerCanvas(ctx, &braze.CanvasTriggerSendRequest{
				CanvasID:   brazetest.DevPausedCanvasID,
				Recipients: []braze.Recipient{{ExternalUserID: "cust-3002"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Notice, "paused") {
				t.Errorf("notice = %q, want one saying the Canvas is paused", res.Notice)
			}
			if n := srv.DeliveryCount("external_user_id:cust-3002"); n != 0 {
				t.Errorf("a paused Canvas delivered to its recipient %d times", n)
			}
			return res.Result
		}, http.StatusCreated},
		{"CreateSendID", func(t *testing.T) braze.Result {
			res, err := c.CreateSendID(ctx, &braze.SendIDCreateRequest{CampaignID: brazetest.DevCampaignID, SendID: customSendID})
			if err != nil {
				t.Fatal(err)
			}
			if res.SendID != customSendID {
				t.Errorf("send_id = %q, want %q", res.SendID, customSendID)
			}
			return res.Result
		}, http.StatusCreated},
		{"CreateSendID generated", func(t *testing.T) braze.Result {
			res, err := c.CreateSendID(ctx, &braze.SendIDCreateRequest{CampaignID: brazetest.DevCampaignID})
			if err != nil {
				t.Fatal(err)
			}
			if res.SendID == "" {
				t.Error("no generated send_id")
			}
			return res.Result
		}, http.StatusCreated},
		{"SendMessages tracked broadcast", func(t *testing.T) braze.Result {
			res, err := c.SendMessages(ctx, &braze.MessagesSendRequest{
				Broadcast:  braze.Bool(true),
				SegmentID:  brazetest.DevSegmentID,
				CampaignID: brazetest.DevCampaignID,
				SendID:     customSendID,
				Messages:   pushMessages,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.DispatchID == "" || res.SendID != customSendID {
				t.Errorf("dispatch_id %q send_id %q: want a dispatch id and send_id %q", res.DispatchID, res.SendID, customSendID)
			}
			return res.Result
		}, http.StatusCreated},
		{"ScheduleMessages", func(t *testing.T) braze.Result {
			res, err := c.ScheduleMessages(ctx, &braze.MessagesScheduleCreateRequest{
				ExternalUserIDs: []string{"cust-4001"},
				CampaignID:      brazetest.DevCampaignID,
				Schedule:        later(48 * time.Hour),
				Messages:        emailMessages,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ScheduleID == "" || res.DispatchID == "" {
				t.Errorf("schedule_id %q dispatch_id %q: want both", res.ScheduleID, res.DispatchID)
			}
			msgScheduleID = res.ScheduleID
			return res.Result
		}, http.StatusCreated},
		{"ScheduleCampaignTrigger", func(t *testing.T) braze.Result {
			res, err := c.ScheduleCampaignTrigger(ctx, &braze.CampaignTriggerScheduleCreateRequest{
				CampaignID: brazetest.DevTriggerCampaignID,
				Recipients: []braze.Recipient{{ExternalUserID: "cust-4002"}},
				Schedule:   braze.ScheduleLocal(simStart.Add(5 * 24 * time.Hour)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ScheduleID == "" || res.DispatchID == "" {
				t.Errorf("schedule_id %q dispatch_id %q: want both", res.ScheduleID, res.DispatchID)
			}
			campScheduleID = res.ScheduleID
			return res.Result
		}, http.StatusCreated},
		{"ScheduleCanvasTrigger", func(t *testing.T) braze.Result {
			res, err := c.ScheduleCanvasTrigger(ctx, &braze.CanvasTriggerScheduleCreateRequest{
				CanvasID:   brazetest.DevCanvasID,
				Recipients: []braze.Recipient{{ExternalUserID: "cust-4003"}},
				Schedule:   braze.ScheduleOptimal(simStart.Add(6 * 24 * time.Hour)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.ScheduleID == "" || res.DispatchID == "" {
				t.Errorf("schedule_id %q dispatch_id %q: want both", res.ScheduleID, res.DispatchID)
			}
			cnvScheduleID = res.ScheduleID
			return res.Result
		}, http.StatusCreated},
		{"ScheduledBroadcasts", func(t *testing.T) braze.Result {
			res, err := c.ScheduledBroadcasts(ctx, simStart.Add(10*24*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]braze.ScheduledBroadcast{}
			for _, b := range res.ScheduledBroadcasts {
				byID[b.ID] = b
			}
			digest, ok := byID["e3b0c442-98fc-4c14-9afb-f4c8996fb924"]
			if !ok || digest.Name != "Weekly digest" || digest.Type != "Campaign" || digest.NextSendTime != "2030-03-05T09:00:00+00:00" {
				t.Errorf("dashboard broadcast %+v (found %v): want Weekly digest next at 2030-03-05T09:00:00+00:00", digest, ok)
			}
			if b := byID[brazetest.DevTriggerCampaignID]; b.ScheduleType != "local_time_zones" {
				t.Errorf("campaign trigger schedule listed as %+v, want schedule_type local_time_zones", b)
			}
			if b := byID[brazetest.DevCanvasID]; b.Type != "Canvas" || b.ScheduleType != "intelligent_delivery" {
				t.Errorf("Canvas schedule listed as %+v, want a Canvas with intelligent_delivery", b)
			}
			if b := byID[brazetest.DevCampaignID]; b.NextSendTime != "2030-03-06T10:15:00+00:00" {
				t.Errorf("message schedule listed as %+v, want next_send_time 2030-03-06T10:15:00+00:00", b)
			}
			return res.Result
		}, http.StatusOK},
		{"UpdateScheduledMessages", func(t *testing.T) braze.Result {
			res, err := c.UpdateScheduledMessages(ctx, &braze.MessagesScheduleUpdateRequest{ScheduleID: msgScheduleID, Schedule: later(72 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"UpdateScheduledCampaignTrigger", func(t *testing.T) braze.Result {
			res, err := c.UpdateScheduledCampaignTrigger(ctx, &braze.CampaignTriggerScheduleUpdateRequest{
				CampaignID: brazetest.DevTriggerCampaignID, ScheduleID: campScheduleID, Schedule: later(96 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"UpdateScheduledCanvasTrigger", func(t *testing.T) braze.Result {
			res, err := c.UpdateScheduledCanvasTrigger(ctx, &braze.CanvasTriggerScheduleUpdateRequest{
				CanvasID: brazetest.DevCanvasID, ScheduleID: cnvScheduleID, Schedule: later(120 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"DeleteScheduledMessages", func(t *testing.T) braze.Result {
			res, err := c.DeleteScheduledMessages(ctx, &braze.MessagesScheduleDeleteRequest{ScheduleID: msgScheduleID})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"DeleteScheduledCampaignTrigger", func(t *testing.T) braze.Result {
			res, err := c.DeleteScheduledCampaignTrigger(ctx, &braze.CampaignTriggerScheduleDeleteRequest{
				CampaignID: brazetest.DevTriggerCampaignID, ScheduleID: campScheduleID})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"DeleteScheduledCanvasTrigger", func(t *testing.T) braze.Result {
			res, err := c.DeleteScheduledCanvasTrigger(ctx, &braze.CanvasTriggerScheduleDeleteRequest{
				CanvasID: brazetest.DevCanvasID, ScheduleID: cnvScheduleID})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
		{"DuplicateCampaign", func(t *testing.T) braze.Result {
			res, err := c.DuplicateCampaign(ctx, &braze.CampaignDuplicateRequest{
				CampaignID: brazetest.DevTriggerCampaignID, Name: "Spring Sale (copy)", TagNames: []string{"seasonal"}})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusAccepted},
		{"DuplicateCanvas", func(t *testing.T) braze.Result {
			res, err := c.DuplicateCanvas(ctx, &braze.CanvasDuplicateRequest{
				CanvasID: brazetest.DevCanvasID, Name: "Onboarding v2", Description: "copy for A/B"})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusAccepted},
		{"StartLiveActivity", func(t *testing.T) braze.Result {
			res, err := c.StartLiveActivity(ctx, &braze.LiveActivityStartRequest{
				AppID: liveAppID, ActivityID: "match-2030-03-10-ars-che", ActivityAttributesType: "MatchActivity",
				ActivityAttributes: json.RawMessage(`{"home":"ARS","away":"CHE"}`),
				ContentState:       json.RawMessage(`{"homeScore":0,"awayScore":0}`),
				Notification:       liveNotification,
				ExternalUserIDs:    []string{"fan-1"},
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := srv.DeliveryCount("external_user_id:fan-1"); n != 1 {
				t.Errorf("live activity delivered to fan-1 %d times, want 1", n)
			}
			return *res
		}, http.StatusCreated},
		{"UpdateLiveActivity", func(t *testing.T) braze.Result {
			res, err := c.UpdateLiveActivity(ctx, &braze.LiveActivityUpdateRequest{
				AppID: liveAppID, ActivityID: "match-2030-03-10-ars-che",
				ContentState: json.RawMessage(`{"homeScore":2,"awayScore":1}`),
				EndActivity:  braze.Bool(true), DismissalDate: "2030-03-10T21:30:00Z",
			})
			if err != nil {
				t.Fatal(err)
			}
			return *res
		}, http.StatusCreated},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { checkAccepted(t, s.call(t), s.want) }) {
			// Later steps use what this one returned.
			t.FailNow()
		}
	}

	if n := len(srv.Schedules()); n != 0 {
		t.Errorf("%d schedules left after deleting all three", n)
	}
	called := map[string]bool{}
	for _, r := range srv.Requests() {
		called[r.Method+" "+r.Path] = true
	}
	for _, e := range braze.Endpoints() {
		if !called[e.Method+" "+e.Path] {
			t.Errorf("%s %s was not called", e.Method, e.Path)
		}
	}
}

// TestClientScheduleLifecycle follows one scheduled message through create,
// update and delete as the simulator's state sees it, and checks that a
// deleted or sent schedule can no longer be changed.
func TestClientScheduleLifecycle(t *testing.T) {
	srv, c, clock := newSimClient(t, clientKey, nil)
	ctx := context.Background()

	created, err := c.ScheduleMessages(ctx, &braze.MessagesScheduleCreateRequest{
		ExternalUserIDs: []string{"cust-5001"},
		CampaignID:      brazetest.DevCampaignID,
		Schedule:        braze.ScheduleAt(simStart.Add(time.Hour)),
		Messages:        emailMessages,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	live := func() map[string]brazetest.Schedule {
		m := map[string]brazetest.Schedule{}
		for _, s := range srv.Schedules() {
			m[s.ScheduleID] = s
		}
		return m
	}
	sc, ok := live()[created.ScheduleID]
	if !ok || !sc.Time.Equal(simStart.Add(time.Hour)) || sc.Endpoint != braze.PathMessagesScheduleCreate {
		t.Fatalf("after create the simulator holds %+v (found %v), want it due at %v", sc, ok, simStart.Add(time.Hour))
	}

	if _, err := c.UpdateScheduledMessages(ctx, &braze.MessagesScheduleUpdateRequest{
		ScheduleID: created.ScheduleID, Schedule: braze.ScheduleAt(simStart.Add(3 * time.Hour)), Messages: pushMessages,
	}); err != nil {
		t.Fatalf("update: %v", err)
	}
	sc = live()[created.ScheduleID]
	if !sc.Time.Equal(simStart.Add(3*time.Hour)) || !strings.Contains(string(sc.Body), "iosPush-1") {
		t.Errorf("after update: due %v, body %s; want due %v with the new messages", sc.Time, sc.Body, simStart.Add(3*time.Hour))
	}

	if _, err := c.DeleteScheduledMessages(ctx, &braze.MessagesScheduleDeleteRequest{ScheduleID: created.ScheduleID}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok := live()[created.ScheduleID]; ok {
		t.Error("the schedule is still live after delete")
	}
	_, err = c.DeleteScheduledMessages(ctx, &braze.MessagesScheduleDeleteRequest{ScheduleID: created.ScheduleID})
	checkRejected(t, err, "Invalid Schedule ID")

	// A schedule that is due has been sent: it cannot be updated any more.
	sent, err := c.ScheduleMessages(ctx, &braze.MessagesScheduleCreateRequest{
		ExternalUserIDs: []string{"cust-5002"},
		CampaignID:      brazetest.DevCampaignID,
		Schedule:        braze.ScheduleAt(simStart.Add(time.Minute)),
		Messages:        emailMessages,
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	clock.Set(simStart.Add(2 * time.Minute))
	_, err = c.UpdateScheduledMessages(ctx, &braze.MessagesScheduleUpdateRequest{ScheduleID: sent.ScheduleID, Schedule: braze.ScheduleAt(simStart.Add(time.Hour))})
	checkRejected(t, err, "Invalid Schedule ID")
}

// checkRejected fails unless err is a 400 *braze.Error whose message is
// Braze's label.
func checkRejected(t *testing.T, err error, label string) {
	t.Helper()
	var be *braze.Error
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a *braze.Error", err)
	}
	if be.Status != http.StatusBadRequest || !be.Rejected() || be.Retryable() || be.AuthFailure() {
		t.Errorf("status %d rejected %v retryable %v auth %v; want a non-retryable 400 rejection",
			be.Status, be.Rejected(), be.Retryable(), be.AuthFailure())
	}
	if !strings.HasPrefix(be.Message, label) {
		t.Errorf("message = %q, want Braze's label %q", be.Message, label)
	}
}

// TestClientErrors checks how the client classifies each kind of failure
// the simulator produces: its status, the Error's predicates, Braze's label
// in Message and the rate-limit headers, and that no error names the key.
func TestClientErrors(t *testing.T) {
	ctx := context.Background()
	limitedKey := "brz-LIMITED-2d7c9e41-0b6a-4f3d-a1e8-5c9b7d3f2a60"
	trigger := func(c *braze.Client) error {
		_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
			CampaignID: brazetest.DevTriggerCampaignID, Recipients: []braze.Recipient{{ExternalUserID: "cust-9001"}}})
		return err
	}
	tooMany := make([]string, 51)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("cust-%d", i)
	}
	tests := []struct {
		name      string
		key       string // client key; "" means clientKey
		timeout   time.Duration
		mutate    func(*brazetest.Config)
		call      func(*braze.Client) error
		status    int
		label     string // prefix of Error.Message
		auth      bool
		rejected  bool
		retryable bool
		timedOut  bool
		headers   bool // X-RateLimit-* expected on the answer
	}{
		{name: "wrong key", key: "brz-WRONG-00000000-1111-2222-3333-444444444444", call: trigger,
			status: 401, label: "Unauthorized", auth: true, headers: true},
		{name: "key without permission", key: limitedKey,
			mutate: func(cfg *brazetest.Config) {
				cfg.Workspaces[0].APIKeys = append(cfg.Workspaces[0].APIKeys, brazetest.APIKey{Key: limitedKey, Permissions: []string{"messages.send"}})
			},
			call: trigger, status: 403, label: "Access Denied", auth: true, headers: true},
		{name: "revoked key", mutate: func(cfg *brazetest.Config) { cfg.Faults.AuthFail = true }, call: trigger,
			status: 401, label: "Unauthorized", auth: true, headers: true},
		{name: "unknown campaign", call: func(c *braze.Client) error {
			_, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
				CampaignID: "no-such-campaign", Recipients: []braze.Recipient{{ExternalUserID: "cust-9001"}}})
			return err
		}, status: 400, label: rules.LabelInvalidCampaignID, rejected: true, headers: true},
		{name: "too many recipients", call: func(c *braze.Client) error {
			_, err := c.SendMessages(ctx, &braze.MessagesSendRequest{ExternalUserIDs: tooMany, Messages: json.RawMessage(`{"sms":{"subscription_group_id":"sg-1","body":"hi","app_id":"a1"}}`)})
			return err
		}, status: 400, label: rules.LabelTooManyRecipients, rejected: true, headers: true},
		{name: "variation of another channel", call: func(c *braze.Client) error {
			_, err := c.SendMessages(ctx, &braze.MessagesSendRequest{
				ExternalUserIDs: []string{"cust-9001"}, CampaignID: brazetest.DevCampaignID,
				Messages: json.RawMessage(`{"apple_push":{"alert":"hi","message_variation_id":"androidPush-1"}}`)})
			return err
		}, status: 400, label: rules.LabelMismatchedMessageType, rejected: true, headers: true},
		{name: "live activity error key", call: func(c *braze.Client) error {
			_, err := c.StartLiveActivity(ctx, &braze.LiveActivityStartRequest{
				AppID: liveAppID, ActivityID: "a-1", ActivityAttributesType: "MatchActivity",
				ActivityAttributes: json.RawMessage(`{}`), ContentState: json.RawMessage(`{}`),
				Notification: liveNotification, SegmentID: "no-such-segment"})
			return err
		}, status: 400, label: "Invalid Segment ID", rejected: true, headers: true},
		{name: "unknown schedule id", call: func(c *braze.Client) error {
			_, err := c.DeleteScheduledCanvasTrigger(ctx, &braze.CanvasTriggerScheduleDeleteRequest{CanvasID: brazetest.DevCanvasID, ScheduleID: "nope"})
			return err
		}, status: 400, label: "Invalid Schedule ID", rejected: true, headers: true},
		{name: "outage 503", mutate: func(cfg *brazetest.Config) { cfg.Faults.Outage5xx = []brazetest.Outage{{Status: 503}} },
			call: trigger, status: 503, label: "Service Unavailable", retryable: true, headers: true},
		{name: "error rate 500", mutate: func(cfg *brazetest.Config) { cfg.Faults.ErrorRate = map[int]float64{500: 1} },
			call: trigger, status: 500, label: "Internal Server Error", retryable: true, headers: true},
		{name: "502 on a GET", mutate: func(cfg *brazetest.Config) { cfg.Faults.ErrorRate = map[int]float64{502: 1} },
			call: func(c *braze.Client) error {
				_, err := c.ScheduledBroadcasts(ctx, simStart.Add(24*time.Hour))
				return err
			}, status: 502, label: "Bad Gateway", retryable: true, headers: true},
		{name: "timeout", timeout: 150 * time.Millisecond, mutate: func(cfg *brazetest.Config) { cfg.Faults.Timeouts = 1 },
			call: trigger, retryable: true, timedOut: true},
		{name: "connection reset", mutate: func(cfg *brazetest.Config) { cfg.Faults.ConnectionResets = 1 },
			call: trigger, retryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.key
			if key == "" {
				key = clientKey
			}
			srv, _, _ := newSimClient(t, key, tc.mutate)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 2 * time.Second
			}
			c, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: key, Timeout: timeout}, nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = tc.call(c)
			var be *braze.Error
			if !errors.As(err, &be) {
				t.Fatalf("err = %v, want a *braze.Error", err)
			}
			if be.Status != tc.status {
				t.Errorf("status = %d, want %d (%v)", be.Status, tc.status, err)
			}
			if !strings.HasPrefix(be.Message, tc.label) {
				t.Errorf("message = %q, want it to start with %q", be.Message, tc.label)
			}
			if be.AuthFailure() != tc.auth || be.Rejected() != tc.rejected || be.Retryable() != tc.retryable ||
				braze.IsRetryable(err) != tc.retryable || be.Timeout() != tc.timedOut || be.RateLimited() {
				t.Errorf("auth %v rejected %v retryable %v timeout %v rate limited %v; want %v %v %v %v false",
					be.AuthFailure(), be.Rejected(), be.Retryable(), be.Timeout(), be.RateLimited(),
					tc.auth, tc.rejected, tc.retryable, tc.timedOut)
			}
			if tc.headers {
				checkRateLimit(t, be.RateLimit)
			} else if be.RateLimit.Present {
				t.Errorf("rate limit %+v on a call that got no answer", be.RateLimit)
			}
			if tc.timedOut && time.Since(start) > 10*timeout {
				t.Errorf("a %v attempt timeout took %v", timeout, time.Since(start))
			}
			for _, s := range []string{err.Error(), be.Message, string(be.Body)} {
				if strings.Contains(s, key) {
					t.Errorf("the API key appears in %q", s)
				}
			}
		})
	}
}

// TestClientRateLimited exhausts small budgets and checks that the 429
// carries RetryAt = X-RateLimit-Reset, the end of Braze's clock-aligned
// window, and that the budget is back once the clock reaches it.
func TestClientRateLimited(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		budget rules.Budget
		window time.Duration
		reset  time.Time
		call   func(*braze.Client) (braze.RateLimit, error)
	}{
		{rules.BudgetShared, time.Hour, time.Date(2030, 3, 4, 11, 0, 0, 0, time.UTC), func(c *braze.Client) (braze.RateLimit, error) {
			res, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
				CampaignID: brazetest.DevTriggerCampaignID, Recipients: []braze.Recipient{{ExternalUserID: "cust-1"}}})
			if err != nil {
				return braze.RateLimit{}, err
			}
			return res.RateLimit, nil
		}},
		{rules.BudgetSendIDs, 24 * time.Hour, time.Date(2030, 3, 5, 0, 0, 0, 0, time.UTC), func(c *braze.Client) (braze.RateLimit, error) {
			res, err := c.CreateSendID(ctx, &braze.SendIDCreateRequest{CampaignID: brazetest.DevCampaignID})
			if err != nil {
				return braze.RateLimit{}, err
			}
			return res.RateLimit, nil
		}},
		{rules.BudgetCanvasDuplicate, time.Minute, time.Date(2030, 3, 4, 10, 16, 0, 0, time.UTC), func(c *braze.Client) (braze.RateLimit, error) {
			res, err := c.DuplicateCanvas(ctx, &braze.CanvasDuplicateRequest{CanvasID: brazetest.DevCanvasID, Name: "copy"})
			if err != nil {
				return braze.RateLimit{}, err
			}
			return res.RateLimit, nil
		}},
		{rules.BudgetBroadcast, time.Minute, time.Date(2030, 3, 4, 10, 16, 0, 0, time.UTC), func(c *braze.Client) (braze.RateLimit, error) {
			res, err := c.TriggerCanvas(ctx, &braze.CanvasTriggerSendRequest{CanvasID: brazetest.DevCanvasID, Broadcast: braze.Bool(true)})
			if err != nil {
				return braze.RateLimit{}, err
			}
			return res.RateLimit, nil
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.budget), func(t *testing.T) {
			const limit = 2
			_, c, clock := newSimClient(t, clientKey, func(cfg *brazetest.Config) {
				cfg.Limits = map[rules.Budget]rules.Limit{tc.budget: {Budget: tc.budget, Requests: limit, Window: tc.window}}
			})
			for i := range limit {
				rl, err := tc.call(c)
				if err != nil {
					t.Fatalf("call %d: %v", i+1, err)
				}
				if !rl.Present || rl.Limit != limit || rl.Remaining != limit-1-i || !rl.Reset.Equal(tc.reset) {
					t.Errorf("call %d: rate limit %+v, want limit %d remaining %d reset %v", i+1, rl, limit, limit-1-i, tc.reset)
				}
			}
			_, err := tc.call(c)
			var be *braze.Error
			if !errors.As(err, &be) || be.Status != http.StatusTooManyRequests {
				t.Fatalf("call %d: err = %v, want a 429", limit+1, err)
			}
			if !be.RateLimited() || !be.Retryable() || be.Rejected() || be.AuthFailure() {
				t.Errorf("rate limited %v retryable %v rejected %v auth %v; want a retryable 429",
					be.RateLimited(), be.Retryable(), be.Rejected(), be.AuthFailure())
			}
			if at, ok := be.RetryAt(clock.Now()); !ok || !at.Equal(tc.reset) {
				t.Errorf("RetryAt = %v, %v; want %v from X-RateLimit-Reset", at, ok, tc.reset)
			}
			if be.RateLimit.Remaining != 0 || be.RateLimit.Limit != limit {
				t.Errorf("429 rate limit %+v, want limit %d remaining 0", be.RateLimit, limit)
			}
			if be.Message != "Rate Limited" {
				t.Errorf("message = %q, want Rate Limited", be.Message)
			}

			clock.Set(tc.reset)
			rl, err := tc.call(c)
			if err != nil {
				t.Fatalf("after the reset: %v", err)
			}
			if rl.Remaining != limit-1 || !rl.Reset.Equal(tc.reset.Add(tc.window)) {
				t.Errorf("after the reset: rate limit %+v, want remaining %d reset %v", rl, limit-1, tc.reset.Add(tc.window))
			}
		})
	}
}

// TestClientStorm429 checks RetryAt on an injected 429, whose
// X-RateLimit-Reset is one second ahead of the simulator's clock.
func TestClientStorm429(t *testing.T) {
	_, c, clock := newSimClient(t, clientKey, func(cfg *brazetest.Config) {
		cfg.Faults.Storm429 = &brazetest.Storm{Calls: 1}
	})
	_, err := c.UpdateLiveActivity(context.Background(), &braze.LiveActivityUpdateRequest{
		AppID: liveAppID, ActivityID: "a-1", ContentState: json.RawMessage(`{}`)})
	var be *braze.Error
	if !errors.As(err, &be) || !be.RateLimited() {
		t.Fatalf("err = %v, want a 429", err)
	}
	if at, ok := be.RetryAt(clock.Now()); !ok || !at.Equal(simStart.Add(time.Second)) {
		t.Errorf("RetryAt = %v, %v; want %v", at, ok, simStart.Add(time.Second))
	}
	if _, err := c.UpdateLiveActivity(context.Background(), &braze.LiveActivityUpdateRequest{
		AppID: liveAppID, ActivityID: "a-1", ContentState: json.RawMessage(`{}`)}); err != nil {
		t.Errorf("the call after a one-call storm: %v", err)
	}
}

// TestClientAnswerLost checks the window the gateway's duplicate bound is
// about: Braze processed the call but the answer was lost. The client
// reports a retryable error although the recipient was accepted.
func TestClientAnswerLost(t *testing.T) {
	srv, c, _ := newSimClient(t, clientKey, func(cfg *brazetest.Config) {
		cfg.Faults.ConnectionResets = 1
		cfg.Faults.DropAfterProcessing = true
	})
	_, err := c.TriggerCampaign(context.Background(), &braze.CampaignTriggerSendRequest{
		CampaignID: brazetest.DevTriggerCampaignID, Recipients: []braze.Recipient{{ExternalUserID: "cust-lost"}}})
	var be *braze.Error
	if !errors.As(err, &be) || be.Status != 0 || !be.Retryable() {
		t.Fatalf("err = %v, want a retryable transport error", err)
	}
	if n := srv.DeliveryCount("external_user_id:cust-lost"); n != 1 {
		t.Errorf("delivered %d times, want 1 (processed before the answer was lost)", n)
	}
}

// TestClientMinorErrors checks that per-recipient errors of a 2xx answer
// arrive as Result.Errors and Envelope.MinorErrors, pointing at the
// offending item by input_array and index, while the others are delivered.
func TestClientMinorErrors(t *testing.T) {
	srv, c, _ := newSimClient(t, clientKey, func(cfg *brazetest.Config) {
		cfg.Faults.MinorErrors = []string{"cust-bad", "alias:crm_id:lead-bad"}
	})
	ctx := context.Background()

	res, err := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{
		CampaignID: brazetest.DevTriggerCampaignID,
		Recipients: []braze.Recipient{{ExternalUserID: "cust-ok-1"}, {ExternalUserID: "cust-bad"}, {ExternalUserID: "cust-ok-2"}},
	})
	if err != nil {
		t.Fatalf("a 2xx with minor errors is a success: %v", err)
	}
	if res.Status != http.StatusCreated || res.DispatchID == "" || len(res.Errors) != 1 {
		t.Fatalf("status %d dispatch_id %q errors %v; want 201 with one minor error", res.Status, res.DispatchID, res.Errors)
	}
	me := res.Errors[0]
	if me.InputArray != "recipients" || me.Index == nil || *me.Index != 1 || me.Type == "" || me.Text == "" {
		t.Errorf("minor error %+v, want recipients[1] with a type", me)
	}
	if got, want := me.String(), me.Text+" (recipients[1])"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	for u, want := range map[string]int{"cust-ok-1": 1, "cust-bad": 0, "cust-ok-2": 1} {
		if n := srv.DeliveryCount("external_user_id:" + u); n != want {
			t.Errorf("%s delivered %d times, want %d", u, n, want)
		}
	}

	// The untyped path: the envelope of a raw /messages/send answer.
	body := fmt.Sprintf(`{"external_user_ids":["cust-ok-3"],"user_aliases":[{"alias_name":"lead-ok","alias_label":"crm_id"},{"alias_name":"lead-bad","alias_label":"crm_id"}],"campaign_id":%q,"messages":%s}`,
		brazetest.DevCampaignID, pushMessages)
	resp, err := c.Post(ctx, braze.PathMessagesSend, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	mes := resp.Envelope.MinorErrors()
	if len(mes) != 1 || mes[0].InputArray != "user_aliases" || mes[0].Index == nil || *mes[0].Index != 1 {
		t.Fatalf("minor errors %+v, want user_aliases[1]", mes)
	}
	if resp.Message != "success" || resp.DispatchID == "" {
		t.Errorf("message %q dispatch_id %q, want success with a dispatch id", resp.Message, resp.DispatchID)
	}
	checkRateLimit(t, resp.RateLimit)
}

// Example_client sends a campaign trigger with the typed client to the
// simulator, then shows how a rejected request and an outage are told apart.
func Example_client() {
	srv := brazetest.NewServer(brazetest.DevConfig("example-key-0123456789"))
	defer srv.Close()
	c, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: "example-key-0123456789"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	req := &braze.CampaignTriggerSendRequest{
		CampaignID: brazetest.DevTriggerCampaignID,
		Recipients: []braze.Recipient{{ExternalUserID: "cust-1"}, {ExternalUserID: "cust-2"}},
	}
	res, err := c.TriggerCampaign(ctx, req)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.Message, res.DispatchID != "", res.RateLimit.Limit, res.RateLimit.Remaining)
	fmt.Println(srv.DeliveryCount("external_user_id:cust-2"))

	bad := *req
	bad.CampaignID = "no-such-campaign"
	_, err = c.TriggerCampaign(ctx, &bad)
	var be *braze.Error
	if errors.As(err, &be) {
		fmt.Println(be.Status, be.Message, "rejected:", be.Rejected(), "retryable:", be.Retryable())
	}

	srv.SetFaults(brazetest.Faults{Outage5xx: []brazetest.Outage{{Status: 503, Calls: 1}}})
	_, err = c.TriggerCampaign(ctx, req)
	if errors.As(err, &be) {
		fmt.Println(be.Status, be.Message, "rejected:", be.Rejected(), "retryable:", be.Retryable())
	}
	// Output:
	// 201 success true 250000 249999
	// 1
	// 400 Invalid Campaign ID rejected: true retryable: false
	// 503 Service Unavailable rejected: false retryable: true
}
