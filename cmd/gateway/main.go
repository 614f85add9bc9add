// Command gateway consumes messaging events (CloudEvents) from Kafka and
// turns them into Braze REST API calls: batched, rate-limited, retried,
// dead-lettered when they cannot succeed.
//
// Usage:
//
//	gateway [run] [-config FILE]          run the gateway (dev mode when no brokers are configured)
//	gateway produce [flags] [FILE|DIR...] publish events (default: the bundled examples)
//	gateway scheduled [flags]             list upcoming scheduled broadcasts
//	gateway replay [flags]                republish dead-lettered events (see docs/replay.md)
//	gateway topics [-create]              check (and create) the topics the gateway needs
//	gateway routes check|test [flags]     check a routes file; show what an event would produce
//	gateway version                       print the version
//
// With no Kafka brokers configured, "run" starts an in-process Kafka broker on
// 127.0.0.1:9092 and a Braze simulator on 127.0.0.1:4010 and runs against
// them (dev mode). See docs/configuration.md for every setting.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runGateway(args, getenv, stdout, stderr)
	case "produce":
		return produce(args, getenv, stdout, stderr)
	case "replay":
		return replay(args, getenv, stdout, stderr)
	case "scheduled":
		return scheduled(args, getenv, stdout, stderr)
	case "topics":
		return topicsCmd(args, getenv, stdout, stderr)
	case "routes":
		return routesCmd(args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "gateway: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  gateway [run] [-config FILE]          run the gateway (dev mode when no brokers are configured)
  gateway produce [flags] [FILE|DIR...] publish events (default: the bundled examples)
  gateway scheduled [flags]             list upcoming scheduled broadcasts
  gateway replay [flags]                republish dead-lettered events
  gateway topics [-create]              check (and create) the topics the gateway needs
  gateway routes check|test [flags]     check a routes file; show what an event would produce
  gateway version                       print the version
Run "gateway COMMAND -h" for a command's flags.
`)
}
