package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/event"
)

// produce publishes CloudEvents files (structured-mode JSON) to Kafka.
func produce(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(stderr)
	brokers := fs.String("brokers", "", "comma-separated brokers (default $"+app.EnvBrokers+" or "+devKafkaAddr+")")
	topic := fs.String("topic", "", "topic for every event (default: by type: braze.schedule, braze.trigger or braze.send)")
	binary := fs.Bool("binary", false, "publish in CloudEvents binary mode (ce_* headers, value = data)")
	repeat := fs.Int("repeat", 1, "publish each event N times, with ids suffixed -1…-N")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway produce [flags] [FILE|DIR...]   (default: examples/)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"examples"}
	}
	files, err := eventFiles(paths)
	if err != nil {
		fmt.Fprintf(stderr, "gateway produce: %v\n", err)
		return 1
	}
	bs := *brokers
	if bs == "" {
		bs = getenv(app.EnvBrokers)
	}
	if bs == "" {
		bs = devKafkaAddr
	}
	w := &kafka.Writer{Addr: kafka.TCP(strings.Split(bs, ",")...), Balancer: &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	defer w.Close()
	var msgs []kafka.Message
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "gateway produce: %v\n", err)
			return 1
		}
		for i := 1; i <= *repeat; i++ {
			m, err := record(raw, *binary, *repeat > 1, i)
			if err != nil {
				fmt.Fprintf(stderr, "gateway produce: %s: %v\n", f, err)
				return 1
			}
			if m.Topic = *topic; m.Topic == "" {
				m.Topic = defaultTopic(m)
			}
			msgs = append(msgs, m)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		fmt.Fprintf(stderr, "gateway produce: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "published %d events to %s\n", len(msgs), bs)
	return 0
}

// eventFiles expands directories into their *.json files, sorted by name.
func eventFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no event files in %v", paths)
	}
	return out, nil
}

// record builds the Kafka record of a structured-mode event file, keyed by
// its partitionkey.
func record(raw []byte, binary, suffix bool, n int) (kafka.Message, error) {
	var ev map[string]json.RawMessage
	if err := json.Unmarshal(raw, &ev); err != nil {
		return kafka.Message{}, fmt.Errorf("not a JSON CloudEvent: %w", err)
	}
	if suffix {
		var id string
		_ = json.Unmarshal(ev["id"], &id)
		ev["id"], _ = json.Marshal(fmt.Sprintf("%s-%d", id, n))
	}
	var key string
	_ = json.Unmarshal(ev["partitionkey"], &key)
	m := kafka.Message{Key: []byte(key)}
	if key == "" {
		m.Key = nil
	}
	if !binary {
		v, err := json.Marshal(ev)
		if err != nil {
			return m, err
		}
		m.Value = v
		m.Headers = []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}
		return m, nil
	}
	m.Value = ev["data"]
	names := make([]string, 0, len(ev))
	for k := range ev {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if k == "data" || k == "datacontenttype" {
			continue
		}
		var s string
		if err := json.Unmarshal(ev[k], &s); err != nil {
			return m, fmt.Errorf("attribute %s is not a string", k)
		}
		m.Headers = append(m.Headers, kafka.Header{Key: "ce_" + k, Value: []byte(s)})
	}
	m.Headers = append(m.Headers, kafka.Header{Key: "content-type", Value: []byte("application/json")})
	return m, nil
}

// defaultTopic routes by traffic class: schedules, triggers, the rest.
func defaultTopic(m kafka.Message) string {
	typ := ""
	for _, h := range m.Headers {
		if h.Key == "ce_type" {
			typ = string(h.Value)
		}
	}
	if typ == "" {
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(m.Value, &ev)
		typ = ev.Type
	}
	spec, ok := event.Lookup(typ)
	switch {
	case ok && spec.Schedule != event.NotSchedule:
		return "braze.schedule"
	case typ == "braze.campaigns.trigger.send" || typ == "braze.canvas.trigger.send":
		return "braze.trigger"
	}
	return "braze.send"
}
