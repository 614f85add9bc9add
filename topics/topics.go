// Package topics checks and creates the Kafka topics the gateway needs:
// its input topics, the dead-letter topic and the compacted results topic
// (which also holds the schedule-key index). It talks to Kafka's admin API
// through kafka-go and knows nothing else of the gateway.
package topics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
)

// Spec is a topic the gateway needs.
type Spec struct {
	Name string
	// Partitions and Replication are used when creating (0: broker default).
	Partitions  int
	Replication int
	// Compacted topics keep the latest record per key.
	Compacted bool
	// MaxMessageBytes, when set, is the created topic's max.message.bytes:
	// the largest record batch it takes (the broker's default is 1 MB).
	MaxMessageBytes int
	// Role says what the gateway uses it for, for messages.
	Role string
}

// Problem is a topic that is missing or set up wrongly.
type Problem struct {
	Spec    Spec
	Missing bool
	Detail  string
}

func (p Problem) String() string {
	if p.Missing {
		return fmt.Sprintf("topic %s (%s) does not exist", p.Spec.Name, p.Spec.Role)
	}
	return fmt.Sprintf("topic %s (%s): %s", p.Spec.Name, p.Spec.Role, p.Detail)
}

func client(brokers []string, tr *kafka.Transport) *kafka.Client {
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second}
	if tr != nil {
		c.Transport = tr
	}
	return c
}

// Check reports which of specs are missing or not compacted when they should be.
func Check(ctx context.Context, brokers []string, tr *kafka.Transport, specs []Spec) ([]Problem, error) {
	cl := client(brokers, tr)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return nil, fmt.Errorf("topics: metadata: %w", err)
	}
	exists := map[string]bool{}
	for _, t := range md.Topics {
		if t.Error == nil && len(t.Partitions) > 0 {
			exists[t.Name] = true
		}
	}
	var problems []Problem
	var compacted []Spec
	for _, s := range specs {
		switch {
		case !exists[s.Name]:
			problems = append(problems, Problem{Spec: s, Missing: true})
		case s.Compacted:
			compacted = append(compacted, s)
		}
	}
	if len(compacted) == 0 {
		return problems, nil
	}
	req := &kafka.DescribeConfigsRequest{}
	for _, s := range compacted {
		req.Resources = append(req.Resources, kafka.DescribeConfigRequestResource{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: s.Name, ConfigNames: []string{"cleanup.policy"}})
	}
	resp, err := cl.DescribeConfigs(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("topics: describe configs: %w", err)
	}
	policy := map[string]string{}
	for _, r := range resp.Resources {
		if r.Error != nil {
			// Not a wrong policy: the broker asked could not read the
			// topic's configuration (a topic created a moment ago may not
			// have reached it yet; or no permission).
			return nil, fmt.Errorf("topics: describe configs of %s: %w", r.ResourceName, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == "cleanup.policy" {
				policy[r.ResourceName] = e.ConfigValue
			}
		}
	}
	for _, s := range compacted {
		if !strings.Contains(policy[s.Name], "compact") {
			problems = append(problems, Problem{Spec: s,
				Detail: fmt.Sprintf("cleanup.policy is %q, want compact (the results topic must keep the latest outcome per event)", policy[s.Name])})
		}
	}
	return problems, nil
}

// Create creates the topics of specs that do not exist yet, and returns
// once Check sees them with their settings (on a cluster, a new topic
// reaches the other brokers' metadata a moment after the controller
// answers). If they do not show within createVisible, or ctx ends first,
// it says what Check last saw.
func Create(ctx context.Context, brokers []string, tr *kafka.Transport, specs []Spec) error {
	return createWithin(ctx, brokers, tr, specs, createVisible)
}

// createWithin is Create waiting up to wait for the topics to show.
func createWithin(ctx context.Context, brokers []string, tr *kafka.Transport, specs []Spec, wait time.Duration) error {
	if err := create(ctx, brokers, tr, specs); err != nil {
		return err
	}
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		problems, err := Check(ctx, brokers, tr, specs)
		switch {
		case err != nil:
		case len(problems) > 0:
			err = errors.New(problems[0].String())
		default:
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("topics: created, but not visible as created after %v: %w", wait, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("topics: created, but not yet visible as created: %w", err)
		case <-tick.C:
		}
	}
}

// createVisible bounds how long Create waits for what it created to show.
const createVisible = 15 * time.Second

// create sends the CreateTopics request for specs.
func create(ctx context.Context, brokers []string, tr *kafka.Transport, specs []Spec) error {
	req := &kafka.CreateTopicsRequest{}
	for _, s := range specs {
		tc := kafka.TopicConfig{Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.Replication}
		if tc.NumPartitions == 0 {
			tc.NumPartitions = -1
		}
		if tc.ReplicationFactor == 0 {
			tc.ReplicationFactor = -1
		}
		if s.Compacted {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "cleanup.policy", ConfigValue: "compact"})
		}
		if s.MaxMessageBytes > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "max.message.bytes", ConfigValue: strconv.Itoa(s.MaxMessageBytes)})
		}
		req.Topics = append(req.Topics, tc)
	}
	resp, err := client(brokers, tr).CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("topics: create: %w", err)
	}
	var errs []error
	for name, err := range resp.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}
