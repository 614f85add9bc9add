//go:build linux

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/deadletter"
	"github.com/brazegw/gateway/internal/gwtest"
)

// userPrefix starts every external_user_id of this file, so that a log
// line naming any of them is found by one search.
const userPrefix = "uid-7c3f"

// TestSecretsNeverLeak runs the gateway binary with a distinctive API key,
// given by the configuration file, by GATEWAY_BRAZE_API_KEY and by
// api_key_file, at debug log level, through everything that produces error
// text: Braze unreachable (connection refused), the key refused (401),
// server errors, rejected requests whose answer echoes the Authorization
// header (as a misbehaving proxy might), and records that are not valid
// events. Then it searches every output for the key, plain and in base64:
// the process's log, /metrics, /readyz and /healthz, every dead-letter
// record (key, value and each header) and every results record. It also
// checks that no log line at info level or above names a user.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	bin := gwtest.BuildGateway(t)
	for _, how := range []string{"config file", "environment", "key file"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			key := "brz-SECRET-" + randHex(t, 16)
			simCfg := gwtest.SimConfig()
			simCfg.Workspaces[0].APIKeys = []brazetest.APIKey{{Key: key}}
			env := gwtest.New(t, simCfg)
			proxy := newEchoProxy(t, env.Sim.URL)

			cfg := env.Config()
			cfg.Log.Level = "debug"
			cfg.Dispatcher.Pause.AfterFailures = 3
			cfg.Dispatcher.Pause.ProbeInterval = 200 * time.Millisecond
			ws := app.Workspace{URL: proxy.URL(), Timeout: 2 * time.Second}
			var child gatewayProcess
			switch how {
			case "config file":
				ws.APIKey = key
				cfg.Braze.Workspaces = map[string]app.Workspace{"default": ws}
				child = gwtest.StartChild(t, bin, env.WriteConfig(t, cfg))
			case "environment":
				cfg.Braze.Workspaces = map[string]app.Workspace{"default": ws}
				child = gwtest.StartChild(t, withEnv(t, bin, app.EnvAPIKey+"="+key), env.WriteConfig(t, cfg))
			case "key file":
				ws.APIKeyFile = filepath.Join(t.TempDir(), "braze-api-key")
				if err := os.WriteFile(ws.APIKeyFile, []byte(key+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg.Braze.Workspaces = map[string]app.Workspace{"default": ws}
				child = gwtest.StartChild(t, bin, env.WriteConfig(t, cfg))
			}
			admin := adminURL(t, child)
			var bodies []string // every admin answer, searched at the end
			get := func(path string) (int, string) {
				t.Helper()
				code, body := httpGet(admin + path)
				bodies = append(bodies, path+": "+body)
				return code, body
			}
			user := func(phase string, i int) string { return fmt.Sprintf("%s-%s-%d", userPrefix, phase, i) }
			trigger := func(id, u string) kafka.Message {
				return gwtest.Trigger(id, "c-secrets", u).Structured(u)
			}

			// Braze unreachable: every call is refused a connection.
			var msgs []kafka.Message
			for i := range 10 {
				msgs = append(msgs, trigger(fmt.Sprintf("down-%d", i), user("down", i)))
			}
			unknown := gwtest.Trigger("bad-type", "c-secrets", user("bad", 1))
			unknown.Type = "braze.users.track"
			noID := gwtest.Trigger("", "c-secrets", user("bad", 2))
			msgs = append(msgs,
				kafka.Message{Key: []byte(user("bad", 0)), Value: []byte(`{"specversion":"1.0","id":"x","data":{"external_user_id":"` + user("bad", 0) + `"`)},
				unknown.Binary(user("bad", 1)), noID.Structured(user("bad", 2)))
			env.Produce(env.Trigger(), msgs...)
			gwtest.Eventually(t, 60*time.Second, func() bool {
				_, m := get("/metrics")
				return strings.Contains(m, `code="error"`)
			}, "no Braze transport error in /metrics while Braze is unreachable")
			gwtest.Eventually(t, 30*time.Second, func() bool {
				code, body := get("/readyz")
				return code == http.StatusServiceUnavailable && strings.Contains(body, "paused")
			}, "/readyz does not say paused while Braze is unreachable")

			// Braze reachable, the key refused.
			env.Sim.SetFaults(brazetest.Faults{AuthFail: true})
			proxy.Up(t)
			gwtest.Eventually(t, 30*time.Second, func() bool { return answered(env.Sim, http.StatusUnauthorized) >= 2 },
				"the simulator answered no 401")
			if code, body := get("/readyz"); code != http.StatusServiceUnavailable {
				t.Errorf("/readyz = %d %q while every call is refused, want 503", code, body)
			}

			// The key accepted again, three server errors, and a recipient
			// whose request Braze rejects.
			env.Sim.SetFaults(brazetest.Faults{
				Outage5xx: []brazetest.Outage{{Status: http.StatusInternalServerError, Calls: 3}},
				Reject:    []string{user("rejected", 0)},
			})
			msgs = msgs[:0]
			for i := range 10 {
				msgs = append(msgs, trigger(fmt.Sprintf("up-%d", i), user("up", i)))
			}
			msgs = append(msgs, trigger("rejected-0", user("rejected", 0)))
			env.Produce(env.Send(), msgs...)
			env.WaitCommitted(t, cfg.Kafka.GroupID, 90*time.Second, env.Send(), env.Trigger(), env.Schedule())
			if answered(env.Sim, http.StatusInternalServerError) == 0 {
				t.Error("the simulator answered no 500")
			}
			for _, phase := range []string{"down", "up"} {
				for i := range 10 {
					if env.Sim.DeliveryCount("external_user_id:"+user(phase, i)) == 0 {
						t.Errorf("%s was never delivered", user(phase, i))
					}
				}
			}
			if code, body := get("/readyz"); code != http.StatusOK {
				t.Errorf("/readyz = %d %q after Braze recovered, want 200", code, body)
			}
			get("/healthz")
			get("/metrics")
			if err := child.Stop(30 * time.Second); err != nil {
				t.Errorf("SIGTERM: the gateway exited with %v, want status 0", err)
			}

			// Every output, searched.
			forbidden := secretForms(key)
			search := func(where, s string) {
				t.Helper()
				for _, f := range forbidden {
					if strings.Contains(s, f) {
						t.Errorf("%s holds the API key (as %q)", where, f)
						return
					}
				}
			}
			logText := child.Log(64 << 20)
			search("the gateway's log", logText)
			for _, b := range bodies {
				search("the admin answer "+strings.SplitN(b, ":", 2)[0], b)
			}
			dlq := env.ReadNow(env.DLQ())
			echoed := false
			for _, m := range dlq {
				where := fmt.Sprintf("DLQ record %s/%d/%d", m.Topic, m.Partition, m.Offset)
				search(where+" key", string(m.Key))
				search(where+" value", string(m.Value))
				for _, h := range m.Headers {
					search(where+" header "+h.Key, h.Key+"="+string(h.Value))
				}
				if gwtest.Header(m, deadletter.HeaderReason) == "rejected" &&
					strings.Contains(gwtest.Header(m, deadletter.HeaderResponse), "Authorization: Bearer [REDACTED]") {
					echoed = true
				}
			}
			if !echoed {
				t.Errorf("no rejected dead letter carries the echoed, redacted Authorization header; DLQ reasons: %v", reasons(dlq))
			}
			if n := len(dlq); n < 4 {
				t.Errorf("the DLQ holds %d records, want at least the 3 invalid events and the rejected one", n)
			}
			results := env.ReadNow(env.Results())
			if len(results) < 21 {
				t.Errorf("the results topic holds %d records, want at least 21", len(results))
			}
			for _, m := range results {
				where := fmt.Sprintf("results record %d/%d", m.Partition, m.Offset)
				search(where+" key", string(m.Key))
				search(where+" value", string(m.Value))
				for _, h := range m.Headers {
					search(where+" header "+h.Key, h.Key+"="+string(h.Value))
				}
			}

			// Users are named at debug level at most.
			lines := 0
			for _, line := range strings.Split(logText, "\n") {
				if strings.TrimSpace(line) == "" {
					continue
				}
				lines++
				var entry struct {
					Level string `json:"level"`
				}
				if json.Unmarshal([]byte(line), &entry) == nil && entry.Level == "debug" {
					continue
				}
				if strings.Contains(line, userPrefix) {
					t.Errorf("a log line above debug level names a user: %s", line)
				}
			}
			if lines == 0 {
				t.Error("the gateway logged nothing")
			}
		})
	}

	t.Run("invalid configuration", func(t *testing.T) {
		t.Parallel()
		key := "brz-SECRET-" + randHex(t, 16)
		keyFile := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
			t.Fatal(err)
		}
		ws := func(extra string) string {
			return "braze:\n  workspaces:\n    default:\n      url: https://rest.iad-01.braze.com\n" + extra
		}
		tests := []struct {
			name, yaml string
			want       string // in the error output
		}{
			{"invalid settings", "log:\n  level: debug\nadmin:\n  addr: nowhere\n" +
				"braze:\n  workspaces:\n    default:\n      url: ftp://braze.example\n      api_key: " + key + "\n", "braze.workspaces.default.url"},
			{"whitespace in the key", ws("      api_key: \"" + key + " " + key + "\"\n"), "whitespace"},
			{"key and key file", ws("      api_key: " + key + "\n      api_key_file: " + keyFile + "\n"), "only one of api_key and api_key_file"},
			{"key of the wrong type", ws("      api_key: [" + key + "]\n"), "cannot unmarshal"},
			{"unknown field", ws("      api_kye: " + key + "\n"), "api_kye"},
			{"invalid budget", ws("      api_key: "+key+"\n") + "ratelimit:\n  limits:\n    shared: {requests: 0, window: 1h}\n", "ratelimit.limits.shared"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "gateway.yaml")
				doc := "kafka:\n  brokers: [127.0.0.1:1]\n" + tc.yaml
				if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
				child := gwtest.StartChild(t, bin, path)
				err := child.Wait(30 * time.Second)
				var ee *exec.ExitError
				if !errors.As(err, &ee) {
					t.Fatalf("the gateway exited with %v, want a failure status", err)
				}
				out := child.Log(1 << 20)
				if !strings.Contains(out, tc.want) {
					t.Errorf("the error output does not mention %q:\n%s", tc.want, out)
				}
				for _, f := range secretForms(key) {
					if strings.Contains(out, f) {
						t.Errorf("the error output holds the API key (as %q):\n%s", f, out)
						break
					}
				}
			})
		}
	})
}

