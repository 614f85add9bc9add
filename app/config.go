package app

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/consumer"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/dispatcher"
	"github.com/brazegw/gateway/ledger"
	"github.com/brazegw/gateway/ratelimit"
	"github.com/brazegw/gateway/routes"
)

// Config is the whole gateway configuration: the YAML file, then
// environment overrides (see docs/configuration.md).
type Config struct {
	Kafka      consumer.Config   `yaml:"kafka"`
	Outputs    deadletter.Config `yaml:"outputs"`
	Braze      BrazeConfig       `yaml:"braze"`
	Dispatcher dispatcher.Config `yaml:"dispatcher"`
	RateLimit  RateLimitConfig   `yaml:"ratelimit"`
	Admin      AdminConfig       `yaml:"admin"`
	Log        LogConfig         `yaml:"log"`
	Broadcast  BroadcastConfig   `yaml:"broadcast"`
	Ledger     ledger.Config     `yaml:"dedup"`
	Provision  ProvisionConfig   `yaml:"provision"`
	Drain      time.Duration     `yaml:"drain_timeout"`
	// Routes maps product events to Braze operations (docs/routing.md).
	Routes routes.Config `yaml:"routes"`
}

// BrazeConfig lists the Braze workspaces events may name.
type BrazeConfig struct {
	// Workspaces by name; events without brazeworkspace use "default".
	Workspaces map[string]Workspace `yaml:"workspaces"`
	// AllowHTTP permits http:// Braze URLs (dev mode and tests only).
	AllowHTTP bool `yaml:"allow_http"`
}

// Workspace is one Braze workspace: REST host and API key.
type Workspace struct {
	URL string `yaml:"url"`
	// APIKey is the key itself; prefer APIKeyFile or the environment.
	APIKey string `yaml:"api_key"`
	// APIKeyFile is a file holding the key (e.g. a mounted Kubernetes Secret).
	APIKeyFile string        `yaml:"api_key_file"`
	Timeout    time.Duration `yaml:"timeout"`
}

// RateLimitConfig overrides Braze's budgets.
type RateLimitConfig struct {
	// Limits by budget name: shared, broadcast, audience, send_ids,
	// campaigns_duplicate, canvas_duplicate.
	Limits map[string]LimitConfig `yaml:"limits"`
	// Share is the fraction of every budget this gateway (all replicas of
	// its consumer group together) may spend (default 1).
	Share float64 `yaml:"share"`
	// SharePartitions divides the budgets between replicas in proportion to
	// the partitions each holds (default true).
	SharePartitions bool `yaml:"share_by_partitions"`
	// Workspaces overrides limits per workspace.
	Workspaces map[string]map[string]LimitConfig `yaml:"workspaces"`
}

// LimitConfig is one budget: requests per window.
type LimitConfig struct {
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
}

// AdminConfig is the admin HTTP server.
type AdminConfig struct {
	// Addr serves /metrics, /healthz, /readyz (default 127.0.0.1:8080).
	Addr string `yaml:"addr"`
	// Pprof mounts /debug/pprof/ when true.
	Pprof bool `yaml:"pprof"`
}

// LogConfig selects the log level and encoding.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or console
}

// BroadcastConfig is the broadcast guard.
type BroadcastConfig struct {
	// AllowedSources may send to whole segments or audiences.
	AllowedSources []string `yaml:"allowed_sources"`
}

// DefaultConfig returns every default; brokers and Braze are left empty
// (no brokers means dev mode).
func DefaultConfig() Config {
	kc := consumer.DefaultConfig()
	return Config{
		Kafka:      kc,
		Outputs:    deadletter.DefaultConfig(),
		Braze:      BrazeConfig{Workspaces: map[string]Workspace{}},
		Dispatcher: dispatcher.DefaultConfig(),
		Admin:      AdminConfig{Addr: "127.0.0.1:8080"},
		Log:        LogConfig{Level: "info", Format: "json"},
		Ledger:     ledger.DefaultConfig(),
		RateLimit:  RateLimitConfig{SharePartitions: true},
		Drain:      15 * time.Second,
		Routes:     routes.DefaultConfig(),
	}
}

