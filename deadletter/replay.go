package deadletter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/brazegw/gateway/event"
)

// DefaultReplayGroup is the consumer group Replay uses when none is given.
const DefaultReplayGroup = "braze-gateway-replay"

// Header names Replay adds to a republished record (DESIGN.md §4b.8).
const (
	// HeaderReplayID identifies the replay run that republished the record.
	HeaderReplayID = "replay.id"
	// HeaderReplayOf is the topic/partition/offset of the dead letter the
	// record was republished from.
	HeaderReplayOf = "replay.of"
)

// Tuning of a replay run.
const (
	replayMaxBatch     = 100                    // records published and committed together
	replayPollWait     = 10 * time.Millisecond  // how long a batch waits for one more record
	replayWriteTimeout = 60 * time.Second       // bound on one batch's publish and commit
	replayMaxWait      = 250 * time.Millisecond // kafka-go MaxWait; Close blocks for up to this
	smallRecordBytes   = 1 << 20                // kafka-go's default BatchBytes
	largeRecordBytes   = 64 << 20               // the largest record Replay republishes
)

// ReplayConfig configures Replay. Only Brokers and DLQTopic are required.
type ReplayConfig struct {
	// Brokers are the Kafka bootstrap brokers.
	Brokers []string
	// DLQTopic is the dead-letter topic to replay.
	DLQTopic string
	// GroupID is the replay's own consumer group (default
	// DefaultReplayGroup): what it committed is not replayed again.
	GroupID string
	// To is the topic to republish to; empty means each record's dlq.topic.
	To string
	// Reasons keeps only records whose dlq.reason is listed (empty: any).
	// Naming a reason no replay can fix counts as asking for it.
	Reasons []string
	// Types keeps only events of these types (empty: any). The type is the
	// ce_type header in binary mode or the JSON value's "type" in
	// structured mode; a record whose type cannot be read never matches.
	Types []string
	// Sources keeps only events from these sources (empty: any), read like Types.
	Sources []string
	// Statuses keeps only records whose dlq.status is listed (empty: any).
	Statuses []int
	// Since keeps only records with dlq.failed_at at or after it (zero: no bound).
	Since time.Time
	// Until keeps only records with dlq.failed_at before it (zero: no bound).
	Until time.Time
	// IncludeUnfixable replays invalid_event, unknown_type and too_large
	// records too; by default they are skipped.
	IncludeUnfixable bool
	// DryRun counts what would be replayed and publishes and commits nothing.
	DryRun bool
	// Rate is the most records published per second (0: unlimited).
	Rate float64
	// Follow keeps replaying past the end the DLQ had at start, until ctx ends.
	Follow bool
	// Dialer carries TLS and SASL settings; nil means kafka-go's default.
	Dialer *kafka.Dialer
	// Progress receives progress lines and the final summary (nil: none).
	Progress io.Writer
	// ProgressEvery is the interval between progress lines (0: only the summary).
	ProgressEvery time.Duration
}

// ReplayStats counts what a replay run did. In a dry run, Replayed counts
// what would have been republished.
type ReplayStats struct {
	// RunID is the run's replay.id.
	RunID string
	// Read is the number of dead letters read.
	Read int
	// Replayed is the number republished.
	Replayed int
	// Skipped is the number left out by the filters (committed all the same,
	// except in a dry run).
	Skipped int
	// ByReason counts the republished records by dlq.reason.
	ByReason map[string]int
}

// unfixable are the reasons no replay can fix without a change to the
// event or the gateway (DESIGN.md §4b.8).
var unfixable = []string{string(event.ReasonInvalidEvent), string(event.ReasonUnknownType), string(event.ReasonTooLarge)}

