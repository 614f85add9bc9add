package consumer

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/internal/testpki"
)

// TestScramRFC7677 runs the SCRAM-SHA-256 exchange of RFC 7677 §3 with its
// fixed client nonce and checks every message against the RFC.
func TestScramRFC7677(t *testing.T) {
	m := newScram(SASLScramSHA256, "user", "pencil")
	m.nonce = func() (string, error) { return "rOprNGfwEbeRWgbNEkqO", nil }
	if m.Name() != "SCRAM-SHA-256" {
		t.Fatalf("Name() = %q", m.Name())
	}
	sess, first, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(first), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"; got != want {
		t.Errorf("client-first = %q, want %q", got, want)
	}
	done, final, err := sess.Next(context.Background(), []byte("r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"))
	if err != nil || done {
		t.Fatalf("server-first: done %v err %v", done, err)
	}
	if got, want := string(final), "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="; got != want {
		t.Errorf("client-final = %q, want %q", got, want)
	}
	done, resp, err := sess.Next(context.Background(), []byte("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="))
	if err != nil || !done || resp != nil {
		t.Errorf("server-final: done %v resp %q err %v; want done", done, resp, err)
	}
	if _, _, err := sess.Next(context.Background(), []byte("v=x")); err == nil {
		t.Error("a third challenge was accepted")
	}
}

// TestScramRefusesBadBrokers checks that the client aborts on every
// server message that breaks the protocol or fails to prove the broker
// knows the credentials.
func TestScramRefusesBadBrokers(t *testing.T) {
	const goodFirst = "r=cnonceSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
	tests := []struct {
		name, serverFirst, serverFinal string
		want                           string
	}{
		{"nonce not extended", "r=othernonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"nonce not longer", "r=cnonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "nonce"},
		{"extension", "m=ext,r=cnonceSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "", "extension"},
		{"bad salt", "r=cnonceSNONCE,s=!!,i=4096", "", "salt"},
		{"no iterations", "r=cnonceSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", "", "iteration"},
		{"too many iterations", "r=cnonceSNONCE,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999", "", "iteration"},
		{"malformed", "garbage", "", "malformed"},
		{"broker error", goodFirst, "e=invalid-proof", "refused"},
		{"wrong signature", goodFirst, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", "signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newScram(SASLScramSHA512, "user", "pencil")
			m.nonce = func() (string, error) { return "cnonce", nil }
			sess, _, err := m.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = sess.Next(context.Background(), []byte(tc.serverFirst))
			if tc.serverFinal != "" {
				if err != nil {
					t.Fatalf("server-first: %v", err)
				}
				_, _, err = sess.Next(context.Background(), []byte(tc.serverFinal))
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pencil") {
				t.Errorf("the error names the password: %v", err)
			}
		})
	}
}

func TestScramEscapesUsername(t *testing.T) {
	m := newScram(SASLScramSHA256, "a=b,c", "pw")
	m.nonce = func() (string, error) { return "n0", nil }
	_, first, err := m.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(first), "n,,n=a=3Db=2Cc,r=n0"; got != want {
		t.Errorf("client-first = %q, want %q", got, want)
	}
}

func TestSecurityValidate(t *testing.T) {
	scram := SASLConfig{Mechanism: "scram-sha-512", Username: "gw", Password: "pw"}
	tests := []struct {
		name string
		s    Security
		want string // substring of the error; "" means valid
	}{
		{"zero value", Security{}, ""},
		{"tls only", Security{TLS: TLSConfig{Enabled: true}}, ""},
		{"tls with everything", Security{TLS: TLSConfig{Enabled: true, CAFile: "ca", CertFile: "c", KeyFile: "k", ServerName: "kafka"}}, ""},
		{"sasl only", Security{SASL: scram}, ""},
		{"mechanism in capitals", Security{SASL: SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "gw", PasswordFile: "/run/pw"}}, ""},
		{"plain", Security{SASL: SASLConfig{Mechanism: "plain", Username: "gw", Password: "pw"}}, ""},
		{"ca without tls", Security{TLS: TLSConfig{CAFile: "ca"}}, "kafka.tls.ca_file is set but kafka.tls.enabled is false"},
		{"skip verify without tls", Security{TLS: TLSConfig{InsecureSkipVerify: true}}, "kafka.tls.insecure_skip_verify"},
		{"cert without key", Security{TLS: TLSConfig{Enabled: true, CertFile: "c"}}, "kafka.tls.cert_file and kafka.tls.key_file"},
		{"key without cert", Security{TLS: TLSConfig{Enabled: true, KeyFile: "k"}}, "kafka.tls.cert_file and kafka.tls.key_file"},
		{"unknown mechanism", Security{SASL: SASLConfig{Mechanism: "gssapi", Username: "gw", Password: "pw"}}, `kafka.sasl.mechanism "gssapi"`},
		{"no username", Security{SASL: SASLConfig{Mechanism: "plain", Password: "pw"}}, "kafka.sasl.username is required"},
		{"NUL in username", Security{SASL: SASLConfig{Mechanism: "plain", Username: "g\x00w", Password: "pw"}}, "kafka.sasl.username must not contain NUL"},
		{"no password", Security{SASL: SASLConfig{Mechanism: "plain", Username: "gw"}}, "password or password_file is required"},
		{"both passwords", Security{SASL: SASLConfig{Mechanism: "plain", Username: "gw", Password: "pw", PasswordFile: "f"}}, "only one of password and password_file"},
		{"credentials without mechanism", Security{SASL: SASLConfig{Username: "gw", Password: "pw"}}, "kafka.sasl.mechanism is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tc.want)
			}
			// Config.Validate checks the same settings.
			cfg := DefaultConfig()
			cfg.Brokers = []string{"127.0.0.1:9092"}
			cfg.Security = tc.s
			if (cfg.Validate() == nil) != (tc.want == "") {
				t.Errorf("Config.Validate() = %v, want the same verdict as Security.Validate()", cfg.Validate())
			}
		})
	}
}

