#!/usr/bin/env bash
# kafka.sh fetches Apache Kafka's jars from Maven Central and runs a real KRaft cluster
# (combined broker+controller nodes) on loopback for the gateway's integration tests.
#
#   export "$(scripts/kafka.sh start)"          # one node, prints KAFKA_BROKERS=127.0.0.1:19092
#   go test ./consumer/ ./deadletter/
#   scripts/kafka.sh stop
#
# See docs/kafka.md for every command, port and setting.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: scripts/kafka.sh COMMAND [options]

commands:
  start [--nodes 1|3] [--dir DIR] [--fresh]
                      fetch jars if missing, format and start the cluster, wait until a topic
                      can be created, print KAFKA_BROKERS=... on stdout
  stop [--dir DIR]    stop every node started from DIR (SIGTERM, SIGKILL after a timeout)
  stop-node N         stop node N only (broker-restart tests)
  start-node N        start node N again and wait until it is back in the cluster
  status              show each node and the brokers in the cluster metadata
                      (exit 0 when every node runs, 1 otherwise)
  topics              list topics
  run-class CLASS [ARGS...]
                      run a Java main class on Kafka's classpath, e.g.
                      org.apache.kafka.tools.ConsoleProducer --bootstrap-server ... --topic t
  fetch               only fetch the jars into the cache
  clean [--dir DIR] [--cache]
                      stop the cluster and delete DIR (and, with --cache, the jar cache)

every command takes --dir DIR (default $KAFKA_DIR or <repo>/.cache/kafka).

environment:
  KAFKA_VERSION        Kafka version from Maven Central (default: the version the cluster
                       in DIR was made with, else 4.1.2)
  KAFKA_CACHE          jar cache (default $HOME/.cache/braze-gateway/kafka-$KAFKA_VERSION)
  KAFKA_DIR            cluster directory: configs, data, logs, pids
  KAFKA_HEAP_OPTS      heap of each node (default -Xms128m -Xmx512m)
  KAFKA_JVM_OPTS       other JVM options of each node
  KAFKA_START_TIMEOUT  seconds to wait for readiness (default 120)
  KAFKA_STOP_TIMEOUT   seconds between SIGTERM and SIGKILL (default 30)
  JAVA_HOME, MVN       java and maven to use (default: from PATH)
EOF
}

default_version=4.1.2
version_env=${KAFKA_VERSION:-}
script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$script_dir/.." && pwd)
pom=$script_dir/kafka/pom.xml
probe_src=$script_dir/kafka/KafkaProbe.java
dir=${KAFKA_DIR:-$repo_root/.cache/kafka}
# Set by resolve_version once the cluster directory is known.
KAFKA_VERSION="" cache="" libs="" probe_classes=""
java=${JAVA_HOME:+$JAVA_HOME/bin/}java
javac=${JAVA_HOME:+$JAVA_HOME/bin/}javac
mvn=${MVN:-mvn}
start_timeout=${KAFKA_START_TIMEOUT:-120}
stop_timeout=${KAFKA_STOP_TIMEOUT:-30}
heap_opts=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
jvm_opts=${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 -Djava.awt.headless=true}
tool_opts=(-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1)
base_port=19092

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

# resolve_version picks the Kafka version: $KAFKA_VERSION when set, else the version the
# cluster in $dir was made with, else the default; and the jar cache that goes with it.
resolve_version() {
	KAFKA_VERSION=$version_env
	if [[ -z $KAFKA_VERSION && -f $dir/cluster.env ]]; then
		KAFKA_VERSION=$(sed -n 's/^KAFKA_VERSION=//p' "$dir/cluster.env")
	fi
	KAFKA_VERSION=${KAFKA_VERSION:-$default_version}
	cache=${KAFKA_CACHE:-${HOME:?HOME is not set; set KAFKA_CACHE}/.cache/braze-gateway/kafka-$KAFKA_VERSION}
	libs=$cache/libs
	probe_classes=$cache/probe
}

