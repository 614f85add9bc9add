package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/app"
	"github.com/brazegw/gateway/consumer"
)

// gatewayConfig is the configuration of one gateway replica of a run.
func (e *env) gatewayConfig(t topicSet, adminAddr string) app.Config {
	cfg := app.DefaultConfig()
	cfg.Kafka.Brokers = e.brokers
	cfg.Kafka.GroupID = t.group
	cfg.Kafka.Topics = []consumer.Topic{{Name: t.input, Lane: 1}}
	cfg.Kafka.SessionTimeout = 6 * time.Second
	cfg.Kafka.RebalanceTimeout = 6 * time.Second
	cfg.Kafka.HeartbeatInterval = 500 * time.Millisecond
	cfg.Kafka.RevokeDrain = 2 * time.Second
	cfg.Outputs.DLQTopic = t.dlq
	cfg.Outputs.ResultsTopic = t.results
	cfg.Braze.AllowHTTP = true
	cfg.Braze.Workspaces = map[string]app.Workspace{"default": {URL: e.sinkURL, APIKey: apiKey, Timeout: 10 * time.Second}}
	// Braze's default shared budget (250,000 calls an hour) would cap the
	// run at about 3,500 recipients a second: the benchmark measures the
	// gateway, so the budget is lifted (the budget code still runs).
	cfg.RateLimit.Limits = map[string]app.LimitConfig{"shared": {Requests: 1_000_000_000, Window: time.Hour}}
	cfg.Dispatcher.Linger = e.opts.linger
	cfg.Dispatcher.Workers = e.opts.workers
	if e.opts.maxInflight > 0 {
		cfg.Kafka.MaxInflight = e.opts.maxInflight
	}
	cfg.Routes.File = t.routes
	cfg.Admin.Addr = adminAddr
	cfg.Admin.Pprof = true
	cfg.Log.Level = "warn"
	cfg.Drain = 10 * time.Second
	return cfg
}

// child is one gateway process.
type child struct {
	cmd     *exec.Cmd
	admin   string // base URL
	sampler *sampler
	logPath string
	done    chan struct{}
	err     error
}

// startGateway writes the configuration and starts the gateway binary.
func (e *env) startGateway(t topicSet, replica int) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	b, err := yaml.Marshal(e.gatewayConfig(t, addr))
	if err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(e.tmp, fmt.Sprintf("%sgateway-%d.yaml", t.prefix, replica))
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(e.tmp, fmt.Sprintf("%sgateway-%d.log", t.prefix, replica))
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(e.bin, "run", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv()
	if e.opts.memoryLimit != "" {
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+e.opts.memoryLimit)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, err
	}
	c := &child{cmd: cmd, admin: "http://" + addr, logPath: logPath, done: make(chan struct{})}
	c.sampler = startSampler(cmd.Process.Pid, 100*time.Millisecond)
	go func() {
		c.err = cmd.Wait()
		_ = logf.Close()
		close(c.done)
	}()
	return c, nil
}

// childEnv is this process's environment without GATEWAY_* overrides, so
// that only the generated file configures the gateway.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 8 || kv[:8] != "GATEWAY_" {
			env = append(env, kv)
		}
	}
	return env
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// ready waits until /readyz answers 200.
func (c *child) ready(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.admin+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.exited() {
			return fmt.Errorf("gateway exited (%v); log: %s", c.err, c.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("gateway not ready after %v; log: %s", timeout, c.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the gateway with SIGTERM (SIGKILL after 30 s).
func (c *child) stop() {
	if !c.exited() {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(30 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	c.sampler.finish()
}

// profile fetches a CPU profile of secs seconds into path, then a heap
// profile (live objects at that moment) into path + ".heap".
func (c *child) profile(ctx context.Context, path string, secs int) error {
	if err := c.fetch(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), path); err != nil {
		return err
	}
	return c.fetch(ctx, "/debug/pprof/heap", path+".heap")
}

// fetch writes what the gateway's admin endpoint serves at uri into path.
func (c *child) fetch(ctx context.Context, uri, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.admin+uri, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
