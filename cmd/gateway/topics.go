package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/topics"
)

// topicsCmd checks (and with -create, creates) the topics the gateway needs.
func topicsCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("topics", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file")
	create := fs.Bool("create", false, "create the missing topics")
	partitions := fs.Int("partitions", 0, "partitions of created topics (default: provision.partitions or the broker's)")
	replication := fs.Int("replication", 0, "replication factor of created topics (default: provision.replication or the broker's)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := app.Load(*configPath, getenv)
	if err == nil {
		cfg, err = app.WithRouteTopics(cfg) // the topics routes listen to are inputs too
	}
	if err != nil {
		fmt.Fprintf(stderr, "gateway topics: %v\n", err)
		return 2
	}
	if err := cfg.ApplyKafkaSecurity(); err != nil {
		fmt.Fprintf(stderr, "gateway topics: %v\n", err)
		return 2
	}
	if len(cfg.Kafka.Brokers) == 0 {
		fmt.Fprintf(stderr, "gateway topics: no brokers configured (kafka.brokers or $%s)\n", app.EnvBrokers)
		return 2
	}
	if *partitions > 0 {
		cfg.Provision.Partitions = *partitions
	}
	if *replication > 0 {
		cfg.Provision.Replication = *replication
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	specs := app.RequiredTopics(cfg)
	problems, err := topics.Check(ctx, cfg.Kafka.Brokers, cfg.Outputs.Transport, specs)
	if err != nil {
		fmt.Fprintf(stderr, "gateway topics: %v\n", err)
		return 1
	}
	if *create && len(problems) > 0 {
		var missing []topics.Spec
		for _, p := range problems {
			if p.Missing {
				missing = append(missing, p.Spec)
			}
		}
		if err := topics.Create(ctx, cfg.Kafka.Brokers, cfg.Outputs.Transport, missing); err != nil {
			fmt.Fprintf(stderr, "gateway topics: %v\n", err)
			return 1
		}
		if problems, err = topics.Check(ctx, cfg.Kafka.Brokers, cfg.Outputs.Transport, specs); err != nil {
			fmt.Fprintf(stderr, "gateway topics: %v\n", err)
			return 1
		}
	}
	bad := map[string]string{}
	for _, p := range problems {
		bad[p.Spec.Name] = p.String()
	}
	for _, s := range specs {
		if msg, ok := bad[s.Name]; ok {
			fmt.Fprintf(stdout, "MISSING/WRONG  %s\n", msg)
		} else {
			fmt.Fprintf(stdout, "ok             %s (%s)\n", s.Name, s.Role)
		}
	}
	if len(problems) > 0 {
		return 1
	}
	return 0
}
