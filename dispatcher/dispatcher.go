package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/braze"
	"github.com/brazegw/gateway/braze/rules"
	"github.com/brazegw/gateway/event"
)

// Sender calls one Braze workspace. *braze.Client satisfies it.
type Sender interface {
	Post(ctx context.Context, path string, body []byte) (*braze.Response, error)
}

// Limiter holds Braze's rate budgets. Wait blocks until one call charged to
// charges may be made (or ctx ends); Observe feeds every answer's status and
// rate-limit headers back. *ratelimit.Budgets satisfies it.
type Limiter interface {
	Wait(ctx context.Context, workspace string, charges []rules.Charge, lane int) error
	Observe(workspace string, charges []rules.Charge, status int, rl braze.RateLimit)
}

// Config tunes batching, concurrency and retries.
type Config struct {
	// MaxRecipients caps the recipients of one request (Braze: 50).
	MaxRecipients int `yaml:"max_recipients"`
	// Linger is how long an open batch waits for more recipients.
	Linger time.Duration `yaml:"linger"`
	// Workers is the number of concurrent Braze calls.
	Workers int `yaml:"workers"`
	// Retry is the retry policy for transient failures.
	Retry RetryConfig `yaml:"retry"`
	// Pause is the backpressure policy when Braze fails for everyone.
	Pause PauseConfig `yaml:"pause"`
}

// RetryConfig bounds retries of 5xx, timeouts, connection errors and 429s.
type RetryConfig struct {
	// MaxAttempts is the most calls made for one request before its events
	// are dead-lettered as retries_exhausted.
	MaxAttempts int `yaml:"max_attempts"`
	// MaxElapsed is the longest time from the first attempt after which no
	// further attempt is started.
	MaxElapsed time.Duration `yaml:"max_elapsed"`
	// InitialBackoff and MaxBackoff bound the exponential backoff (full jitter).
	InitialBackoff time.Duration `yaml:"initial_backoff"`
	MaxBackoff     time.Duration `yaml:"max_backoff"`
}

// DefaultConfig returns the defaults: 50 recipients, 25 ms linger,
// 32 workers, 5 attempts within 2 minutes, backoff 200 ms to 30 s.
func DefaultConfig() Config {
	return Config{
		MaxRecipients: 50,
		Linger:        25 * time.Millisecond,
		Workers:       32,
		Retry: RetryConfig{
			MaxAttempts:    5,
			MaxElapsed:     2 * time.Minute,
			InitialBackoff: 200 * time.Millisecond,
			MaxBackoff:     30 * time.Second,
		},
		Pause: PauseConfig{AfterFailures: 10, ProbeInterval: 2 * time.Second},
	}
}

// Validate names the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.MaxRecipients < 1 || c.MaxRecipients > 50:
		return errors.New("dispatcher.max_recipients must be between 1 and 50")
	case c.Linger < 0:
		return errors.New("dispatcher.linger must not be negative")
	case c.Workers < 1:
		return errors.New("dispatcher.workers must be at least 1")
	case c.Retry.MaxAttempts < 1:
		return errors.New("dispatcher.retry.max_attempts must be at least 1")
	case c.Retry.MaxElapsed <= 0:
		return errors.New("dispatcher.retry.max_elapsed must be positive")
	case c.Retry.InitialBackoff <= 0 || c.Retry.MaxBackoff < c.Retry.InitialBackoff:
		return errors.New("dispatcher.retry backoffs must be positive and max_backoff >= initial_backoff")
	case c.Pause.AfterFailures < 1:
		return errors.New("dispatcher.pause.after_failures must be at least 1")
	case c.Pause.ProbeInterval <= 0:
		return errors.New("dispatcher.pause.probe_interval must be positive")
	}
	return nil
}

