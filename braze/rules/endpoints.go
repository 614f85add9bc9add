package rules

import (
	"strconv"
	"strings"
)

// endpoint identifies one of the messaging endpoints.
type endpoint int

const (
	epUnknown endpoint = iota
	epMessagesSend
	epCampaignsTriggerSend
	epCanvasTriggerSend
	epSendsIDCreate
	epMessagesScheduleCreate
	epMessagesScheduleUpdate
	epMessagesScheduleDelete
	epCampaignsScheduleCreate
	epCampaignsScheduleUpdate
	epCampaignsScheduleDelete
	epCanvasScheduleCreate
	epCanvasScheduleUpdate
	epCanvasScheduleDelete
	epCampaignsDuplicate
	epCanvasDuplicate
	epLiveActivityStart
	epLiveActivityUpdate
	epScheduledBroadcasts // the only GET; it has no body
)

// Paths of the messaging endpoints (braze-api.md §3).
const (
	PathMessagesSend            = "/messages/send"
	PathCampaignsTriggerSend    = "/campaigns/trigger/send"
	PathCanvasTriggerSend       = "/canvas/trigger/send"
	PathSendsIDCreate           = "/sends/id/create"
	PathScheduledBroadcasts     = "/messages/scheduled_broadcasts"
	PathMessagesScheduleCreate  = "/messages/schedule/create"
	PathMessagesScheduleUpdate  = "/messages/schedule/update"
	PathMessagesScheduleDelete  = "/messages/schedule/delete"
	PathCampaignsScheduleCreate = "/campaigns/trigger/schedule/create"
	PathCampaignsScheduleUpdate = "/campaigns/trigger/schedule/update"
	PathCampaignsScheduleDelete = "/campaigns/trigger/schedule/delete"
	PathCanvasScheduleCreate    = "/canvas/trigger/schedule/create"
	PathCanvasScheduleUpdate    = "/canvas/trigger/schedule/update"
	PathCanvasScheduleDelete    = "/canvas/trigger/schedule/delete"
	PathCampaignsDuplicate      = "/campaigns/duplicate"
	PathCanvasDuplicate         = "/canvas/duplicate"
	PathLiveActivityStart       = "/messages/live_activity/start"
	PathLiveActivityUpdate      = "/messages/live_activity/update"
)

// Endpoints returns the paths of the 17 POST endpoints Check knows, in the
// order of braze-api.md §3. The slice is the caller's.
func Endpoints() []string {
	return []string{
		PathMessagesSend, PathCampaignsTriggerSend, PathCanvasTriggerSend, PathSendsIDCreate,
		PathMessagesScheduleCreate, PathMessagesScheduleUpdate, PathMessagesScheduleDelete,
		PathCampaignsScheduleCreate, PathCampaignsScheduleUpdate, PathCampaignsScheduleDelete,
		PathCanvasScheduleCreate, PathCanvasScheduleUpdate, PathCanvasScheduleDelete,
		PathCampaignsDuplicate, PathCanvasDuplicate, PathLiveActivityStart, PathLiveActivityUpdate,
	}
}

// lookup maps a POST path to its endpoint. The GET path is not a body
// endpoint and maps to epUnknown.
func lookup(path string) endpoint {
	switch path {
	case PathMessagesSend:
		return epMessagesSend
	case PathCampaignsTriggerSend:
		return epCampaignsTriggerSend
	case PathCanvasTriggerSend:
		return epCanvasTriggerSend
	case PathSendsIDCreate:
		return epSendsIDCreate
	case PathMessagesScheduleCreate:
		return epMessagesScheduleCreate
	case PathMessagesScheduleUpdate:
		return epMessagesScheduleUpdate
	case PathMessagesScheduleDelete:
		return epMessagesScheduleDelete
	case PathCampaignsScheduleCreate:
		return epCampaignsScheduleCreate
	case PathCampaignsScheduleUpdate:
		return epCampaignsScheduleUpdate
	case PathCampaignsScheduleDelete:
		return epCampaignsScheduleDelete
	case PathCanvasScheduleCreate:
		return epCanvasScheduleCreate
	case PathCanvasScheduleUpdate:
		return epCanvasScheduleUpdate
	case PathCanvasScheduleDelete:
		return epCanvasScheduleDelete
	case PathCampaignsDuplicate:
		return epCampaignsDuplicate
	case PathCanvasDuplicate:
		return epCanvasDuplicate
	case PathLiveActivityStart:
		return epLiveActivityStart
	case PathLiveActivityUpdate:
		return epLiveActivityUpdate
	}
	return epUnknown
}

// lookupCall maps a method and a path (a query string is ignored) to an
// endpoint; the GET endpoint is included.
func lookupCall(method, path string) endpoint {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	switch strings.ToUpper(method) {
	case "GET":
		if path == PathScheduledBroadcasts {
			return epScheduledBroadcasts
		}
	case "POST":
		return lookup(path)
	}
	return epUnknown
}

func itoa(n int) string { return strconv.Itoa(n) }