// Load reads the YAML file at path (none if empty) over the defaults, then
// applies environment overrides from getenv.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Environment variables that override the file.
const (
	EnvBrokers    = "GATEWAY_KAFKA_BROKERS"  // comma-separated host:port list
	EnvTopics     = "GATEWAY_KAFKA_TOPICS"   // comma-separated topic[:lane] list
	EnvGroup      = "GATEWAY_KAFKA_GROUP_ID" // consumer group
	EnvBrazeURL   = "GATEWAY_BRAZE_URL"      // URL of the default workspace
	EnvAPIKey     = "GATEWAY_BRAZE_API_KEY"  // API key of the default workspace
	EnvAPIKeyFile = "GATEWAY_BRAZE_API_KEY_FILE"
	EnvAdminAddr  = "GATEWAY_ADMIN_ADDR"
	EnvLogLevel   = "GATEWAY_LOG_LEVEL"
	// EnvKafkaSASLPassword and EnvKafkaSASLPasswordFile set kafka.sasl's
	// password (or password_file), replacing the file's setting.
	EnvKafkaSASLPassword     = "GATEWAY_KAFKA_SASL_PASSWORD"
	EnvKafkaSASLPasswordFile = "GATEWAY_KAFKA_SASL_PASSWORD_FILE"
)

