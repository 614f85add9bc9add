package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/braze/rules"
)

// fileConfig is the YAML configuration file (see docs/brazesim.md and
// configs/brazesim.yaml). It is read through JSON so that the faults section
// has exactly the form of the admin API's PUT /_sim/faults.
type fileConfig struct {
	// Seed seeds generated ids and fault draws (0 = random).
	Seed uint64 `json:"seed"`
	// Latency is added to every answer.
	Latency duration `json:"latency"`
	// RateLimits is "braze" (the default: Braze's documented limits, with
	// Limits overriding them) or "off" (no rate limiting, no headers).
	RateLimits string `json:"rate_limits"`
	// Limits overrides budgets by name (shared, broadcast, audience,
	// send_ids, campaigns_duplicate, canvas_duplicate).
	Limits map[string]fileLimit `json:"limits"`
	// BroadcastPerEndpoint gives each broadcast endpoint its own broadcast budget.
	BroadcastPerEndpoint bool `json:"broadcast_per_endpoint"`
	// Rules relaxes some of Braze's structural rules.
	Rules fileRules `json:"rules"`
	// Record bounds what is kept for the admin API.
	Record fileRecord `json:"record"`
	// Workspaces; omitted means DevConfig's workspace with the key from
	// BRAZESIM_API_KEY.
	Workspaces []fileWorkspace `json:"workspaces"`
	// Faults injected from the start.
	Faults *brazetest.Faults `json:"faults"`
}

type fileLimit struct {
	Requests int      `json:"requests"`
	Window   duration `json:"window"`
}

type fileRules struct {
	AllowAudienceWithoutBroadcast bool `json:"allow_audience_without_broadcast"`
	AllowCampaignFieldsOnCanvas   bool `json:"allow_campaign_fields_on_canvas"`
}

// fileRecord bounds the record: 0 or omitted means the default bound, a
// negative value no bound.
type fileRecord struct {
	MaxRequests   int  `json:"max_requests"`
	MaxDeliveries int  `json:"max_deliveries"`
	DropBodies    bool `json:"drop_bodies"`
}

// fileWorkspace is a brazetest.Workspace whose keys may come from the
// environment, so that a config file need not hold secrets.
type fileWorkspace struct {
	brazetest.Workspace
	APIKeys []fileKey `json:"api_keys"`
}

type fileKey struct {
	Key         string   `json:"key"`
	KeyEnv      string   `json:"key_env"`
	Permissions []string `json:"permissions"`
}

// duration is a time.Duration read from a string such as "250ms".
type duration time.Duration

// UnmarshalJSON reads a duration string.
func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = duration(v)
	return nil
}

// Defaults of the record bounds: a long-running simulator under load must
// not grow without limit.
const (
	defaultMaxRequests   = 10000
	defaultMaxDeliveries = 100000
)

// devConfig is the configuration without a file: DevConfig with the given key.
func devConfig(key string) brazetest.Config {
	cfg := brazetest.DevConfig(key)
	cfg.MaxRequests, cfg.MaxDeliveries = defaultMaxRequests, defaultMaxDeliveries
	return cfg
}

// loadConfig reads the YAML file at path. getenv resolves key_env and the
// default key; devKey is used when the file names no workspace.
func loadConfig(path string, getenv func(string) string, devKey string) (brazetest.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return brazetest.Config{}, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(raw, getenv, devKey)
}

func parseConfig(raw []byte, getenv func(string) string, devKey string) (brazetest.Config, error) {
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return brazetest.Config{}, fmt.Errorf("config: %w", err)
	}
	if doc == nil {
		doc = map[string]any{}
	}
	js, err := json.Marshal(jsonable(doc))
	if err != nil {
		return brazetest.Config{}, fmt.Errorf("config: %w", err)
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return brazetest.Config{}, fmt.Errorf("config: %w", err)
	}
	cfg := devConfig(devKey)
	if len(fc.Workspaces) > 0 {
		cfg.Workspaces = nil
		for i, fw := range fc.Workspaces {
			ws := fw.Workspace
			ws.APIKeys = nil
			for j, k := range fw.APIKeys {
				key := k.Key
				if k.KeyEnv != "" {
					if key != "" {
						return cfg, fmt.Errorf("config: workspaces[%d].api_keys[%d]: key and key_env are exclusive", i, j)
					}
					if key = getenv(k.KeyEnv); key == "" {
						return cfg, fmt.Errorf("config: workspaces[%d].api_keys[%d]: environment variable %s is empty", i, j, k.KeyEnv)
					}
				}
				ws.APIKeys = append(ws.APIKeys, brazetest.APIKey{Key: key, Permissions: k.Permissions})
			}
			cfg.Workspaces = append(cfg.Workspaces, ws)
		}
	}
	switch fc.RateLimits {
	case "", "braze":
		for name, l := range fc.Limits {
			b := rules.Budget(name)
			def, ok := cfg.Limits[b]
			if !ok || !slices.Contains(rules.Budgets(), b) {
				return cfg, fmt.Errorf("config: limits: unknown budget %q", name)
			}
			if l.Requests != 0 {
				def.Requests = l.Requests
			}
			if l.Window != 0 {
				def.Window = time.Duration(l.Window)
			}
			cfg.Limits[b] = def
		}
	case "off":
		if len(fc.Limits) > 0 {
			return cfg, errors.New("config: limits given with rate_limits: off")
		}
		cfg.Limits = nil
	default:
		return cfg, fmt.Errorf("config: rate_limits %q is neither braze nor off", fc.RateLimits)
	}
	cfg.BroadcastPerEndpoint = fc.BroadcastPerEndpoint
	cfg.Seed = fc.Seed
	cfg.Latency = time.Duration(fc.Latency)
	cfg.Rules.AllowAudienceWithoutBroadcast = fc.Rules.AllowAudienceWithoutBroadcast
	cfg.Rules.AllowCampaignFieldsOnCanvas = fc.Rules.AllowCampaignFieldsOnCanvas
	cfg.MaxRequests = recordBound(fc.Record.MaxRequests, defaultMaxRequests)
	cfg.MaxDeliveries = recordBound(fc.Record.MaxDeliveries, defaultMaxDeliveries)
	cfg.DropBodies = fc.Record.DropBodies
	if fc.Faults != nil {
		cfg.Faults = *fc.Faults
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

// jsonable turns what yaml.v3 decodes into a value encoding/json can write:
// mappings with non-string keys (error_rate: {503: 0.1}) get string keys.
func jsonable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = jsonable(e)
		}
		return t
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[fmt.Sprint(k)] = jsonable(e)
		}
		return m
	case []any:
		for i, e := range t {
			t[i] = jsonable(e)
		}
		return t
	}
	return v
}

func recordBound(v, def int) int {
	switch {
	case v < 0:
		return 0 // brazetest: 0 = keep everything
	case v == 0:
		return def
	}
	return v
}
