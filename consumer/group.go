package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
)

// Handler processes decoded records. Handle is called from the partition's
// goroutine, in offset order per ordering key; it may block (backpressure)
// and must eventually call m.Done exactly once, when the record's outcome
// is durable. Handle returns an error only when ctx ended first.
type Handler interface {
	Handle(ctx context.Context, m *Message) error
}

// Message is one record on its way through the gateway.
type Message struct {
	// Record is the Kafka record, byte for byte.
	Record event.Record
	// Event is the decoded event; nil when Err is set.
	Event *event.Event
	// Err is the decoding error (an *event.Error) of a record that is not a
	// valid messaging event.
	Err error
	// Lane is the priority lane of the record's topic.
	Lane int

	keys       [maxKeys]gateKey // ordering keys (see gate)
	nkeys      uint8
	blockers   int // earlier messages of the same keys not yet finished
	p          *partition
	done       atomic.Bool
	handedBack bool

	// Room for the decoded event and two headers (a structured-mode
	// record has one or none), so that a record costs one allocation here
	// (768 bytes; each header more would be 40).
	ev      event.Event
	headers [2]event.Header
}

// Decode decodes the record as a messaging event after all when it was
// read as a Raw topic's record (neither Event nor Err is set), setting
// Event or Err. A record of a topic that a routes reload stopped listening
// to after the record was read is decoded when its partition accepts it
// (with its schedule-key ordering key); a handler calls Decode for one
// whose reload came between acceptance and handling, which then has no
// schedule-key ordering key.
func (m *Message) Decode() {
	if m.Event != nil || m.Err != nil {
		return
	}
	var lim event.Limits
	if m.p != nil {
		lim = m.p.g.limits()
	}
	m.decode(lim)
}

// Room returns the message's own Event storage while it holds no decoded
// event (a record read raw, for routing), so that a handler can decode an
// event derived from the record into it rather than allocate one; nil
// once the record is decoded. A handler that has an event decoded into it
// must not call Decode afterwards (Decode would overwrite it).
func (m *Message) Room() *event.Event {
	if m.Event != nil || m.Err != nil {
		return nil
	}
	return &m.ev
}

// decode decodes the record into the message's own Event.
func (m *Message) decode(lim event.Limits) {
	if m.Err = event.DecodeInto(&m.ev, &m.Record, lim); m.Err == nil {
		m.Event = &m.ev
	}
}

// limits are what the Group's messages are decoded with.
func (g *Group) limits() event.Limits { return g.cfg.Limits() }

// Limits are the event.Limits the configuration sets: every event the
// gateway decodes, read or derived by a route, is held to them.
func (c Config) Limits() event.Limits {
	return event.Limits{MaxRecordBytes: c.MaxRecordBytes, MaxDepth: c.MaxJSONDepth}
}

// Done reports the message's outcome as durable. Calls after the first
// (or after HandBack) are ignored.
func (m *Message) Done() {
	if m.done.CompareAndSwap(false, true) {
		m.p.completions.add(m)
	}
}

// HandBack reports that the message will get no outcome from this process
// (it is stopping): its offset stays uncommitted and Kafka delivers it again.
func (m *Message) HandBack() {
	if m.done.CompareAndSwap(false, true) {
		m.handedBack = true
		m.p.completions.add(m)
	}
}

// Topic is a subscribed topic and its priority lane.
type Topic struct {
	Name string `yaml:"name"`
	// Lane is the priority of the topic's events when budgets are contended
	// (0 is the highest).
	Lane int `yaml:"lane"`
}

