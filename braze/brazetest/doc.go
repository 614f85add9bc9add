// Package brazetest is an in-process simulator of Braze's REST messaging API,
// modelled on net/http/httptest: NewServer starts it on a loopback port and
// any Braze client pointed at its URL gets the answers Braze documents
// (braze-api.md): the same status codes, error labels, response fields and
// X-RateLimit-* headers, enforced in the documented order
// (path → key → permission → content type → JSON → rate budgets → request
// rules → workspace state).
//
// The structural request rules and the classification of a call into rate
// budgets come from package braze/rules; this package adds everything that
// needs state: workspaces and their keys, campaigns, Canvases, variations,
// segments and tags, per-workspace fixed-window budgets, send ids, schedules,
// and a record of every request and of every recipient accepted for sending.
// Faults (error rates, latency, 429 storms, outages, timeouts, connection
// resets, per-recipient and whole-request rejections, auth failures) can be
// set at start and changed at run time.
//
// A small admin API under /_sim/ (a prefix Braze never uses) exposes the
// record, the schedules and the faults over HTTP, for the standalone
// cmd/brazesim.
//
// The package deliberately imports nothing but the standard library and
// braze/rules: it exports no metrics and does no logging; Stats offers a
// snapshot for callers that do.
package brazetest
