//go:build linux

// The gateway as a child process: crash tests build the real binary, run it
// against the test's broker and simulator, and kill it with SIGKILL. Linux
// only, because the child is tied to the test process with a parent-death
// signal: a test binary that dies (panic, timeout) takes its children along
// instead of leaving gateways running against nothing.

package gwtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/brazegw/gateway/app"
)

// gatewayBin is the binary built by BuildGateway, shared by the tests that
// run at the same time and removed when the last of them ends.
var gatewayBin struct {
	mu    sync.Mutex
	dir   string
	path  string
	users int
}

// BuildGateway builds ./cmd/gateway and returns the binary's path. Tests
// running at the same time share one build; the binary is removed when the
// last test that asked for it ends (a later test builds again, from Go's
// build cache).
func BuildGateway(t testing.TB) string {
	t.Helper()
	gatewayBin.mu.Lock()
	defer gatewayBin.mu.Unlock()
	if gatewayBin.path == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("build gateway: %v", err)
		}
		dir, err := os.MkdirTemp("", "gwtest-gateway-")
		if err != nil {
			t.Fatalf("build gateway: %v", err)
		}
		bin := filepath.Join(dir, "gateway")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/gateway")
		cmd.Dir = root
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			_ = os.RemoveAll(dir)
			t.Fatalf("go build ./cmd/gateway: %v\n%s", err, out)
		}
		t.Logf("built the gateway binary in %v", time.Since(start).Round(time.Millisecond))
		gatewayBin.dir, gatewayBin.path = dir, bin
	}
	gatewayBin.users++
	path := gatewayBin.path
	t.Cleanup(func() {
		gatewayBin.mu.Lock()
		defer gatewayBin.mu.Unlock()
		if gatewayBin.users--; gatewayBin.users == 0 {
			_ = os.RemoveAll(gatewayBin.dir)
			gatewayBin.dir, gatewayBin.path = "", ""
		}
	})
	return path
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// WriteConfig writes cfg as a YAML configuration file for the gateway
// binary and returns its path. The keys are app.Config's yaml tags; settings
// without one (TLS dialers, transports) are not written. It fails the test
// unless app.Load reads the file back to the same settings.
func (e *Env) WriteConfig(t testing.TB, cfg app.Config) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("write config: %v", err)
	}
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("write config: %v", err)
	}
	loaded, err := app.Load(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("write config: read back: %v", err)
	}
	again, err := yaml.Marshal(loaded)
	if err != nil {
		t.Fatalf("write config: %v", err)
	}
	if !bytes.Equal(again, b) {
		t.Fatalf("write config: %s does not read back to the same settings:\nwritten:\n%s\nread back:\n%s", path, b, again)
	}
	return path
}

// Child is a gateway binary running as a child process of the test. Its
// stdout and stderr go to a file that is printed if the test fails; it is
// killed when the test ends if it is still running.
type Child struct {
	// LogPath is the file receiving the child's output (JSON log lines).
	LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // the exit error (nil: exit 0); set before done closes
}

// StartChild runs "bin run -config cfgPath". GATEWAY_* variables of the
// test's environment are not passed on, so that only the file configures
// the child.
func StartChild(t testing.TB, bin, cfgPath string) *Child {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "gateway-*.log")
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	cmd := exec.Command(bin, "run", "-config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start gateway: %v", err)
	}
	c := &Child{LogPath: logf.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		_ = logf.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("gateway child pid %d (%v), output:\n%s", cmd.Process.Pid, c.err, c.Log(64<<10))
		}
	})
	return c
}

func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GATEWAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// Pid is the child's process id.
func (c *Child) Pid() int { return c.cmd.Process.Pid }

// Done is closed once the child has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Wait waits at most timeout for the child to exit and returns how it
// exited: nil for status 0, else an *exec.ExitError. A child still running
// after timeout is an error too.
func (c *Child) Wait(timeout time.Duration) error {
	select {
	case <-c.done:
		return c.err
	default:
	}
	select {
	case <-c.done:
		return c.err
	case <-time.After(timeout):
		return fmt.Errorf("gateway pid %d still running after %v", c.Pid(), timeout)
	}
}

// Kill kills the child with SIGKILL (no drain, no commit, no goodbye to
// the group) and waits until it is gone.
func (c *Child) Kill(t testing.TB) {
	t.Helper()
	select {
	case <-c.done:
		t.Fatalf("gateway pid %d exited before it was killed (%v)", c.Pid(), c.err)
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill gateway pid %d: %v", c.Pid(), err)
	}
	if err := c.Wait(10 * time.Second); err == nil {
		t.Fatalf("gateway pid %d exited 0 after SIGKILL", c.Pid())
	} else if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) {
		t.Fatalf("gateway pid %d: %v", c.Pid(), err)
	}
}

// Stop sends SIGTERM and waits at most timeout for the child to drain and
// exit; it returns the exit error (nil: exit 0). A child still running
// after timeout is killed and reported as an error.
func (c *Child) Stop(timeout time.Duration) error {
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop gateway pid %d: %w", c.Pid(), err)
	}
	err := c.Wait(timeout)
	select {
	case <-c.done:
		return err
	default:
		_ = c.cmd.Process.Kill()
		<-c.done
		return err
	}
}

// AdminAddr returns the host:port of the child's admin server, read from
// its "gateway started" log line ("" until that line is written).
func (c *Child) AdminAddr() string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return ""
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var l struct {
			Msg   string `json:"msg"`
			Admin string `json:"admin"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "gateway started" {
			return l.Admin
		}
	}
	return ""
}

// Log returns the last n bytes of the child's output so far.
func (c *Child) Log(n int) string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", c.LogPath, err)
	}
	if len(b) > n {
		b = append([]byte("…"), b[len(b)-n:]...)
	}
	return string(b)
}
