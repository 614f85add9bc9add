package brazetest

import (
	"encoding/json"
	"sort"
	"time"
)

// result is the successful outcome of a call's state step.
type result struct {
	env     envelope
	deliver bool // the named recipients are accepted for sending
	refund  bool // no new send id was created: give the daily charge back
	list    any  // the body of a GET answer
}

// apply checks a call against the workspace's state and, when it passes,
// changes the state (braze-api.md §5.17, §5.21, §5.28, §5.31, §5.32).
// Checks and changes happen under one lock, so concurrent calls see each
// other's effects in a consistent order.
func (s *Server) apply(ep *endpoint, ws *workspace, b *body, raw []byte, endTime string, now time.Time) (result, *failure) {
	switch ep.op {
	case opListScheduled:
		return s.listScheduled(ws, endTime, now)
	case opLiveStart:
		if f := ws.checkSegment(b.SegmentID); f != nil {
			return result{}, f
		}
		return result{deliver: true}, nil
	case opLiveUpdate:
		return result{}, nil
	case opDuplicate:
		if f := s.checkOwner(ep, ws, b); f != nil {
			return result{}, f
		}
		return result{}, ws.checkTags(b.TagNames)
	}

	st := s.store
	st.mu.Lock()
	defer st.mu.Unlock()
	switch ep.op {
	case opSendIDCreate:
		if f := ws.checkCampaign(b.CampaignID); f != nil {
			return result{}, f
		}
		id := b.SendID
		if id == "" {
			id = "send-" + s.rnd.hex(8)
		}
		k := sendIDKey{ws.name, b.CampaignID, id}
		res := result{env: envelope{SendID: id}, refund: st.sendIDs[k]}
		st.sendIDs[k] = true
		return res, nil

	case opSend, opScheduleCreate:
		notice, f := s.checkTargets(ep, ws, b)
		if f != nil {
			return result{}, f
		}
		res := result{env: envelope{DispatchID: s.rnd.hex(16), Notice: notice}, deliver: notice == ""}
		if ep.family != famCanvas && b.CampaignID != "" {
			if b.SendID != "" && !st.sendIDs[sendIDKey{ws.name, b.CampaignID, b.SendID}] {
				return result{}, badRequest(labelInvalidSendID, "send_id %q was not created for campaign %q with /sends/id/create", b.SendID, b.CampaignID)
			}
			if ep.op == opSend && b.broadcast() {
				// Tracked broadcast: Braze names the send (braze-api.md §1.7).
				res.env.SendID = b.SendID
				if res.env.SendID == "" {
					res.env.SendID = "send-" + s.rnd.hex(8)
					st.sendIDs[sendIDKey{ws.name, b.CampaignID, res.env.SendID}] = true
				}
			}
		}
		if ep.op == opScheduleCreate {
			_, due, f := parseSchedule(b.Schedule)
			if f != nil {
				return result{}, f
			}
			res.env.ScheduleID = s.rnd.uuid()
			st.schedules[res.env.ScheduleID] = &Schedule{
				ScheduleID: res.env.ScheduleID, Workspace: ws.name, Endpoint: ep.path,
				CampaignID: b.CampaignID, CanvasID: b.CanvasID, DispatchID: res.env.DispatchID,
				Body: append(json.RawMessage(nil), raw...), Schedule: append(json.RawMessage(nil), b.Schedule...),
				Time: due, Created: now, Updated: now,
			}
		}
		return res, nil

	case opScheduleUpdate, opScheduleDelete:
		if f := s.checkOwner(ep, ws, b); f != nil {
			return result{}, f
		}
		sc := st.schedules[b.ScheduleID]
		switch {
		case sc == nil || sc.Workspace != ws.name || familyOf(sc.Endpoint) != ep.family:
			return result{}, badRequest(labelInvalidSchedule, "schedule_id %q matches no live schedule of this endpoint", b.ScheduleID)
		case sc.CampaignID != b.CampaignID && ep.family == famCampaigns:
			return result{}, badRequest(labelInvalidSchedule, "schedule_id %q belongs to another campaign", b.ScheduleID)
		case sc.CanvasID != b.CanvasID && ep.family == famCanvas:
			return result{}, badRequest(labelInvalidSchedule, "schedule_id %q belongs to another Canvas", b.ScheduleID)
		case !now.Before(sc.Time):
			delete(st.schedules, b.ScheduleID)
			return result{}, badRequest(labelInvalidSchedule, "schedule_id %q has already been sent", b.ScheduleID)
		}
		if ep.op == opScheduleDelete {
			delete(st.schedules, b.ScheduleID)
			return result{}, nil
		}
		return result{}, s.updateSchedule(ws, sc, b, now)
	}
	return result{}, nil
}

// checkTargets checks the ids a send or schedule-create names. It returns
// the notice of a paused or archived Canvas trigger.
func (s *Server) checkTargets(ep *endpoint, ws *workspace, b *body) (string, *failure) {
	switch ep.family {
	case famMessages:
		if f := ws.checkSegment(b.SegmentID); f != nil {
			return "", f
		}
		if b.CampaignID == "" {
			return "", nil
		}
		if f := ws.checkCampaign(b.CampaignID); f != nil {
			return "", f
		}
		return "", ws.checkVariants(b.CampaignID, b.Messages)
	case famCampaigns:
		return "", ws.checkCampaign(b.CampaignID)
	}
	state, f := ws.checkCanvas(b.CanvasID)
	if f != nil || ep.op != opSend {
		return "", f
	}
	switch state {
	case CanvasPaused:
		return noticeCanvasPaused, nil
	case CanvasArchived:
		return noticeCanvasArchived, nil
	}
	return "", nil
}

