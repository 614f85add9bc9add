// Package consumer reads the gateway's topics as a member of a Kafka
// consumer group (kafka-go), decodes each record as a CloudEvent, keeps
// per-key order (a record waits while an earlier record with the same Kafka
// key or schedule key is unfinished), lets the records of a partition be
// processed concurrently, and commits, per partition, only the highest offset
// below which every record's outcome is durable. Offsets of a partition that
// was taken away by a rebalance are never committed by the old owner after
// its generation has drained.
//
// It knows nothing of Braze: what happens to a record is the Handler's
// business, and the Handler reports back through Message.Done.
package consumer
