package deadletter

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/event"
)

// TestSyncWaitsForTheTopic: Sync keeps asking while the results topic
// cannot answer (here: it does not exist yet, as on a real broker for a
// moment after it is created) and returns once it can; it gives up only
// when its context ends.
func TestSyncWaitsForTheTopic(t *testing.T) {
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)

	tests := []struct {
		name   string
		create bool // create the topic once Sync has failed once
		want   error
	}{
		{name: "topic appears", create: true, want: nil},
		{name: "context ends", create: false, want: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topic := "sync-" + tc.name
			failed := make(chan struct{}, 1)
			log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zapcore.DebugLevel), zap.Hooks(func(e zapcore.Entry) error {
				if e.Level == zapcore.WarnLevel {
					select {
					case failed <- struct{}{}:
					default:
					}
				}
				return nil
			}))
			f := NewFollower(k.Addrs(), topic, nil, func(*event.Result) {}, log)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- f.Sync(ctx) }()

			select {
			case <-failed:
			case err := <-done:
				t.Fatalf("Sync returned %v before the topic could answer", err)
			}
			if tc.create {
				if err := embedded.CreateTopics(ctx, k.Addrs(), embedded.Topic{Name: topic, Partitions: 2, Compacted: true}); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-done; !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Sync = %v, want %v", err, tc.want)
			}
		})
	}
}
