package gwtest

import (
	"encoding/json"
	"time"

	"github.com/segmentio/kafka-go"
)

// Event is a CloudEvent to publish.
type Event struct {
	ID, Source, Type string
	Data             any
	Time             time.Time
	Extensions       map[string]string
}

// Structured encodes ev as a structured-mode record keyed by key.
func (ev Event) Structured(key string) kafka.Message {
	m := map[string]any{"specversion": "1.0", "id": ev.ID, "source": ev.Source, "type": ev.Type, "data": ev.Data}
	if !ev.Time.IsZero() {
		m["time"] = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	for k, v := range ev.Extensions {
		m[k] = v
	}
	v, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return kafka.Message{Key: keyBytes(key), Value: v,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}
}

// Binary encodes ev as a binary-mode record keyed by key.
func (ev Event) Binary(key string) kafka.Message {
	v, err := json.Marshal(ev.Data)
	if err != nil {
		panic(err)
	}
	hs := []kafka.Header{
		{Key: "ce_specversion", Value: []byte("1.0")},
		{Key: "ce_id", Value: []byte(ev.ID)},
		{Key: "ce_source", Value: []byte(ev.Source)},
		{Key: "ce_type", Value: []byte(ev.Type)},
		{Key: "content-type", Value: []byte("application/json")},
	}
	if !ev.Time.IsZero() {
		hs = append(hs, kafka.Header{Key: "ce_time", Value: []byte(ev.Time.UTC().Format(time.RFC3339Nano))})
	}
	for k, val := range ev.Extensions {
		hs = append(hs, kafka.Header{Key: "ce_" + k, Value: []byte(val)})
	}
	return kafka.Message{Key: keyBytes(key), Value: v, Headers: hs}
}

func keyBytes(k string) []byte {
	if k == "" {
		return nil
	}
	return []byte(k)
}

// Trigger is a single-recipient campaigns.trigger.send event for user.
func Trigger(id, campaign, user string) Event {
	return Event{
		ID: id, Source: "/tests", Type: "braze.campaigns.trigger.send", Time: time.Now(),
		Data: map[string]any{
			"campaign_id": campaign,
			"recipients": []any{map[string]any{
				"external_user_id":   user,
				"trigger_properties": map[string]any{"order_id": id, "amount": 42.5},
			}},
		},
	}
}