// Config configures the consumer group.
type Config struct {
	Brokers []string `yaml:"brokers"`
	GroupID string   `yaml:"group_id"`
	Topics  []Topic  `yaml:"topics"`
	// MaxInflight caps the records of one partition read but not finished.
	MaxInflight int `yaml:"max_inflight"`
	// CommitInterval is how often finished offsets are committed.
	CommitInterval time.Duration `yaml:"commit_interval"`
	// MaxWait is the longest the broker holds a fetch open while it has
	// no new records.
	MaxWait time.Duration `yaml:"max_wait"`
	// SessionTimeout and RebalanceTimeout are the group protocol timeouts.
	SessionTimeout   time.Duration `yaml:"session_timeout"`
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout"`
	// HeartbeatInterval is how often the member heartbeats.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RevokeDrain is how long a partition that is taken away (rebalance)
	// waits for its in-flight records before handing them back.
	RevokeDrain time.Duration `yaml:"revoke_drain"`
	// MaxRecordBytes is the largest record accepted (bigger: too_large).
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// MaxJSONDepth is the deepest nesting accepted in an event's data
	// (deeper: too_large).
	MaxJSONDepth int `yaml:"max_json_depth"`
	// Security holds the TLS (kafka.tls) and SASL (kafka.sasl) settings;
	// the gateway builds Dialer and the outputs' transport from them.
	Security Security `yaml:",inline"`
	// Dialer is the connection dialer (TLS, SASL); nil means kafka-go's default.
	Dialer *kafka.Dialer `yaml:"-"`
}

// DefaultConfig returns the defaults for everything but brokers.
func DefaultConfig() Config {
	return Config{
		GroupID: "braze-gateway",
		Topics: []Topic{
			{Name: "braze.send", Lane: 0},
			{Name: "braze.trigger", Lane: 1},
			{Name: "braze.schedule", Lane: 2},
		},
		MaxInflight:       500,
		CommitInterval:    500 * time.Millisecond,
		MaxWait:           250 * time.Millisecond,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		HeartbeatInterval: time.Second,
		RevokeDrain:       3 * time.Second,
		MaxRecordBytes:    1 << 20,
		MaxJSONDepth:      64,
	}
}

// Validate names the first invalid setting.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("kafka.brokers: at least one broker is required")
	case c.GroupID == "":
		return errors.New("kafka.group_id is required")
	case len(c.Topics) == 0:
		return errors.New("kafka.topics: at least one topic is required")
	case c.MaxInflight < 1:
		return errors.New("kafka.max_inflight must be at least 1")
	case c.CommitInterval <= 0:
		return errors.New("kafka.commit_interval must be positive")
	case c.MaxWait <= 0:
		return errors.New("kafka.max_wait must be positive")
	case c.SessionTimeout <= 0 || c.RebalanceTimeout <= 0 || c.HeartbeatInterval <= 0:
		return errors.New("kafka session_timeout, rebalance_timeout and heartbeat_interval must be positive")
	case c.HeartbeatInterval >= c.SessionTimeout:
		return errors.New("kafka.heartbeat_interval must be shorter than kafka.session_timeout")
	case c.RevokeDrain < 0 || c.RevokeDrain >= c.RebalanceTimeout:
		return errors.New("kafka.revoke_drain must be shorter than kafka.rebalance_timeout")
	case c.MaxRecordBytes < 1:
		return errors.New("kafka.max_record_bytes must be positive")
	case c.MaxJSONDepth < 1:
		return errors.New("kafka.max_json_depth must be positive")
	}
	if err := c.Security.Validate(); err != nil {
		return err
	}
	for i, t := range c.Topics {
		if t.Name == "" {
			return fmt.Errorf("kafka.topics[%d].name is required", i)
		}
		if t.Lane < 0 {
			return fmt.Errorf("kafka.topics[%d].lane must not be negative", i)
		}
	}
	return nil
}

// Group consumes the configured topics as a member of a Kafka consumer
// group and commits, per partition, the highest offset below which every
// record's outcome is durable. Offsets of a partition are committed only
// by the generation that owns it.
type Group struct {
	cfg      Config
	handler  Handler
	paused   func() bool
	raw      func(topic string) bool
	onAssign func(assigned, total int)
	log      *zap.Logger
	m        *metrics
	lanes    map[string]int

	joined atomic.Bool
}

