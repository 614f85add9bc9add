// Command gatewaybench measures the gateway binary end to end: it starts a
// Kafka broker (the embedded one, or the cluster named by -brokers) and the
// Braze simulator without rate limits, builds cmd/gateway, runs it as a
// child process with a generated configuration, and reports throughput, the
// gateway process's own CPU time per event (from /proc), its peak RSS, the
// requests it made and how full they were, and produce→Braze latency.
//
// Usage:
//
//	go run ./cmd/gatewaybench -scenario all          # every scenario below
//	go run ./cmd/gatewaybench -scenario backlog -n 1000000 -profile /tmp/gw.pprof
//	go run ./cmd/gatewaybench -scenario baseline,backlog -compare /tmp/gw-old,/tmp/gw-new -rounds 4
//
// -compare runs the scenarios with each of two or more gateway binaries in
// turn, round after round, and reports each one's mean and how it compares
// with the first, pair by pair: on a shared machine, two versions are
// compared this way, not by runs minutes apart.
//
// Scenarios:
//
//	baseline    a minimal kafka-go consume-and-commit loop over the same data
//	            (the ceiling the Kafka client allows), as a child process too
//	reference   the plain Go pipeline the targets were set against: kafka-go,
//	            encoding/json, batches of 50, 8 requests in flight, ordered
//	            commits, no checks or outcomes (see referenceCmd); given
//	            twice (reference,backlog,reference) its runs are pooled
//	backlog     N pre-loaded single-recipient trigger events, one gateway
//	routed      the backlog as N product events that a typical route turns
//	            into the same triggers (docs/routing.md): what routing costs
//	latency     a steady rate (-rate) for -duration; p50/p99 produce→receipt
//	memory      a -memory-n backlog (default 5,000,000): peak RSS must stay flat
//	partitions  the backlog (-scale-n events) over 1, 3, 6 and 12 partitions
//	replicas    the backlog (-scale-n events) with 1, 2 and 3 gateway replicas
//	all         baseline, reference, backlog, routed, latency, partitions,
//	            replicas, memory
//
// The machine is usually shared: compare the ratios of one run (gateway
// over reference for the targets, gateway over baseline between versions),
// not absolute figures between runs. Linux only (/proc).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command-line settings.
type options struct {
	scenario     string
	n            int
	memoryN      int
	scaleN       int
	partitions   int
	rate         int
	duration     time.Duration
	linger       time.Duration
	workers      int
	maxInflight  int
	memoryLimit  string
	brokers      string
	gateway      string
	profile      string
	profileSecs  int
	users        int
	out          string
	compress     bool
	timeoutPerEv time.Duration
	compare      string
	rounds       int
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "consume" {
		return consumeCmd(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "reference" {
		return referenceCmd(args[1:], stdout, stderr)
	}
	var o options
	fs := flag.NewFlagSet("gatewaybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.scenario, "scenario", "backlog", "comma-separated: baseline, reference, backlog, routed, latency, memory, partitions, replicas, or all")
	fs.IntVar(&o.n, "n", 1_000_000, "events of the backlog, routed, baseline and reference scenarios")
	fs.IntVar(&o.memoryN, "memory-n", 5_000_000, "events of the memory scenario")
	fs.IntVar(&o.scaleN, "scale-n", 300_000, "events of each partitions and replicas run")
	fs.IntVar(&o.partitions, "partitions", 6, "partitions of the input topic (backlog, latency, memory, baseline, replicas)")
	fs.IntVar(&o.rate, "rate", 5000, "events per second of the latency scenario")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of the latency scenario")
	fs.DurationVar(&o.linger, "linger", 25*time.Millisecond, "the gateway's dispatcher.linger")
	fs.IntVar(&o.workers, "workers", 32, "the gateway's dispatcher.workers")
	fs.IntVar(&o.maxInflight, "max-inflight", 0, "the gateway's kafka.max_inflight (0: its default)")
	fs.StringVar(&o.memoryLimit, "memory-limit", "", "run the gateway with this soft memory limit (GOMEMLIMIT, e.g. 96MiB; default: none)")
	fs.StringVar(&o.brokers, "brokers", "", "comma-separated brokers of a running cluster (default: an embedded broker in this process)")
	fs.StringVar(&o.gateway, "gateway", "", "gateway binary to run (default: build ./cmd/gateway)")
	fs.StringVar(&o.profile, "profile", "", "write a CPU profile of the gateway during the backlog scenario to this file (and a heap profile to FILE.heap; the routed scenario's to FILE.routed)")
	fs.IntVar(&o.profileSecs, "profile-seconds", 10, "length of the CPU profile")
	fs.IntVar(&o.users, "users", 1_000_000, "distinct recipients (events cycle through them)")
	fs.StringVar(&o.out, "out", "", "also write the results table (Markdown) to this file")
	fs.BoolVar(&o.compress, "compress", false, "produce snappy-compressed batches (default: uncompressed)")
	fs.DurationVar(&o.timeoutPerEv, "timeout-per-event", 200*time.Microsecond, "a run fails when it takes longer than 60 s plus this per event")
	fs.StringVar(&o.compare, "compare", "", "comma-separated gateway binaries to alternate, round after round, instead of one gateway (see -rounds)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds of a -compare run")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gatewaybench [flags]   (see the package documentation; Linux only)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	scenarios, err := parseScenarios(o.scenario)
	if err != nil {
		fmt.Fprintf(stderr, "gatewaybench: %v\n", err)
		return 2
	}
	if o.n < 1 || o.memoryN < 1 || o.scaleN < 1 || o.partitions < 1 || o.rate < 1 || o.users < 1 || o.rounds < 1 {
		fmt.Fprintln(stderr, "gatewaybench: -n, -memory-n, -scale-n, -partitions, -rate, -users and -rounds must be positive")
		return 2
	}
	var bins []string
	if o.compare != "" {
		if o.gateway != "" || o.profile != "" {
			fmt.Fprintln(stderr, "gatewaybench: -compare takes neither -gateway nor -profile")
			return 2
		}
		if bins, err = compareBinaries(o.compare, func(p string) error { _, err := os.Stat(p); return err }); err != nil {
			fmt.Fprintf(stderr, "gatewaybench: %v\n", err)
			return 2
		}
		o.gateway = bins[0] // nothing to build
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	e, err := newEnv(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "gatewaybench: %v\n", err)
		return 1
	}
	defer e.close()

	if bins != nil {
		runs, err := e.compare(ctx, bins, o.rounds, scenarios, stderr)
		report := printComparison(stdout, e.describe(), bins, runs)
		if err != nil {
			fmt.Fprintf(stderr, "gatewaybench: %v\n", err)
			return 1
		}
		return writeReport(o.out, report, stderr)
	}

	var results []result
	for _, s := range scenarios {
		rs, err := e.scenario(ctx, s)
		results = append(results, rs...)
		if err != nil {
			fmt.Fprintf(stderr, "gatewaybench: %s: %v\n", s, err)
			printReport(stdout, e.describe(), results)
			return 1
		}
	}
	return writeReport(o.out, printReport(stdout, e.describe(), results), stderr)
}

// writeReport writes report to the -out file, if one is named.
func writeReport(out, report string, stderr io.Writer) int {
	if out == "" {
		return 0
	}
	if err := os.WriteFile(out, []byte(report), 0o644); err != nil {
		fmt.Fprintf(stderr, "gatewaybench: %v\n", err)
		return 1
	}
	return 0
}

var allScenarios = []string{"baseline", "reference", "backlog", "routed", "latency", "partitions", "replicas", "memory"}

func parseScenarios(s string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch name {
		case "all":
			out = append(out, allScenarios...)
		case "baseline", "reference", "backlog", "routed", "latency", "memory", "partitions", "replicas":
			out = append(out, name)
		case "":
		default:
			return nil, fmt.Errorf("unknown scenario %q", name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario given")
	}
	return out, nil
}

// scenario runs one named scenario and returns its rows.
func (e *env) scenario(ctx context.Context, name string) ([]result, error) {
	o := e.opts
	switch name {
	case "baseline":
		r, err := e.baseline(ctx, o.n, o.partitions)
		return []result{r}, err
	case "reference":
		r, err := e.reference(ctx, o.n, o.partitions)
		return []result{r}, err
	case "backlog":
		r, err := e.backlog(ctx, runSpec{name: "backlog", n: o.n, partitions: o.partitions, replicas: 1, profile: o.profile})
		return []result{r}, err
	case "routed":
		profile := o.profile
		if profile != "" {
			profile += ".routed" // the backlog's is the named file
		}
		r, err := e.backlog(ctx, runSpec{name: "routed", n: o.n, partitions: o.partitions, replicas: 1, profile: profile, routed: true})
		return []result{r}, err
	case "latency":
		r, err := e.latency(ctx, o.rate, o.duration, o.partitions)
		return []result{r}, err
	case "memory":
		r, err := e.backlog(ctx, runSpec{name: "memory", n: o.memoryN, partitions: o.partitions, replicas: 1})
		return []result{r}, err
	case "partitions":
		var out []result
		for _, p := range []int{1, 3, 6, 12} {
			r, err := e.backlog(ctx, runSpec{name: fmt.Sprintf("partitions=%d", p), n: o.scaleN, partitions: p, replicas: 1})
			out = append(out, r)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	case "replicas":
		var out []result
		for _, n := range []int{1, 2, 3} {
			r, err := e.backlog(ctx, runSpec{name: fmt.Sprintf("replicas=%d", n), n: o.scaleN, partitions: max(o.partitions, 12), replicas: n})
			out = append(out, r)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}