// TestSecretForms checks that the base64 forms of a key are found inside
// any encoded text holding the key, whatever precedes it.
func TestSecretForms(t *testing.T) {
	key := "brz-SECRET-0123456789abcdef"
	for prefix := range 6 {
		text := strings.Repeat("p", prefix) + key + "suffix"
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding} {
			encoded := enc.EncodeToString([]byte(text))
			found := false
			for _, f := range secretForms(key) {
				found = found || strings.Contains(encoded, f)
			}
			if !found {
				t.Errorf("no form of the key found in %q (prefix %d)", encoded, prefix)
			}
		}
	}
}

// gatewayProcess is what the test needs of a running gateway binary.
type gatewayProcess interface {
	Log(n int) string
	Stop(timeout time.Duration) error
	Done() <-chan struct{}
}

// secretForms returns key as it could leak: plain, and in standard and
// URL-safe base64, padded or not, at each of the three alignments it can
// take inside a longer encoded text (only the characters determined by the
// key's bytes alone are kept).
func secretForms(key string) []string {
	forms := []string{key}
	for shift := range 3 {
		in := append(make([]byte, shift), key...)
		from := (8*shift + 5) / 6
		to := 8 * len(in) / 6
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			forms = append(forms, enc.EncodeToString(in)[from:to])
		}
	}
	return forms
}