// TestSecurityFromYAML reads kafka.tls and kafka.sasl the way the
// gateway's configuration file carries them.
func TestSecurityFromYAML(t *testing.T) {
	const doc = `
brokers: [b1:9093]
tls:
  enabled: true
  ca_file: /etc/kafka/ca.pem
  cert_file: /etc/kafka/client.pem
  key_file: /etc/kafka/client-key.pem
  server_name: kafka.internal
sasl:
  mechanism: scram-sha-512
  username: gateway
  password_file: /run/secrets/kafka
`
	cfg := DefaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := Security{
		TLS:  TLSConfig{Enabled: true, CAFile: "/etc/kafka/ca.pem", CertFile: "/etc/kafka/client.pem", KeyFile: "/etc/kafka/client-key.pem", ServerName: "kafka.internal"},
		SASL: SASLConfig{Mechanism: "scram-sha-512", Username: "gateway", PasswordFile: "/run/secrets/kafka"},
	}
	if cfg.Security != want {
		t.Errorf("decoded %+v, want %+v", cfg.Security, want)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var again Config
	if err := yaml.Unmarshal(out, &again); err != nil || again.Security != want {
		t.Errorf("round trip gave %+v (%v), want %+v", again.Security, err, want)
	}
	plainText, err := yaml.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(plainText, []byte("tls")) || bytes.Contains(plainText, []byte("sasl")) {
		t.Errorf("a configuration without TLS and SASL writes them out:\n%s", plainText)
	}
}

// TestSecurityBuildErrors checks the errors of reading the files: each
// names its setting, and none shows the password.
func TestSecurityBuildErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notPEM := write("not.pem", "hunter2-not-a-certificate")
	empty := write("empty", "\n")
	nul := write("nul", "hun\x00ter2")
	tests := []struct {
		name string
		s    Security
		want string
	}{
		{"missing ca", Security{TLS: TLSConfig{Enabled: true, CAFile: filepath.Join(dir, "nope")}}, "kafka.tls.ca_file"},
		{"ca not PEM", Security{TLS: TLSConfig{Enabled: true, CAFile: notPEM}}, "holds no PEM certificate"},
		{"cert not PEM", Security{TLS: TLSConfig{Enabled: true, CertFile: notPEM, KeyFile: notPEM}}, "kafka.tls.cert_file and key_file"},
		{"missing password file", Security{SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: filepath.Join(dir, "nope")}}, "kafka.sasl.password_file"},
		{"empty password file", Security{SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: empty}}, "is empty"},
		{"NUL in password", Security{SASL: SASLConfig{Mechanism: "plain", Username: "u", PasswordFile: nul}}, "NUL"},
		{"invalid", Security{SASL: SASLConfig{Mechanism: "kerberos", Username: "u", Password: "hunter2"}}, "kafka.sasl.mechanism"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errD := tc.s.Dialer()
			_, errT := tc.s.Transport()
			for _, err := range []error{errD, errT} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want one containing %q", err, tc.want)
				}
				if err != nil && strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

