// Package check verifies the operations assets under deploy/ and the
// Dockerfile: the Prometheus alert rules and their unit tests, the Grafana
// dashboard's queries, the Kubernetes manifests and the compose stack. The
// strongest check starts the real gateway in-process, publishes events and
// scrapes its /metrics to prove that every series the dashboard and the
// alerts name is exported.
//
// It is a module of its own so that the gateway's module does not depend on
// Prometheus's server code. Run it with deploy/check/run.sh, which also runs
// promtool on the rules.
package check
