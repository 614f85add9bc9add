package deadletter

import (
	"context"
	"testing"
	"time"

	"github.com/brazegw/gateway/embedded"
)

// startKafka starts an embedded broker for the test with topics created;
// the context it returns bounds the test's Kafka calls.
func startKafka(t *testing.T, timeout time.Duration, topics ...embedded.Topic) (*embedded.Kafka, context.Context) {
	t.Helper()
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if len(topics) > 0 {
		if err := embedded.CreateTopics(ctx, k.Addrs(), topics...); err != nil {
			t.Fatal(err)
		}
	}
	return k, ctx
}
