package brazetest

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/brazegw/gateway/braze/rules"
)

// body holds the fields of a request body that the state rules look at.
type body struct {
	CampaignID      string                     `json:"campaign_id"`
	CanvasID        string                     `json:"canvas_id"`
	SendID          string                     `json:"send_id"`
	ScheduleID      string                     `json:"schedule_id"`
	SegmentID       string                     `json:"segment_id"`
	Broadcast       json.RawMessage            `json:"broadcast"`
	ExternalUserIDs []json.RawMessage          `json:"external_user_ids"`
	UserAliases     []json.RawMessage          `json:"user_aliases"`
	Recipients      []json.RawMessage          `json:"recipients"`
	Messages        map[string]json.RawMessage `json:"messages"`
	Schedule        json.RawMessage            `json:"schedule"`
	TagNames        json.RawMessage            `json:"tag_names"`
}

// broadcast reports whether the call asks for a broadcast (a JSON true, or
// the string "true" some of Braze's own examples show).
func (b *body) broadcast() bool {
	s := string(b.Broadcast)
	return s == "true" || s == `"true"`
}

// workspace is a configured workspace, indexed for lookups. Immutable.
type workspace struct {
	name       string
	anyID      bool
	campaigns  map[string]Campaign
	variations map[string]map[string]string // campaign → variation → channel
	canvases   map[string]Canvas
	segments   map[string]bool
	tags       map[string]bool
	broadcasts []ScheduledBroadcast
}

func newWorkspace(ws Workspace) *workspace {
	w := &workspace{
		name:       ws.Name,
		anyID:      ws.AcceptUnknownIDs,
		campaigns:  map[string]Campaign{},
		variations: map[string]map[string]string{},
		canvases:   map[string]Canvas{},
		segments:   map[string]bool{},
		tags:       map[string]bool{},
		broadcasts: append([]ScheduledBroadcast(nil), ws.ScheduledBroadcasts...),
	}
	for _, c := range ws.Campaigns {
		w.campaigns[c.ID] = c
		vs := map[string]string{}
		for _, v := range c.Variations {
			vs[v.ID] = v.Channel
		}
		w.variations[c.ID] = vs
	}
	for _, c := range ws.Canvases {
		w.canvases[c.ID] = c
	}
	for _, s := range ws.Segments {
		w.segments[s] = true
	}
	for _, t := range ws.Tags {
		w.tags[t] = true
	}
	return w
}

// failure is a rejected call: status, Braze's label, a detail for "errors".
type failure struct {
	status int
	label  string
	detail string
}

func badRequest(label, format string, args ...any) *failure {
	return &failure{status: 400, label: label, detail: fmt.Sprintf(format, args...)}
}

// Labels of state errors. Braze documents "Invalid Campaign ID",
// "Invalid Message Variant", "Mismatched Message Type" and
// "Message Variant Unspecified"; the others are this simulator's words
// for errors Braze documents without a label (braze-api.md §5.17, §5.28, §5.32).
const (
	labelInvalidCampaign  = rules.LabelInvalidCampaignID
	labelInvalidCanvas    = "Invalid Canvas ID"
	labelInvalidSegment   = "Invalid Segment ID"
	labelVariantMissing   = rules.LabelMessageVariantUnspecified
	labelInvalidVariant   = rules.LabelInvalidMessageVariant
	labelMismatchedType   = rules.LabelMismatchedMessageType
	labelInvalidSendID    = "Invalid Send ID"
	labelInvalidSchedule  = "Invalid Schedule ID"
	labelInvalidTag       = "Invalid Tag"
	labelBadRequest       = rules.LabelBadRequest
	noticeCanvasPaused    = "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."
	noticeCanvasArchived  = "The Canvas is archived. Unarchive the Canvas to ensure trigger requests will take effect."
	scheduleTypeLocal     = "local_time_zones"
	scheduleTypeOptimal   = "intelligent_delivery"
	scheduleTypeCompanyTZ = "UTC"
)

func (w *workspace) checkCampaign(id string) *failure {
	if _, ok := w.campaigns[id]; ok || w.anyID {
		return nil
	}
	return badRequest(labelInvalidCampaign, "campaign_id %q matches no campaign of this workspace", id)
}

// checkCanvas returns the Canvas's state (active for unknown ids accepted
// by AcceptUnknownIDs).
func (w *workspace) checkCanvas(id string) (string, *failure) {
	if c, ok := w.canvases[id]; ok {
		if c.State == "" {
			return CanvasActive, nil
		}
		return c.State, nil
	}
	if w.anyID {
		return CanvasActive, nil
	}
	return "", badRequest(labelInvalidCanvas, "canvas_id %q matches no Canvas of this workspace", id)
}

func (w *workspace) checkSegment(id string) *failure {
	if id == "" || w.segments[id] || w.anyID {
		return nil
	}
	return badRequest(labelInvalidSegment, "segment_id %q matches no segment of this workspace", id)
}

