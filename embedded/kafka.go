// Package embedded runs the gateway's dependencies in-process: an
// in-memory Kafka-protocol broker (franz-go's kfake) that any Kafka client
// can reach over TCP, and the topics the gateway needs. It serves the dev
// mode of cmd/gateway and the integration tests; it is not for production.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
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
func CreateTopics(ctx context.Context, brokers []string, topics ...Topic) error {
	cl := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: -1}
		if tc.NumPartitions == 0 {
			tc.NumPartitions = 3
		}
		if t.Compacted {
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
