package deadletter

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
	"github.com/brazegw/gateway/internal/kafkaread"
)

// Follower reads the whole results topic (every partition, from the
// beginning, no consumer group) and hands each result to a callback, so
// that every replica learns every outcome. It is safe for concurrent use.
type Follower struct {
	brokers []string
	topic   string
	dialer  *kafka.Dialer
	apply   func(*event.Result)
	log     *zap.Logger

	mu    sync.Mutex
	read  map[int]int64 // next offset to read, per partition
	self  string        // instance id of this process's own results
	acked *acked        // where this process's own results were written
	cond  chan struct{} // closed and replaced when read moves while someone waits
	wait  int           // Sync calls waiting on cond

	stepped atomic.Int64 // own records not read (for tests)
}

// NewFollower returns a Follower of topic that calls apply for each result.
func NewFollower(brokers []string, topic string, dialer *kafka.Dialer, apply func(*event.Result), log *zap.Logger) *Follower {
	if log == nil {
		log = zap.NewNop()
	}
	return &Follower{brokers: brokers, topic: topic, dialer: dialer, apply: apply, log: log.Named("results"),
		read: map[int]int64{}, cond: make(chan struct{})}
}

// Run follows the topic until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	parts, err := f.partitions(ctx)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { f.follow(ctx, p) })
	}
	wg.Wait()
	return nil
}

func (f *Follower) partitions(ctx context.Context) ([]int, error) {
	for {
		ends, err := f.ends(ctx)
		if err == nil {
			ps := make([]int, 0, len(ends))
			for p := range ends {
				ps = append(ps, p)
			}
			return ps, nil
		}
		f.log.Warn("cannot read results topic metadata; retrying", zap.Error(err))
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(time.Second):
		}
	}
}

func (f *Follower) follow(ctx context.Context, p int) {
	cfg := kafkaread.Config{Brokers: f.brokers, Topic: f.topic, Partition: p, Dialer: f.dialer,
		MinBytes: 1, MaxBytes: 16 << 20, MaxWait: 250 * time.Millisecond, Logger: f.log,
		Next: func(ctx context.Context, offset int64, atEnd bool) (int64, error) {
			return f.next(ctx, p, offset, atEnd)
		}}
	_ = kafkaread.Read(ctx, cfg, kafka.FirstOffset, func(m *kafkaread.Record) bool {
		// A result this process wrote was recorded when the write was
		// acknowledged: nothing to learn from it.
		if !f.own(m.Headers) && len(m.Value) > 0 {
			f.learn(m.Value)
		}
		f.advance(p, m.Offset+1)
		return true
	})
}

// settle is how long a follower that has read partition p to its end
// waits before it reads on, so that the acknowledgements of the records
// this process writes meanwhile arrive before it reaches them: then it
// steps over them instead of reading them. It is also how late, at most,
// the follower learns of another replica's result.
const settle = 100 * time.Millisecond

// next returns where the next fetch of partition p, which would start at
// offset, starts: past this process's own acknowledged results.
func (f *Follower) next(ctx context.Context, p int, offset int64, atEnd bool) (int64, error) {
	f.mu.Lock()
	a := f.acked
	f.mu.Unlock()
	if a == nil {
		return offset, nil
	}
	if atEnd {
		t := time.NewTimer(settle)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return offset, ctx.Err()
		case <-t.C:
		}
	}
	next := a.next(p, offset)
	if next > offset {
		f.stepped.Add(next - offset)
		f.advance(p, next)
	}
	return next, nil
}

// advance notes that partition p has been read up to offset and wakes
// Sync calls waiting on it.
func (f *Follower) advance(p int, offset int64) {
	f.mu.Lock()
	f.read[p] = offset
	if f.wait > 0 {
		close(f.cond)
		f.cond = make(chan struct{})
	}
	f.mu.Unlock()
}

// learn applies the result record value v (others are ignored).
func (f *Follower) learn(v []byte) {
	var res event.Result
	if res.UnmarshalJSON(v) == nil {
		f.apply(&res)
	}
}

// Sync waits until every result written before the call has been read
// (the follower has reached each partition's end offset as of now). It
// keeps asking for the end offsets until ctx ends: a real cluster answers
// "not leader" for a moment after the topic is created or while a leader
// moves, and nothing at all while the brokers restart.
func (f *Follower) Sync(ctx context.Context) error {
	ends, err := f.ends(ctx)
	for attempt := 1; err != nil; attempt++ {
		if attempt == 1 || attempt%20 == 0 {
			f.log.Warn("cannot read the results topic's end offsets; retrying", zap.Int("attempt", attempt), zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("results sync: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(250 * time.Millisecond):
		}
		ends, err = f.ends(ctx)
	}
	for {
		f.mu.Lock()
		behind := false
		for p, end := range ends {
			if f.read[p] < end {
				behind = true
			}
		}
		if !behind {
			f.mu.Unlock()
			return nil
		}
		cond := f.cond
		f.wait++
		f.mu.Unlock()
		var err error
		select {
		case <-cond:
		case <-ctx.Done():
			err = ctx.Err()
		}
		f.mu.Lock()
		f.wait--
		f.mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// ends returns the end offset of every partition of the topic.
func (f *Follower) ends(ctx context.Context) (map[int]int64, error) {
	cl := &kafka.Client{Addr: kafka.TCP(f.brokers...), Timeout: 10 * time.Second}
	if f.dialer != nil && (f.dialer.TLS != nil || f.dialer.SASLMechanism != nil) {
		cl.Transport = &kafka.Transport{TLS: f.dialer.TLS, SASL: f.dialer.SASLMechanism}
	}
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{f.topic}})
	if err != nil {
		return nil, fmt.Errorf("results metadata: %w", err)
	}
	req := map[string][]kafka.OffsetRequest{}
	for _, t := range md.Topics {
		if t.Error != nil {
			return nil, fmt.Errorf("results topic %s: %w", f.topic, t.Error)
		}
		for _, p := range t.Partitions {
			req[f.topic] = append(req[f.topic], kafka.LastOffsetOf(p.ID))
		}
	}
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: req})
	if err != nil {
		return nil, fmt.Errorf("results offsets: %w", err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[f.topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("results offsets: %w", po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out, nil
}

// IgnoreOwn makes the follower skip the result records that w writes:
// those acknowledged before the follower reaches them are not read at
// all, the others are known by their instance header (Writer.Instance).
func (f *Follower) IgnoreOwn(w *Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self, f.acked = w.instance, w.results.acked
}

func (f *Follower) own(headers []kafka.Header) bool {
	f.mu.Lock()
	self := f.self
	f.mu.Unlock()
	if self == "" {
		return false
	}
	for _, h := range headers {
		if h.Key == HeaderInstance {
			return string(h.Value) == self
		}
	}
	return false
}