# check_version refuses to run a node of an existing cluster with other Kafka jars than the
# ones it was made with.
check_version() {
	local made
	[[ -f $dir/cluster.env ]] || return 0
	made=$(sed -n 's/^KAFKA_VERSION=//p' "$dir/cluster.env")
	if [[ -n $made && $made != "$KAFKA_VERSION" ]]; then
		die "the cluster in $dir was made with Kafka $made, not $KAFKA_VERSION; unset KAFKA_VERSION, or start --fresh"
	fi
}

# ---------------------------------------------------------------- layout

broker_port() { echo $((base_port + 2 * ($1 - 1))); }
controller_port() { echo $((base_port + 1 + 2 * ($1 - 1))); }
node_dir() { echo "$dir/node-$1"; }

# brokers_of IDS... prints the bootstrap list of the given node ids.
brokers_of() {
	local out="" n
	for n in "$@"; do out+="${out:+,}127.0.0.1:$(broker_port "$n")"; done
	echo "$out"
}

# cluster_nodes prints the node count recorded in $dir, or nothing when there is no cluster.
cluster_nodes() {
	[[ -f $dir/cluster.env ]] || return 0
	sed -n 's/^NODES=//p' "$dir/cluster.env"
}

# ---------------------------------------------------------------- processes

# node_pid N prints the pid of node N when that process is running and is the Kafka server
# started from this directory; stale pid files are removed.
node_pid() {
	local pidfile pid
	pidfile=$(node_dir "$1")/pid
	[[ -f $pidfile ]] || return 0
	pid=$(<"$pidfile")
	if is_server "$pid" "$1"; then
		echo "$pid"
		return 0
	fi
	rm -f "$pidfile"
}

# is_server PID N succeeds when PID is the Kafka server of node N of this directory.
is_server() {
	local cmd
	[[ $1 =~ ^[0-9]+$ ]] && cmd=$(pid_cmdline "$1") &&
		[[ $cmd == *kafka.Kafka* && $cmd == *"$(node_dir "$2")/server.properties"* ]]
}

pid_cmdline() {
	if [[ -r /proc/$1/cmdline ]]; then
		tr '\0' ' ' <"/proc/$1/cmdline"
	else
		ps -o args= -p "$1" 2>/dev/null
	fi
}

# alive PID succeeds while PID runs; a zombie (exited, not yet reaped) counts as gone.
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	[[ -r /proc/$1/stat ]] || return 0
	local stat
	stat=$(<"/proc/$1/stat") || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# port_open PORT succeeds when something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

port_owner() {
	command -v ss >/dev/null 2>&1 || return 0
	ss -Hltnp "sport = :$1" 2>/dev/null | sed -n 's/.*users:(\(.*\))/\1/p' | head -1
}