// validate checks cfg and fills its defaults.
func (c *ReplayConfig) validate() error {
	if c.GroupID == "" {
		c.GroupID = DefaultReplayGroup
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	known := map[string]bool{}
	for _, r := range event.Reasons() {
		known[string(r)] = true
	}
	switch {
	case len(c.Brokers) == 0:
		return errors.New("replay: brokers are required")
	case c.DLQTopic == "":
		return errors.New("replay: the dead-letter topic is required")
	case c.To == c.DLQTopic:
		return fmt.Errorf("replay: cannot republish to the dead-letter topic %s itself", c.DLQTopic)
	case c.Rate < 0:
		return errors.New("replay: rate must not be negative")
	case c.ProgressEvery < 0:
		return errors.New("replay: progress interval must not be negative")
	case !c.Since.IsZero() && !c.Until.IsZero() && !c.Since.Before(c.Until):
		return errors.New("replay: since must be before until")
	}
	for _, r := range c.Reasons {
		if !known[r] {
			return fmt.Errorf("replay: unknown reason %q", r)
		}
	}
	return nil
}

// Replay republishes the dead letters of cfg.DLQTopic to the topics they
// were read from (or cfg.To): the original key, value and headers without
// the dlq.* headers, plus replay.id and replay.of. It reads with its own
// consumer group and commits a record only once its republication is
// acknowledged by all in-sync replicas (or once the filters skipped it), so
// a second run with the same group replays nothing. It stops at the end the
// topic had when it started, or, with cfg.Follow, when ctx ends.
//
// A run interrupted by ctx before that end returns the stats so far and an
// error wrapping ctx's; what it committed stays committed and a new run
// carries on from there. Replay expects to be the only member of its group.
func Replay(ctx context.Context, cfg ReplayConfig) (ReplayStats, error) {
	if err := cfg.validate(); err != nil {
		return ReplayStats{}, err
	}
	r := &replayer{cfg: cfg, stats: ReplayStats{RunID: newRunID(), ByReason: map[string]int{}}}
	stats, err := r.run(ctx)
	r.summary(err)
	return stats, err
}

// replayer is one replay run.
type replayer struct {
	cfg     ReplayConfig
	reader  *kafka.Reader
	small   *kafka.Writer // records that fit kafka-go's default batch size
	large   *kafka.Writer // larger records, one per request
	limiter *rate.Limiter
	batch   int

	// ends and pos are each partition's end offset at start and the next
	// offset to handle (non-follow runs only).
	ends, pos map[int]int64

	mu    sync.Mutex
	stats ReplayStats

	printMu sync.Mutex // serialises writes to cfg.Progress
}

func (r *replayer) printf(format string, args ...any) {
	r.printMu.Lock()
	defer r.printMu.Unlock()
	fmt.Fprintf(r.cfg.Progress, format, args...)
}

func (r *replayer) run(ctx context.Context) (ReplayStats, error) {
	if !r.cfg.Follow {
		var err error
		if r.ends, r.pos, err = r.positions(ctx); err != nil {
			return r.snapshot(), err
		}
		if r.done() {
			return r.snapshot(), nil
		}
	}
	r.batch = replayMaxBatch
	if r.cfg.Rate > 0 {
		// Bursts of at most a tenth of a second's worth of records.
		r.batch = max(1, min(replayMaxBatch, int(r.cfg.Rate/10)))
		r.limiter = rate.NewLimiter(rate.Limit(r.cfg.Rate), r.batch)
	}
	r.reader = kafka.NewReader(kafka.ReaderConfig{
		Brokers:           r.cfg.Brokers,
		GroupID:           r.cfg.GroupID,
		Topic:             r.cfg.DLQTopic,
		Dialer:            r.cfg.Dialer,
		MaxWait:           replayMaxWait,
		MaxBytes:          largeRecordBytes,
		StartOffset:       kafka.FirstOffset,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
	})
	defer r.reader.Close()
	r.small = r.newWriter(smallRecordBytes, r.batch)
	defer r.small.Close()
	r.large = r.newWriter(largeRecordBytes, 1)
	defer r.large.Close()

	if r.cfg.ProgressEvery > 0 {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() { r.report(stop) })
		defer wg.Wait()
		defer close(stop)
	}
	for r.cfg.Follow || !r.done() {
		batch, err := r.fetch(ctx)
		if err != nil {
			return r.snapshot(), r.stopped(ctx, err)
		}
		if err := r.handle(ctx, batch); err != nil {
			return r.snapshot(), r.stopped(ctx, err)
		}
	}
	return r.snapshot(), nil
}

// stopped turns the error that ended the loop into Replay's answer: nil
// for a follow run that ctx ended, the wrapped error otherwise.
func (r *replayer) stopped(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		if r.cfg.Follow {
			return nil
		}
		return fmt.Errorf("replay: interrupted before the end of %s: %w", r.cfg.DLQTopic, ctx.Err())
	}
	return err
}

