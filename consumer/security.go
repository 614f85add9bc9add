package consumer

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
)

// Security is how the gateway connects to Kafka: TLS (kafka.tls) and SASL
// authentication (kafka.sasl). The zero value is plaintext without
// authentication. Dialer and Transport turn it into the settings of
// kafka-go's two client kinds, so that every Kafka client of the gateway
// (consumer group, results follower, output writers, topic check) connects
// the same way.
type Security struct {
	TLS  TLSConfig  `yaml:"tls,omitempty"`
	SASL SASLConfig `yaml:"sasl,omitempty"`
}

// TLSConfig is kafka.tls.
type TLSConfig struct {
	// Enabled turns TLS on; the other settings need it.
	Enabled bool `yaml:"enabled"`
	// CAFile is a PEM bundle of the CAs that sign the brokers' certificates;
	// empty means the system's roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and its key, for
	// brokers that require mutual TLS. Set both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any broker certificate. For tests only:
	// it gives up the protection TLS is there for.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name the broker certificates are checked against;
	// empty means each broker's host name as advertised.
	ServerName string `yaml:"server_name"`
}

// SASL mechanisms of SASLConfig.Mechanism.
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASLConfig is kafka.sasl. The password never appears in errors, logs or
// String output.
type SASLConfig struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512 (any
	// case); empty disables SASL.
	Mechanism string `yaml:"mechanism"`
	Username  string `yaml:"username"`
	// Password is the password itself; prefer PasswordFile or the
	// environment. Set exactly one of the two.
	Password string `yaml:"password"`
	// PasswordFile is a file holding the password (e.g. a mounted
	// Kubernetes Secret); one trailing line break is ignored.
	PasswordFile string `yaml:"password_file"`
}

// String shows the settings with the password redacted.
func (s SASLConfig) String() string {
	pw := ""
	if s.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("{Mechanism:%s Username:%s Password:%s PasswordFile:%s}", s.Mechanism, s.Username, pw, s.PasswordFile)
}

// GoString redacts the password in %#v output as well.
func (s SASLConfig) GoString() string { return "consumer.SASLConfig" + s.String() }

// Enabled reports whether TLS or SASL is configured.
func (s Security) Enabled() bool { return s.TLS.Enabled || s.SASL.Mechanism != "" }

// Validate names the first invalid TLS or SASL setting. It does not read
// the files; Dialer and Transport do.
func (s Security) Validate() error {
	t := s.TLS
	if !t.Enabled {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"ca_file", t.CAFile != ""}, {"cert_file", t.CertFile != ""}, {"key_file", t.KeyFile != ""},
			{"insecure_skip_verify", t.InsecureSkipVerify}, {"server_name", t.ServerName != ""},
		} {
			if f.set {
				return fmt.Errorf("kafka.tls.%s is set but kafka.tls.enabled is false", f.name)
			}
		}
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("kafka.tls.cert_file and kafka.tls.key_file must be set together")
	}
	a := s.SASL
	switch strings.ToLower(a.Mechanism) {
	case "":
		if a.Username != "" || a.Password != "" || a.PasswordFile != "" {
			return errors.New("kafka.sasl: username or password set but kafka.sasl.mechanism is empty")
		}
		return nil
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
	default:
		return fmt.Errorf("kafka.sasl.mechanism %q is not one of %s, %s, %s", a.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512)
	}
	switch {
	case a.Username == "":
		return errors.New("kafka.sasl.username is required with kafka.sasl.mechanism")
	case strings.ContainsRune(a.Username, 0):
		return errors.New("kafka.sasl.username must not contain NUL characters")
	case a.Password == "" && a.PasswordFile == "":
		return errors.New("kafka.sasl: password or password_file is required with kafka.sasl.mechanism")
	case a.Password != "" && a.PasswordFile != "":
		return errors.New("kafka.sasl: set only one of password and password_file")
	}
	return nil
}

// Dialer returns a kafka-go dialer (consumer group and readers) with the
// TLS and SASL settings, reading the files they name. Without TLS and SASL
// it is kafka-go's default dialer.
func (s Security) Dialer() (*kafka.Dialer, error) {
	tc, mech, err := s.build()
	if err != nil {
		return nil, err
	}
	return &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: tc, SASLMechanism: mech}, nil
}

// Transport returns a kafka-go transport (writers and admin clients) with
// the TLS and SASL settings, reading the files they name. Without TLS and
// SASL it is kafka-go's default transport.
func (s Security) Transport() (*kafka.Transport, error) {
	tc, mech, err := s.build()
	if err != nil {
		return nil, err
	}
	return &kafka.Transport{DialTimeout: 10 * time.Second, TLS: tc, SASL: mech}, nil
}

// build validates s and returns its TLS configuration and SASL mechanism
// (nil when not configured).
func (s Security) build() (*tls.Config, sasl.Mechanism, error) {
	if err := s.Validate(); err != nil {
		return nil, nil, err
	}
	tc, err := s.TLS.config()
	if err != nil {
		return nil, nil, err
	}
	mech, err := s.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tc, mech, nil
}

// config returns the TLS client configuration, or nil when TLS is off.
func (t TLSConfig) config() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	tc := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented as test-only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s holds no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file and key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// mechanism returns the SASL mechanism, or nil when SASL is off.
func (a SASLConfig) mechanism() (sasl.Mechanism, error) {
	mech := strings.ToLower(a.Mechanism)
	if mech == "" {
		return nil, nil
	}
	pw := a.Password
	if a.PasswordFile != "" {
		b, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl.password_file: %w", err)
		}
		pw = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
		if pw == "" {
			return nil, fmt.Errorf("kafka.sasl.password_file %s is empty", a.PasswordFile)
		}
	}
	if strings.ContainsRune(pw, 0) {
		return nil, errors.New("kafka.sasl: the password must not contain NUL characters")
	}
	if mech == SASLPlain {
		return &plainMechanism{plain.Mechanism{Username: a.Username, Password: pw}}, nil
	}
	return newScram(mech, a.Username, pw), nil
}

// plainMechanism is kafka-go's PLAIN mechanism with the password kept out
// of fmt output: printed alone it says only its user, and inside a printed
// dialer, a pointer, it shows as an address.
type plainMechanism struct{ plain.Mechanism }

// String names the mechanism and user, never the password.
func (m *plainMechanism) String() string { return "PLAIN as " + m.Username }

// GoString keeps the password out of %#v output as well.
func (m *plainMechanism) GoString() string { return m.String() }
