package deadletter

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// dead returns a dead letter read from braze.dlq/1/7 of a record of
// braze.trigger/2/40 with the given headers added to the dlq.* ones.
func dead(reason, status, failedAt string, value string, extra ...kafka.Header) kafka.Message {
	hs := append([]kafka.Header{{Key: "content-type", Value: []byte("application/json")}}, extra...)
	hs = append(hs,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderStatus, Value: []byte(status)},
		kafka.Header{Key: HeaderTopic, Value: []byte("braze.trigger")},
		kafka.Header{Key: HeaderPartition, Value: []byte("2")},
		kafka.Header{Key: HeaderOffset, Value: []byte("40")},
		kafka.Header{Key: HeaderFailedAt, Value: []byte(failedAt)})
	return kafka.Message{Topic: "braze.dlq", Partition: 1, Offset: 7, Key: []byte("user-1"), Value: []byte(value), Headers: hs}
}

func TestReplaySelects(t *testing.T) {
	at := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	failed := at.Format(time.RFC3339Nano)
	structured := `{"specversion":"1.0","id":"1","source":"/shop","type":"braze.messages.send","data":{}}`
	binary := []kafka.Header{{Key: "ce_specversion", Value: []byte("1.0")}, {Key: "ce_type", Value: []byte("braze.canvas.trigger.send")},
		{Key: "ce_source", Value: []byte("/billing")}}
	tests := []struct {
		name   string
		cfg    ReplayConfig
		msg    kafka.Message
		target string // "" means skipped
	}{
		{"default", ReplayConfig{}, dead("rejected", "400", failed, structured), "braze.trigger"},
		{"to", ReplayConfig{To: "other"}, dead("rejected", "400", failed, structured), "other"},
		{"unfixable skipped", ReplayConfig{}, dead("too_large", "", failed, structured), ""},
		{"unfixable included", ReplayConfig{IncludeUnfixable: true}, dead("too_large", "", failed, structured), "braze.trigger"},
		{"unfixable named", ReplayConfig{Reasons: []string{"invalid_event"}}, dead("invalid_event", "", failed, "x"), "braze.trigger"},
		{"reason other", ReplayConfig{Reasons: []string{"expired"}}, dead("rejected", "400", failed, structured), ""},
		{"status match", ReplayConfig{Statuses: []int{404, 400}}, dead("rejected", "400", failed, structured), "braze.trigger"},
		{"status absent", ReplayConfig{Statuses: []int{400}}, dead("expired", "", failed, structured), ""},
		{"since inclusive", ReplayConfig{Since: at}, dead("rejected", "400", failed, structured), "braze.trigger"},
		{"since after", ReplayConfig{Since: at.Add(time.Second)}, dead("rejected", "400", failed, structured), ""},
		{"until exclusive", ReplayConfig{Until: at}, dead("rejected", "400", failed, structured), ""},
		{"until after", ReplayConfig{Until: at.Add(time.Nanosecond)}, dead("rejected", "400", failed, structured), "braze.trigger"},
		{"failed_at unreadable", ReplayConfig{Since: at}, dead("rejected", "400", "yesterday", structured), ""},
		{"type structured", ReplayConfig{Types: []string{"braze.messages.send"}}, dead("rejected", "400", failed, structured), "braze.trigger"},
		{"type binary", ReplayConfig{Types: []string{"braze.canvas.trigger.send"}}, dead("rejected", "400", failed, "{}", binary...), "braze.trigger"},
		{"type binary ignores value", ReplayConfig{Types: []string{"braze.messages.send"}}, dead("rejected", "400", failed, structured, binary...), ""},
		{"source binary", ReplayConfig{Sources: []string{"/billing"}}, dead("rejected", "400", failed, "{}", binary...), "braze.trigger"},
		{"source structured other", ReplayConfig{Sources: []string{"/billing"}}, dead("rejected", "400", failed, structured), ""},
		{"type of undecodable", ReplayConfig{Types: []string{"braze.messages.send"}, IncludeUnfixable: true}, dead("invalid_event", "", failed, "not json"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Brokers, cfg.DLQTopic = []string{"127.0.0.1:9092"}, "braze.dlq"
			if err := cfg.validate(); err != nil {
				t.Fatal(err)
			}
			r := &replayer{cfg: cfg}
			target, _, ok := r.selects(tt.msg)
			if ok != (tt.target != "") || target != tt.target {
				t.Fatalf("selects = %q, %v; want %q", target, ok, tt.target)
			}
		})
	}
}

func TestReplayRepublished(t *testing.T) {
	r := &replayer{stats: ReplayStats{RunID: "run-1"}}
	prev := []kafka.Header{{Key: HeaderReplayID, Value: []byte("run-0")}, {Key: HeaderReplayOf, Value: []byte("braze.dlq/0/1")}}
	m := dead("rejected", "400", "2025-03-01T12:00:00Z", `{"a":1}`, prev...)
	tests := []struct {
		name, target string
		hint         bool
	}{
		{"back to its topic", "braze.trigger", true},
		{"elsewhere", "other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := r.republished(m, tt.target)
			if out.Topic != tt.target || string(out.Key) != "user-1" || string(out.Value) != `{"a":1}` {
				t.Fatalf("republished %s %q %q", out.Topic, out.Key, out.Value)
			}
			var keys []string
			for _, h := range out.Headers {
				keys = append(keys, h.Key+"="+string(h.Value))
			}
			want := "content-type=application/json replay.id=run-1 replay.of=braze.dlq/1/7"
			if got := strings.Join(keys, " "); got != want {
				t.Fatalf("headers %q, want %q", got, want)
			}
			p, ok := out.WriterData.(partitionHint)
			if ok != tt.hint || (ok && p != 2) {
				t.Fatalf("partition hint %v %v, want %v", p, ok, tt.hint)
			}
			if got := (originalPartition{}).Balance(out, 0, 1, 2); tt.hint && got != 2 {
				t.Fatalf("balanced to %d, want 2", got)
			}
		})
	}
}

func TestReplayConfigValidate(t *testing.T) {
	ok := ReplayConfig{Brokers: []string{"b:9092"}, DLQTopic: "braze.dlq"}
	tests := []struct {
		name    string
		edit    func(*ReplayConfig)
		wantErr string
	}{
		{"valid", func(*ReplayConfig) {}, ""},
		{"no brokers", func(c *ReplayConfig) { c.Brokers = nil }, "brokers"},
		{"no topic", func(c *ReplayConfig) { c.DLQTopic = "" }, "dead-letter topic"},
		{"to the dlq", func(c *ReplayConfig) { c.To = "braze.dlq" }, "itself"},
		{"negative rate", func(c *ReplayConfig) { c.Rate = -1 }, "rate"},
		{"unknown reason", func(c *ReplayConfig) { c.Reasons = []string{"rejectd"} }, "unknown reason"},
		{"empty window", func(c *ReplayConfig) { c.Since, c.Until = time.Unix(10, 0), time.Unix(10, 0) }, "since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.validate()
			if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate() = %v, want error containing %q", err, tt.wantErr)
			}
			if err == nil && c.GroupID != DefaultReplayGroup {
				t.Fatalf("group %q, want the default", c.GroupID)
			}
		})
	}
}
