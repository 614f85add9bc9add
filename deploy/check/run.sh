#!/usr/bin/env bash
# Checks the operations assets: promtool on the alert rules and their unit tests, then the Go checks of
# this module (Prometheus's parsers, the dashboard's queries against a running gateway's /metrics,
# Kubernetes, compose and Dockerfile invariants, secret scan). CI calls this script.
# Installs promtool (Debian's prometheus package) when it is missing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
prom_dir="$here/../prometheus"

if ! command -v promtool >/dev/null 2>&1; then
  echo "== installing promtool (Debian package prometheus)"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package may start a server; this check needs only promtool.
  if command -v systemctl >/dev/null 2>&1; then $sudo systemctl stop prometheus >/dev/null 2>&1 || true; fi
fi
promtool --version 2>&1 | head -1

echo "== promtool check rules"
(cd "$prom_dir" && promtool check rules alerts.yaml)
echo "== promtool test rules"
(cd "$prom_dir" && promtool test rules alerts_test.yaml)

echo "== go test (deploy/check)"
cd "$here"
# This module builds the gateway from ../.. (replace directive), so it needs the gateway's dependencies in its
# own go.mod/go.sum. When the gateway gains a dependency they fall behind: tidy them here rather than fail,
# and say so, so that the tidied files get committed.
if ! go list -test ./... >/dev/null 2>&1; then
  echo "deploy/check/go.mod is behind the gateway's dependencies; running go mod tidy (commit the result)"
  go mod tidy
fi
REQUIRE_PROMTOOL=1 go test -count=1 ./...
