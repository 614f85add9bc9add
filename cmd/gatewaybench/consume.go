package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/segmentio/kafka-go"
)

// syscallRusage is what the kernel reports of an exited child.
type syscallRusage = syscall.Rusage

func rusageCPU(ru *syscallRusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// consumeCmd is the baseline: a minimal kafka-go consumer-group loop that
// fetches n records and commits each (committed in the background every
// 500 ms, as the gateway does), then closes and prints the times of the
// first and last fetch as "first=<unix ns> last=<unix ns>".
func consumeCmd(args []string, stdout, stderr io.Writer) int {
	var a childArgs
	fs := a.flags("consume", stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if !a.valid() {
		fmt.Fprintln(stderr, "consume: -brokers, -topic, -group and -n are required")
		return 2
	}
	r := newChildReader(a.brokers, a.topic, a.group)
	ctx := context.Background()
	var first, last time.Time
	for i := 0; i < a.n; i++ {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "consume: %v\n", err)
			return 1
		}
		if i == 0 {
			first = time.Now()
		}
		if err := r.CommitMessages(ctx, m); err != nil {
			fmt.Fprintf(stderr, "consume: commit: %v\n", err)
			return 1
		}
	}
	last = time.Now()
	if err := r.Close(); err != nil {
		fmt.Fprintf(stderr, "consume: close: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "first=%d last=%d\n", first.UnixNano(), last.UnixNano())
	return 0
}

// childArgs are the flags of both child modes (consume, reference).
type childArgs struct {
	brokers, topic, group string
	n                     int
}

// flags returns the flag set of a child mode, writing into a.
func (a *childArgs) flags(mode string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&a.brokers, "brokers", "", "comma-separated brokers")
	fs.StringVar(&a.topic, "topic", "", "topic")
	fs.StringVar(&a.group, "group", "", "consumer group")
	fs.IntVar(&a.n, "n", 0, "records to consume")
	return fs
}

// valid reports whether every flag of a was given.
func (a *childArgs) valid() bool { return a.brokers != "" && a.topic != "" && a.group != "" && a.n > 0 }

// newChildReader is the kafka-go consumer-group reader of the baseline and
// the reference pipeline: up to 16 MB per fetch, commits sent every 500 ms,
// from the first offset.
func newChildReader(brokers, topic, group string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:           strings.Split(brokers, ","),
		GroupID:           group,
		Topic:             topic,
		MinBytes:          1,
		MaxBytes:          16 << 20,
		MaxWait:           250 * time.Millisecond,
		CommitInterval:    500 * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: 500 * time.Millisecond,
		SessionTimeout:    6 * time.Second,
		RebalanceTimeout:  6 * time.Second,
	})
}