// Deps are the Dispatcher's collaborators.
type Deps struct {
	// Senders maps a workspace name to its Braze client. Required.
	Senders map[string]Sender
	// Limiter holds the rate budgets; nil means unlimited.
	Limiter Limiter
	// Logger; nil means no logging.
	Logger *zap.Logger
	// Registerer receives the dispatcher's metrics; nil means none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Dispatcher batches, rate-limits and sends events to Braze. It is safe for
// concurrent use. Submit may be called before Run; requests are sent only
// while Run runs.
type Dispatcher struct {
	cfg     Config
	senders map[string]Sender
	limiter Limiter
	log     *zap.Logger
	m       *metrics
	now     func() time.Time

	queues    [lanes]chan *request // one per priority lane; workers take the highest lane first
	stop      chan struct{}        // closed when Run's context ends
	health    *health
	quiescing atomic.Bool

	mu      sync.Mutex
	open    map[string][]*pending    // open batches by batching key
	waiting map[*request]*time.Timer // requests waiting for a retry or a probe
	seed    maphash.Seed             // of the recipient identity hashes of open batches
}

// New returns a Dispatcher.
func New(cfg Config, deps Deps) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(deps.Senders) == 0 {
		return nil, errors.New("dispatcher: no Braze workspace configured")
	}
	d := &Dispatcher{
		cfg:     cfg,
		senders: deps.Senders,
		limiter: deps.Limiter,
		log:     deps.Logger,
		m:       newMetrics(deps.Registerer),
		now:     deps.Now,
		queues:  newQueues(cfg.Workers * 4),
		stop:    make(chan struct{}),
		open:    make(map[string][]*pending),
		waiting: make(map[*request]*time.Timer),
		seed:    maphash.MakeSeed(),
	}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	d.log = d.log.Named("dispatcher")
	if d.now == nil {
		d.now = time.Now
	}
	if d.limiter == nil {
		d.limiter = unlimited{}
	}
	d.health = &health{cfg: cfg.Pause, log: d.log, m: d.m}
	return d, nil
}

// Quiesce starts a graceful stop: calls already in progress finish, every
// other event (queued, lingering in an open batch, waiting for a retry) is
// handed back at once with a HandedBack result, so that a drain ends as soon
// as the calls in flight are answered.
func (d *Dispatcher) Quiesce() {
	if d.quiescing.Swap(true) {
		return
	}
	d.mu.Lock()
	var open []*pending
	for _, ps := range d.open {
		open = append(open, ps...)
	}
	for _, p := range open {
		d.closeLocked(p)
	}
	waiting := make([]*request, 0, len(d.waiting))
	for r, t := range d.waiting {
		t.Stop()
		waiting = append(waiting, r)
	}
	clear(d.waiting)
	d.mu.Unlock()
	for _, p := range open {
		d.handBack(p.req)
	}
	for _, r := range waiting {
		d.handBack(r)
	}
}

// handBack gives r's events back without an outcome.
func (d *Dispatcher) handBack(r *request) {
	if r.sibling != nil {
		d.handBack(r.sibling)
		r.sibling = nil
	}
	for _, j := range r.jobs {
		j.Done.Complete(Result{Outcome: HandedBack})
	}
}

// Paused reports whether Braze is failing for everyone (the gateway then
// stops intake) and why: "braze_unavailable" or "auth".
func (d *Dispatcher) Paused() (bool, string) { return d.health.paused() }

// Run sends requests until ctx ends. Events whose requests are still
// pending then get no Result: their offsets are not committed and Kafka
// delivers them again (they are handed back). Run returns nil.
func (d *Dispatcher) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	// A quarter of the workers serve only the highest lane, so that calls of
	// lower lanes waiting for a contended budget can never occupy every
	// worker while a transactional call queues behind them.
	reserved := 0
	if d.cfg.Workers >= 4 {
		reserved = d.cfg.Workers / 4
	}
	for i := range d.cfg.Workers {
		wg.Go(func() { d.work(ctx, i < reserved) })
	}
	<-ctx.Done()
	close(d.stop)
	wg.Wait()
	return nil
}

// Job is one event to send. Done.Complete is called exactly once with the
// event's final Result, from a dispatcher goroutine; it must not block for
// long.
type Job struct {
	Event *event.Event
	// Body is the request body for an event sent on its own; nil means
	// Event.Data. Batched events use their Batch view instead.
	Body []byte
	// Lane is the priority lane of the event's topic (0 is the highest).
	Lane int
	// Done receives the final Result.
	Done Completer

	attempts int
	first    time.Time
}

// Outcome is the final state of an event.
type Outcome uint8

// Outcomes.
const (
	// Sent: Braze accepted the event's request.
	Sent Outcome = iota
	// DeadLettered: the event is refused for Reason.
	DeadLettered
	// Expired: the event's deliver-by time passed before Braze accepted it;
	// it is dead-lettered with reason expired.
	Expired
	// HandedBack: the dispatcher is stopping and the event's call was never
	// started (or waits for a retry): it has no outcome, and Kafka delivers
	// it again after the restart.
	HandedBack
)

func (o Outcome) String() string {
	switch o {
	case Sent:
		return "sent"
	case Expired:
		return "expired"
	case HandedBack:
		return "handed_back"
	}
	return "dead_lettered"
}

