// Package event is the gateway's shared vocabulary: a Kafka record decoded as
// a CloudEvents 1.0 messaging event (structured or binary mode), the table of
// event types and the Braze endpoint each one calls, the dead-letter reasons,
// and the batching key and recipient list of batchable events.
//
// It is a leaf package: it imports no Kafka client, no metrics and no logger,
// and it does not validate a request body against Braze's rules (package
// braze/rules does that).
package event
