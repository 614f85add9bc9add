package brazetest

import (
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/brazegw/gateway/braze/rules"
)

// Config describes the Braze account a Server simulates. The zero value is a
// server that knows no key (every call answers 401).
type Config struct {
	// Workspaces are the simulated workspaces; each has its own keys, state
	// and rate budgets.
	Workspaces []Workspace
	// Limits are the rate budgets applied to every workspace. Nil disables
	// rate limiting entirely (no 429, no X-RateLimit-* headers); use
	// rules.DefaultLimits() for Braze's documented defaults. A budget missing
	// from a non-nil map is unlimited.
	Limits map[rules.Budget]rules.Limit
	// BroadcastPerEndpoint gives each of the five broadcast endpoints its own
	// 250/minute broadcast budget instead of one shared by all five. Braze's
	// table is ambiguous (braze-api.md §2.2); shared is the default.
	BroadcastPerEndpoint bool
	// Faults are injected from the start; see Server.SetFaults.
	Faults Faults
	// Latency is added to every API response (0 = none), before any fault latency.
	Latency time.Duration
	// Now is the clock for rate windows, schedules and records (nil = time.Now).
	// Latencies and timeouts always use real time.
	Now func() time.Time
	// Seed seeds the random source behind generated ids and fault draws, so a
	// run can be repeated. 0 picks a random seed.
	Seed uint64
	// Rules tunes the strictness of the structural checks of braze/rules;
	// its Now defaults to the simulator's clock.
	Rules rules.Options
	// MaxRequests caps how many of the most recent requests Requests returns
	// (0 = all). Counters behind DeliveryCount and Stats are never capped.
	MaxRequests int
	// MaxDeliveries caps how many of the most recent deliveries Deliveries
	// returns (0 = all).
	MaxDeliveries int
	// DropBodies keeps request and delivery bodies out of the record, for
	// load tests: deliveries are then recorded as recipient ids only.
	DropBodies bool
}

// Workspace is one simulated Braze workspace. Its JSON form (snake_case) is
// the one of cmd/brazesim's configuration file.
type Workspace struct {
	// Name identifies the workspace in records (never the key).
	Name string `json:"name"`
	// APIKeys are the REST API keys of the workspace.
	APIKeys []APIKey `json:"api_keys"`
	// Campaigns are the API campaigns and API-triggered campaigns.
	Campaigns []Campaign `json:"campaigns"`
	// Canvases are the API-triggered Canvases.
	Canvases []Canvas `json:"canvases"`
	// Segments are the segment API identifiers.
	Segments []string `json:"segments"`
	// Tags are the tag names duplicates may use.
	Tags []string `json:"tags"`
	// ScheduledBroadcasts are dashboard-scheduled messages listed by
	// GET /messages/scheduled_broadcasts next to API-created schedules.
	ScheduledBroadcasts []ScheduledBroadcast `json:"scheduled_broadcasts"`
	// AcceptUnknownIDs accepts any campaign, Canvas (active), variation,
	// segment and tag, for tests that care about delivery only. Send ids and
	// schedule ids are still checked: they are created through the API.
	AcceptUnknownIDs bool `json:"accept_unknown_ids"`
}

// APIKey is a REST API key and its permissions (braze-api.md §1.3).
type APIKey struct {
	// Key is the secret sent as "Authorization: Bearer <Key>".
	Key string `json:"key"`
	// Permissions lists endpoint permissions such as "messages.send";
	// nil grants every permission.
	Permissions []string `json:"permissions"`
}

// String redacts the key, so that printing a Config never shows a secret.
func (k APIKey) String() string {
	return fmt.Sprintf("APIKey{Key:<redacted> Permissions:%v}", k.Permissions)
}

// GoString redacts the key in %#v output as well.
func (k APIKey) GoString() string { return k.String() }

