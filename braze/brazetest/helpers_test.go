package brazetest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/brazegw/gateway/braze"
)

const testKey = "test-key"

// fakeClock is a settable clock for rate windows and schedules.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// devServer starts a DevConfig server with key testKey, edited by mutate.
func devServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DevConfig(testKey)
	cfg.Seed = 1
	if mutate != nil {
		mutate(&cfg)
	}
	s := NewServer(cfg)
	t.Cleanup(s.Close)
	return s
}

// answer is a parsed simulator answer.
type answer struct {
	status int
	header http.Header
	env    braze.Envelope
	raw    []byte
}

// label is the message of an answer, or its live-activity error.
func (a answer) label() string {
	if a.env.Message != "" {
		return a.env.Message
	}
	return a.env.Error
}

// call sends one request with the given headers ("" values are not set).
func call(t *testing.T, s *Server, method, path, auth, contentType, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if err := json.Unmarshal(raw, &a.env); err != nil {
		t.Fatalf("%s %s: answer %q is not JSON: %v", method, path, raw, err)
	}
	return a
}

// post sends body to path with the test key and a JSON content type.
func post(t *testing.T, s *Server, path, body string) answer {
	t.Helper()
	return call(t, s, http.MethodPost, path, "Bearer "+testKey, "application/json", body)
}

// mustStatus fails the test unless a has the wanted status.
func mustStatus(t *testing.T, a answer, want int) {
	t.Helper()
	if a.status != want {
		t.Fatalf("status = %d, want %d; body %s", a.status, want, a.raw)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