func (r *replayer) newWriter(batchBytes, batchSize int) *kafka.Writer {
	w := &kafka.Writer{
		Addr:         kafka.TCP(r.cfg.Brokers...),
		Balancer:     originalPartition{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    batchSize,
		BatchBytes:   int64(batchBytes),
		BatchTimeout: 5 * time.Millisecond,
	}
	if t := transport(r.cfg.Dialer); t != nil {
		w.Transport = t
	}
	return w
}

// transport returns the kafka.Transport matching d's TLS and SASL settings,
// or nil for kafka-go's default.
func transport(d *kafka.Dialer) *kafka.Transport {
	if d == nil || (d.TLS == nil && d.SASLMechanism == nil) {
		return nil
	}
	return &kafka.Transport{TLS: d.TLS, SASL: d.SASLMechanism}
}

// positions returns each partition's end offset and the group's position
// in it (its committed offset, or the log start when it has none).
func (r *replayer) positions(ctx context.Context) (ends, pos map[int]int64, err error) {
	cl := &kafka.Client{Addr: kafka.TCP(r.cfg.Brokers...), Timeout: 10 * time.Second}
	if t := transport(r.cfg.Dialer); t != nil {
		cl.Transport = t
	}
	topic := r.cfg.DLQTopic
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: metadata of %s: %w", topic, err)
	}
	var req []kafka.OffsetRequest
	var ids []int
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, nil, fmt.Errorf("replay: topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			req = append(req, kafka.FirstOffsetOf(p.ID), kafka.LastOffsetOf(p.ID))
			ids = append(ids, p.ID)
		}
	}
	lo, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: req}})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: offsets of %s: %w", topic, err)
	}
	ends, pos = map[int]int64{}, map[int]int64{}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return nil, nil, fmt.Errorf("replay: offsets of %s/%d: %w", topic, po.Partition, po.Error)
		}
		ends[po.Partition] = po.LastOffset
		pos[po.Partition] = po.FirstOffset
	}
	of, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: r.cfg.GroupID, Topics: map[string][]int{topic: ids}})
	if err != nil {
		return nil, nil, fmt.Errorf("replay: committed offsets of group %s: %w", r.cfg.GroupID, err)
	}
	if errors.Is(of.Error, kafka.GroupIdNotFound) {
		return ends, pos, nil // a new group: nothing committed (some brokers say so this way)
	}
	if of.Error != nil {
		return nil, nil, fmt.Errorf("replay: committed offsets of group %s: %w", r.cfg.GroupID, of.Error)
	}
	for _, p := range of.Topics[topic] {
		if p.Error != nil {
			return nil, nil, fmt.Errorf("replay: committed offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		if p.CommittedOffset > pos[p.Partition] {
			pos[p.Partition] = p.CommittedOffset
		}
	}
	return ends, pos, nil
}

// done reports whether every partition reached its end offset at start.
func (r *replayer) done() bool {
	for p, end := range r.ends {
		if r.pos[p] < end {
			return false
		}
	}
	return true
}

// fetch waits for a record, then gathers those that follow at once, up to
// a batch. In a non-follow run it leaves out records past the end offsets
// (they stay uncommitted for a later run) and stops once the end is reached.
func (r *replayer) fetch(ctx context.Context) ([]kafka.Message, error) {
	var batch []kafka.Message
	reached := map[int]int64{}
	for len(batch) < r.batch {
		fctx, cancel := ctx, context.CancelFunc(func() {})
		if len(batch) > 0 {
			fctx, cancel = context.WithTimeout(ctx, replayPollWait)
		}
		m, err := r.reader.FetchMessage(fctx)
		cancel()
		if err != nil {
			if len(batch) > 0 && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
				return batch, nil
			}
			return nil, fmt.Errorf("replay: read %s: %w", r.cfg.DLQTopic, err)
		}
		if r.cfg.Follow {
			batch = append(batch, m)
			continue
		}
		end, ok := r.ends[m.Partition]
		if !ok || m.Offset >= end {
			continue
		}
		batch = append(batch, m)
		reached[m.Partition] = m.Offset + 1
		if r.doneWith(reached) {
			return batch, nil
		}
	}
	return batch, nil
}