// Result is an event's final outcome.
type Result struct {
	Outcome Outcome
	// Reason says why a dead-lettered event was refused.
	Reason event.Reason
	// Err is a one-line cause of a dead-lettering.
	Err string
	// Status is the last HTTP status from Braze (0 if none).
	Status int
	// Response is Braze's last response body, if any.
	Response []byte
	// Attempts is the number of Braze calls made for this event.
	Attempts int
	// DispatchID, ScheduleID, SendID and Notice are what Braze answered.
	DispatchID, ScheduleID, SendID, Notice string
	// BatchSize is the number of events in the request that settled it.
	BatchSize int
	// FirstAttempt is when the first call for this event started (zero if none).
	FirstAttempt time.Time
}

// Submit hands an event to the dispatcher. It blocks while the request
// queue is full (backpressure). If ctx ends first, the event — and the
// other events of a batch it completed — are handed back (Done with
// HandedBack), never dropped. Submit always returns nil; the error result
// is kept for callers that want to stop on it.
func (d *Dispatcher) Submit(ctx context.Context, j *Job) error {
	ev := j.Event
	if d.quiescing.Load() {
		j.Done.Complete(Result{Outcome: HandedBack})
		return nil
	}
	if _, ok := d.senders[ev.Workspace]; !ok {
		d.finish(j, Result{Outcome: DeadLettered, Reason: event.ReasonInvalidRequest,
			Err: fmt.Sprintf("workspace %q is not configured", ev.Workspace)}, 0)
		return nil
	}
	if ev.Batch == nil {
		return d.enqueue(ctx, d.single(j))
	}
	if full := d.add(j); full != nil {
		return d.enqueue(ctx, full)
	}
	return nil
}

// single builds the request of an event sent on its own.
func (d *Dispatcher) single(j *Job) *request {
	r := &request{ws: j.Event.Workspace, endpoint: j.Event.Spec.Endpoint, jobs: []*Job{j}, lane: j.Lane}
	if j.Event.Batch != nil {
		r.batch = j.Event.Batch
		r.recips = j.Event.Batch.Recipients
	} else if r.body = j.Body; r.body == nil {
		r.body = j.Event.Data
	}
	return r
}

func (d *Dispatcher) enqueue(ctx context.Context, r *request) error {
	select {
	case d.queues[laneIndex(r.lane)] <- r:
	case <-ctx.Done():
		d.handBack(r)
	case <-d.stop:
		d.handBack(r)
	}
	return nil
}

// requeue puts a request back after a retry wait or a linger; when the
// dispatcher stops instead, its events are handed back.
func (d *Dispatcher) requeue(r *request) {
	select {
	case d.queues[laneIndex(r.lane)] <- r:
	case <-d.stop:
		d.handBack(r)
	}
}

func (d *Dispatcher) finish(j *Job, res Result, batchSize int) {
	res.Attempts = j.attempts
	res.FirstAttempt = j.first
	if res.BatchSize == 0 {
		res.BatchSize = batchSize
	}
	j.Done.Complete(res)
}

// Completer receives the final Result of a Job. The caller's record of an
// event can be one (storing a pointer in the interface costs nothing),
// where a closure would be one allocation per event.
type Completer interface {
	Complete(Result)
}

// CompleteFunc is a function that is a Completer.
type CompleteFunc func(Result)

// Complete calls f(r).
func (f CompleteFunc) Complete(r Result) { f(r) }

type unlimited struct{}

func (unlimited) Wait(ctx context.Context, _ string, _ []rules.Charge, _ int) error { return ctx.Err() }
func (unlimited) Observe(string, []rules.Charge, int, braze.RateLimit)              {}

// lanes is the number of request queues; lanes beyond the last share it.
const lanes = 4

func newQueues(size int) [lanes]chan *request {
	var qs [lanes]chan *request
	for i := range qs {
		qs[i] = make(chan *request, size)
	}
	return qs
}

func laneIndex(lane int) int { return min(max(lane, 0), lanes-1) }

// next returns the next request to send, from the highest lane that has
// one, or nil once ctx ends. A request of a lower lane never waits behind
// a backlog of a higher-numbered (lower-priority) lane.
func (d *Dispatcher) next(ctx context.Context, highestOnly bool) *request {
	if highestOnly {
		select {
		case r := <-d.queues[0]:
			return r
		case <-ctx.Done():
			return nil
		}
	}
	for {
		for i := range d.queues {
			select {
			case r := <-d.queues[i]:
				return r
			default:
			}
		}
		select {
		case r := <-d.queues[0]:
			return r
		case r := <-d.queues[1]:
			return r
		case r := <-d.queues[2]:
			return r
		case r := <-d.queues[3]:
			return r
		case <-ctx.Done():
			return nil
		}
	}
}