// checkOwner checks the campaign or Canvas named by a duplicate or a
// trigger schedule update/delete.
func (s *Server) checkOwner(ep *endpoint, ws *workspace, b *body) *failure {
	switch ep.family {
	case famCampaigns:
		return ws.checkCampaign(b.CampaignID)
	case famCanvas:
		_, f := ws.checkCanvas(b.CanvasID)
		return f
	}
	return nil
}

// updateSchedule applies an update call to sc. A trigger update replaces the
// schedule object; /messages/schedule/update replaces the schedule and/or
// the messages it carries. Callers hold the store lock.
func (s *Server) updateSchedule(ws *workspace, sc *Schedule, b *body, now time.Time) *failure {
	next := *sc
	if len(b.Messages) > 0 && next.CampaignID != "" {
		if f := ws.checkVariants(next.CampaignID, b.Messages); f != nil {
			return f
		}
	}
	if len(b.Schedule) > 0 && string(b.Schedule) != "null" {
		_, due, f := parseSchedule(b.Schedule)
		if f != nil {
			return f
		}
		body, err := setField(next.Body, "schedule", b.Schedule)
		if err != nil {
			return badRequest(labelBadRequest, "%v", err)
		}
		next.Body, next.Schedule, next.Time = body, append(json.RawMessage(nil), b.Schedule...), due
	}
	if len(b.Messages) > 0 {
		msgs, err := json.Marshal(b.Messages)
		if err != nil {
			return badRequest(labelBadRequest, "messages: %v", err)
		}
		body, err := setField(next.Body, "messages", msgs)
		if err != nil {
			return badRequest(labelBadRequest, "%v", err)
		}
		next.Body = body
	}
	next.Updated = now
	*sc = next
	return nil
}

// familyOf returns the family of a schedule-create endpoint path.
func familyOf(path string) family {
	if ep := endpointsByPath[path]; ep != nil {
		return ep.family
	}
	return -1
}

// broadcastEntry is one item of GET /messages/scheduled_broadcasts. The
// schedule_id field is this simulator's addition for API-created schedules,
// so that a client can reconcile them with its own records.
type broadcastEntry struct {
	Name         string   `json:"name"`
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	Tags         []string `json:"tags"`
	NextSendTime string   `json:"next_send_time"`
	ScheduleType string   `json:"schedule_type"`
	ScheduleID   string   `json:"schedule_id,omitempty"`
	at           time.Time
}

// listScheduled answers GET /messages/scheduled_broadcasts: the schedules
// due from now until end_time, read as midnight UTC of its date
// (braze-api.md §3.5), dashboard broadcasts and API-created ones alike.
func (s *Server) listScheduled(ws *workspace, endTime string, now time.Time) (result, *failure) {
	if endTime == "" {
		return result{}, badRequest(labelBadRequest, "end_time is required")
	}
	end, err := parseISO8601(endTime)
	if err != nil {
		return result{}, badRequest(labelBadRequest, "end_time %q is not an ISO-8601 time", endTime)
	}
	end = time.Date(end.Year(), end.Month(), end.Day(), 0, 0, 0, 0, time.UTC)
	var items []broadcastEntry
	for _, bc := range ws.broadcasts {
		at := bc.NextSendTime.UTC()
		if bc.Daily {
			for at.Before(now) {
				at = at.Add(24 * time.Hour)
			}
		}
		if at.Before(now) || at.After(end) {
			continue
		}
		tags := bc.Tags
		if tags == nil {
			tags = []string{}
		}
		items = append(items, broadcastEntry{
			Name: bc.Name, ID: bc.ID, Type: bc.Type, Tags: tags,
			NextSendTime: at.Format("2006-01-02T15:04:05-07:00"), ScheduleType: bc.ScheduleType, at: at,
		})
	}
	for _, sc := range s.store.liveSchedules(ws.name, now) {
		so, _, f := parseSchedule(sc.Schedule)
		if f != nil {
			continue
		}
		at, _ := parseISO8601(so.Time)
		if at.After(end) {
			continue
		}
		e := broadcastEntry{Type: "Campaign", ID: sc.CampaignID, Tags: []string{}, ScheduleID: sc.ScheduleID, at: at}
		if sc.CanvasID != "" {
			e.Type, e.ID, e.Name = "Canvas", sc.CanvasID, ws.canvases[sc.CanvasID].Name
		} else if sc.CampaignID != "" {
			e.Name = ws.campaigns[sc.CampaignID].Name
		} else {
			e.ID, e.Name = sc.ScheduleID, "API message"
		}
		switch {
		case so.AtOptimalTime:
			e.NextSendTime, e.ScheduleType = at.Format("2006-01-02T15:04:05"), scheduleTypeOptimal
		case so.InLocalTime:
			e.NextSendTime, e.ScheduleType = at.Format("2006-01-02T15:04:05"), scheduleTypeLocal
		default:
			e.NextSendTime, e.ScheduleType = at.Format("2006-01-02T15:04:05-07:00"), scheduleTypeCompanyTZ
		}
		items = append(items, e)
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].at.Before(items[j].at) })
	if items == nil {
		items = []broadcastEntry{}
	}
	return result{list: map[string]any{"scheduled_broadcasts": items}}, nil
}
