package brazetest

import "net/http"

// op is what an endpoint does to the simulator's state.
type op int

const (
	opSend           op = iota // /messages/send, trigger sends
	opScheduleCreate           // the three schedule-create endpoints
	opScheduleUpdate
	opScheduleDelete
	opSendIDCreate
	opDuplicate
	opLiveStart
	opLiveUpdate
	opListScheduled
)

// family is whose ids an endpoint works with.
type family int

const (
	famMessages family = iota
	famCampaigns
	famCanvas
)

// endpoint is one Braze messaging endpoint (braze-api.md §1.3, §3).
type endpoint struct {
	path       string
	method     string
	permission string
	op         op
	family     family
	success    int // status of a successful answer
}

// endpoints lists every simulated endpoint.
var endpoints = []endpoint{
	{"/messages/send", http.MethodPost, "messages.send", opSend, famMessages, http.StatusCreated},
	{"/campaigns/trigger/send", http.MethodPost, "campaigns.trigger.send", opSend, famCampaigns, http.StatusCreated},
	{"/canvas/trigger/send", http.MethodPost, "canvas.trigger.send", opSend, famCanvas, http.StatusCreated},
	{"/sends/id/create", http.MethodPost, "sends.id.create", opSendIDCreate, famCampaigns, http.StatusCreated},
	{"/messages/scheduled_broadcasts", http.MethodGet, "messages.schedule_broadcasts", opListScheduled, famMessages, http.StatusOK},
	{"/messages/schedule/create", http.MethodPost, "messages.schedule.create", opScheduleCreate, famMessages, http.StatusCreated},
	{"/messages/schedule/update", http.MethodPost, "messages.schedule.update", opScheduleUpdate, famMessages, http.StatusCreated},
	{"/messages/schedule/delete", http.MethodPost, "messages.schedule.delete", opScheduleDelete, famMessages, http.StatusCreated},
	{"/campaigns/trigger/schedule/create", http.MethodPost, "campaigns.trigger.schedule.create", opScheduleCreate, famCampaigns, http.StatusCreated},
	{"/campaigns/trigger/schedule/update", http.MethodPost, "campaigns.trigger.schedule.update", opScheduleUpdate, famCampaigns, http.StatusCreated},
	{"/campaigns/trigger/schedule/delete", http.MethodPost, "campaigns.trigger.schedule.delete", opScheduleDelete, famCampaigns, http.StatusCreated},
	{"/canvas/trigger/schedule/create", http.MethodPost, "canvas.trigger.schedule.create", opScheduleCreate, famCanvas, http.StatusCreated},
	{"/canvas/trigger/schedule/update", http.MethodPost, "canvas.trigger.schedule.update", opScheduleUpdate, famCanvas, http.StatusCreated},
	{"/canvas/trigger/schedule/delete", http.MethodPost, "canvas.trigger.schedule.delete", opScheduleDelete, famCanvas, http.StatusCreated},
	{"/campaigns/duplicate", http.MethodPost, "campaigns.duplicate", opDuplicate, famCampaigns, http.StatusAccepted},
	{"/canvas/duplicate", http.MethodPost, "canvas.duplicate", opDuplicate, famCanvas, http.StatusAccepted},
	{"/messages/live_activity/start", http.MethodPost, "messages.live_activity.start", opLiveStart, famMessages, http.StatusCreated},
	{"/messages/live_activity/update", http.MethodPost, "messages.live_activity.update", opLiveUpdate, famMessages, http.StatusCreated},
}

// endpointsByPath indexes endpoints by exact path.
var endpointsByPath = func() map[string]*endpoint {
	m := make(map[string]*endpoint, len(endpoints))
	for i := range endpoints {
		m[endpoints[i].path] = &endpoints[i]
	}
	return m
}()

// knownPermission reports whether p is the permission of some endpoint.
func knownPermission(p string) bool {
	for _, e := range endpoints {
		if e.permission == p {
			return true
		}
	}
	return false
}

// liveActivity reports whether 4xx answers of e use the {"error": …} shape.
func (e *endpoint) liveActivity() bool { return e.op == opLiveStart || e.op == opLiveUpdate }
