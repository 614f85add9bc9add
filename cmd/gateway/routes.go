package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/routes"
)

// reloadOnHangup reloads the routes file on every SIGHUP until stop is
// called. The router logs the outcome (and keeps the routes in force when
// the file is bad).
func reloadOnHangup(g *app.Gateway, log *zap.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the routes file")
				if err := g.ReloadRoutes(); err != nil {
					log.Warn("SIGHUP: routes not reloaded", zap.Error(err))
				}
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		close(done)
		<-finished
	}
}

// routesCmd runs "gateway routes check|test".
func routesCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, routesUsage)
		return 2
	}
	switch args[0] {
	case "check":
		return routesCheck(args[1:], getenv, stdout, stderr)
	case "test":
		return routesTest(args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, routesUsage)
		return 0
	}
	fmt.Fprintf(stderr, "gateway routes: unknown command %q\n%s", args[0], routesUsage)
	return 2
}

const routesUsage = `usage:
  gateway routes check --routes FILE
      compile and type-check every expression of a routes file; exit 1 with
      each problem (file:line:column: reason) if it would be rejected
  gateway routes test --routes FILE --event EVENT.json [--topic T] [--key K] [--header K=V]... [--json]
      print the Braze requests the product event (a Kafka record value:
      a structured-mode CloudEvent, or with ce_ headers the data of a
      binary-mode one, or plain JSON) would produce; nothing is sent.
      Exit 0 when it produces requests that pass validation, 1 otherwise.
Both take --config FILE to read routes.file (and limits) from the gateway's configuration.
`

// routesFile returns the routes file named by --routes or by the
// configuration's routes.file.
func routesFile(flagFile, configPath string, getenv func(string) string) (string, app.Config, error) {
	cfg, err := app.Load(configPath, getenv)
	if err != nil {
		return "", cfg, err
	}
	if flagFile != "" {
		return flagFile, cfg, nil
	}
	if cfg.Routes.File == "" {
		return "", cfg, errors.New("no routes file: use --routes FILE (or --config with routes.file)")
	}
	return cfg.Routes.File, cfg, nil
}

func routesCheck(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("routes", "", "routes file")
	configPath := fs.String("config", "", "gateway configuration file (for routes.file)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	path, _, err := routesFile(*file, *configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "gateway routes check: %v\n", err)
		return 2
	}
	t, err := routes.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gateway routes check: %s is rejected:\n", path)
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "  %v\n", e)
		}
		return 1
	}
	fmt.Fprintf(stdout, "ok: %s, version %s: %d routes (%s) on topics %s\n", path, t.Version, len(t.Routes()),
		strings.Join(t.Routes(), ", "), strings.Join(t.Topics(), ", "))
	return 0
}

// headerFlags collects repeated --header K=V flags.
type headerFlags []event.Header

func (h *headerFlags) String() string { return fmt.Sprint(len(*h)) }

func (h *headerFlags) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("header %q is not KEY=VALUE", v)
	}
	*h = append(*h, event.Header{Key: k, Value: []byte(val)})
	return nil
}

// TestedRequest is one line of "gateway routes test --json": a Braze
// request a product event would produce.
type TestedRequest struct {
	Route        string          `json:"route"`
	Operation    string          `json:"operation"`
	Type         string          `json:"type"`
	Method       string          `json:"method"`
	Endpoint     string          `json:"endpoint"`
	ID           string          `json:"id"`
	Source       string          `json:"source"`
	Workspace    string          `json:"workspace,omitempty"`
	PartitionKey string          `json:"partition_key,omitempty"`
	ScheduleKey  string          `json:"schedule_key,omitempty"`
	DeliverBy    string          `json:"deliver_by,omitempty"`
	Body         json.RawMessage `json:"body"`
	// Refused is the dead-letter reason and cause when the gateway would
	// refuse the request before sending it.
	Refused string `json:"refused,omitempty"`
}

