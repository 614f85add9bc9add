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

// ReadNow reads every record currently in topic. Errors a real cluster
// answers for a while (no leader yet for a new topic, a leader moving) are
// retried for up to 20 s.
func (e *Env) ReadNow(topic string) []kafka.Message {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := e.waitEndOffsets(ctx, topic, false)
	must(e.T, err, "end offsets of "+topic)
	var out []kafka.Message
	for p, end := range ends {
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

// EndOffsets returns the end offset (high watermark) of every partition of
// topic; none if the topic does not exist. Errors a real cluster answers
// for a while are retried for up to 20 s.
func (e *Env) EndOffsets(topic string) map[int]int64 {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := e.waitEndOffsets(ctx, topic, false)
	must(e.T, err, "end offsets of "+topic)
	return ends
}

// waitEndOffsets returns endOffsets, retrying its errors until ctx ends. A
// topic that does not exist has no partitions, unless mustExist.
func (e *Env) waitEndOffsets(ctx context.Context, topic string, mustExist bool) (map[int]int64, error) {
	for {
		ends, err := e.endOffsets(ctx, topic)
		if err == nil {
			return ends, nil
		}
		if !mustExist && errors.Is(err, errNoTopic) {
			return map[int]int64{}, nil
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freshClient returns a client with a transport of its own, and a function
// that closes its connections. kafka-go answers Client.Metadata from its
// transport's cache (refreshed every 6 s), and clients without a transport
// share one for the whole process: after another process created a topic
// or a leader moved, they report the old state for up to 6 s.
func freshClient(brokers []string) (*kafka.Client, func()) {
	tr := &kafka.Transport{}
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 5 * time.Second, Transport: tr}, tr.CloseIdleConnections
}

// errNoTopic is the error of endOffsets for a topic that does not exist.
var errNoTopic = errors.New("no such topic")

// endOffsets returns the high watermark of each partition of topic. It
// fails unless every partition has a leader that answers.
func (e *Env) endOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	cl, done := freshClient(e.Brokers)
	defer done()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", topic, err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("metadata %s: %w (%w)", topic, errNoTopic, t.Error)
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
		}
	}
	if len(req[topic]) == 0 {
		return nil, fmt.Errorf("metadata %s: no partitions", topic)
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("list offsets %s: %w", topic, err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("list offsets %s/%d: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// waitTopics waits until every partition of topics has a leader that
// answers. A real broker elects the leaders of a new topic a moment after
// CreateTopics returns; until then reads and writes fail with "not leader"
// or "leader not available".
func (e *Env) waitTopics(ctx context.Context, topics ...string) error {
	for _, t := range topics {
		if _, err := e.waitEndOffsets(ctx, t, true); err != nil {
			return err
		}
	}
	return nil
}

// Uncommitted returns, for the group, how many records of each topic are
// past its committed offsets ("topic/partition" → count); empty means the
// group has committed everything.
func (e *Env) Uncommitted(group string, topics ...string) (map[string]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, done := freshClient(e.Brokers)
	defer done()
	ends := map[string]map[int]int64{}
	req := map[string][]int{}
	for _, t := range topics {
		var err error
		if ends[t], err = e.endOffsets(ctx, t); errors.Is(err, errNoTopic) {
			ends[t] = map[int]int64{}
		} else if err != nil {
			return nil, err
		}
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