// withEnv returns an executable that runs bin with the environment
// variable kv set: StartChild passes no GATEWAY_* variable of the test's
// own environment on.
func withEnv(t *testing.T, bin, kv string) string {
	t.Helper()
	name, value, _ := strings.Cut(kv, "=")
	path := filepath.Join(t.TempDir(), "gateway-with-env")
	script := fmt.Sprintf("#!/bin/sh\n%s=%s exec %s \"$@\"\n", name, shellQuote(value), shellQuote(bin))
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// adminURL waits for the child's "gateway started" log line and returns
// the base URL of its admin server (it listens on a random port).
func adminURL(t *testing.T, child gatewayProcess) string {
	t.Helper()
	var addr string
	gwtest.Eventually(t, 60*time.Second, func() bool {
		select {
		case <-child.Done():
			t.Fatalf("the gateway exited before it started:\n%s", child.Log(16<<10))
		default:
		}
		for _, line := range strings.Split(child.Log(4<<20), "\n") {
			var entry struct {
				Msg   string `json:"msg"`
				Admin string `json:"admin"`
			}
			if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "gateway started" && entry.Admin != "" {
				addr = entry.Admin
				return true
			}
		}
		return false
	}, "the gateway did not log its admin address")
	return "http://" + addr
}

func httpGet(u string) (int, string) {
	resp, err := http.Get(u)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// answered counts the simulator's answers with status.
func answered(sim *brazetest.Server, status int) uint64 {
	var n uint64
	for _, r := range sim.Stats().Requests {
		if r.Status == status {
			n += r.Count
		}
	}
	return n
}

func reasons(msgs []kafka.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, gwtest.Header(m, deadletter.HeaderReason))
	}
	return out
}

func randHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// echoProxy stands between the gateway and the simulator on a fixed
// address. It starts down (connections refused) until Up, and it answers
// every error with a body that echoes the request's Authorization header,
// so that the key reaches the gateway in response bodies and headers.
type echoProxy struct {
	addr   string
	target *url.URL
	mu     sync.Mutex
	srv    *http.Server
}

func newEchoProxy(t *testing.T, target string) *echoProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	// Reserve a free port, then release it: nothing listens until Up.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &echoProxy{addr: l.Addr().String(), target: u}
	_ = l.Close()
	t.Cleanup(p.down)
	return p
}

// URL is the proxy's base URL.
func (p *echoProxy) URL() string { return "http://" + p.addr }

// Up starts serving on the proxy's address.
func (p *echoProxy) Up(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("proxy: listen on %s again: %v", p.addr, err)
	}
	rp := httputil.NewSingleHostReverseProxy(p.target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 400 {
			return nil
		}
		orig, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		var env struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(orig, &env)
		auth := resp.Request.Header.Get("Authorization")
		body, err := json.Marshal(map[string]any{
			"message": env.Message,
			"errors":  []string{"proxy: request had Authorization: " + auth},
		})
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
		resp.Header.Set("X-Echo-Authorization", auth)
		return nil
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func(srv *http.Server) { _ = srv.Serve(l) }(p.srv)
}

func (p *echoProxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
		p.srv = nil
	}
}
