package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/internal/gwtest"
	"github.com/brazegw/gateway/internal/testpki"
	"github.com/brazegw/gateway/topics"
)

// TestKafkaSecurity runs the gateway end to end against brokers of its
// own that require SASL/SCRAM, TLS with client certificates, and both with
// SASL/PLAIN: events are delivered, results written and offsets committed
// through the secured connections, and the brokers refuse a plaintext
// client without credentials, so nothing could have taken a shortcut.
func TestKafkaSecurity(t *testing.T) {
	t.Parallel()
	pki := testpki.New(t)
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte("scram-Pa55-word\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{
		Certificates: []tls.Certificate{pki.Server},
		ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool, MinVersion: tls.VersionTLS12,
	}
	tlsOn := consumer.TLSConfig{Enabled: true, CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	tests := []struct {
		name   string
		broker []kfake.Opt
		sec    consumer.Security
	}{
		{"sasl scram-sha-256", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "gateway", "scram-Pa55-word")},
			consumer.Security{SASL: consumer.SASLConfig{Mechanism: consumer.SASLScramSHA256, Username: "gateway", PasswordFile: pwFile}}},
		{"sasl scram-sha-512", []kfake.Opt{kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "gateway", "scram-Pa55-word")},
			consumer.Security{SASL: consumer.SASLConfig{Mechanism: consumer.SASLScramSHA512, Username: "gateway", Password: "scram-Pa55-word"}}},
		{"tls", []kfake.Opt{kfake.TLS(serverTLS)},
			consumer.Security{TLS: tlsOn}},
		{"tls and sasl plain", []kfake.Opt{kfake.TLS(serverTLS), kfake.EnableSASL(), kfake.Superuser("PLAIN", "gateway", "plain-Pa55-word")},
			consumer.Security{TLS: tlsOn, SASL: consumer.SASLConfig{Mechanism: consumer.SASLPlain, Username: "gateway", Password: "plain-Pa55-word"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runSecured(t, tc.broker, tc.sec)
		})
	}
}

// runSecured starts a broker with opts, runs the in-process gateway
// against it with sec and checks that events flow end to end.
func runSecured(t *testing.T, opts []kfake.Opt, sec consumer.Security) {
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.GroupMinSessionTimeout(500 * time.Millisecond)}, opts...)
	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(cluster.Close)
	sim := brazetest.NewServer(gwtest.SimConfig())
	t.Cleanup(sim.Close)
	env := &gwtest.Env{T: t, Brokers: cluster.ListenAddrs(), Sim: sim, Prefix: "sec.", Partitions: 3}

	tr, err := sec.Transport()
	if err != nil {
		t.Fatalf("transport: %v", err)
	}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	plaintext := &kafka.Client{Addr: kafka.TCP(env.Brokers...), Timeout: 3 * time.Second}
	if _, err := plaintext.Metadata(ctx, &kafka.MetadataRequest{}); err == nil {
		t.Fatal("the broker answers a plaintext client without credentials")
	}
	var specs []topics.Spec
	for _, name := range []string{env.Send(), env.Trigger(), env.Schedule(), env.DLQ()} {
		specs = append(specs, topics.Spec{Name: name, Partitions: env.Partitions})
	}
	specs = append(specs, topics.Spec{Name: env.Results(), Partitions: env.Partitions, Compacted: true})
	if err := topics.Create(ctx, env.Brokers, tr, specs); err != nil {
		t.Fatalf("create topics: %v", err)
	}

	cfg := env.Config()
	cfg.Kafka.Security = sec
	gw := env.Start(cfg)

	const n = 60
	msgs := make([]kafka.Message, n)
	for i := range msgs {
		user := fmt.Sprintf("sec-user-%d", i)
		msgs[i] = gwtest.Trigger(fmt.Sprintf("sec-%d", i), "c-sec", user).Structured(user)
	}
	w := &kafka.Writer{Addr: kafka.TCP(env.Brokers...), Topic: env.Trigger(), Transport: tr,
		Balancer: &kafka.Murmur2Balancer{}, RequiredAcks: kafka.RequireAll, BatchTimeout: 5 * time.Millisecond}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatalf("produce: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("produce: %v", err)
	}

	gwtest.Eventually(t, 60*time.Second, func() bool { return len(sim.Deliveries()) >= n },
		"delivered %d of %d", len(sim.Deliveries()), n)
	for i := range n {
		if c := sim.DeliveryCount(fmt.Sprintf("external_user_id:sec-user-%d", i)); c != 1 {
			t.Errorf("sec-user-%d delivered %d times, want 1", i, c)
		}
	}
	admin := &kafka.Client{Addr: kafka.TCP(env.Brokers...), Transport: tr, Timeout: 5 * time.Second}
	gwtest.Eventually(t, 30*time.Second, func() bool {
		left, err := secUncommitted(admin, cfg.Kafka.GroupID, env.Trigger())
		return err == nil && left == 0
	}, "group %s has not committed every record", cfg.Kafka.GroupID)
	gwtest.Eventually(t, 30*time.Second, func() bool {
		ends, err := secEndOffsets(admin, env.Results())
		total := int64(0)
		for _, e := range ends {
			total += e
		}
		return err == nil && total == n
	}, "the results topic does not hold %d records", n)
	if code, body := gw.Get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
	if v := secCounter(t, gw.Registry, "braze_gateway_output_write_errors_total"); v != 0 {
		t.Errorf("%v output write errors, want 0", v)
	}
	gw.Stop(t)
}

