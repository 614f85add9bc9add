#!/usr/bin/env bash
# Regenerates docs/img/dashboard.png from live data (see docs/operations.md, "Dashboard").
#
# 1. builds the gateway and runs it in dev mode (in-process Kafka and Braze simulator) on ports that do not
#    clash with a default dev run: Kafka 127.0.0.1:19392, simulator 127.0.0.1:14010, admin 127.0.0.1:18080;
# 2. runs Prometheus (Debian's package; apt-get install prometheus) on 127.0.0.1:19090, scraping the gateway
#    every 5 s and evaluating deploy/prometheus/alerts.yaml;
# 3. publishes DURATION seconds of load through `gateway produce` with faults (load.py: bursts of batchable
#    triggers and messages, every example operation, some bad events; 503s, an outage that pauses the gateway,
#    recovery);
# 4. renders every panel of deploy/grafana/braze-gateway.json from Prometheus's answers to the panel's own
#    queries (render.py, matplotlib), and stops everything it started.
# Needs: go, python3 with matplotlib (pip install matplotlib), prometheus. Takes DURATION + about a minute.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
out="${1:-$repo/docs/img/dashboard.png}"
duration="${DURATION:-360}"
kafka=127.0.0.1:19392
braze=127.0.0.1:14010
admin=127.0.0.1:18080
prom=127.0.0.1:19090

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_http() { # url seconds
  local deadline=$(( $(date +%s) + $2 ))
  until curl -fs -o /dev/null "$1"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then echo "timed out waiting for $1" >&2; return 1; fi
    sleep 0.5
  done
}

echo "== building the gateway"
(cd "$repo" && go build -o "$work/gateway" ./cmd/gateway)

echo "== gateway (dev mode)"
GATEWAY_ADMIN_ADDR=$admin "$work/gateway" run -dev-kafka-addr $kafka -dev-braze-addr $braze >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_http "http://$admin/readyz" 60

echo "== prometheus"
cp "$repo/deploy/prometheus/alerts.yaml" "$work/alerts.yaml"
cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files: [alerts.yaml]
scrape_configs:
  - job_name: braze-gateway
    static_configs:
      - targets: ["$admin"]
YAML
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address=$prom >"$work/prometheus.log" 2>&1 &
pids+=($!)
wait_http "http://$prom/-/ready" 60

start=$(date +%s)
echo "== load: ${duration}s of bursts with faults"
python3 "$here/load.py" --gateway "$work/gateway" --brokers $kafka --sim "http://$braze" --duration "$duration"
sleep 5
end=$(date +%s)

echo "== rendering $out"
mkdir -p "$(dirname "$out")"
python3 "$here/render.py" --prometheus "http://$prom" --dashboard "$repo/deploy/grafana/braze-gateway.json" \
  --start "$start" --end "$end" --step 5 --rate-interval 20s --out "$out"
