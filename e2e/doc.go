// Package e2e holds the gateway's end-to-end tests: events published to
// Kafka (the embedded broker, or a real cluster when KAFKA_BROKERS is set)
// flow through the gateway to the Braze simulator, and the tests assert
// what the simulator received, what the dead-letter and results topics hold
// and what the consumer group committed.
package e2e
