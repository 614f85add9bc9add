// Package rules holds Braze's structural request rules for the messaging
// endpoints (braze-api.md §5) and the classification of a call into the
// rate-limit budgets it draws from (§2).
//
// Check validates the JSON body of one of the 17 POST endpoints against every
// rule that can be decided from the body alone: JSON shape, required fields,
// targeting and broadcast rules, recipient caps and recipient objects, user
// aliases, send_id, the 50 KB limit of trigger_properties and context,
// attachments, live-activity targeting, connected-audience filters, schedule
// objects, and the per-channel rules of the messaging objects (required
// fields, enumerations, extra payloads, push length limits, Content Card
// expiry). A broken rule is reported as a *Violation whose Label is Braze's
// documented error label where one exists. Recipients counts the explicit
// recipients of a body, IsBroadcast tells a broadcast call from one that
// names its users, and Classify, DefaultLimits and WindowStart describe
// Braze's budgets with their fixed, clock-aligned windows.
//
// What it does not do: it knows no workspace. It never checks that a
// campaign, Canvas, segment, message variation, tag, send ID or schedule
// exists or belongs together ("Invalid Campaign ID", "Invalid Message
// Variant", "Mismatched Message Type" and unknown schedule IDs are the
// simulator's business), it does not count requests against the budgets
// (package ratelimit does), it checks neither authentication, permissions nor
// Content-Type, and it cannot see limits that apply after rendering (Liquid,
// attachment sizes, the provider's final payload size).
//
// Known approximations, kept deliberately simple:
//   - The documented keys of a body, a recipient, a messaging object or a
//     schedule are matched the way encoding/json matches struct fields, that
//     is case-insensitively ("Broadcast" counts as broadcast); Braze matches
//     them exactly. Channel names, audience filters and the reserved keys of
//     extra are matched exactly.
//   - A field is type-checked only by the endpoints that document it; other
//     keys are ignored, as Braze ignores them.
//   - The Apple push length is measured on the whole apple_push object as
//     sent (without insignificant whitespace), the Android one on alert plus
//     extra, as the documentation words it.
//   - Audience keys of Classify keep JSON numbers literally: 1 and 1.0 are
//     different audiences.
//
// The gateway uses the package for pre-flight validation and budgeting, the
// simulator (braze/brazetest) to answer like Braze. All functions are safe for
// concurrent use; none panics on any input.
package rules
