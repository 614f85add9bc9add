// Package embedded runs the gateway's dependencies in-process: an
// in-memory Kafka-protocol broker (franz-go's kfake) that any Kafka client
// can reach over TCP, and the topics the gateway needs. It serves the dev
// mode of cmd/gateway and the integration tests; it is not for production.
package embedded

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brazegw/gateway/topics"
)

// Kafka is an in-process Kafka broker.
type Kafka struct {
	c *kfake.Cluster
}

// StartKafka starts a single-broker cluster listening on addr (host must be
// 127.0.0.1; port 0 picks a free port).
func StartKafka(addr string) (*Kafka, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: address %q: %w", addr, err)
	}
	if host != "127.0.0.1" && host != "localhost" {
		return nil, fmt.Errorf("embedded kafka: listens on 127.0.0.1 only, not %q", host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: port %q: %w", portStr, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(3),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(500*time.Millisecond),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: %w", err)
	}
	return &Kafka{c: c}, nil
}

// Addrs returns the broker addresses.
func (k *Kafka) Addrs() []string { return k.c.ListenAddrs() }

// Cluster returns the kfake cluster, for tests that inject broker behaviour.
func (k *Kafka) Cluster() *kfake.Cluster { return k.c }

// Close stops the broker; its data is lost.
func (k *Kafka) Close() { k.c.Close() }

// Topic describes a topic to create.
type Topic struct {
	Name       string
	Partitions int
	// Compacted topics keep the latest record per key (results, schedule keys).
	Compacted bool
}

// CreateTopics creates the topics that do not exist yet, on any broker.
func CreateTopics(ctx context.Context, brokers []string, ts ...Topic) error {
	specs := make([]topics.Spec, len(ts))
	for i, t := range ts {
		specs[i] = topics.Spec{Name: t.Name, Partitions: t.Partitions, Compacted: t.Compacted}
		if specs[i].Partitions == 0 {
			specs[i].Partitions = 3
		}
	}
	return topics.Create(ctx, brokers, nil, specs)
}
