package braze_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/brazegw/gateway/braze"
)

// ExampleClient_TriggerCampaign triggers an API-triggered campaign for two
// recipients. The httptest server stands in for the Braze REST host.
func ExampleClient_TriggerCampaign() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Println(r.Method, r.URL.Path)
		fmt.Println(string(body))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"dispatch_id":"a81f33c09d2e4b7c","message":"success"}`)
	}))
	defer srv.Close()

	c, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: "00000000-0000-0000-0000-000000000000"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := c.TriggerCampaign(context.Background(), &braze.CampaignTriggerSendRequest{
		CampaignID:        "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
		TriggerProperties: json.RawMessage(`{"coupon":"SPRING15"}`),
		Recipients: []braze.Recipient{
			{ExternalUserID: "cust-2001"},
			{UserAlias: &braze.UserAlias{AliasName: "lead-77", AliasLabel: "crm_id"}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status, res.Message, res.DispatchID, len(res.Errors))
	// Output:
	// POST /campaigns/trigger/send
	// {"campaign_id":"c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f","trigger_properties":{"coupon":"SPRING15"},"recipients":[{"external_user_id":"cust-2001"},{"user_alias":{"alias_name":"lead-77","alias_label":"crm_id"}}]}
	// 201 success a81f33c09d2e4b7c 0
}

// ExampleError shows how a caller tells a rate-limited call, which it should
// retry once Braze's window resets, from a rejected one.
func ExampleError() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == braze.PathMessagesSend {
			w.Header().Set("X-RateLimit-Limit", "250000")
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", "1777777200")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"message":"Rate Limited"}`)
			return
		}
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"message":"Invalid Campaign ID"}`)
	}))
	defer srv.Close()

	c, err := braze.New(braze.Config{BaseURL: srv.URL, APIKey: "00000000-0000-0000-0000-000000000000"}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	_, err1 := c.SendMessages(ctx, &braze.MessagesSendRequest{ExternalUserIDs: []string{"cust-1001"}})
	_, err2 := c.TriggerCampaign(ctx, &braze.CampaignTriggerSendRequest{CampaignID: "nope", Broadcast: braze.Bool(true)})
	for _, err := range []error{err1, err2} {
		var be *braze.Error
		if !errors.As(err, &be) {
			continue
		}
		fmt.Println(err)
		if at, ok := be.RetryAt(time.Now()); ok {
			fmt.Println("  retry at", at.UTC().Format(time.RFC3339))
		}
		fmt.Println("  retryable:", braze.IsRetryable(err), "rejected:", be.Rejected())
	}
	// Output:
	// braze /messages/send: status 429: Rate Limited
	//   retry at 2026-05-03T03:00:00Z
	//   retryable: true rejected: false
	// braze /campaigns/trigger/send: status 400: Invalid Campaign ID
	//   retryable: false rejected: true
}
