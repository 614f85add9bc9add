package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.uber.org/zap"

	"github.com/brazegw/gateway/topics"
)

// ProvisionConfig says whether the gateway creates its topics.
type ProvisionConfig struct {
	// Create makes the gateway create missing topics at start-up (it needs
	// the CreateTopics ACL); otherwise it only checks and says what is missing.
	Create bool `yaml:"create"`
	// Partitions and Replication of created topics (0: broker defaults).
	Partitions  int `yaml:"partitions"`
	Replication int `yaml:"replication"`
}

// RequiredTopics lists the topics cfg needs: the input topics, the
// dead-letter topic and the compacted results topic.
func RequiredTopics(cfg Config) []topics.Spec {
	p, r := cfg.Provision.Partitions, cfg.Provision.Replication
	var out []topics.Spec
	for _, t := range cfg.Kafka.Topics {
		out = append(out, topics.Spec{Name: t.Name, Partitions: p, Replication: r, Role: fmt.Sprintf("input, lane %d", t.Lane)})
	}
	return append(out,
		// A dead letter is the consumed record, up to max_record_bytes, plus
		// its dlq.* headers: the topic must take it.
		topics.Spec{Name: cfg.Outputs.DLQTopic, Partitions: p, Replication: r, Role: "dead letters",
			MaxMessageBytes: dlqMaxMessageBytes(cfg.Kafka.MaxRecordBytes)},
		topics.Spec{Name: cfg.Outputs.ResultsTopic, Partitions: p, Replication: r, Compacted: true, Role: "results and schedule keys"})
}

// dlqMaxMessageBytes is the max.message.bytes a dead-letter topic needs
// for records of up to maxRecordBytes: room for the dlq.* headers and the
// batch's overhead on top.
func dlqMaxMessageBytes(maxRecordBytes int) int { return maxRecordBytes + 64<<10 }

// provision checks the topics, creates the missing ones when allowed, and
// refuses to start without the output topics (outcomes could not be made
// durable). Missing input topics are reported and consumed once they exist.
func (g *Gateway) provision(ctx context.Context) error {
	specs := RequiredTopics(g.cfg)
	problems, err := topics.Check(ctx, g.cfg.Kafka.Brokers, g.cfg.Outputs.Transport, specs)
	if err != nil {
		return err
	}
	if len(problems) > 0 && g.cfg.Provision.Create {
		var missing []topics.Spec
		for _, p := range problems {
			if p.Missing {
				missing = append(missing, p.Spec)
			}
		}
		if len(missing) > 0 {
			if err := topics.Create(ctx, g.cfg.Kafka.Brokers, g.cfg.Outputs.Transport, missing); err != nil {
				return err
			}
			for _, s := range missing {
				g.log.Info("created topic", zap.String("topic", s.Name), zap.String("role", s.Role))
			}
		}
		if problems, err = topics.Check(ctx, g.cfg.Kafka.Brokers, g.cfg.Outputs.Transport, specs); err != nil {
			return err
		}
	}
	var fatal []string
	for _, p := range problems {
		g.log.Error("topic problem", zap.String("topic", p.Spec.Name), zap.String("problem", p.String()))
		if !strings.HasPrefix(p.Spec.Role, "input") {
			fatal = append(fatal, p.String())
		}
	}
	if len(fatal) > 0 {
		return errors.New("cannot start: " + strings.Join(fatal, "; ") +
			" (create them with `gateway topics -create`, or set provision.create: true)")
	}
	return nil
}