// doneWith reports whether every partition reaches its end once the
// positions in reached are added.
func (r *replayer) doneWith(reached map[int]int64) bool {
	for p, end := range r.ends {
		if max(r.pos[p], reached[p]) < end {
			return false
		}
	}
	return true
}

// handle republishes the records of batch that pass the filters, then
// commits the whole batch.
func (r *replayer) handle(ctx context.Context, batch []kafka.Message) error {
	if len(batch) == 0 {
		return nil
	}
	var out []kafka.Message
	var reasons []string
	for _, m := range batch {
		target, reason, ok := r.selects(m)
		if !ok {
			continue
		}
		out = append(out, r.republished(m, target))
		reasons = append(reasons, reason)
	}
	if !r.cfg.DryRun {
		if r.limiter != nil && len(out) > 0 {
			if err := r.limiter.WaitN(ctx, len(out)); err != nil {
				return fmt.Errorf("replay: rate limit: %w", err)
			}
		}
		// A batch that started publishing finishes and commits, even when
		// ctx ends meanwhile, so that an interruption leaves nothing
		// published and uncommitted.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), replayWriteTimeout)
		defer cancel()
		if err := r.publish(wctx, out); err != nil {
			return err
		}
		if err := r.reader.CommitMessages(wctx, batch...); err != nil {
			return fmt.Errorf("replay: commit (the batch was republished; a new run republishes it again and the gateway skips what it already sent): %w", err)
		}
	}
	r.mu.Lock()
	r.stats.Read += len(batch)
	r.stats.Replayed += len(out)
	r.stats.Skipped += len(batch) - len(out)
	for _, reason := range reasons {
		r.stats.ByReason[reason]++
	}
	r.mu.Unlock()
	for _, m := range batch {
		if r.pos != nil {
			r.pos[m.Partition] = max(r.pos[m.Partition], m.Offset+1)
		}
	}
	return nil
}

