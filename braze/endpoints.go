package braze

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Paths of the messaging endpoints (braze-api.md §3), relative to the base URL.
const (
	PathMessagesSend                   = "/messages/send"
	PathCampaignsTriggerSend           = "/campaigns/trigger/send"
	PathCanvasTriggerSend              = "/canvas/trigger/send"
	PathSendsIDCreate                  = "/sends/id/create"
	PathMessagesScheduledBroadcasts    = "/messages/scheduled_broadcasts"
	PathMessagesScheduleCreate         = "/messages/schedule/create"
	PathMessagesScheduleUpdate         = "/messages/schedule/update"
	PathMessagesScheduleDelete         = "/messages/schedule/delete"
	PathCampaignsTriggerScheduleCreate = "/campaigns/trigger/schedule/create"
	PathCampaignsTriggerScheduleUpdate = "/campaigns/trigger/schedule/update"
	PathCampaignsTriggerScheduleDelete = "/campaigns/trigger/schedule/delete"
	PathCanvasTriggerScheduleCreate    = "/canvas/trigger/schedule/create"
	PathCanvasTriggerScheduleUpdate    = "/canvas/trigger/schedule/update"
	PathCanvasTriggerScheduleDelete    = "/canvas/trigger/schedule/delete"
	PathCampaignsDuplicate             = "/campaigns/duplicate"
	PathCanvasDuplicate                = "/canvas/duplicate"
	PathLiveActivityStart              = "/messages/live_activity/start"
	PathLiveActivityUpdate             = "/messages/live_activity/update"
)

// Endpoint describes one endpoint of the messaging API.
type Endpoint struct {
	// Path is relative to the base URL, e.g. "/messages/send".
	Path string
	// Method is http.MethodPost, or http.MethodGet for scheduled broadcasts.
	Method string
	// Permission is the REST API key permission the endpoint requires (§1.3).
	Permission string
}

// Endpoints returns the 18 messaging endpoints in the order of braze-api.md
// §3. The slice is freshly allocated; callers may keep or modify it.
func Endpoints() []Endpoint {
	p := http.MethodPost
	return []Endpoint{
		{PathMessagesSend, p, "messages.send"},
		{PathCampaignsTriggerSend, p, "campaigns.trigger.send"},
		{PathCanvasTriggerSend, p, "canvas.trigger.send"},
		{PathSendsIDCreate, p, "sends.id.create"},
		{PathMessagesScheduledBroadcasts, http.MethodGet, "messages.schedule_broadcasts"},
		{PathMessagesScheduleCreate, p, "messages.schedule.create"},
		{PathMessagesScheduleUpdate, p, "messages.schedule.update"},
		{PathMessagesScheduleDelete, p, "messages.schedule.delete"},
		{PathCampaignsTriggerScheduleCreate, p, "campaigns.trigger.schedule.create"},
		{PathCampaignsTriggerScheduleUpdate, p, "campaigns.trigger.schedule.update"},
		{PathCampaignsTriggerScheduleDelete, p, "campaigns.trigger.schedule.delete"},
		{PathCanvasTriggerScheduleCreate, p, "canvas.trigger.schedule.create"},
		{PathCanvasTriggerScheduleUpdate, p, "canvas.trigger.schedule.update"},
		{PathCanvasTriggerScheduleDelete, p, "canvas.trigger.schedule.delete"},
		{PathCampaignsDuplicate, p, "campaigns.duplicate"},
		{PathCanvasDuplicate, p, "canvas.duplicate"},
		{PathLiveActivityStart, p, "messages.live_activity.start"},
		{PathLiveActivityUpdate, p, "messages.live_activity.update"},
	}
}

// EndpointByPath returns the endpoint at path, matched exactly (Braze
// answers 404 to a trailing slash, so it is no match here either).
func EndpointByPath(path string) (Endpoint, bool) {
	for _, e := range Endpoints() {
		if e.Path == path {
			return e, true
		}
	}
	return Endpoint{}, false
}

