//go:build linux

// A real Apache Kafka cluster run by scripts/kafka.sh, for the tests that
// only a real cluster can give: broker restarts, leader changes, min ISR,
// log compaction. Linux only, like the child processes those tests run.

package gwtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// Environment variables that describe the cluster scripts/kafka.sh runs.
// KAFKA_BROKERS (the line "scripts/kafka.sh start" prints) names the
// brokers; these two let a test stop and start its nodes.
const (
	// EnvScriptDir is the cluster directory given to scripts/kafka.sh --dir.
	EnvScriptDir = "KAFKA_SCRIPT_DIR"
	// EnvNodes is the cluster's node count: 1 or 3.
	EnvNodes = "KAFKA_NODES"
)

// Cluster is a real Kafka cluster started by scripts/kafka.sh, whose nodes a
// test may stop and start. Node n is Kafka's node.id n and listens on
// 127.0.0.1:19092+2(n-1).
type Cluster struct {
	// Brokers is KAFKA_BROKERS.
	Brokers []string
	// Nodes is the number of nodes (1 or 3).
	Nodes int
	// Dir is the cluster directory (data and logs of node n in Dir/node-n).
	Dir string

	script string
}

// RealCluster returns the cluster described by KAFKA_BROKERS,
// KAFKA_SCRIPT_DIR and KAFKA_NODES. nodes is the topology the test needs:
// 1 or 3, or 0 for either.
//
// It skips the test when no such cluster is configured: KAFKA_SCRIPT_DIR
// and KAFKA_NODES are both unset (the test cannot run on the embedded
// broker, nor on a cluster it cannot restart), or the cluster has another
// number of nodes than the test needs. It fails the test when the
// variables are set only in part or disagree with the cluster directory.
func RealCluster(t testing.TB, nodes int) *Cluster {
	t.Helper()
	dir, n := os.Getenv(EnvScriptDir), os.Getenv(EnvNodes)
	if dir == "" && n == "" {
		t.Skipf("no real Kafka cluster configured: the tests only a real cluster can give need KAFKA_BROKERS, "+
			"%s (the --dir of scripts/kafka.sh) and %s (1 or 3), as .ci/run sets them; see docs/kafka.md", EnvScriptDir, EnvNodes)
	}
	brokers := os.Getenv("KAFKA_BROKERS")
	if dir == "" || n == "" || brokers == "" {
		t.Fatalf("incomplete cluster configuration: KAFKA_BROKERS=%q %s=%q %s=%q; set all three", brokers, EnvScriptDir, dir, EnvNodes, n)
	}
	count, err := strconv.Atoi(n)
	if err != nil || (count != 1 && count != 3) {
		t.Fatalf("%s=%q: want 1 or 3", EnvNodes, n)
	}
	env, err := os.ReadFile(filepath.Join(dir, "cluster.env"))
	if err != nil {
		t.Fatalf("%s=%s is not a scripts/kafka.sh cluster directory: %v", EnvScriptDir, dir, err)
	}
	if want := fmt.Sprintf("NODES=%d\n", count); !bytes.Contains(env, []byte(want)) {
		t.Fatalf("%s=%d but %s/cluster.env says:\n%s", EnvNodes, count, dir, env)
	}
	if want := "KAFKA_BROKERS=" + brokers + "\n"; !bytes.Contains(env, []byte(want)) {
		t.Fatalf("KAFKA_BROKERS=%s but %s/cluster.env says:\n%s", brokers, dir, env)
	}
	if nodes != 0 && nodes != count {
		t.Skipf("no %d-node cluster configured: this test needs %d nodes, %s=%d", nodes, nodes, EnvNodes, count)
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return &Cluster{Brokers: strings.Split(brokers, ","), Nodes: count, Dir: dir, script: filepath.Join(root, "scripts", "kafka.sh")}
}

// run runs scripts/kafka.sh with args on the cluster's directory and
// returns its standard output.
func (c *Cluster) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.script, args...)
	cmd.Env = append(os.Environ(), "KAFKA_DIR="+c.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("scripts/kafka.sh %s: %w\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

// StopNode stops node n (SIGTERM, a controlled shutdown) and returns when
// its process has exited. The node is started again when the test ends if
// the test has not done so.
func (c *Cluster) StopNode(t testing.TB, n int) {
	t.Helper()
	start := time.Now()
	if _, err := c.run(2*time.Minute, "stop-node", strconv.Itoa(n), "--dir", c.Dir); err != nil {
		t.Fatalf("stop node %d: %v", n, err)
	}
	t.Logf("node %d stopped in %v", n, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		if c.Running(n) {
			return
		}
		if _, err := c.run(3*time.Minute, "start-node", strconv.Itoa(n), "--dir", c.Dir); err != nil {
			t.Errorf("restart node %d after the test: %v", n, err)
		}
	})
}

// StartNode starts node n again and returns once it is a live broker
// holding a replica in a full ISR.
func (c *Cluster) StartNode(t testing.TB, n int) {
	t.Helper()
	start := time.Now()
	if _, err := c.run(3*time.Minute, "start-node", strconv.Itoa(n), "--dir", c.Dir); err != nil {
		t.Fatalf("start node %d: %v", n, err)
	}
	t.Logf("node %d started in %v", n, time.Since(start).Round(time.Millisecond))
}

// Running reports whether node n's process runs (its pid file names a live
// process).
func (c *Cluster) Running(n int) bool {
	b, err := os.ReadFile(filepath.Join(c.Dir, fmt.Sprintf("node-%d", n), "pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return false
	}
	_, err = os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// Client returns a kafka-go client of the cluster whose metadata is never
// older than the call (see freshClient), and a function that closes it.
func (c *Cluster) Client() (*kafka.Client, func()) { return freshClient(c.Brokers) }

// RunClass runs a Java main class on Kafka's classpath (scripts/kafka.sh
// run-class) and returns its standard output.
func (c *Cluster) RunClass(t testing.TB, class string, args ...string) string {
	t.Helper()
	out, err := c.run(2*time.Minute, append([]string{"run-class", class}, args...)...)
	if err != nil {
		t.Fatalf("run-class %s: %v", class, err)
	}
	return out
}

// Partition returns the metadata of partition p of topic, as the cluster
// has it now, once it has a live leader (waiting up to timeout). Broker IDs are node numbers; a
// replica on a node that is down has ID 0.
func (c *Cluster) Partition(t testing.TB, topic string, p int, timeout time.Duration) kafka.Partition {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cl, done := freshClient(c.Brokers)
		md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
		done()
		cancel()
		if err == nil {
			last = fmt.Sprintf("no partition %d in %+v", p, md.Topics)
			for _, tp := range md.Topics {
				for _, part := range tp.Partitions {
					if part.ID != p {
						continue
					}
					if part.Leader.ID > 0 && part.Error == nil {
						return part
					}
					last = fmt.Sprintf("leader %d, error %v", part.Leader.ID, part.Error)
				}
			}
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d has no leader after %v: %s", topic, p, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SetTopicConfig sets configuration entries of topic (incremental alter:
// other entries keep their values).
func (c *Cluster) SetTopicConfig(t testing.TB, topic string, kv ...string) {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("SetTopicConfig: odd key/value list %q", kv)
	}
	var entries []kafka.IncrementalAlterConfigsRequestConfig
	for i := 0; i < len(kv); i += 2 {
		entries = append(entries, kafka.IncrementalAlterConfigsRequestConfig{
			Name: kv[i], Value: kv[i+1], ConfigOperation: kafka.ConfigOperationSet})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, done := freshClient(c.Brokers)
	defer done()
	resp, err := cl.IncrementalAlterConfigs(ctx, &kafka.IncrementalAlterConfigsRequest{
		Resources: []kafka.IncrementalAlterConfigsRequestResource{{
			ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, Configs: entries}},
	})
	if err != nil {
		t.Fatalf("alter configs of %s: %v", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("alter configs of %s: %v", topic, r.Error)
		}
	}
}

// TopicConfig returns the value of configuration entry name of topic.
func (c *Cluster) TopicConfig(t testing.TB, topic, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, done := freshClient(c.Brokers)
	defer done()
	resp, err := cl.DescribeConfigs(ctx, &kafka.DescribeConfigsRequest{Resources: []kafka.DescribeConfigRequestResource{{
		ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{name}}}})
	if err != nil {
		t.Fatalf("describe configs of %s: %v", topic, err)
	}
	for _, r := range resp.Resources {
		if r.Error != nil {
			t.Fatalf("describe configs of %s: %v", topic, r.Error)
		}
		for _, e := range r.ConfigEntries {
			if e.ConfigName == name {
				return e.ConfigValue
			}
		}
	}
	t.Fatalf("topic %s has no config entry %s", topic, name)
	return ""
}