// Campaign is an API campaign or API-triggered campaign.
type Campaign struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Variations are the message variations usable as message_variation_id
	// with this campaign on /messages/send and /messages/schedule/create.
	Variations []Variation `json:"variations"`
}

// Variation is a message variation of a campaign and its channel, named by
// the key of the messages object it belongs to ("apple_push", "email", …).
type Variation struct {
	ID      string `json:"id"`
	Channel string `json:"channel"`
}

// Canvas states.
const (
	CanvasActive   = "active"
	CanvasPaused   = "paused"
	CanvasArchived = "archived"
)

// Canvas is an API-triggered Canvas. State is CanvasActive (or empty),
// CanvasPaused or CanvasArchived; triggering a paused or archived Canvas
// succeeds with a notice and sends nothing.
type Canvas struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// ScheduledBroadcast is a dashboard-scheduled campaign or Canvas, in the
// shape GET /messages/scheduled_broadcasts answers with.
type ScheduledBroadcast struct {
	Name         string    `json:"name"`
	ID           string    `json:"id"`
	Type         string    `json:"type"` // "Campaign" or "Canvas"
	Tags         []string  `json:"tags"`
	NextSendTime time.Time `json:"next_send_time"`
	ScheduleType string    `json:"schedule_type"`
	// Daily makes the broadcast recur every day at NextSendTime's time of
	// day; it is listed once, at its next occurrence.
	Daily bool `json:"daily"`
}

// Validate reports the first inconsistency of c: a workspace or key that is
// empty or defined twice, an unknown Canvas state or channel, a bad limit or
// fault. NewServer does not call it (a test may want odd configs); the
// standalone simulator does.
func (c Config) Validate() error {
	names := map[string]bool{}
	keys := map[string]bool{}
	for i, ws := range c.Workspaces {
		if ws.Name == "" {
			return fmt.Errorf("brazetest: workspaces[%d]: name is required", i)
		}
		if names[ws.Name] {
			return fmt.Errorf("brazetest: workspace %q defined twice", ws.Name)
		}
		names[ws.Name] = true
		for j, k := range ws.APIKeys {
			if k.Key == "" {
				return fmt.Errorf("brazetest: workspace %q: api_keys[%d]: key is required", ws.Name, j)
			}
			if keys[k.Key] {
				// The key itself is a secret: name its position only.
				return fmt.Errorf("brazetest: workspace %q: api_keys[%d]: key already used", ws.Name, j)
			}
			keys[k.Key] = true
			for _, p := range k.Permissions {
				if !knownPermission(p) {
					return fmt.Errorf("brazetest: workspace %q: api_keys[%d]: unknown permission %q", ws.Name, j, p)
				}
			}
		}
		for _, cp := range ws.Campaigns {
			if cp.ID == "" {
				return fmt.Errorf("brazetest: workspace %q: campaign without id", ws.Name)
			}
			for _, v := range cp.Variations {
				if v.ID == "" || !channels[v.Channel] {
					return fmt.Errorf("brazetest: workspace %q: campaign %q: variation %q: channel %q unknown", ws.Name, cp.ID, v.ID, v.Channel)
				}
			}
		}
		for _, cv := range ws.Canvases {
			if cv.ID == "" {
				return fmt.Errorf("brazetest: workspace %q: canvas without id", ws.Name)
			}
			switch cv.State {
			case "", CanvasActive, CanvasPaused, CanvasArchived:
			default:
				return fmt.Errorf("brazetest: workspace %q: canvas %q: state %q is not active, paused or archived", ws.Name, cv.ID, cv.State)
			}
		}
	}
	for b, l := range c.Limits {
		if l.Requests <= 0 || l.Window <= 0 {
			return fmt.Errorf("brazetest: limit %q: requests and window must be positive", b)
		}
	}
	if c.Latency < 0 {
		return errors.New("brazetest: latency must not be negative")
	}
	if err := c.Faults.Validate(); err != nil {
		return err
	}
	return nil
}

