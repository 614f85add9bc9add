#!/usr/bin/env bash
# Creates the gateway's topics (idempotent). Run by the kafka-init service of docker-compose.yaml.
set -euo pipefail
bootstrap=${BOOTSTRAP:-kafka:9092}
partitions=${PARTITIONS:-6}
topics=/opt/kafka/bin/kafka-topics.sh
for t in braze.send braze.trigger braze.schedule braze.dlq; do
  "$topics" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$t" \
    --partitions "$partitions" --replication-factor 1
done
# Results: compacted, keyed by source/id (duplicate detection and schedule keys read it back).
"$topics" --bootstrap-server "$bootstrap" --create --if-not-exists --topic braze.results \
  --partitions "$partitions" --replication-factor 1 --config cleanup.policy=compact
"$topics" --bootstrap-server "$bootstrap" --list
