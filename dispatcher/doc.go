// Package dispatcher turns validated messaging events into Braze calls: it
// coalesces batchable events with equal batching keys into one request (at
// most 50 recipients, never the same recipient twice), waits on the rate
// budgets, calls Braze on a bounded pool of workers, retries what can be
// retried without holding up other work, isolates rejected recipients by
// splitting a rejected batch, and reports one final Result per event.
//
// It knows no Kafka: events come in through Submit with a completion
// callback, and what happens to a dead-lettered event (the dead-letter topic)
// is the caller's business.
package dispatcher
