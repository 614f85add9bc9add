package rules

import (
	"fmt"
	"testing"
)

// BenchmarkCheckTriggerSend50 checks a full /campaigns/trigger/send batch:
// 50 recipients, each with its own trigger_properties.
func BenchmarkCheckTriggerSend50(b *testing.B) {
	body := []byte(edit(b, bodyCampaignTrigger, "recipients", recipientsJSON(50, true)))
	if err := Check(PathCampaignsTriggerSend, body, Options{}); err != nil {
		b.Fatalf("benchmark body is invalid: %v", err)
	}
	for _, valid := range []bool{false, true} {
		b.Run(fmt.Sprintf("ValidJSON=%v", valid), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := Check(PathCampaignsTriggerSend, body, Options{ValidJSON: valid}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkClassifyBroadcast classifies a broadcast call with an audience,
// the only classification that decodes the body twice.
func BenchmarkClassifyBroadcast(b *testing.B) {
	body := []byte(edit(b, bodyCampaignTrigger, "recipients", "-", "broadcast", "true", "audience",
		`{"AND":[{"custom_attribute":{"custom_attribute_name":"tier","comparison":"equals","value":"gold"}},`+
			`{"push_subscription_status":{"comparison":"is","value":"opted_in"}}]}`))
	b.ReportAllocs()
	for b.Loop() {
		if ch := Classify("POST", PathCampaignsTriggerSend, body); len(ch) != 2 {
			b.Fatal(ch)
		}
	}
}
