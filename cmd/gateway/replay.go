package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/deadletter"
)

// replay republishes dead-lettered events (docs/replay.md).
func replay(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration file (brokers and outputs.dlq_topic)")
	brokers := fs.String("brokers", "", "comma-separated brokers (default: the configuration, $"+app.EnvBrokers+" or "+devKafkaAddr+")")
	dlq := fs.String("dlq", "", "dead-letter topic (default: outputs.dlq_topic of the configuration)")
	group := fs.String("group", deadletter.DefaultReplayGroup, "the replay's consumer group: what it committed is not replayed again")
	to := fs.String("to", "", "republish to this topic (default: each record's dlq.topic)")
	var reasons, types, sources stringList
	var statuses intList
	var since, until timeFlag
	fs.Var(&reasons, "reason", "replay only this dlq.reason (repeatable or comma-separated)")
	fs.Var(&types, "type", "replay only events of this type (repeatable or comma-separated)")
	fs.Var(&sources, "source", "replay only events from this source (repeatable or comma-separated)")
	fs.Var(&statuses, "status", "replay only records with this dlq.status (repeatable or comma-separated)")
	fs.Var(&since, "since", "replay only records dead-lettered at or after this time (RFC 3339)")
	fs.Var(&until, "until", "replay only records dead-lettered before this time (RFC 3339)")
	includeUnfixable := fs.Bool("include-unfixable", false, "also replay invalid_event, unknown_type and too_large")
	dryRun := fs.Bool("dry-run", false, "count what would be replayed; publish and commit nothing")
	rateFlag := fs.Float64("rate", 0, "at most this many records per second (0: unlimited)")
	follow := fs.Bool("follow", false, "keep replaying new dead letters until interrupted")
	progress := fs.Duration("progress", 5*time.Second, "interval between progress lines (0: summary only)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway replay [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gateway replay: unexpected arguments %v\n", fs.Args())
		return 2
	}
	cfg, err := app.Load(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gateway replay: %v\n", err)
		return 2
	}
	if err := cfg.ApplyKafkaSecurity(); err != nil {
		fmt.Fprintf(stderr, "gateway replay: %v\n", err)
		return 2
	}
	rc := deadletter.ReplayConfig{
		Brokers:          cfg.Kafka.Brokers,
		DLQTopic:         *dlq,
		GroupID:          *group,
		To:               *to,
		Reasons:          reasons,
		Types:            types,
		Sources:          sources,
		Statuses:         statuses,
		Since:            since.t,
		Until:            until.t,
		IncludeUnfixable: *includeUnfixable,
		DryRun:           *dryRun,
		Rate:             *rateFlag,
		Follow:           *follow,
		Dialer:           cfg.Kafka.Dialer,
		Progress:         stdout,
		ProgressEvery:    *progress,
	}
	if *brokers != "" {
		rc.Brokers = strings.Split(*brokers, ",")
	}
	if len(rc.Brokers) == 0 {
		rc.Brokers = []string{devKafkaAddr}
	}
	if rc.DLQTopic == "" {
		rc.DLQTopic = cfg.Outputs.DLQTopic
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if _, err := deadletter.Replay(ctx, rc); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "gateway replay: interrupted; what it replayed is committed: run again with the same -group to continue")
			return 1
		}
		fmt.Fprintf(stderr, "gateway replay: %v\n", err)
		return 1
	}
	return 0
}

// stringList is a flag that may be repeated and takes comma-separated values.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// intList is a repeatable, comma-separated list of integers.
type intList []int

func (l *intList) String() string {
	s := make([]string, len(*l))
	for i, n := range *l {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		*l = append(*l, n)
	}
	return nil
}

// timeFlag is an RFC 3339 time.
type timeFlag struct{ t time.Time }

func (f *timeFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(v string) error {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time: %w", err)
	}
	f.t = t
	return nil
}
