package event

import "time"

// DeadLetter says why a record goes to the dead-letter topic; it becomes the
// dlq.* headers of DESIGN.md §3.
type DeadLetter struct {
	Reason Reason
	// Status is the last HTTP status from Braze (0: none).
	Status int
	// Error is a one-line cause (at most 1 KiB; never an API key or a profile).
	Error string
	// Response is Braze's response body, if any (truncated to 4 KiB when written).
	Response []byte
	// Attempts is the number of Braze calls made for the event.
	Attempts int
	// FirstAttempt is when the first Braze call started (zero: none).
	FirstAttempt time.Time
	// FailedAt is when the event was given up.
	FailedAt time.Time
}

// Outcome values of the results topic.
const (
	OutcomeSent         = "sent"
	OutcomeDeadLettered = "dead_lettered"
	OutcomeExpired      = "expired"
	OutcomeDuplicate    = "duplicate"
)

// Result is one record of the results topic (DESIGN.md §3): the final
// outcome of one event, keyed by ResultKey(source, id).
type Result struct {
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Outcome     string    `json:"outcome"`
	Reason      Reason    `json:"reason,omitempty"`
	DispatchID  string    `json:"dispatch_id,omitempty"`
	ScheduleID  string    `json:"schedule_id,omitempty"`
	SendID      string    `json:"send_id,omitempty"`
	Status      int       `json:"status,omitempty"`
	Attempts    int       `json:"attempts"`
	BatchSize   int       `json:"batch_size,omitempty"`
	CompletedAt time.Time `json:"completed_at"`
	// Workspace and ScheduleKey let the gateway rebuild its schedule-key
	// index from the results topic.
	Workspace   string `json:"workspace,omitempty"`
	ScheduleKey string `json:"schedule_key,omitempty"`
}

// ResultKey is the results-topic key of an event: source + "/" + id.
func ResultKey(source, id string) string { return source + "/" + id }