// TestPasswordNeverPrinted checks that the configuration and the built
// dialer and transport keep the password out of fmt output, and that a
// password file's trailing line break is not part of the password.
func TestPasswordNeverPrinted(t *testing.T) {
	const pw = "s3cr3t-Kafka-pa55"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(pw+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mech := range []string{SASLPlain, SASLScramSHA256, SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			for _, a := range []SASLConfig{
				{Mechanism: mech, Username: "gw", Password: pw},
				{Mechanism: mech, Username: "gw", PasswordFile: pwFile},
			} {
				s := Security{SASL: a}
				d, err := s.Dialer()
				if err != nil {
					t.Fatal(err)
				}
				tr, err := s.Transport()
				if err != nil {
					t.Fatal(err)
				}
				cfg := DefaultConfig()
				cfg.Security = s
				cfg.Dialer = d
				for _, v := range []any{a, s, cfg, d, tr, d.SASLMechanism} {
					for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
						if out := fmt.Sprintf(f, v); strings.Contains(out, pw) {
							t.Errorf("%s of %T shows the password: %s", f, v, out)
						}
					}
				}
				if got := d.SASLMechanism.Name(); !strings.EqualFold(got, mech) {
					t.Errorf("mechanism name %q, want %q", got, mech)
				}
				if _, first, err := d.SASLMechanism.Start(context.Background()); err != nil {
					t.Fatal(err)
				} else if mech == SASLPlain && string(first) != "\x00gw\x00"+pw {
					t.Errorf("PLAIN sends %q, want the password without the file's line break", first)
				}
			}
		})
	}
}

// TestSecurityAgainstBroker connects the dialer and the transport to an
// in-process broker that requires each combination of TLS (with client
// certificates) and SASL mechanism, and checks that wrong credentials and a
// missing client certificate are refused.
func TestSecurityAgainstBroker(t *testing.T) {
	pki := testpki.New(t)
	tlsOn := TLSConfig{Enabled: true, CAFile: pki.CAFile, CertFile: pki.CertFile, KeyFile: pki.KeyFile}
	tests := []struct {
		name string
		tls  bool
		mech string // kfake's name; "" means no SASL
	}{
		{"plain", false, "PLAIN"},
		{"scram-sha-256", false, "SCRAM-SHA-256"},
		{"scram-sha-512", false, "SCRAM-SHA-512"},
		{"tls", true, ""},
		{"tls+plain", true, "PLAIN"},
		{"tls+scram-sha-512", true, "SCRAM-SHA-512"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(2, "secured")}
			var good Security
			if tc.tls {
				opts = append(opts, kfake.TLS(&tls.Config{
					Certificates: []tls.Certificate{pki.Server},
					ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: pki.Pool, MinVersion: tls.VersionTLS12,
				}))
				good.TLS = tlsOn
			}
			if tc.mech != "" {
				opts = append(opts, kfake.EnableSASL(), kfake.Superuser(tc.mech, "gateway", "right-password"))
				good.SASL = SASLConfig{Mechanism: strings.ToLower(tc.mech), Username: "gateway", Password: "right-password"}
			}
			c, err := kfake.NewCluster(opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			addrs := c.ListenAddrs()

			if err := connect(addrs, good); err != nil {
				t.Fatalf("with the right settings: %v", err)
			}
			bad := good
			if tc.mech != "" {
				bad.SASL.Password = "wrong-password"
			} else {
				bad.TLS.CertFile, bad.TLS.KeyFile = "", ""
			}
			if err := connect(addrs, bad); err == nil {
				t.Error("wrong credentials were accepted")
			}
			if err := connect(addrs, Security{}); err == nil {
				t.Error("a plaintext client without credentials was accepted")
			}
		})
	}
}

// connect reads the broker's metadata through s's transport and lists the
// partitions of "secured" through s's dialer.
func connect(addrs []string, s Security) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr, err := s.Transport()
	if err != nil {
		return err
	}
	cl := &kafka.Client{Addr: kafka.TCP(addrs...), Transport: tr, Timeout: 5 * time.Second}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{"secured"}})
	tr.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	if len(md.Topics) != 1 || len(md.Topics[0].Partitions) != 2 {
		return fmt.Errorf("transport: metadata %+v, want secured with 2 partitions", md.Topics)
	}
	d, err := s.Dialer()
	if err != nil {
		return err
	}
	conn, err := d.DialContext(ctx, "tcp", addrs[0])
	if err != nil {
		return fmt.Errorf("dialer: %w", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	parts, err := conn.ReadPartitions("secured")
	if err != nil {
		return fmt.Errorf("dialer: %w", err)
	}
	if len(parts) != 2 {
		return fmt.Errorf("dialer: %d partitions, want 2", len(parts))
	}
	return nil
}
