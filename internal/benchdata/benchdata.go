// Package benchdata holds what the gateway's benchmarks share so that they
// measure the same thing: the typical route of cmd/gatewaybench's routed
// scenario and of bench.BenchmarkRoutingAdds.
package benchdata

import "fmt"

// otpRoutes is a typical route (docs/routing.md): a condition on the
// type, one campaign trigger for the user with three trigger properties.
const otpRoutes = `routes:
  - name: otp
    topics: [%s]
    when: type == "com.example.login.otp_requested"
    emit:
      - type: braze.campaigns.trigger.send
        partition_key: data.user_id
        body:
          campaign_id: '"%s"'
          recipients:
            - external_user_id: data.user_id
              trigger_properties:
                otp: data.otp
                first_name: data.profile.first_name
                sent_ns: data.sent_ns
`

// OTPRoutes returns the routes file of the typical route over topic: it
// turns a com.example.login.otp_requested product event, whose data has
// user_id, otp, profile.first_name and sent_ns, into a trigger of the
// campaign for the user with those three properties.
func OTPRoutes(topic, campaign string) []byte {
	return fmt.Appendf(nil, otpRoutes, topic, campaign)
}