// checkVariants applies braze-api.md §5.21 to the messages of a call naming
// campaignID.
func (w *workspace) checkVariants(campaignID string, msgs map[string]json.RawMessage) *failure {
	chs := make([]string, 0, len(msgs))
	for ch := range msgs {
		chs = append(chs, ch)
	}
	sort.Strings(chs)
	known := w.variations[campaignID]
	for _, ch := range chs {
		var m struct {
			VariationID string `json:"message_variation_id"`
		}
		_ = json.Unmarshal(msgs[ch], &m)
		if m.VariationID == "" {
			return badRequest(labelVariantMissing, "messages.%s has no message_variation_id", ch)
		}
		got, ok := known[m.VariationID]
		switch {
		case !ok && w.anyID:
		case !ok:
			return badRequest(labelInvalidVariant, "messages.%s: variation %q does not belong to campaign %q", ch, m.VariationID, campaignID)
		case got != ch:
			return badRequest(labelMismatchedType, "messages.%s: variation %q is a %s variation", ch, m.VariationID, got)
		}
	}
	return nil
}

// checkTags requires every tag_names entry to be an existing tag. An older
// revision of the docs typed tag_names as a string; both forms are read.
func (w *workspace) checkTags(raw json.RawMessage) *failure {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var tags []string
	if err := json.Unmarshal(raw, &tags); err != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return badRequest(labelBadRequest, "tag_names must be an array of strings")
		}
		tags = []string{one}
	}
	for _, t := range tags {
		if !w.tags[t] && !w.anyID {
			return badRequest(labelInvalidTag, "tag %q does not exist in this workspace", t)
		}
	}
	return nil
}

// Schedule is a live schedule created through one of the schedule-create
// endpoints: not deleted and not yet due.
type Schedule struct {
	ScheduleID string
	Workspace  string
	// Endpoint is the create endpoint, e.g. "/campaigns/trigger/schedule/create".
	Endpoint   string
	CampaignID string
	CanvasID   string
	DispatchID string
	// Body is the create body with every update applied.
	Body json.RawMessage
	// Schedule is the current schedule object.
	Schedule json.RawMessage
	// Time is when the schedule is due to be sent (UTC; for local or optimal
	// time, the instant the time has passed in every time zone).
	Time    time.Time
	Created time.Time
	Updated time.Time
}

// scheduleObject is Braze's schedule object (braze-api.md §4.5).
type scheduleObject struct {
	Time          string `json:"time"`
	InLocalTime   bool   `json:"in_local_time"`
	AtOptimalTime bool   `json:"at_optimal_time"`
}

// latestZone is how far behind UTC the last time zone is (UTC−12): a local
// time has passed everywhere only this long after it passed in UTC.
const latestZone = 12 * time.Hour

// parseSchedule reads a schedule object and returns it with the instant it
// has passed in every time zone.
func parseSchedule(raw json.RawMessage) (scheduleObject, time.Time, *failure) {
	var so scheduleObject
	if err := json.Unmarshal(raw, &so); err != nil {
		return so, time.Time{}, badRequest(labelBadRequest, "schedule: %v", err)
	}
	t, err := parseISO8601(so.Time)
	if err != nil {
		return so, time.Time{}, badRequest(labelBadRequest, "schedule.time %q is not an ISO-8601 time", so.Time)
	}
	switch {
	case so.AtOptimalTime:
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return so, day.Add(24*time.Hour + latestZone), nil
	case so.InLocalTime:
		return so, t.Add(latestZone), nil
	}
	return so, t, nil
}

// iso8601Layouts are the ISO-8601 forms accepted in schedules and end_time
// (those braze/rules accepts): a date, optionally with hh:mm[:ss[.fraction]]
// and a zone designator Z, ±hh:mm, ±hhmm or ±hh.
var iso8601Layouts = []string{
	"2006-01-02T15:04:05.999999999Z07:00",
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999Z07",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04Z0700",
	"2006-01-02T15:04Z07",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseISO8601 parses s; a time without a zone is read as UTC.
func parseISO8601(s string) (time.Time, error) {
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	var first error
	for _, l := range iso8601Layouts {
		t, err := time.Parse(l, s)
		if err == nil {
			return t.UTC(), nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, fmt.Errorf("parse time: %w", first)
}

// store is the mutable state of the simulated account: schedules and send
// ids. Safe for concurrent use.
type store struct {
	mu        sync.Mutex
	schedules map[string]*Schedule
	sendIDs   map[sendIDKey]bool
}

type sendIDKey struct{ workspace, campaign, sendID string }

func newStore() *store {
	return &store{schedules: map[string]*Schedule{}, sendIDs: map[sendIDKey]bool{}}
}

// liveSchedules returns copies of the schedules not yet due at now, sorted by
// time then id; ws "" means every workspace.
func (st *store) liveSchedules(ws string, now time.Time) []Schedule {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []Schedule
	for id, s := range st.schedules {
		if !now.Before(s.Time) {
			delete(st.schedules, id) // sent: forget it
			continue
		}
		if ws == "" || s.Workspace == ws {
			out = append(out, *s)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].ScheduleID < out[j].ScheduleID
	})
	return out
}

// setField returns obj (a JSON object) with key set to val.
func setField(obj json.RawMessage, key string, val json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return nil, fmt.Errorf("decode body: %w", err)
	}
	m[key] = val
	out, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	return out, nil
}
