package event

import (
	"errors"
	"fmt"
)

// Reason is why an event was dead-lettered: the value of the dlq.reason
// header and of the "reason" metric label. The set is part of the contract.
type Reason string

// Dead-letter reasons, in the order DESIGN.md §4b gives precedence to them.
const (
	ReasonInvalidEvent        Reason = "invalid_event"
	ReasonUnknownType         Reason = "unknown_type"
	ReasonTooLarge            Reason = "too_large"
	ReasonBroadcastNotAllowed Reason = "broadcast_not_allowed"
	ReasonInvalidRequest      Reason = "invalid_request"
	ReasonScheduleKeyUnknown  Reason = "schedule_key_unknown"
	ReasonExpired             Reason = "expired"
	ReasonRejected            Reason = "rejected"
	ReasonRetriesExhausted    Reason = "retries_exhausted"
	ReasonRouteError          Reason = "route_error"
	ReasonNoRoute             Reason = "no_route"
)

// Reasons lists every reason, so that metrics can be initialised at zero.
func Reasons() []Reason {
	return []Reason{
		ReasonInvalidEvent, ReasonUnknownType, ReasonTooLarge, ReasonBroadcastNotAllowed,
		ReasonInvalidRequest, ReasonScheduleKeyUnknown, ReasonExpired, ReasonRejected,
		ReasonRetriesExhausted, ReasonRouteError, ReasonNoRoute,
	}
}

// Error is an event the gateway refuses before calling Braze. Reason says
// which dead-letter reason applies; the message is one line and never holds
// the record's content beyond the offending attribute's name.
type Error struct {
	Reason Reason
	Msg    string
}

// Error implements error.
func (e *Error) Error() string { return string(e.Reason) + ": " + e.Msg }

// Errorf returns an *Error with reason r.
func Errorf(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Msg: fmt.Sprintf(format, args...)}
}

// ReasonOf returns the reason carried by err, if it is (or wraps) an *Error.
func ReasonOf(err error) (Reason, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason, true
	}
	return "", false
}
