package braze

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
)

// Config configures a Client.
type Config struct {
	// BaseURL is the workspace's REST host, e.g. https://rest.iad-01.braze.com.
	BaseURL string `yaml:"url"`
	// APIKey is the REST API key sent as "Authorization: Bearer <key>".
	// It never appears in errors or in String output.
	APIKey string `yaml:"-"`
	// Timeout bounds one HTTP attempt when the caller's context has no earlier deadline.
	// Zero means 10 s.
	Timeout time.Duration `yaml:"timeout"`
	// UserAgent is sent with every request; empty means "braze-gateway".
	UserAgent string `yaml:"user_agent"`
}

// Validate reports the first invalid field by name.
func (c Config) Validate() error {
	if c.BaseURL == "" {
		return errors.New("braze: url is required")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("braze: url %q is not an http(s) URL", c.BaseURL)
	}
	if c.APIKey == "" {
		return errors.New("braze: api key is required")
	}
	// A key read from a file often keeps its trailing newline; such a header
	// value fails every request, so reject it here (without echoing the key).
	if strings.ContainsFunc(c.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return errors.New("braze: api key must not contain whitespace or control characters")
	}
	if c.Timeout < 0 {
		return errors.New("braze: timeout must not be negative")
	}
	return nil
}

// Client calls the Braze REST API of one workspace. A Client is safe for
// concurrent use; it holds no state besides its configuration and http.Client.
type Client struct {
	base    string
	key     string
	auth    string
	ua      string
	timeout time.Duration
	hc      *http.Client
}

// New returns a Client for cfg. A nil hc means a dedicated http.Client with
// connection reuse tuned for many concurrent requests to one host.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Transport: NewTransport()}
	}
	c := &Client{
		base:    strings.TrimRight(cfg.BaseURL, "/"),
		key:     cfg.APIKey,
		auth:    "Bearer " + cfg.APIKey,
		ua:      cfg.UserAgent,
		timeout: cfg.Timeout,
		hc:      hc,
	}
	if c.ua == "" {
		c.ua = "braze-gateway"
	}
	if c.timeout == 0 {
		c.timeout = 10 * time.Second
	}
	return c, nil
}

// NewTransport returns an http.Transport suited to many concurrent requests
// to a single Braze host.
func NewTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	// A request of 50 recipients is 5–20 KB: with net/http's default 4 KB
	// buffer it leaves in several writes, with 32 KB in one. (Each
	// connection keeps its buffer: 64 KB held 2.7 MB of a backlog's heap.)
	t.WriteBufferSize = 32 << 10
	return t
}

// BaseURL returns the REST host this client talks to.
func (c *Client) BaseURL() string { return c.base }

// Post sends body (a JSON object) to path, e.g. "/messages/send", and returns
// the parsed answer. Any 2xx is success. Anything else is returned as an
// *Error, which says whether the call may be retried and until when Braze
// asks the caller to wait.
func (c *Client) Post(ctx context.Context, path string, body []byte) (*Response, error) {
	return c.do(ctx, http.MethodPost, path, nil, body)
}

// Get calls path with query parameters q and returns the parsed answer, with
// the same error rules as Post.
func (c *Client) Get(ctx context.Context, path string, q url.Values) (*Response, error) {
	return c.do(ctx, http.MethodGet, path, q, nil)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, body []byte) (*Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, &Error{Endpoint: path, Err: fmt.Errorf("build request: %w", err)}
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("User-Agent", c.ua)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &Error{Endpoint: path, Err: redact(err)}
	}
	defer resp.Body.Close()
	rl := ParseRateLimit(resp.Header, time.Now())
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		// The headers arrived: keep their rate-limit hints for a 429 or 5xx.
		return nil, &Error{Endpoint: path, Status: resp.StatusCode, RateLimit: rl, Err: fmt.Errorf("read response: %w", redact(err))}
	}
	raw = c.redactKey(raw)
	r := &Response{
		Status:    resp.StatusCode,
		RateLimit: rl,
		Body:      raw,
	}
	// Braze answers JSON; a body that is not JSON (a proxy's HTML page) is kept raw.
	_ = json.Unmarshal(raw, &r.Envelope)
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return r, nil
	}
	msg := r.Envelope.Message
	if msg == "" {
		msg = r.Envelope.Error
	}
	return r, &Error{Endpoint: path, Status: resp.StatusCode, Message: strings.TrimSpace(msg), Body: raw, RateLimit: r.RateLimit}
}

// maxResponseBytes bounds how much of a response body is read.
const maxResponseBytes = 1 << 20

// minRedactLen is the shortest key that is redacted from response bodies: a
// shorter one would match ordinary text and corrupt the body. Braze keys are
// 36-character UUIDs.
const minRedactLen = 8

// redactKey replaces the API key in a response body, so that a server or proxy
// echoing the Authorization header cannot leak it into errors, logs or
// dead-letter records.
func (c *Client) redactKey(b []byte) []byte {
	if len(c.key) < minRedactLen || !bytes.Contains(b, []byte(c.key)) {
		return b
	}
	return bytes.ReplaceAll(b, []byte(c.key), []byte("[REDACTED]"))
}

// redact strips the request URL from *url.Error values so that errors carry
// the operation and cause only. The key is never in a URL; this keeps query
// strings and hosts of proxies out of logs and dead-letter headers too.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", strings.ToLower(ue.Op), ue.Err)
	}
	return err
}