# check_ports N... dies naming every busy port of the given nodes.
check_ports() {
	local n p busy=()
	for n in "$@"; do
		for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
			if port_open "$p"; then
				local who
				who=$(port_owner "$p")
				busy+=("127.0.0.1:$p (node $n${who:+, held by $who})")
			fi
		done
	done
	if ((${#busy[@]})); then
		die "ports busy, not starting: ${busy[*]}"
	fi
}

# ---------------------------------------------------------------- jars

check_java() {
	command -v "$java" >/dev/null 2>&1 || die "java not found (Kafka $KAFKA_VERSION needs Java 17+)"
	local v
	v=$("$java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\)[."].*/\1/p' | head -1)
	[[ -n $v && $v -ge 17 ]] || die "Java 17 or newer is needed, found: $("$java" -version 2>&1 | head -1)"
}

# fetch copies the jars into $libs unless the cache already holds them for this pom, then
# compiles the readiness probe. A second run downloads nothing and starts no Maven.
fetch() {
	check_java
	local stamp want
	want="$KAFKA_VERSION $(sha256sum "$pom" | cut -d' ' -f1)"
	stamp=$cache/libs.stamp
	if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
		command -v "$mvn" >/dev/null 2>&1 || die "maven ($mvn) not found; it fetches Kafka's jars"
		log "fetching Apache Kafka $KAFKA_VERSION jars into $libs"
		mkdir -p "$cache"
		rm -rf "$libs.tmp"
		if ! "$mvn" -B -Dstyle.color=never -f "$pom" dependency:copy-dependencies \
			-Dkafka.version="$KAFKA_VERSION" -Dkafka.libs="$libs.tmp" >"$cache/fetch.log" 2>&1; then
			grep -E 'ERROR|FAIL' "$cache/fetch.log" | head -20 >&2 || true
			die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION (full log: $cache/fetch.log)"
		fi
		[[ -f $libs.tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "kafka_2.13-$KAFKA_VERSION.jar missing after fetch"
		rm -rf "$libs"
		mv "$libs.tmp" "$libs"
		rm -rf "$probe_classes"
		echo "$want" >"$stamp"
	fi
	want=$(sha256sum "$probe_src" | cut -d' ' -f1)
	if [[ ! -f $probe_classes/KafkaProbe.class || $(cat "$probe_classes/stamp" 2>/dev/null) != "$want" ]]; then
		command -v "$javac" >/dev/null 2>&1 || die "javac not found: a JDK 17+ is needed"
		rm -rf "$probe_classes"
		mkdir -p "$probe_classes"
		"$javac" -nowarn --release 17 -cp "$libs/*" -d "$probe_classes" "$probe_src" >&2 ||
			die "cannot compile $probe_src"
		echo "$want" >"$probe_classes/stamp"
	fi
	write_tools_log4j
}

# tool CLASS ARGS... runs a Kafka command-line class with a quiet log configuration.
tool() {
	local cls=$1
	shift
	"$java" "${tool_opts[@]}" -Dlog4j2.configurationFile="$cache/tools-log4j2.properties" \
		-cp "$probe_classes:$libs/*" "$cls" "$@"
}

# ---------------------------------------------------------------- configuration

write_tools_log4j() {
	[[ -f $cache/tools-log4j2.properties ]] && return 0
	cat >"$cache/tools-log4j2.properties" <<'EOF'
status = error
appender.err.type = Console
appender.err.name = stderr
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = stderr
EOF
}

write_server_log4j() {
	cat >"$dir/log4j2.properties" <<'EOF'
# Each node logs INFO to node-N/logs/server.log (10 MB, one backup) and WARN and above to
# node-N/console.log, so a test run's output stays quiet. Kafka logs its own shutdown, so
# Log4j must not stop on its own shutdown hook first.
status = error
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = ${sys:kafka.logs.dir}/server.log
appender.file.filePattern = ${sys:kafka.logs.dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 1
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
appender.console.filter.threshold.type = ThresholdFilter
appender.console.filter.threshold.level = warn
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
rootLogger.appenderRef.console.ref = console
logger.request.name = kafka.request.logger
logger.request.level = warn
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = warn
EOF
}

# write_config N NODES writes node N's server.properties for a cluster of NODES nodes.
write_config() {
	local n=$1 nodes=$2 rf isr voters="" i nd
	nd=$(node_dir "$n")
	rf=$((nodes < 3 ? nodes : 3))
	isr=$((rf < 2 ? rf : 2))
	for ((i = 1; i <= nodes; i++)); do voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"; done
	mkdir -p "$nd/data" "$nd/logs"
	cat >"$nd/server.properties" <<EOF
# Written by scripts/kafka.sh: node $n of a $nodes-node KRaft cluster on loopback.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$nd/data

# Topics: created on first use, three partitions, replicated on up to three nodes.
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=1
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr

# Consumer groups: no initial rebalance delay, short session timeouts allowed.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000

# Retention and compaction run every second so tests can observe them; tests set
# segment.bytes, cleanup.policy and retention per topic.
log.retention.check.interval.ms=1000
log.cleaner.backoff.ms=1000
log.cleaner.dedupe.buffer.size=16777216
log.segment.delete.delay.ms=1000
file.delete.delay.ms=1000

# Small machine: few threads.
num.network.threads=2
num.io.threads=2
background.threads=2
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
EOF
}

# ---------------------------------------------------------------- start and stop

# launch N starts node N in the background, in its own session, and records its pid.
launch() {
	local n=$1 nd pid i
	nd=$(node_dir "$n")
	: >"$nd/console.log"
	# shellcheck disable=SC2086 # the option strings are lists of words
	setsid "$java" $heap_opts $jvm_opts \
		-Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$nd/logs" \
		-cp "$libs/*" kafka.Kafka "$nd/server.properties" \
		</dev/null >>"$nd/console.log" 2>&1 9>&- &
	pid=$!
	# setsid execs java in place of the background shell (which leads no process group), so
	# $! is the server's pid; check that before recording it.
	for ((i = 0; i < 100; i++)); do
		if is_server "$pid" "$n"; then
			echo "$pid" >"$nd/pid"
			return 0
		fi
		alive "$pid" || break
		sleep 0.1
	done
	node_died "$n"
}

node_died() {
	local nd
	nd=$(node_dir "$1")
	log "node $1 exited; last lines of $nd/console.log and $nd/logs/server.log:"
	tail -n 20 "$nd/console.log" >&2 || true
	tail -n 30 "$nd/logs/server.log" >&2 2>/dev/null || true
	return 1
}

running_nodes() {
	local nodes=$1 n out=()
	for ((n = 1; n <= nodes; n++)); do
		[[ -n $(node_pid "$n") ]] && out+=("$n")
	done
	echo "${out[*]}"
}

# wait_ready IDS... waits until each node runs, listens, and the cluster accepts a topic
# replicated on all of them.
wait_ready() {
	local deadline=$((SECONDS + start_timeout)) n left
	for n in "$@"; do
		until port_open "$(broker_port "$n")"; do
			[[ -n $(node_pid "$n") ]] || node_died "$n" || return 1
			((SECONDS < deadline)) || {
				log "node $n does not listen on $(broker_port "$n") after ${start_timeout}s"
				return 1
			}
			sleep 0.2
		done
	done
	left=$((deadline - SECONDS))
	((left > 0)) || left=1
	local ids
	ids=$(
		IFS=,
		echo "$*"
	)
	tool KafkaProbe ready "$(brokers_of "$@")" "$ids" "$left" || {
		for n in "$@"; do [[ -n $(node_pid "$n") ]] || node_died "$n" || true; done
		return 1
	}
}

# stop_nodes N... sends SIGTERM to the given nodes, waits, then SIGKILLs what is left.
stop_nodes() {
	local n pid pids=() nodes=()
	for n in "$@"; do
		pid=$(node_pid "$n")
		[[ -n $pid ]] || continue
		kill -TERM "$pid" 2>/dev/null || true
		pids+=("$pid")
		nodes+=("$n")
	done
	((${#pids[@]})) || return 0
	log "stopping node(s) ${nodes[*]}"
	local deadline=$((SECONDS + stop_timeout)) i
	for i in "${!pids[@]}"; do
		while alive "${pids[$i]}" && ((SECONDS < deadline)); do sleep 0.2; done
		if alive "${pids[$i]}"; then
			log "node ${nodes[$i]} still running after ${stop_timeout}s, sending SIGKILL"
			kill -KILL "${pids[$i]}" 2>/dev/null || true
			while alive "${pids[$i]}"; do sleep 0.1; done
		fi
		rm -f "$(node_dir "${nodes[$i]}")/pid"
	done
}

new_cluster_id() {
	local id
	# A Kafka Uuid is 16 random bytes in URL-safe base64 without padding; like Kafka's own
	# generator, avoid a leading '-' so the id cannot be taken for an option.
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		[[ $id == -* ]] || break
	done
	echo "$id"
}

cmd_start() {
	local want="" fresh=0
	while (($#)); do
		case $1 in
		--nodes) want=${2:?--nodes needs 1 or 3}; shift 2 ;;
		--fresh) fresh=1; shift ;;
		*) die "start: unknown option $1" ;;
		esac
	done
	[[ -z $want || $want == 1 || $want == 3 ]] || die "--nodes must be 1 or 3"
	mkdir -p "$dir"
	lock
	if ((fresh)) && [[ -f $dir/cluster.env ]]; then
		stop_nodes 1 2 3
		rm -rf "$dir"/node-[0-9]* "$dir/cluster.env"
		resolve_version
	fi
	check_version

	local nodes
	nodes=$(cluster_nodes)
	if [[ -n $nodes && -n $want && $want != "$nodes" ]]; then
		die "$dir holds a $nodes-node cluster; run 'scripts/kafka.sh clean' or pass --fresh or another --dir"
	fi
	fetch
	if [[ -z $nodes ]]; then
		nodes=${want:-1}
		local all=() n
		for ((n = 1; n <= nodes; n++)); do all+=("$n"); done
		check_ports "${all[@]}"
		log "formatting a $nodes-node KRaft cluster in $dir"
		write_server_log4j
		local cid pids=()
		cid=$(new_cluster_id)
		rm -rf "$dir"/node-[0-9]* # left by an interrupted start: never formatted completely
		for n in "${all[@]}"; do write_config "$n" "$nodes"; done
		for n in "${all[@]}"; do
			tool kafka.tools.StorageTool format -t "$cid" -c "$(node_dir "$n")/server.properties" \
				>"$(node_dir "$n")/format.log" 2>&1 &
			pids+=($!)
		done
		for n in "${!pids[@]}"; do
			wait "${pids[$n]}" || {
				cat "$(node_dir "${all[$n]}")/format.log" >&2
				rm -rf "$dir"/node-[0-9]*
				die "formatting node ${all[$n]} failed"
			}
		done
		printf 'NODES=%s\nCLUSTER_ID=%s\nKAFKA_VERSION=%s\nKAFKA_BROKERS=%s\n' \
			"$nodes" "$cid" "$KAFKA_VERSION" "$(brokers_of "${all[@]}")" >"$dir/cluster.env"
	fi

	local todo=() n
	for ((n = 1; n <= nodes; n++)); do [[ -n $(node_pid "$n") ]] || todo+=("$n"); done
	if ((${#todo[@]})); then
		check_ports "${todo[@]}"
		log "starting node(s) ${todo[*]} (Kafka $KAFKA_VERSION)"
		started=("${todo[@]}")
		trap 'stop_nodes "${started[@]}"' EXIT
		for n in "${todo[@]}"; do launch "$n" || die "node $n failed to start"; done
	fi
	local all=()
	for ((n = 1; n <= nodes; n++)); do all+=("$n"); done
	wait_ready "${all[@]}" || die "cluster not ready; logs in $dir/node-*/"
	trap - EXIT
	log "ready: $nodes node(s)"
	echo "KAFKA_BROKERS=$(brokers_of "${all[@]}")"
}

cmd_stop() {
	(($# == 0)) || die "stop: unknown option $1"
	[[ -d $dir ]] || return 0
	lock
	stop_nodes 1 2 3
}

node_arg() {
	local n=${1:-} nodes
	nodes=$(cluster_nodes)
	[[ -n $nodes ]] || die "no cluster in $dir; run 'scripts/kafka.sh start' first"
	if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > nodes)); then
		die "node must be 1..$nodes"
	fi
	echo "$n"
}

cmd_stop_node() {
	local n
	n=$(node_arg "${1:-}")
	lock
	stop_nodes "$n"
}

cmd_start_node() {
	local n nodes live
	n=$(node_arg "${1:-}")
	nodes=$(cluster_nodes)
	lock
	check_version
	fetch
	if [[ -z $(node_pid "$n") ]]; then
		check_ports "$n"
		log "starting node $n"
		started=("$n")
		trap 'stop_nodes "${started[@]}"' EXIT
		launch "$n" || die "node $n failed to start"
	fi
	read -r -a live <<<"$(running_nodes "$nodes")"
	wait_ready "${live[@]}" || die "node $n did not rejoin the cluster; logs in $(node_dir "$n")/"
	trap - EXIT
	log "node $n is back; live nodes: ${live[*]}"
}

cmd_status() {
	local nodes n pid rc=0 live=()
	nodes=$(cluster_nodes)
	if [[ -z $nodes ]]; then
		echo "no cluster in $dir"
		return 1
	fi
	echo "cluster in $dir: $nodes node(s), Kafka $(sed -n 's/^KAFKA_VERSION=//p' "$dir/cluster.env")"
	for ((n = 1; n <= nodes; n++)); do
		pid=$(node_pid "$n")
		if [[ -n $pid ]]; then
			echo "node $n: running (pid $pid), broker 127.0.0.1:$(broker_port "$n"), controller 127.0.0.1:$(controller_port "$n")"
			live+=("$n")
		else
			echo "node $n: stopped"
			rc=1
		fi
	done
	if ((${#live[@]})); then
		fetch
		tool KafkaProbe brokers "$(brokers_of "${live[@]}")" 10 || rc=1
		echo "KAFKA_BROKERS=$(brokers_of "${live[@]}")"
	fi
	return "$rc"
}

cmd_topics() {
	local nodes live=()
	nodes=$(cluster_nodes)
	[[ -n $nodes ]] || die "no cluster in $dir"
	read -r -a live <<<"$(running_nodes "$nodes")"
	((${#live[@]})) || die "no node is running"
	fetch
	tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(brokers_of "${live[@]}")" --list
}

cmd_run_class() {
	(($#)) || die "run-class needs a class name"
	fetch
	tool "$@"
}

remove_cluster_dir() {
	# Delete only what this script creates, so a mistaken --dir cannot wipe anything else.
	rm -rf "$dir"/node-[0-9]* "$dir/cluster.env" "$dir/log4j2.properties" "$dir/.lock"
	rmdir "$dir" 2>/dev/null || log "left $dir in place: it holds files kafka.sh did not create"
}

cmd_clean() {
	local all_cache=0
	while (($#)); do
		case $1 in
		--cache) all_cache=1; shift ;;
		*) die "clean: unknown option $1" ;;
		esac
	done
	if [[ -d $dir ]]; then
		lock
		stop_nodes 1 2 3
		remove_cluster_dir
		log "removed $dir"
	fi
	if ((all_cache)) && [[ -d $cache ]]; then
		rm -rf "$cache"
		log "removed $cache"
	fi
}

# lock serialises commands on one cluster directory.
lock() {
	exec 9>"$dir/.lock"
	if command -v flock >/dev/null 2>&1; then
		flock -w 300 9 || die "another kafka.sh command holds $dir/.lock"
	fi
}

# ---------------------------------------------------------------- main

main() {
	local cmd=${1:-}
	(($#)) && shift
	if [[ $cmd == run-class ]]; then
		resolve_version
		cmd_run_class "$@"
		return
	fi
	# --dir may appear anywhere among the options.
	local args=()
	while (($#)); do
		case $1 in
		--dir)
			[[ -n ${2:-} ]] || die "--dir needs a directory"
			dir=$(realpath -m -- "$2")
			shift 2
			;;
		*)
			args+=("$1")
			shift
			;;
		esac
	done
	set -- "${args[@]+"${args[@]}"}"
	resolve_version
	started=()
	case $cmd in
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	stop-node) cmd_stop_node "$@" ;;
	start-node) cmd_start_node "$@" ;;
	status) cmd_status "$@" ;;
	topics) cmd_topics "$@" ;;
	fetch) (($# == 0)) || die "fetch takes no arguments"; fetch ;;
	clean) cmd_clean "$@" ;;
	-h | --help | help) usage ;;
	*)
		usage >&2
		exit 2
		;;
	esac
}

# A start interrupted by Ctrl-C or SIGTERM still runs its EXIT trap, which stops the nodes it
# had launched.
trap 'exit 130' INT
trap 'exit 143' TERM
main "$@"