func routesTest(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("routes test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("routes", "", "routes file")
	configPath := fs.String("config", "", "gateway configuration file (for routes.file)")
	eventPath := fs.String("event", "", "file holding the Kafka record value (\"-\": standard input)")
	topic := fs.String("topic", "", "topic the record is read from (default: the only topic of the routes)")
	key := fs.String("key", "", "Kafka record key")
	partition := fs.Int("partition", 0, "partition (part of a plain JSON record's identity)")
	offset := fs.Int64("offset", 0, "offset (part of a plain JSON record's identity)")
	at := fs.String("time", "", "the record's Kafka timestamp, RFC 3339 (default: now)")
	asJSON := fs.Bool("json", false, "print one JSON object per request instead of text")
	var headers headerFlags
	fs.Var(&headers, "header", "record header KEY=VALUE (repeatable; ce_ headers make a binary-mode CloudEvent)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fail := func(format string, args ...any) int {
		fmt.Fprintf(stderr, "gateway routes test: "+format+"\n", args...)
		return 2
	}
	if *eventPath == "" {
		return fail("--event is required")
	}
	path, cfg, err := routesFile(*file, *configPath, getenv)
	if err != nil {
		return fail("%v", err)
	}
	t, err := routes.Load(path)
	if err != nil {
		fmt.Fprintf(stderr, "gateway routes test: %s is rejected:\n", path)
		for _, e := range unjoin(err) {
			fmt.Fprintf(stderr, "  %v\n", e)
		}
		return 2
	}
	var value []byte
	if *eventPath == "-" {
		value, err = io.ReadAll(os.Stdin)
	} else {
		value, err = os.ReadFile(*eventPath)
	}
	if err != nil {
		return fail("%v", err)
	}
	if *topic == "" {
		if ts := t.Topics(); len(ts) == 1 {
			*topic = ts[0]
		} else {
			return fail("the routes listen to %d topics (%s): say which with --topic", len(ts), strings.Join(ts, ", "))
		}
	}
	if !t.Listens(*topic) {
		return fail("no route listens to topic %q (topics: %s)", *topic, strings.Join(t.Topics(), ", "))
	}
	when := time.Now()
	if *at != "" {
		if when, err = time.Parse(time.RFC3339Nano, *at); err != nil {
			return fail("--time: %v", err)
		}
	}
	rec := &event.Record{Topic: *topic, Partition: *partition, Offset: *offset, Value: bytes.TrimSpace(value), Headers: headers, Time: when}
	if *key != "" {
		rec.Key = []byte(*key)
	}
	res := t.Route(rec, cfg.Kafka.Limits())
	return printRouted(res, t, stdout, *asJSON)
}

// printRouted prints what res produced and returns the exit code.
func printRouted(res *routes.Result, t *routes.Table, w io.Writer, asJSON bool) int {
	if res.Err != nil {
		fmt.Fprintf(w, "the record is dead-lettered: %v\n", res.Err)
		return 1
	}
	code := 0
	if !asJSON {
		switch len(res.Matched) {
		case 0:
			fmt.Fprintf(w, "routes version %s: no route matches this %s event\n", t.Version, res.Format)
		default:
			fmt.Fprintf(w, "routes version %s: %s event matched by %s\n", t.Version, res.Format, strings.Join(res.Matched, ", "))
		}
	}
	if len(res.Matched) == 0 && len(res.Failures) == 0 {
		code = 1
	}
	for _, f := range res.Failures {
		code = 1
		if asJSON {
			b, _ := json.Marshal(map[string]string{"route": f.Route, "operation": f.Op, "type": f.Type, "error": f.Err.Error()})
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintf(w, "\nroute %s FAILED, dead-lettered as %v\n", f.Route, f.Err)
	}
	for i := range res.Ops {
		op := &res.Ops[i]
		tr := TestedRequest{Route: op.Route, Operation: op.Key, Type: op.Type, Method: "POST", Endpoint: op.Endpoint,
			ID: op.ID, Source: op.Source, Body: json.RawMessage(op.Body)}
		if op.Err != nil {
			tr.Refused = op.Err.Error()
		} else {
			ev := op.Event
			tr.Workspace, tr.PartitionKey, tr.ScheduleKey = ev.Workspace, ev.PartitionKey, ev.ScheduleKey
			if !ev.Deadline.IsZero() {
				tr.DeliverBy = ev.Deadline.UTC().Format(time.RFC3339Nano)
			}
			opts := rules.Options{AllowMissingScheduleID: ev.ScheduleKey != ""}
			if err := rules.Check(ev.Spec.Endpoint, ev.Data, opts); err != nil {
				tr.Refused = string(event.ReasonInvalidRequest) + ": " + err.Error()
			}
		}
		if tr.Refused != "" {
			code = 1
		}
		if asJSON {
			b, _ := json.Marshal(tr)
			fmt.Fprintf(w, "%s\n", b)
			continue
		}
		fmt.Fprintf(w, "\n# route %s, operation %s: %s\n", tr.Route, tr.Operation, tr.Type)
		fmt.Fprintf(w, "# id %s, source %s", tr.ID, tr.Source)
		for _, kv := range [][2]string{{"workspace", tr.Workspace}, {"partition key", tr.PartitionKey},
			{"schedule key", tr.ScheduleKey}, {"deliver by", tr.DeliverBy}} {
			if kv[1] != "" {
				fmt.Fprintf(w, ", %s %s", kv[0], kv[1])
			}
		}
		fmt.Fprintln(w)
		if tr.Refused != "" {
			fmt.Fprintf(w, "# REFUSED (would be dead-lettered): %s\n", tr.Refused)
		}
		if op.Event != nil && op.Event.ScheduleKey != "" && !bytes.Contains(op.Body, []byte(`"schedule_id"`)) &&
			(op.Event.Spec.Schedule == event.ScheduleUpdate || op.Event.Spec.Schedule == event.ScheduleDelete) {
			fmt.Fprintf(w, "# schedule_id is filled in when sent: the id create returned for schedule key %s\n", tr.ScheduleKey)
		}
		fmt.Fprintf(w, "%s %s\n", tr.Method, tr.Endpoint)
		var pretty bytes.Buffer
		if json.Indent(&pretty, op.Body, "", "  ") != nil {
			pretty.Reset()
			pretty.Write(op.Body)
		}
		fmt.Fprintf(w, "%s\n", pretty.Bytes())
	}
	return code
}
