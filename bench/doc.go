// Package bench holds the gateway's benchmarks that span packages: the
// micro-benchmarks of the per-event hot path (hotpath_test.go: decoding a
// record, validating its request, building and classifying a 50-recipient
// request, encoding and reading back its result), what routing adds to
// an event's path (routing_test.go: a typical route's product event
// against the Braze event it becomes, in one run) and the in-process
// benchmarks of the other test files. The end-to-end benchmark, with Kafka,
// the real binary and the Braze simulator, is cmd/gatewaybench;
// docs/performance.md has the figures and the commands.
//
//	go test -run '^$' -bench . -benchmem ./bench/
package bench
