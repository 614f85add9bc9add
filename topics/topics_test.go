package topics_test

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/topics"
)

// TestCreateSetsTopicConfigs: a created topic gets the configs its Spec
// asks for (compaction, the largest batch it takes), and Check finds no
// problem with it.
func TestCreateSetsTopicConfigs(t *testing.T) {
	k, err := embedded.StartKafka("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	specs := []topics.Spec{
		{Name: "dlq", Partitions: 2, MaxMessageBytes: 1<<20 + 64<<10, Role: "dead letters"},
		{Name: "results", Partitions: 2, Compacted: true, MaxMessageBytes: 2 << 20, Role: "results"},
	}
	if err := topics.Create(ctx, k.Addrs(), nil, specs); err != nil {
		t.Fatal(err)
	}
	problems, err := topics.Check(ctx, k.Addrs(), nil, specs)
	if err != nil || len(problems) != 0 {
		t.Fatalf("Check: %v %v", problems, err)
	}
	cl := &kafka.Client{Addr: kafka.TCP(k.Addrs()...)}
	res, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: "dlq", ConfigNames: []string{"max.message.bytes"}},
		{ResourceType: kafka.ResourceTypeTopic, ResourceName: "results", ConfigNames: []string{"max.message.bytes", "cleanup.policy"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range res.Resources {
		for _, e := range r.ConfigEntries {
			got[r.ResourceName+" "+e.ConfigName] = e.ConfigValue
		}
	}
	want := map[string]string{"dlq max.message.bytes": "1114112", "results max.message.bytes": "2097152", "results cleanup.policy": "compact"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