// publish writes msgs in order, runs of small records in batches and large
// records one at a time, and returns once all are acknowledged.
func (r *replayer) publish(ctx context.Context, msgs []kafka.Message) error {
	for len(msgs) > 0 {
		large := recordSize(msgs[0]) > smallRecordBytes
		n := 1
		for n < len(msgs) && (recordSize(msgs[n]) > smallRecordBytes) == large {
			n++
		}
		w := r.small
		if large {
			w = r.large
		}
		if err := w.WriteMessages(ctx, msgs[:n]...); err != nil {
			return fmt.Errorf("replay: publish: %w", err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// recordSize is a record's size with room for its overhead in a batch:
// what kafka-go checks against BatchBytes (replay) and what the
// producer's maxBatchBytes counts.
func recordSize(m kafka.Message) int {
	n := len(m.Key) + len(m.Value) + 64
	for _, h := range m.Headers {
		n += len(h.Key) + len(h.Value) + 8
	}
	return n
}

// selects applies the filters to m and returns the topic to republish it
// to and its dlq.reason.
func (r *replayer) selects(m kafka.Message) (target, reason string, ok bool) {
	c := &r.cfg
	reason = header(m, HeaderReason)
	if reason == "" {
		reason = "none"
	}
	if len(c.Reasons) > 0 && !slices.Contains(c.Reasons, reason) {
		return "", reason, false
	}
	if slices.Contains(unfixable, reason) && !c.IncludeUnfixable && !slices.Contains(c.Reasons, reason) {
		return "", reason, false
	}
	if len(c.Statuses) > 0 {
		st, err := strconv.Atoi(header(m, HeaderStatus))
		if err != nil || !slices.Contains(c.Statuses, st) {
			return "", reason, false
		}
	}
	if !c.Since.IsZero() || !c.Until.IsZero() {
		at, err := time.Parse(time.RFC3339Nano, header(m, HeaderFailedAt))
		if err != nil || (!c.Since.IsZero() && at.Before(c.Since)) || (!c.Until.IsZero() && !at.Before(c.Until)) {
			return "", reason, false
		}
	}
	if len(c.Types) > 0 || len(c.Sources) > 0 {
		typ, source := attributes(m)
		if len(c.Types) > 0 && (typ == "" || !slices.Contains(c.Types, typ)) {
			return "", reason, false
		}
		if len(c.Sources) > 0 && (source == "" || !slices.Contains(c.Sources, source)) {
			return "", reason, false
		}
	}
	target = c.To
	if target == "" {
		target = header(m, HeaderTopic)
	}
	if target == "" || target == c.DLQTopic {
		r.printf("replay: skipping %s: no dlq.topic header to replay it to (use -to)\n", dlqPosition(m))
		return "", reason, false
	}
	return target, reason, true
}

// attributes returns the CloudEvents type and source of m: the ce_ headers
// in binary mode, the JSON value's attributes in structured mode; empty
// when the record does not say.
func attributes(m kafka.Message) (typ, source string) {
	for _, h := range m.Headers {
		if h.Key == "ce_specversion" {
			return header(m, "ce_type"), header(m, "ce_source")
		}
	}
	var ev struct {
		Type   string `json:"type"`
		Source string `json:"source"`
	}
	if json.Unmarshal(m.Value, &ev) != nil {
		return "", ""
	}
	return ev.Type, ev.Source
}

// republished returns the record to publish for dead letter m: its key,
// value and headers without dlq.* (and without the replay.* headers of an
// earlier replay), plus this run's replay.id and replay.of. When it goes
// back to the topic it came from, it goes to the same partition.
func (r *replayer) republished(m kafka.Message, target string) kafka.Message {
	hs := make([]kafka.Header, 0, len(m.Headers)+2)
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "dlq.") || h.Key == HeaderReplayID || h.Key == HeaderReplayOf {
			continue
		}
		hs = append(hs, h)
	}
	hs = append(hs,
		kafka.Header{Key: HeaderReplayID, Value: []byte(r.stats.RunID)},
		kafka.Header{Key: HeaderReplayOf, Value: []byte(dlqPosition(m))})
	out := kafka.Message{Topic: target, Key: m.Key, Value: m.Value, Headers: hs}
	if target == header(m, HeaderTopic) {
		if p, err := strconv.Atoi(header(m, HeaderPartition)); err == nil {
			out.WriterData = partitionHint(p)
		}
	}
	return out
}

// partitionHint is the partition a record was originally read from.
type partitionHint int

// originalPartition puts a record back on the partition it was read from
// when that partition exists, and otherwise partitions by key like Java
// producers (murmur2).
type originalPartition struct{}

// Balance implements kafka.Balancer.
func (originalPartition) Balance(m kafka.Message, partitions ...int) int {
	if p, ok := m.WriterData.(partitionHint); ok && slices.Contains(partitions, int(p)) {
		return int(p)
	}
	return (&kafka.Murmur2Balancer{}).Balance(m, partitions...)
}

func dlqPosition(m kafka.Message) string {
	return m.Topic + "/" + strconv.Itoa(m.Partition) + "/" + strconv.FormatInt(m.Offset, 10)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// newRunID returns a time-ordered unique run id.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(b)
}

func (r *replayer) snapshot() ReplayStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	s.ByReason = make(map[string]int, len(r.stats.ByReason))
	for k, v := range r.stats.ByReason {
		s.ByReason[k] = v
	}
	return s
}

// report prints a progress line every ProgressEvery until stop closes.
func (r *replayer) report(stop <-chan struct{}) {
	t := time.NewTicker(r.cfg.ProgressEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s := r.snapshot()
			r.printf("replay %s: %s\n", s.RunID, r.counts(s))
		}
	}
}

// summary prints the run's final line.
func (r *replayer) summary(err error) {
	s := r.snapshot()
	state := "done"
	switch {
	case err != nil:
		state = "stopped"
	case r.cfg.DryRun:
		state = "dry run done, nothing published or committed"
	}
	r.printf("replay %s %s: %s\n", s.RunID, state, r.counts(s))
}

func (r *replayer) counts(s ReplayStats) string {
	verb := "replayed"
	if r.cfg.DryRun {
		verb = "would replay"
	}
	line := fmt.Sprintf("read %d, %s %d, skipped %d", s.Read, verb, s.Replayed, s.Skipped)
	if len(s.ByReason) > 0 {
		rs := make([]string, 0, len(s.ByReason))
		for k, v := range s.ByReason {
			rs = append(rs, k+"="+strconv.Itoa(v))
		}
		sort.Strings(rs)
		line += " (" + strings.Join(rs, " ") + ")"
	}
	return line
}