// Deps are the Group's collaborators.
type Deps struct {
	// Handler processes the records. Required.
	Handler Handler
	// Paused, when it reports true, stops intake: no new record is read
	// (backpressure while Braze is failing); nil means never paused.
	Paused func() bool
	// Raw, if set, reports the topics whose records are not decoded as
	// messaging events (product events the handler routes itself): their
	// Message has neither Event nor Err.
	Raw func(topic string) bool
	// OnAssign, if set, is told at the start of every generation how many
	// partitions this member holds out of the subscribed topics' total (the
	// gateway sizes its share of the rate budgets by it).
	OnAssign func(assigned, total int)
	// Logger; nil means none.
	Logger *zap.Logger
	// Registerer receives the consumer's metrics; nil means none.
	Registerer prometheus.Registerer
}

// New returns a Group.
func New(cfg Config, deps Deps) (*Group, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Handler == nil {
		return nil, errors.New("consumer: a handler is required")
	}
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	paused := deps.Paused
	if paused == nil {
		paused = func() bool { return false }
	}
	raw := deps.Raw
	if raw == nil {
		raw = func(string) bool { return false }
	}
	g := &Group{cfg: cfg, handler: deps.Handler, paused: paused, raw: raw, onAssign: deps.OnAssign, log: log.Named("consumer"), m: newMetrics(deps.Registerer), lanes: map[string]int{}}
	for _, t := range cfg.Topics {
		g.lanes[t.Name] = t.Lane
	}
	return g, nil
}

// Joined reports whether the member currently holds a generation.
func (g *Group) Joined() bool { return g.joined.Load() }

// Run consumes until ctx ends. It then stops fetching, waits for in-flight
// records for at most drain (they finish, or are handed back uncommitted),
// commits, leaves the group and returns nil. It returns an error only if the
// group cannot be created.
func (g *Group) Run(ctx context.Context, drain time.Duration) error {
	topics := make([]string, len(g.cfg.Topics))
	for i, t := range g.cfg.Topics {
		topics[i] = t.Name
	}
	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     g.cfg.GroupID,
		Brokers:                g.cfg.Brokers,
		Dialer:                 g.cfg.Dialer,
		Topics:                 topics,
		HeartbeatInterval:      g.cfg.HeartbeatInterval,
		SessionTimeout:         g.cfg.SessionTimeout,
		RebalanceTimeout:       g.cfg.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: 5 * time.Second,
		StartOffset:            kafka.FirstOffset,
		ErrorLogger:            kafka.LoggerFunc(g.log.Sugar().Debugf),
	})
	if err != nil {
		return fmt.Errorf("consumer: create group: %w", err)
	}
	defer cg.Close()
	g.log.Info("joining consumer group", zap.String("group", g.cfg.GroupID), zap.Strings("topics", topics))
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			g.log.Warn("consumer group error; rejoining", zap.Error(err))
			if sleep(ctx, time.Second) != nil {
				return nil
			}
			continue
		}
		g.runGeneration(ctx, gen, drain)
		if ctx.Err() != nil {
			return nil
		}
	}
}

// runGeneration reads every partition assigned in gen until the generation
// ends (a rebalance) or ctx ends (shutdown), then drains and commits.
func (g *Group) runGeneration(ctx context.Context, gen *kafka.Generation, drain time.Duration) {
	g.joined.Store(true)
	defer g.joined.Store(false)
	var parts []*partition
	for topic, as := range gen.Assignments {
		for _, a := range as {
			parts = append(parts, g.newPartition(topic, a.ID, a.Offset))
		}
	}
	g.log.Info("generation started", zap.Int32("generation", gen.ID), zap.Int("partitions", len(parts)))
	g.m.assigned.Set(float64(len(parts)))
	if g.onAssign != nil {
		if total, err := g.totalPartitions(ctx); err == nil && total > 0 {
			g.onAssign(len(parts), total)
		} else if err != nil {
			g.log.Warn("cannot count the topics' partitions; keeping the budget share", zap.Error(err))
		}
	}

	// One function runs the whole generation: kafka-go ends a generation
	// (and its heartbeats) as soon as any function started on it returns, so
	// the partitions and the committer live inside it and it returns only
	// once every partition has drained and the final commit is made.
	finished := make(chan struct{})
	gen.Start(func(genCtx context.Context) {
		defer close(finished)
		var wg sync.WaitGroup
		for _, p := range parts {
			wg.Go(func() { p.run(ctx, genCtx, drain) })
		}
		drained := make(chan struct{})
		go func() { wg.Wait(); close(drained) }()
		t := time.NewTicker(g.cfg.CommitInterval)
		defer t.Stop()
		lagTick := time.NewTicker(lagInterval)
		defer lagTick.Stop()
		g.updateLag(ctx, parts)
		for {
			select {
			case <-t.C:
				g.commit(gen, parts)
			case <-lagTick.C:
				g.updateLag(ctx, parts)
			case <-drained:
				g.commit(gen, parts)
				return
			}
		}
	})
	<-finished
	// The partitions are no longer this member's: their lag is the new
	// owner's to report.
	for _, p := range parts {
		g.m.lag.DeleteLabelValues(p.topic, itoa(p.id))
		g.m.committed.DeleteLabelValues(p.topic, itoa(p.id))
		g.m.commitLag.DeleteLabelValues(p.topic, itoa(p.id))
	}
	g.log.Info("generation ended", zap.Int32("generation", gen.ID))
}

