package gwtest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Produce publishes msgs to topic and waits for the broker's acknowledgement.
// A message with a "partition" entry in WriterData (an int) goes to that
// partition; others are partitioned by key (murmur2) or spread.
func (e *Env) Produce(topic string, msgs ...kafka.Message) {
	e.T.Helper()
	w := &kafka.Writer{
		Addr:         kafka.TCP(e.Brokers...),
		Topic:        topic,
		Balancer:     balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    1000,
		BatchBytes:   64 << 20,
		BatchTimeout: 5 * time.Millisecond,
	}
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for len(msgs) > 0 {
		n := min(len(msgs), 5000)
		must(e.T, w.WriteMessages(ctx, msgs[:n]...), "produce to "+topic)
		msgs = msgs[n:]
	}
}

// ToPartition returns WriterData that sends a message to partition p.
func ToPartition(p int) any { return partitionChoice(p) }

type partitionChoice int

type balancer struct{}

func (balancer) Balance(m kafka.Message, partitions ...int) int {
	if p, ok := m.WriterData.(partitionChoice); ok {
		return int(p)
	}
	if len(m.Key) == 0 {
		return partitions[int(time.Now().UnixNano())%len(partitions)]
	}
	return (&kafka.Murmur2Balancer{}).Balance(m, partitions...)
}

// ReadAll reads every record of topic from the beginning until n records
// have been read (or timeout passes, which fails the test).
func (e *Env) ReadAll(topic string, n int, timeout time.Duration) []kafka.Message {
	e.T.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := e.ReadNow(topic)
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("timed out after %v: %s holds %d records, want %d", timeout, topic, len(out), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ReadNow reads every record currently in topic.
func (e *Env) ReadNow(topic string) []kafka.Message {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for p, end := range e.endOffsets(ctx, topic) {
		if end == 0 {
			continue
		}
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: e.Brokers, Topic: topic, Partition: p, MaxWait: 100 * time.Millisecond})
		for {
			m, err := r.ReadMessage(ctx)
			if err != nil {
				e.T.Fatalf("read %s/%d: %v", topic, p, err)
			}
			out = append(out, m)
			if m.Offset+1 >= end {
				break
			}
		}
		r.Close()
	}
	return out
}

// endOffsets returns the high watermark of each partition of topic.
func (e *Env) endOffsets(ctx context.Context, topic string) map[int]int64 {
	e.T.Helper()
	cl := &kafka.Client{Addr: kafka.TCP(e.Brokers...)}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	must(e.T, err, "metadata "+topic)
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	must(e.T, err, "list offsets "+topic)
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			e.T.Fatalf("list offsets %s/%d: %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// Uncommitted returns, for the group, how many records of each topic are
// past its committed offsets ("topic/partition" → count); empty means the
// group has committed everything.
func (e *Env) Uncommitted(group string, topics ...string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(e.Brokers...)}
	ends := map[string]map[int]int64{}
	req := map[string][]int{}
	for _, t := range topics {
		ends[t] = e.endOffsets(ctx, t)
		for p := range ends[t] {
			req[t] = append(req[t], p)
		}
	}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: req})
	if err != nil {
		return nil, fmt.Errorf("offset fetch: %w", err)
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	out := map[string]int64{}
	for t, ps := range resp.Topics {
		for _, p := range ps {
			if p.Error != nil && !errors.Is(p.Error, kafka.UnknownTopicOrPartition) {
				return nil, p.Error
			}
			committed := max(p.CommittedOffset, 0)
			if d := ends[t][p.Partition] - committed; d > 0 {
				out[t+"/"+strconv.Itoa(p.Partition)] = d
			}
		}
	}
	return out, nil
}

// WaitCommitted waits until the group has committed every record of topics.
func (e *Env) WaitCommitted(t testing.TB, group string, timeout time.Duration, topics ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		last, err := e.Uncommitted(group, topics...)
		if err == nil && len(last) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: group %s has uncommitted records: %v (err %v)", timeout, group, last, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Header returns the value of header key of m.
func Header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