// secEndOffsets returns the end offset of every partition of topic.
func secEndOffsets(cl *kafka.Client, topic string) (map[int]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, err
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			req[topic] = append(req[topic], kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, err
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, po.Error
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// secUncommitted returns how many records of topic lie past group's committed
// offsets.
func secUncommitted(cl *kafka.Client, group, topic string) (int64, error) {
	ends, err := secEndOffsets(cl, topic)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var parts []int
	for p := range ends {
		parts = append(parts, p)
	}
	resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err != nil {
		return 0, err
	}
	if resp.Error != nil {
		return 0, resp.Error
	}
	var left int64
	for _, p := range resp.Topics[topic] {
		if p.Error != nil {
			return 0, p.Error
		}
		left += ends[p.Partition] - max(p.CommittedOffset, 0)
	}
	return left, nil
}

// secCounter sums the series of a counter family in reg (0 if absent).
func secCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestKafkaSecurityConfig checks kafka.tls and kafka.sasl as the
// configuration file and the environment give them: they are read, the
// password comes from the environment when set there, every invalid
// setting is named, and no error shows the password.
func TestKafkaSecurityConfig(t *testing.T) {
	t.Parallel()
	const secret = "Kafka-Pa55-6f1b2c"
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := `
kafka:
  brokers: [127.0.0.1:9093]
braze:
  workspaces:
    default: {url: "https://rest.iad-01.braze.com", api_key: "k-0123456789"}
`
	tests := []struct {
		name string
		yaml string
		env  map[string]string
		want []string // substrings of the validation error; none means valid
		sec  consumer.Security
	}{
		{name: "scram with password file", yaml: `
  tls: {enabled: true, server_name: kafka.internal}
  sasl: {mechanism: scram-sha-512, username: gateway, password_file: ` + pwFile + `}`,
			sec: consumer.Security{TLS: consumer.TLSConfig{Enabled: true, ServerName: "kafka.internal"},
				SASL: consumer.SASLConfig{Mechanism: "scram-sha-512", Username: "gateway", PasswordFile: pwFile}}},
		{name: "password from the environment replaces the file's", yaml: `
  sasl: {mechanism: PLAIN, username: gateway, password_file: /nonexistent}`,
			env: map[string]string{app.EnvKafkaSASLPassword: secret},
			sec: consumer.Security{SASL: consumer.SASLConfig{Mechanism: "PLAIN", Username: "gateway", Password: secret}}},
		{name: "password file from the environment", yaml: `
  sasl: {mechanism: scram-sha-256, username: gateway, password: ` + secret + `}`,
			env: map[string]string{app.EnvKafkaSASLPasswordFile: pwFile},
			sec: consumer.Security{SASL: consumer.SASLConfig{Mechanism: "scram-sha-256", Username: "gateway", PasswordFile: pwFile}}},
		{name: "unknown mechanism", yaml: `
  sasl: {mechanism: oauthbearer, username: gateway, password: ` + secret + `}`,
			want: []string{`kafka.sasl.mechanism "oauthbearer"`}},
		{name: "no password", yaml: `
  sasl: {mechanism: scram-sha-256, username: gateway}`,
			want: []string{"kafka.sasl: password or password_file is required"}},
		{name: "two passwords", yaml: `
  sasl: {mechanism: plain, username: gateway, password: ` + secret + `, password_file: ` + pwFile + `}`,
			want: []string{"set only one of password and password_file"}},
		{name: "no username", yaml: `
  sasl: {mechanism: plain, password: ` + secret + `}`,
			want: []string{"kafka.sasl.username is required"}},
		{name: "tls settings without tls", yaml: `
  tls: {ca_file: /etc/ca.pem}`,
			want: []string{"kafka.tls.ca_file is set but kafka.tls.enabled is false"}},
		{name: "client cert without key", yaml: `
  tls: {enabled: true, cert_file: /etc/client.pem}`,
			want: []string{"kafka.tls.cert_file and kafka.tls.key_file must be set together"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gateway.yaml")
			doc := strings.Replace(base, "  brokers: [127.0.0.1:9093]\n", "  brokers: [127.0.0.1:9093]"+tc.yaml+"\n", 1)
			if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := app.Load(path, func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			err = cfg.Validate()
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the validation error shows the password: %v", err)
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				if cfg.Kafka.Security != tc.sec {
					t.Errorf("loaded %+v, want %+v", cfg.Kafka.Security, tc.sec)
				}
				if err := cfg.ApplyKafkaSecurity(); err != nil {
					t.Fatalf("ApplyKafkaSecurity: %v", err)
				}
				if cfg.Kafka.Dialer == nil || cfg.Outputs.Transport == nil || cfg.Kafka.Dialer.SASLMechanism == nil ||
					(cfg.Kafka.Dialer.TLS != nil) != tc.sec.TLS.Enabled || (cfg.Outputs.Transport.TLS != nil) != tc.sec.TLS.Enabled {
					t.Errorf("dialer %+v transport %+v do not carry the settings", cfg.Kafka.Dialer, cfg.Outputs.Transport)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want an error containing %q", err, w)
				}
			}
			if _, err := app.New(cfg, nil, nil); err == nil {
				t.Error("app.New accepted the configuration")
			}
		})
	}

	t.Run("unreadable files are named when the gateway is built", func(t *testing.T) {
		cfg := app.DefaultConfig()
		cfg.Kafka.Brokers = []string{"127.0.0.1:9093"}
		cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: "https://rest.iad-01.braze.com", APIKey: "k-0123456789"}}
		for _, tc := range []struct {
			sec  consumer.Security
			want string
		}{
			{consumer.Security{SASL: consumer.SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: filepath.Join(dir, "missing")}}, "kafka.sasl.password_file"},
			{consumer.Security{TLS: consumer.TLSConfig{Enabled: true, CAFile: pwFile}}, "kafka.tls.ca_file"},
		} {
			cfg.Kafka.Security = tc.sec
			_, err := app.New(cfg, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("app.New = %v, want an error naming %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the password: %v", err)
			}
		}
	})

	t.Run("no security leaves the dialer alone", func(t *testing.T) {
		cfg := app.DefaultConfig()
		own := &kafka.Dialer{ClientID: "own"}
		cfg.Kafka.Dialer = own
		if err := cfg.ApplyKafkaSecurity(); err != nil || cfg.Kafka.Dialer != own || cfg.Outputs.Transport != nil {
			t.Errorf("ApplyKafkaSecurity() = %v, dialer %p (want %p), transport %v (want nil)", err, cfg.Kafka.Dialer, own, cfg.Outputs.Transport)
		}
	})
}
