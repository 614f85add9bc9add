package deadletter

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
)

// TestWriterRetriesAfterABrokerError: when the broker answers a write with
// an error kafka-go does not retry itself (here: topic authorization
// failed, once), the writer writes the record again and reports success
// once it is acknowledged.
func TestWriterRetriesAfterABrokerError(t *testing.T) {
	k, ctx := startKafka(t, 30*time.Second, embedded.Topic{Name: "retry-dlq", Partitions: 1},
		embedded.Topic{Name: "retry-results", Partitions: 1, Compacted: true})
	const topicAuthorizationFailed = 29 // not retriable for kafka-go
	refused := make(chan struct{})
	k.Cluster().ControlKey(int16(kmsg.Produce), func(kr kmsg.Request) (kmsg.Response, error, bool) {
		req := kr.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = topicAuthorizationFailed
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		close(refused) // the control runs once
		return resp, nil, true
	})

	cfg := DefaultConfig()
	cfg.Brokers, cfg.DLQTopic, cfg.ResultsTopic = k.Addrs(), "retry-dlq", "retry-results"
	w, err := New(cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	done := make(chan error, 1)
	rec := &event.Record{Topic: "braze.trigger", Partition: 2, Offset: 40, Key: []byte("user-1"), Value: []byte(`{}`)}
	w.DeadLetter(rec, &event.DeadLetter{Reason: event.ReasonRejected, FailedAt: time.Now()}, AckFunc(func(err error) { done <- err }))
	select {
	case <-refused:
	case <-ctx.Done():
		t.Fatal("the broker never saw the write")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dead letter not written after the broker refused it once: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("dead letter not acknowledged within 30s")
	}
}
