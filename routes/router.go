package routes

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
)

// Unmatched policies: what happens to a product event that no route matches.
const (
	// Skip counts the event and lets it be committed.
	Skip = "skip"
	// DeadLetter dead-letters it with reason no_route.
	DeadLetter = "dead_letter"
)

// Config configures the routing of product events.
type Config struct {
	// File is the routes file; empty means no routing.
	File string `yaml:"file"`
	// Unmatched is "skip" (default) or "dead_letter".
	Unmatched string `yaml:"unmatched"`
	// PollInterval is how often the file is checked for changes (its
	// modification time and size, then its hash); default 1s. A negative
	// interval turns polling off: the file is then reloaded on SIGHUP only.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Lane is the priority lane of the topics routes listen to that are not
	// listed in kafka.topics (default 1).
	Lane int `yaml:"lane"`
}

// DefaultConfig returns the defaults: no file, skip unmatched events, poll
// every second, lane 1.
func DefaultConfig() Config {
	return Config{Unmatched: Skip, PollInterval: time.Second, Lane: 1}
}

// Validate names the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Unmatched != Skip && c.Unmatched != DeadLetter:
		return fmt.Errorf("routes.unmatched %q must be %s or %s", c.Unmatched, Skip, DeadLetter)
	case c.PollInterval == 0:
		return errors.New("routes.poll_interval must not be zero (negative: no polling)")
	case c.Lane < 0:
		return errors.New("routes.lane must not be negative")
	}
	return nil
}

// Deps are a Router's collaborators.
type Deps struct {
	// Limits bounds the derived events as consumed ones are bounded.
	Limits event.Limits
	// Accept, if set, vets a table before it is put in force (the gateway
	// refuses a reload that listens to a topic it does not consume).
	Accept func(*Table) error
	// Logger; nil means none.
	Logger *zap.Logger
	// Registerer receives the routing metrics; nil means none.
	Registerer prometheus.Registerer
}

// Router holds the routes table in force and swaps it atomically when the
// file changes: each product event is routed by one table from start to
// end. A file that does not load never replaces the table in force. A
// Router is safe for concurrent use.
type Router struct {
	cfg    Config
	lim    event.Limits
	accept func(*Table) error
	log    *zap.Logger
	m      *metrics

	table atomic.Pointer[Table]

	mu         sync.Mutex // serialises reloads; guards the fields below
	generation int
	seen       os.FileInfo       // the file as the poller last saw it
	polls      int               // polls since the content was last hashed
	tried      [sha256.Size]byte // content of the last load attempt
}

// NewRouter loads cfg.File and returns a Router with it in force.
func NewRouter(cfg Config, deps Deps) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.File == "" {
		return nil, errors.New("routes: no file configured")
	}
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	r := &Router{cfg: cfg, lim: deps.Limits, accept: deps.Accept, log: log.Named("routes"), m: newMetrics(deps.Registerer)}
	if fi, err := os.Stat(cfg.File); err == nil {
		r.seen = fi
	}
	content, err := os.ReadFile(cfg.File)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	if err := r.load(content); err != nil {
		return nil, err
	}
	return r, nil
}

// Table returns the table in force.
func (r *Router) Table() *Table { return r.table.Load() }

// Route routes rec when the table in force listens to its topic; ok is
// false otherwise (the record is a Braze event, not a product event).
// Under the dead_letter policy an event no route matches gets Result.Err
// with reason no_route. room, when not nil, holds the first operation's
// event (see Table.RouteInto); it is not touched when ok is false.
func (r *Router) Route(rec *event.Record, room *event.Event) (res *Result, ok bool) {
	t := r.table.Load()
	if !t.Listens(rec.Topic) {
		return nil, false
	}
	res = t.RouteInto(rec, r.lim, room)
	r.m.observe(t, rec.Topic, res)
	if res.Err == nil && len(res.Matched) == 0 && len(res.Failures) == 0 && r.cfg.Unmatched == DeadLetter {
		res.Err = event.Errorf(event.ReasonNoRoute, "no route of version %s matches this product event (topic %s, type %q)",
			t.Version, rec.Topic, clip(eventType(rec), 100))
	}
	return res, true
}

