package brazetest

import (
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// The admin API answers under /_sim/, a prefix Braze never uses; it needs no
// key, is never recorded and is never faulted:
//
//	GET  /_sim/requests                      recorded calls
//	GET  /_sim/deliveries[?recipient=ID]     deliveries (optionally of one recipient)
//	GET  /_sim/deliveries/count?recipient=ID {"recipient": ID, "count": n}
//	GET  /_sim/schedules                     live schedules
//	GET  /_sim/faults                        current faults
//	PUT  /_sim/faults                        replace the faults (body: faults JSON)
//	POST /_sim/reset                         forget recorded calls and deliveries
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /_sim/requests":
		reqs := s.Requests()
		out := make([]requestJSON, len(reqs))
		for i, q := range reqs {
			out[i] = newRequestJSON(q)
		}
		writeJSON(w, http.StatusOK, out)
	case "GET /_sim/deliveries":
		want := r.URL.Query().Get("recipient")
		out := []deliveryJSON{}
		for _, d := range s.Deliveries() {
			if want == "" || d.Recipient == want {
				out = append(out, deliveryJSON{d.Endpoint, d.Recipient, d.DispatchID, rawOrNull(d.Body), d.Request, d.Time})
			}
		}
		writeJSON(w, http.StatusOK, out)
	case "GET /_sim/deliveries/count":
		rc := r.URL.Query().Get("recipient")
		writeJSON(w, http.StatusOK, map[string]any{"recipient": rc, "count": s.DeliveryCount(rc)})
	case "GET /_sim/schedules":
		out := []scheduleJSON{}
		for _, sc := range s.Schedules() {
			out = append(out, scheduleJSON{sc.ScheduleID, sc.Workspace, sc.Endpoint, sc.CampaignID, sc.CanvasID,
				sc.DispatchID, rawOrNull(sc.Body), rawOrNull(sc.Schedule), sc.Time, sc.Created, sc.Updated})
		}
		writeJSON(w, http.StatusOK, out)
	case "GET /_sim/faults":
		writeJSON(w, http.StatusOK, s.Faults())
	case "PUT /_sim/faults":
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var f Faults
		if err := json.Unmarshal(b, &f); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		if err := f.Validate(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		s.SetFaults(f)
		writeJSON(w, http.StatusOK, s.Faults())
	case "POST /_sim/reset":
		s.Reset()
		writeJSON(w, http.StatusOK, map[string]string{"message": "reset"})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin route " + route})
	}
}

// requestJSON is a Request on the admin API: the body as JSON when it is
// JSON, as a string otherwise.
type requestJSON struct {
	Index      int             `json:"index"`
	Method     string          `json:"method"`
	Path       string          `json:"path"`
	Query      string          `json:"query,omitempty"`
	Status     int             `json:"status"`
	Fault      string          `json:"fault,omitempty"`
	Body       json.RawMessage `json:"body,omitempty"`
	Time       time.Time       `json:"time"`
	Workspace  string          `json:"workspace,omitempty"`
	DispatchID string          `json:"dispatch_id,omitempty"`
	ScheduleID string          `json:"schedule_id,omitempty"`
	SendID     string          `json:"send_id,omitempty"`
}

func newRequestJSON(q Request) requestJSON {
	out := requestJSON{Index: q.Index, Method: q.Method, Path: q.Path, Query: q.Query, Status: q.Status, Fault: q.Fault,
		Time: q.Time, Workspace: q.Workspace, DispatchID: q.DispatchID, ScheduleID: q.ScheduleID, SendID: q.SendID}
	switch {
	case len(q.Body) == 0:
	case json.Valid(q.Body):
		out.Body = q.Body
	default:
		out.Body, _ = json.Marshal(string(q.Body)) // a string always encodes
	}
	return out
}

type deliveryJSON struct {
	Endpoint   string          `json:"endpoint"`
	Recipient  string          `json:"recipient"`
	DispatchID string          `json:"dispatch_id"`
	Body       json.RawMessage `json:"body"`
	Request    int             `json:"request"`
	Time       time.Time       `json:"time"`
}

type scheduleJSON struct {
	ScheduleID string          `json:"schedule_id"`
	Workspace  string          `json:"workspace"`
	Endpoint   string          `json:"endpoint"`
	CampaignID string          `json:"campaign_id,omitempty"`
	CanvasID   string          `json:"canvas_id,omitempty"`
	DispatchID string          `json:"dispatch_id"`
	Body       json.RawMessage `json:"body"`
	Schedule   json.RawMessage `json:"schedule"`
	Time       time.Time       `json:"time"`
	Created    time.Time       `json:"created"`
	Updated    time.Time       `json:"updated"`
}

func rawOrNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encode"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