// postJSON marshals req and posts it to path. Encoding failures (a nil
// request, a json.RawMessage holding invalid JSON) are returned as plain
// errors, not *Error: retrying cannot fix them.
func postJSON[T any](ctx context.Context, c *Client, path string, req *T) (*Response, error) {
	if req == nil {
		return nil, fmt.Errorf("braze %s: nil request", path)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("braze %s: encode request: %w", path, err)
	}
	return c.Post(ctx, path, body)
}

// sendCall posts req and returns the answer of a send or trigger endpoint.
func sendCall[T any](ctx context.Context, c *Client, path string, req *T) (*SendResponse, error) {
	r, err := postJSON(ctx, c, path, req)
	if err != nil {
		return nil, err
	}
	return &SendResponse{Result: newResult(r), DispatchID: r.DispatchID, SendID: r.SendID, Notice: r.Notice}, nil
}

// scheduleCall posts req and returns the answer of a schedule-create endpoint.
func scheduleCall[T any](ctx context.Context, c *Client, path string, req *T) (*ScheduleResponse, error) {
	r, err := postJSON(ctx, c, path, req)
	if err != nil {
		return nil, err
	}
	return &ScheduleResponse{Result: newResult(r), DispatchID: r.DispatchID, ScheduleID: r.ScheduleID, SendID: r.SendID}, nil
}

// resultCall posts req to an endpoint that answers with the envelope only.
func resultCall[T any](ctx context.Context, c *Client, path string, req *T) (*Result, error) {
	r, err := postJSON(ctx, c, path, req)
	if err != nil {
		return nil, err
	}
	res := newResult(r)
	return &res, nil
}

// SendMessages calls POST /messages/send. Non-2xx answers and transport
// failures are returned as *Error, as by Post.
func (c *Client) SendMessages(ctx context.Context, r *MessagesSendRequest) (*SendResponse, error) {
	return sendCall(ctx, c, PathMessagesSend, r)
}

// TriggerCampaign calls POST /campaigns/trigger/send.
func (c *Client) TriggerCampaign(ctx context.Context, r *CampaignTriggerSendRequest) (*SendResponse, error) {
	return sendCall(ctx, c, PathCampaignsTriggerSend, r)
}

// TriggerCanvas calls POST /canvas/trigger/send. Check the answer's Notice:
// a paused or archived Canvas accepts the call but sends nothing.
func (c *Client) TriggerCanvas(ctx context.Context, r *CanvasTriggerSendRequest) (*SendResponse, error) {
	return sendCall(ctx, c, PathCanvasTriggerSend, r)
}

// CreateSendID calls POST /sends/id/create (100 creations per day per workspace).
func (c *Client) CreateSendID(ctx context.Context, r *SendIDCreateRequest) (*SendIDResponse, error) {
	resp, err := postJSON(ctx, c, PathSendsIDCreate, r)
	if err != nil {
		return nil, err
	}
	return &SendIDResponse{Result: newResult(resp), SendID: resp.SendID}, nil
}

// ScheduledBroadcasts calls GET /messages/scheduled_broadcasts with end_time
// set to endTime in UTC (Braze treats it as a UTC day boundary).
func (c *Client) ScheduledBroadcasts(ctx context.Context, endTime time.Time) (*ScheduledBroadcastsResponse, error) {
	q := url.Values{"end_time": {endTime.UTC().Format(time.RFC3339)}}
	resp, err := c.Get(ctx, PathMessagesScheduledBroadcasts, q)
	if err != nil {
		return nil, err
	}
	var body struct {
		ScheduledBroadcasts []ScheduledBroadcast `json:"scheduled_broadcasts"`
	}
	if len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			return nil, fmt.Errorf("braze %s: decode response: %w", PathMessagesScheduledBroadcasts, err)
		}
	}
	return &ScheduledBroadcastsResponse{Result: newResult(resp), ScheduledBroadcasts: body.ScheduledBroadcasts}, nil
}

