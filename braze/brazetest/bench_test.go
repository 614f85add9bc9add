package brazetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/brazegw/gateway/braze"
)

// BenchmarkTriggerSend measures trigger sends of 1 and 50 recipients through
// a real client over loopback, with Braze's default limits and bodies
// recorded.
func BenchmarkTriggerSend(b *testing.B) {
	for _, n := range []int{1, 50} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) { benchTriggerSend(b, n) })
	}
}

func benchTriggerSend(b *testing.B, recipients int) {
	s := NewServer(DevConfig(testKey))
	defer s.Close()
	client, err := braze.New(braze.Config{BaseURL: s.URL, APIKey: testKey}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			body := fmt.Sprintf(`{"campaign_id":%q,"recipients":%s}`, DevTriggerCampaignID, recipientsFrom(i*int64(recipients), recipients))
			if _, err := client.Post(context.Background(), "/campaigns/trigger/send", []byte(body)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func recipientsFrom(start int64, n int) string {
	out := []byte{'['}
	for i := range int64(n) {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"external_user_id":"u%d","trigger_properties":{"k":"v"}}`, start+i)
	}
	return string(append(out, ']'))
}