func (c *Config) applyEnv(getenv func(string) string) error {
	if v := getenv(EnvBrokers); v != "" {
		c.Kafka.Brokers = splitList(v)
	}
	if v := getenv(EnvTopics); v != "" {
		c.Kafka.Topics = nil
		for _, t := range splitList(v) {
			name, lane, _ := strings.Cut(t, ":")
			tp := consumer.Topic{Name: name}
			if lane != "" {
				if _, err := fmt.Sscanf(lane, "%d", &tp.Lane); err != nil {
					return fmt.Errorf("%s: lane of %q is not a number", EnvTopics, name)
				}
			}
			c.Kafka.Topics = append(c.Kafka.Topics, tp)
		}
	}
	if v := getenv(EnvGroup); v != "" {
		c.Kafka.GroupID = v
	}
	if v := getenv(EnvAdminAddr); v != "" {
		c.Admin.Addr = v
	}
	if v := getenv(EnvLogLevel); v != "" {
		c.Log.Level = v
	}
	if v := getenv(EnvKafkaSASLPassword); v != "" {
		c.Kafka.Security.SASL.Password, c.Kafka.Security.SASL.PasswordFile = v, ""
	}
	if v := getenv(EnvKafkaSASLPasswordFile); v != "" {
		c.Kafka.Security.SASL.PasswordFile, c.Kafka.Security.SASL.Password = v, ""
	}
	url, key, keyFile := getenv(EnvBrazeURL), getenv(EnvAPIKey), getenv(EnvAPIKeyFile)
	if url != "" || key != "" || keyFile != "" {
		if c.Braze.Workspaces == nil {
			c.Braze.Workspaces = map[string]Workspace{}
		}
		ws := c.Braze.Workspaces["default"]
		if url != "" {
			ws.URL = url
		}
		if key != "" {
			ws.APIKey, ws.APIKeyFile = key, ""
		}
		if keyFile != "" {
			ws.APIKeyFile, ws.APIKey = keyFile, ""
		}
		c.Braze.Workspaces["default"] = ws
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Validate reports every invalid setting, each by name.
func (c *Config) Validate() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(c.Kafka.Validate())
	out := c.Outputs
	out.Brokers = c.Kafka.Brokers
	add(out.Validate())
	add(c.Dispatcher.Validate())
	add(c.Routes.Validate())
	if len(c.Braze.Workspaces) == 0 {
		add(errors.New("braze.workspaces: at least one workspace is required"))
	}
	names := make([]string, 0, len(c.Braze.Workspaces))
	for n := range c.Braze.Workspaces {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ws := c.Braze.Workspaces[n]
		u, err := url.Parse(ws.URL)
		switch {
		case ws.URL == "":
			add(fmt.Errorf("braze.workspaces.%s.url is required", n))
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add(fmt.Errorf("braze.workspaces.%s.url %q is not a URL", n, ws.URL))
		case u.Scheme == "http" && !c.Braze.AllowHTTP:
			add(fmt.Errorf("braze.workspaces.%s.url must be https (http is allowed only with braze.allow_http, for dev mode and tests)", n))
		}
		if ws.APIKey == "" && ws.APIKeyFile == "" {
			add(fmt.Errorf("braze.workspaces.%s: api_key or api_key_file is required (or %s for the default workspace)", n, EnvAPIKey))
		}
		if ws.APIKey != "" && ws.APIKeyFile != "" {
			add(fmt.Errorf("braze.workspaces.%s: set only one of api_key and api_key_file", n))
		}
		if ws.Timeout < 0 {
			add(fmt.Errorf("braze.workspaces.%s.timeout must not be negative", n))
		}
	}
	known := map[string]bool{}
	for _, b := range rules.Budgets() {
		known[string(b)] = true
	}
	checkLimits := func(prefix string, ls map[string]LimitConfig) {
		for name, l := range ls {
			if !known[name] {
				add(fmt.Errorf("%s.%s: unknown budget (known: shared, broadcast, audience, send_ids, campaigns_duplicate, canvas_duplicate)", prefix, name))
			}
			if l.Requests < 1 || l.Window <= 0 {
				add(fmt.Errorf("%s.%s: requests and window must be positive", prefix, name))
			}
		}
	}
	checkLimits("ratelimit.limits", c.RateLimit.Limits)
	for ws, ls := range c.RateLimit.Workspaces {
		if _, ok := c.Braze.Workspaces[ws]; !ok {
			add(fmt.Errorf("ratelimit.workspaces.%s: no such workspace in braze.workspaces", ws))
		}
		checkLimits("ratelimit.workspaces."+ws, ls)
	}
	if c.RateLimit.Share < 0 || c.RateLimit.Share > 1 {
		add(errors.New("ratelimit.share must be in (0, 1]"))
	}
	if _, _, err := net.SplitHostPort(c.Admin.Addr); err != nil {
		add(fmt.Errorf("admin.addr %q is not host:port", c.Admin.Addr))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("log.level %q is not one of debug, info, warn, error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		add(fmt.Errorf("log.format %q is not json or console", c.Log.Format))
	}
	if c.Drain <= 0 {
		add(errors.New("drain_timeout must be positive"))
	}
	return errors.Join(errs...)
}

// ApplyKafkaSecurity builds the connection settings of kafka.tls and
// kafka.sasl, reading the certificate, key and password files they name,
// into Kafka.Dialer (consumer group, results follower, replay) and
// Outputs.Transport (output writers, topic check), so that every Kafka
// client of the gateway connects the same way. Without TLS and SASL
// settings it leaves both as they are. Errors name the setting, never the
// password.
func (c *Config) ApplyKafkaSecurity() error {
	sec := c.Kafka.Security
	if !sec.Enabled() {
		return nil
	}
	d, err := sec.Dialer()
	if err != nil {
		return err
	}
	tr, err := sec.Transport()
	if err != nil {
		return err
	}
	c.Kafka.Dialer, c.Outputs.Transport = d, tr
	return nil
}

// apiKey returns a workspace's key, reading the key file if one is set.
func (ws Workspace) apiKey() (string, error) {
	if ws.APIKeyFile == "" {
		return ws.APIKey, nil
	}
	b, err := os.ReadFile(ws.APIKeyFile)
	if err != nil {
		return "", fmt.Errorf("read api key file: %w", err)
	}
	k := strings.TrimSpace(string(b))
	if k == "" {
		return "", fmt.Errorf("api key file %s is empty", ws.APIKeyFile)
	}
	return k, nil
}

// limits converts budget overrides.
func limits(ls map[string]LimitConfig) map[rules.Budget]rules.Limit {
	out := map[rules.Budget]rules.Limit{}
	for name, l := range ls {
		out[rules.Budget(name)] = rules.Limit{Budget: rules.Budget(name), Requests: l.Requests, Window: l.Window}
	}
	return out
}

// ratelimit returns the budgets' configuration.
func (r RateLimitConfig) ratelimit() ratelimit.Config {
	c := ratelimit.Config{Limits: limits(r.Limits), Share: r.Share, Workspaces: map[string]map[rules.Budget]rules.Limit{}}
	for ws, ls := range r.Workspaces {
		c.Workspaces[ws] = limits(ls)
	}
	return c
}