// ScheduleMessages calls POST /messages/schedule/create. Keep the answer's
// ScheduleID: it is the only handle for update and delete.
func (c *Client) ScheduleMessages(ctx context.Context, r *MessagesScheduleCreateRequest) (*ScheduleResponse, error) {
	return scheduleCall(ctx, c, PathMessagesScheduleCreate, r)
}

// UpdateScheduledMessages calls POST /messages/schedule/update.
func (c *Client) UpdateScheduledMessages(ctx context.Context, r *MessagesScheduleUpdateRequest) (*Result, error) {
	return resultCall(ctx, c, PathMessagesScheduleUpdate, r)
}

// DeleteScheduledMessages calls POST /messages/schedule/delete.
func (c *Client) DeleteScheduledMessages(ctx context.Context, r *MessagesScheduleDeleteRequest) (*Result, error) {
	return resultCall(ctx, c, PathMessagesScheduleDelete, r)
}

// ScheduleCampaignTrigger calls POST /campaigns/trigger/schedule/create.
func (c *Client) ScheduleCampaignTrigger(ctx context.Context, r *CampaignTriggerScheduleCreateRequest) (*ScheduleResponse, error) {
	return scheduleCall(ctx, c, PathCampaignsTriggerScheduleCreate, r)
}

// UpdateScheduledCampaignTrigger calls POST /campaigns/trigger/schedule/update.
func (c *Client) UpdateScheduledCampaignTrigger(ctx context.Context, r *CampaignTriggerScheduleUpdateRequest) (*Result, error) {
	return resultCall(ctx, c, PathCampaignsTriggerScheduleUpdate, r)
}

// DeleteScheduledCampaignTrigger calls POST /campaigns/trigger/schedule/delete.
func (c *Client) DeleteScheduledCampaignTrigger(ctx context.Context, r *CampaignTriggerScheduleDeleteRequest) (*Result, error) {
	return resultCall(ctx, c, PathCampaignsTriggerScheduleDelete, r)
}

// ScheduleCanvasTrigger calls POST /canvas/trigger/schedule/create.
func (c *Client) ScheduleCanvasTrigger(ctx context.Context, r *CanvasTriggerScheduleCreateRequest) (*ScheduleResponse, error) {
	return scheduleCall(ctx, c, PathCanvasTriggerScheduleCreate, r)
}

// UpdateScheduledCanvasTrigger calls POST /canvas/trigger/schedule/update.
func (c *Client) UpdateScheduledCanvasTrigger(ctx context.Context, r *CanvasTriggerScheduleUpdateRequest) (*Result, error) {
	return resultCall(ctx, c, PathCanvasTriggerScheduleUpdate, r)
}

// DeleteScheduledCanvasTrigger calls POST /canvas/trigger/schedule/delete.
func (c *Client) DeleteScheduledCanvasTrigger(ctx context.Context, r *CanvasTriggerScheduleDeleteRequest) (*Result, error) {
	return resultCall(ctx, c, PathCanvasTriggerScheduleDelete, r)
}

// DuplicateCampaign calls POST /campaigns/duplicate. Braze answers 202 and
// creates the copy asynchronously.
func (c *Client) DuplicateCampaign(ctx context.Context, r *CampaignDuplicateRequest) (*Result, error) {
	return resultCall(ctx, c, PathCampaignsDuplicate, r)
}

// DuplicateCanvas calls POST /canvas/duplicate. Braze answers 202 and
// creates the copy asynchronously.
func (c *Client) DuplicateCanvas(ctx context.Context, r *CanvasDuplicateRequest) (*Result, error) {
	return resultCall(ctx, c, PathCanvasDuplicate, r)
}

// StartLiveActivity calls POST /messages/live_activity/start.
func (c *Client) StartLiveActivity(ctx context.Context, r *LiveActivityStartRequest) (*Result, error) {
	return resultCall(ctx, c, PathLiveActivityStart, r)
}

// UpdateLiveActivity calls POST /messages/live_activity/update.
func (c *Client) UpdateLiveActivity(ctx context.Context, r *LiveActivityUpdateRequest) (*Result, error) {
	return resultCall(ctx, c, PathLiveActivityUpdate, r)
}
