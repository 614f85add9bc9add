package consumer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/kafkaread"
)

type handlerFunc func(context.Context, *Message) error

func (f handlerFunc) Handle(ctx context.Context, m *Message) error { return f(ctx, m) }

// TestRecordReadRawThenNotRouted: a record read while its topic was Raw
// (not decoded), accepted after the topic stopped being Raw (a routes
// reload), is decoded before it takes its place in the order, with the
// ordering key of its schedule key.
func TestRecordReadRawThenNotRouted(t *testing.T) {
	var raw atomic.Bool
	raw.Store(true)
	var handled []*Message
	cfg := DefaultConfig()
	cfg.Brokers, cfg.GroupID = []string{"127.0.0.1:1"}, "g"
	cfg.Topics = []Topic{{Name: "braze.schedule"}}
	g, err := New(cfg, Deps{
		Handler: handlerFunc(func(_ context.Context, m *Message) error { handled = append(handled, m); return nil }),
		Raw:     func(string) bool { return raw.Load() },
	})
	if err != nil {
		t.Fatal(err)
	}
	p := g.newPartition("braze.schedule", 0, 0)
	m := p.message(&kafkaread.Record{Offset: 5, Time: time.Now(), Key: []byte("k"), Value: []byte(
		`{"specversion":"1.0","id":"e1","source":"/s","type":"braze.campaigns.trigger.schedule.create","brazeschedulekey":"promo-1",` +
			`"data":{"campaign_id":"c","broadcast":true,"schedule":{"time":"2030-01-01T00:00:00Z"}}}`)})
	if m.Event != nil || m.Err != nil {
		t.Fatalf("a Raw topic's record was decoded at fetch: %v %v", m.Event, m.Err)
	}
	raw.Store(false)
	p.accept(context.Background(), m)
	if len(handled) != 1 || handled[0].Event == nil || handled[0].Event.ID != "e1" {
		t.Fatalf("handled %v (err %v), want the decoded event e1", handled, m.Err)
	}
	want := scheduleKey(m.Event.Workspace, "promo-1")
	found := false
	for i := range m.nkeys {
		found = found || m.keys[i].h == want
	}
	if m.nkeys != 2 || !found {
		t.Fatalf("ordering keys %v, want the Kafka key's and the schedule key's", m.keys[:m.nkeys])
	}
}

// TestRoom checks that a message offers its Event storage only while it
// holds no decoded event.
func TestRoom(t *testing.T) {
	m := &Message{Record: event.Record{Value: []byte(`{"specversion":"1.0","id":"1","source":"s","type":"braze.sends.id.create","data":{}}`)}}
	if m.Room() != &m.ev {
		t.Fatal("a raw message offers no room")
	}
	m.Decode()
	if m.Event == nil || m.Room() != nil {
		t.Fatalf("a decoded message (event %v, err %v) still offers its room", m.Event, m.Err)
	}
	bad := &Message{Record: event.Record{Value: []byte(`{`)}}
	if bad.Decode(); bad.Err == nil || bad.Room() != nil {
		t.Fatalf("a message that failed to decode (err %v) offers its room", bad.Err)
	}
}

// TestConfigLimits: the configuration's limits are the ones every decode
// is held to (consumed events, derived ones, the routes dry run).
func TestConfigLimits(t *testing.T) {
	if got, want := (Config{MaxRecordBytes: 5000, MaxJSONDepth: 7}).Limits(), (event.Limits{MaxRecordBytes: 5000, MaxDepth: 7}); got != want {
		t.Fatalf("Limits() = %+v, want %+v", got, want)
	}
}
