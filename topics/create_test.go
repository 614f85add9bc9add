package topics

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestCreateSaysWhatDoesNotShow: a topic that someone else created
// meanwhile without compaction never shows as Create asked; Create says so
// when its wait ends, instead of reporting success.
func TestCreateSaysWhatDoesNotShow(t *testing.T) {
	k, err := kfake.NewCluster(kfake.NumBrokers(1)) // not package embedded: it imports topics
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	brokers := k.ListenAddrs()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := Create(ctx, brokers, nil, []Spec{{Name: "results", Partitions: 1, Role: "results"}}); err != nil {
		t.Fatal(err)
	}
	compacted := []Spec{{Name: "results", Partitions: 1, Compacted: true, Role: "results"}}
	err = createWithin(ctx, brokers, nil, compacted, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "cleanup.policy") {
		t.Fatalf("Create = %v, want an error naming cleanup.policy", err)
	}
}