// eventType is the product event's type for messages, "" if none.
func eventType(rec *event.Record) string {
	in, err := parse(rec)
	if err != nil {
		return ""
	}
	return string(in.typ)
}

// Reload reads the file again and puts it in force if it loads (and the
// Accept hook agrees). On failure the table in force stays, the error is
// logged with the file's line and reason, and returned. Reading an
// unchanged file changes nothing.
func (r *Router) Reload() error {
	content, err := os.ReadFile(r.cfg.File)
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.rejected(fmt.Errorf("routes: %w", err))
		return fmt.Errorf("routes: %w", err)
	}
	return r.load(content)
}

func (r *Router) load(content []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tried = sha256.Sum256(content)
	if cur := r.table.Load(); cur != nil && cur.sum == r.tried {
		r.m.rejected.Set(0)
		r.log.Info("routes file unchanged", zap.String("version", cur.Version), zap.Int("generation", r.generation))
		return nil
	}
	t, err := Parse(r.cfg.File, content)
	if err == nil && r.accept != nil {
		err = r.accept(t)
	}
	if err != nil {
		r.rejected(err)
		return err
	}
	prev := r.table.Load()
	r.m.prepare(t)
	r.table.Store(t)
	r.generation++
	r.m.version.Reset()
	r.m.version.WithLabelValues(t.Version).Set(float64(r.generation))
	r.m.rejected.Set(0)
	fields := []zap.Field{zap.String("file", r.cfg.File), zap.String("version", t.Version), zap.Int("generation", r.generation),
		zap.Strings("routes", t.Routes()), zap.Strings("topics", t.Topics())}
	if prev != nil {
		r.m.reloads.WithLabelValues("ok").Inc()
		fields = append(fields, zap.String("previous_version", prev.Version))
	}
	r.log.Info("routes in force", fields...)
	return nil
}

// rejected records a failed load; r.mu is held.
func (r *Router) rejected(err error) {
	cur := r.table.Load()
	if cur == nil {
		return // the first load: NewRouter returns the error
	}
	r.m.reloads.WithLabelValues("failed").Inc()
	r.m.rejected.Set(1)
	r.log.Error("routes file rejected; the routes in force stay", zap.String("file", r.cfg.File),
		zap.String("version_in_force", cur.Version), zap.Int("generation", r.generation), zap.Error(err))
}

// Watch polls the file every PollInterval until ctx ends and reloads it
// when its content changed. It returns nil when ctx ends.
func (r *Router) Watch(ctx context.Context) error {
	if r.cfg.PollInterval < 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(r.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			r.poll()
		}
	}
}

// rehashEvery bounds how many polls may trust the file's metadata: file
// times are coarse, so an edit in place that keeps the size within one
// clock tick is caught by hashing the content now and then.
const rehashEvery = 10

// poll reloads the file if it changed since the last attempt: another file
// (replaced by rename, as ConfigMap updates and editors do), a new
// modification time or size, or every rehashEvery polls; then a new hash
// (a bad file is tried once, not at every poll).
func (r *Router) poll() {
	fi, err := os.Stat(r.cfg.File)
	if err != nil {
		return // being replaced; the next poll sees the new file
	}
	r.mu.Lock()
	prev := r.seen
	r.seen = fi
	r.polls++
	same := prev != nil && os.SameFile(prev, fi) && fi.ModTime().Equal(prev.ModTime()) && fi.Size() == prev.Size() &&
		r.polls < rehashEvery
	if !same {
		r.polls = 0
	}
	tried := r.tried
	r.mu.Unlock()
	if same {
		return
	}
	content, err := os.ReadFile(r.cfg.File)
	if err != nil {
		return
	}
	if sum := sha256.Sum256(content); bytes.Equal(sum[:], tried[:]) {
		return
	}
	_ = r.load(content) // logged and counted
}