// commit commits the partitions whose commit point moved.
func (g *Group) commit(gen *kafka.Generation, parts []*partition) {
	offsets := map[string]map[int]int64{}
	var moved []*partition
	for _, p := range parts {
		if o := p.committable.Load(); o >= 0 && o != p.committed {
			if offsets[p.topic] == nil {
				offsets[p.topic] = map[int]int64{}
			}
			offsets[p.topic][p.id] = o
			moved = append(moved, p)
		}
	}
	if len(moved) == 0 {
		return
	}
	if err := gen.CommitOffsets(offsets); err != nil {
		g.m.commitErrors.Inc()
		g.log.Warn("commit failed; will retry", zap.Error(err))
		return
	}
	for _, p := range moved {
		p.committed = offsets[p.topic][p.id]
		g.m.committed.WithLabelValues(p.topic, itoa(p.id)).Set(float64(p.committed))
		if f := p.fetched.Load(); f >= 0 {
			g.m.commitLag.WithLabelValues(p.topic, itoa(p.id)).Set(float64(max(f-p.committed, 0)))
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// totalPartitions counts the partitions of the subscribed topics.
func (g *Group) totalPartitions(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	names := make([]string, len(g.cfg.Topics))
	for i, t := range g.cfg.Topics {
		names[i] = t.Name
	}
	md, err := g.client().Metadata(ctx, &kafka.MetadataRequest{Topics: names})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range md.Topics {
		n += len(t.Partitions)
	}
	return n, nil
}

// lagInterval is how often consumer lag is read from the brokers.
const lagInterval = 5 * time.Second

// updateLag sets, for every partition of the generation, the consumer lag
// as Kafka defines it (and as autoscalers read it): the log-end offset minus
// the committed offset. It is read from the brokers, so it keeps growing
// while intake is paused.
func (g *Group) updateLag(ctx context.Context, parts []*partition) {
	if len(parts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req := map[string][]kafka.OffsetRequest{}
	for _, p := range parts {
		req[p.topic] = append(req[p.topic], kafka.LastOffsetOf(p.id))
	}
	resp, err := g.client().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return // the next tick tries again
	}
	ends := map[string]map[int]int64{}
	for topic, pos := range resp.Topics {
		ends[topic] = map[int]int64{}
		for _, po := range pos {
			if po.Error == nil {
				ends[topic][po.Partition] = po.LastOffset
			}
		}
	}
	for _, p := range parts {
		end, ok := ends[p.topic][p.id]
		if !ok {
			continue
		}
		pos := p.committable.Load()
		if pos < 0 {
			pos = p.start
		}
		if pos < 0 { // first or last offset sentinel: nothing finished yet
			continue
		}
		p.lag.Set(float64(max(end-pos, 0)))
	}
}

// client returns an admin client with the group's connection settings.
func (g *Group) client() *kafka.Client {
	cl := &kafka.Client{Addr: kafka.TCP(g.cfg.Brokers...)}
	if d := g.cfg.Dialer; d != nil && (d.TLS != nil || d.SASLMechanism != nil) {
		cl.Transport = &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism}
	}
	return cl
}