// channels are the keys of a messages object (braze-api.md §4.7).
var channels = map[string]bool{
	"apple_push": true, "android_push": true, "kindle_push": true, "web_push": true, "email": true,
	"sms": true, "webhook": true, "content_card": true, "whats_app": true,
	"windows_phone8_push": true, "windows_universal_push": true,
}

// Identifiers known to DevConfig. Examples, docs and tests of other packages
// use them; every one is accepted by a DevConfig server.
const (
	// DevWorkspace is the name of DevConfig's only workspace.
	DevWorkspace = "default"
	// DevCampaignID is an API campaign for /messages/send and
	// /messages/schedule/create, with one variation per channel (DevVariations).
	DevCampaignID = "7b0c1f4e-2a6d-4c55-9f1e-0d3a9b6c2e11"
	// DevTriggerCampaignID is an API-triggered campaign.
	DevTriggerCampaignID = "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f"
	// DevCanvasID is an active API-triggered Canvas.
	DevCanvasID = "0f9e8d7c-6b5a-4f3e-9d2c-1b0a9f8e7d6c"
	// DevPausedCanvasID is a paused Canvas: triggers succeed with a notice.
	DevPausedCanvasID = "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d"
	// DevArchivedCanvasID is an archived Canvas: triggers succeed with a notice.
	DevArchivedCanvasID = "9c8b7a6f-5e4d-4c3b-8a29-18f7e6d5c4b3"
	// DevSegmentID is a segment.
	DevSegmentID = "b1a2c3d4-e5f6-4711-8899-aabbccddeeff"
)

// DevVariations maps each channel to the message_variation_id of
// DevCampaignID for that channel.
func DevVariations() map[string]string {
	return map[string]string{
		"apple_push":   "iosPush-1",
		"android_push": "androidPush-1",
		"kindle_push":  "kindlePush-1",
		"web_push":     "webPush-1",
		"email":        "email-1",
		"sms":          "sms-1",
		"webhook":      "webhook-1",
		"content_card": "contentCard-1",
		"whats_app":    "whatsApp-1",
	}
}

// DevTags are the tags DevConfig knows.
func DevTags() []string { return []string{"seasonal", "newsletter", "onboarding", "examples"} }

// DevConfig is a ready-made account for local runs, examples and tests: one
// workspace DevWorkspace whose key apiKey has every permission, the Dev*
// campaigns, Canvases, segment and tags, one daily dashboard broadcast,
// and Braze's default rate limits.
func DevConfig(apiKey string) Config {
	dv := DevVariations()
	chs := make([]string, 0, len(dv))
	for ch := range dv {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	vars := make([]Variation, 0, len(chs))
	for _, ch := range chs {
		vars = append(vars, Variation{ID: dv[ch], Channel: ch})
	}
	return Config{
		Workspaces: []Workspace{{
			Name:    DevWorkspace,
			APIKeys: []APIKey{{Key: apiKey}},
			Campaigns: []Campaign{
				{ID: DevCampaignID, Name: "API campaign", Variations: vars},
				{ID: DevTriggerCampaignID, Name: "API-triggered campaign"},
			},
			Canvases: []Canvas{
				{ID: DevCanvasID, Name: "Onboarding", State: CanvasActive},
				{ID: DevPausedCanvasID, Name: "Paused journey", State: CanvasPaused},
				{ID: DevArchivedCanvasID, Name: "Archived journey", State: CanvasArchived},
			},
			Segments: []string{DevSegmentID},
			Tags:     DevTags(),
			ScheduledBroadcasts: []ScheduledBroadcast{{
				Name:         "Weekly digest",
				ID:           "e3b0c442-98fc-4c14-9afb-f4c8996fb924",
				Type:         "Campaign",
				Tags:         []string{"newsletter"},
				NextSendTime: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC),
				ScheduleType: "UTC",
				Daily:        true,
			}},
		}},
		Limits: rules.DefaultLimits(),
	}
}
