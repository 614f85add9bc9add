package brazetest_test

import (
	"context"
	"fmt"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/brazetest"
)

// A test starts a simulator, points a client at it and inspects what Braze
// would have sent.
func ExampleNewServer() {
	srv := brazetest.NewServer(brazetest.DevConfig("test-key"))
	defer srv.Close()

	client, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: "test-key"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	body := `{"campaign_id":"` + brazetest.DevTriggerCampaignID + `","recipients":[{"external_user_id":"cust-1"}]}`
	resp, err := client.Post(context.Background(), "/campaigns/trigger/send", []byte(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.Status, resp.Message, resp.DispatchID != "", resp.RateLimit.Remaining)
	fmt.Println(srv.DeliveryCount("external_user_id:cust-1"))

	// Faults change at run time: the next two calls are rate limited.
	srv.SetFaults(brazetest.Faults{Storm429: &brazetest.Storm{Calls: 2}})
	_, err = client.Post(context.Background(), "/campaigns/trigger/send", []byte(body))
	fmt.Println(braze.IsRetryable(err))
	// Output:
	// 201 success true 249999
	// 1
	// true
}
