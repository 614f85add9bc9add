package braze

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Result is what every typed call returns for an accepted (2xx) request.
// Accepted means handed to Braze's pipeline, not delivered: inspect Errors
// (and Notice on Canvas triggers) for items Braze skipped.
type Result struct {
	// Status is the HTTP status: 200, 201 or 202 in practice.
	Status int
	// RateLimit is what the X-RateLimit-* headers said.
	RateLimit RateLimit
	// Message is "success", or "queued" for the legacy maintenance answer.
	Message string
	// Errors are the non-fatal problems Braze listed; the rest was processed.
	Errors []MinorError
	// Body is the raw answer, with the API key redacted should it appear.
	Body []byte
}

// Queued reports whether Braze answered with the legacy maintenance
// response (202 {"message":"queued"}): the request was stored and will be
// processed later. It counts as accepted and must not be sent again.
func (r *Result) Queued() bool { return r.Message == "queued" }

// SendResponse is the answer of /messages/send, /campaigns/trigger/send and
// /canvas/trigger/send.
type SendResponse struct {
	Result
	// DispatchID identifies the send; one ID covers the whole batch.
	DispatchID string
	// SendID is set for tracked broadcast sends.
	SendID string
	// Notice is set by /canvas/trigger/send when the Canvas is paused or
	// archived; then nothing was sent although the call succeeded.
	Notice string
}

// ScheduleResponse is the answer of the three schedule-create endpoints.
type ScheduleResponse struct {
	Result
	DispatchID string
	// ScheduleID is the only handle for later update and delete calls.
	ScheduleID string
	// SendID is set when Braze tracks the send.
	SendID string
}

// SendIDResponse is the answer of /sends/id/create.
type SendIDResponse struct {
	Result
	// SendID is the created (or requested) send ID.
	SendID string
}

// ScheduledBroadcastsResponse is the answer of GET /messages/scheduled_broadcasts.
type ScheduledBroadcastsResponse struct {
	Result
	ScheduledBroadcasts []ScheduledBroadcast
}

// newResult extracts the fields shared by every typed answer.
func newResult(r *Response) Result {
	return Result{
		Status:    r.Status,
		RateLimit: r.RateLimit,
		Message:   r.Envelope.Message,
		Errors:    r.Envelope.MinorErrors(),
		Body:      r.Body,
	}
}

// MinorError is one entry of the "errors" list of a Braze answer. Braze
// documents plain strings; some answers carry objects such as
// {"type": "...", "input_array": "recipients", "index": 3} that point at the
// offending item of the request. Both forms are parsed; Raw keeps the entry
// as sent.
type MinorError struct {
	// Raw is the entry exactly as Braze sent it.
	Raw json.RawMessage
	// Text is the string entry, or an object's "message", "error" or "type"
	// (the first present), or the raw JSON of any other value.
	Text string
	// Type is an object's "type" field.
	Type string
	// InputArray names the request array the entry refers to.
	InputArray string
	// Index is the position in InputArray, when given.
	Index *int
}

// String renders the error on one line, naming the item it refers to.
func (e MinorError) String() string {
	switch {
	case e.InputArray != "" && e.Index != nil:
		return fmt.Sprintf("%s (%s[%d])", e.Text, e.InputArray, *e.Index)
	case e.InputArray != "":
		return fmt.Sprintf("%s (%s)", e.Text, e.InputArray)
	case e.Index != nil:
		return fmt.Sprintf("%s (index %d)", e.Text, *e.Index)
	}
	return e.Text
}

// MinorErrors parses Errors into MinorError values, strings and objects alike.
func (e Envelope) MinorErrors() []MinorError {
	if len(e.Errors) == 0 {
		return nil
	}
	out := make([]MinorError, 0, len(e.Errors))
	for _, raw := range e.Errors {
		out = append(out, parseMinorError(raw))
	}
	return out
}

// parseMinorError reads one entry leniently: a field of an unexpected type is
// skipped, never fatal.
func parseMinorError(raw json.RawMessage) MinorError {
	me := MinorError{Raw: raw}
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return me
	}
	switch b[0] {
	case '"':
		if err := json.Unmarshal(b, &me.Text); err != nil {
			me.Text = string(b)
		}
		return me
	case '{':
	default:
		me.Text = string(b)
		return me
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil {
		me.Text = string(b)
		return me
	}
	me.Type = stringField(obj, "type")
	me.InputArray = stringField(obj, "input_array")
	me.Index = intField(obj, "index")
	for _, k := range []string{"message", "error", "type"} {
		if s := stringField(obj, k); s != "" {
			me.Text = s
			break
		}
	}
	if me.Text == "" {
		me.Text = string(b)
	}
	return me
}

// stringField returns obj[k] if it is a JSON string.
func stringField(obj map[string]json.RawMessage, k string) string {
	var s string
	if v, ok := obj[k]; ok && json.Unmarshal(v, &s) == nil {
		return s
	}
	return ""
}

// intField returns obj[k] if it is an integer or a string holding one.
func intField(obj map[string]json.RawMessage, k string) *int {
	v, ok := obj[k]
	if !ok {
		return nil
	}
	var n int
	if json.Unmarshal(v, &n) == nil {
		return &n
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		if n, err := strconv.Atoi(s); err == nil {
			return &n
		}
	}
	return nil
}
