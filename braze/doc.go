// Package braze is a client for Braze's REST messaging API: every endpoint of
// the messaging family, typed requests and responses, rate-limit headers and
// typed errors that say whether a failed call may be retried, until when
// Braze asks the caller to wait, or whether the request was rejected.
//
// Each endpoint has a method on Client taking a typed request, for example
// SendMessages (POST /messages/send), TriggerCampaign, TriggerCanvas,
// ScheduleMessages or StartLiveActivity; Endpoints lists all 18 with the key
// permission each needs. Request types follow Braze's JSON names exactly.
// Optional flags whose absence Braze distinguishes from false are *bool (see
// Bool), and free-form objects (trigger_properties, context, audience,
// messages, attributes) are json.RawMessage, passed through unchanged. Post
// and Get remain available for bodies that already are Braze JSON.
//
// Any 2xx answer is success, including the legacy 202 {"message":"queued"}
// (Result.Queued). Success means accepted, not delivered: Result.Errors lists
// the non-fatal problems Braze reported, and a paused Canvas is reported in
// SendResponse.Notice. Every other outcome is an *Error: Retryable for 429,
// 5xx and transport failures, AuthFailure for 401/403, Rejected for other
// 4xx, with RetryAt derived from X-RateLimit-Reset or Retry-After. The API
// key never appears in errors, and is redacted from response bodies should a
// server echo it.
//
// It deliberately knows nothing of Kafka, metrics or logging, and it does not
// retry, validate requests against Braze's rules (package braze/rules does)
// or limit its own rate: it is a plain HTTP client that the gateway, a
// backfill tool or a test can use alike. The sibling package brazetest is an
// in-process simulator of the same API.
package braze
