package deadletter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
)

// Follower reads the whole results topic (every partition, from the
// beginning, no consumer group) and hands each result to a callback, so
// that every replica learns every outcome. It is safe for concurrent use.
//
// It fetches with kafka-go's Client.Fetch rather than a kafka.Reader: a
// reader copies every record's key and value before the caller can look at
// its headers, and most records a replica reads are its own, which it
// skips by a header without reading anything else.
type Follower struct {
	brokers []string
	topic   string
	dialer  *kafka.Dialer
	apply   func(*event.Result)
	log     *zap.Logger

	mu   sync.Mutex
	read map[int]int64 // next offset to read, per partition
	self string        // instance id of this process's own results
	cond chan struct{} // closed and replaced when read moves while someone waits
	wait int           // Sync calls waiting on cond
}

// NewFollower returns a Follower of topic that calls apply for each result.
func NewFollower(brokers []string, topic string, dialer *kafka.Dialer, apply func(*event.Result), log *zap.Logger) *Follower {
	if log == nil {
		log = zap.NewNop()
	}
	return &Follower{brokers: brokers, topic: topic, dialer: dialer, apply: apply, log: log.Named("results"),
		read: map[int]int64{}, cond: make(chan struct{})}
}

// Follower fetch settings: how long the broker may hold a fetch open when
// there is nothing new, and how much one response may carry.
const (
	followMaxWait  = 250 * time.Millisecond
	followMaxBytes = 4 << 20
)

// Run follows the topic until ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	parts, err := f.partitions(ctx)
	if err != nil {
		return err
	}
	// A transport of its own: its long-polling fetches never wait in line
	// with the writers' produce requests for a connection.
	tr := &kafka.Transport{}
	if t := transport(f.dialer); t != nil {
		tr = t
	}
	defer tr.CloseIdleConnections()
	cl := &kafka.Client{Addr: kafka.TCP(f.brokers...), Transport: tr, Timeout: 10 * time.Second}
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Go(func() { f.follow(ctx, cl, p) })
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

// follow reads partition p from its first offset until ctx ends, retrying
// failed fetches (a leader moving, a broker restarting) with a growing
// pause.
func (f *Follower) follow(ctx context.Context, cl *kafka.Client, p int) {
	next := int64(-1) // unknown: start at the partition's first offset
	var buf []byte
	failures := 0
	for ctx.Err() == nil {
		var err error
		if next < 0 {
			next, err = f.first(ctx, cl, p)
		} else {
			next, buf, err = f.fetch(ctx, cl, p, next, buf)
		}
		if err == nil {
			failures = 0
			f.advance(p, next)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, kafka.OffsetOutOfRange) {
			// Retention removed what was next, or the topic was made
			// anew: start again from what the partition holds now.
			f.log.Warn("results offset out of range; reading from the partition's first offset",
				zap.Int("partition", p), zap.Int64("offset", next))
			next = -1
			continue
		}
		if failures++; failures == 1 || failures%20 == 0 {
			f.log.Warn("results read failed; retrying", zap.Int("partition", p), zap.Int("attempt", failures), zap.Error(err))
		}
		pause := min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

// first returns partition p's first offset.
func (f *Follower) first(ctx context.Context, cl *kafka.Client, p int) (int64, error) {
	resp, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{f.topic: {kafka.FirstOffsetOf(p)}}})
	if err != nil {
		return -1, fmt.Errorf("results first offset: %w", err)
	}
	for _, po := range resp.Topics[f.topic] {
		if po.Partition != p {
			continue
		}
		if po.Error != nil {
			return -1, fmt.Errorf("results first offset: %w", po.Error)
		}
		return po.FirstOffset, nil
	}
	return -1, fmt.Errorf("results first offset: partition %d missing from the answer", p)
}

// fetch reads what partition p holds from offset next, applies the results
// other processes wrote, and returns the offset to read next. buf is
// scratch space for record values, returned for reuse.
func (f *Follower) fetch(ctx context.Context, cl *kafka.Client, p int, next int64, buf []byte) (int64, []byte, error) {
	resp, err := cl.Fetch(ctx, &kafka.FetchRequest{Topic: f.topic, Partition: p, Offset: next,
		MinBytes: 1, MaxBytes: followMaxBytes, MaxWait: followMaxWait})
	if err != nil {
		return next, buf, err
	}
	if resp.Error != nil {
		return next, buf, resp.Error
	}
	self := f.instance()
	for {
		r, err := resp.Records.ReadRecord()
		if err != nil {
			// io.EOF, or a truncated last batch: the next fetch starts
			// where this one stopped.
			return next, buf, nil
		}
		// A fetch may start with records before the one asked for.
		if r.Offset >= next {
			if r.Value != nil && !own(r.Headers, self) {
				buf, err = readBytes(buf[:0], r.Value)
				var res event.Result
				if err == nil && len(buf) > 0 && res.UnmarshalJSON(buf) == nil {
					f.apply(&res)
				}
			}
			next = r.Offset + 1
		}
		// Closing hands the response's pages back to kafka-go's pool.
		closeBytes(r.Key)
		closeBytes(r.Value)
	}
}

// advance records that partition p has been read up to next and wakes the
// Sync calls waiting.
func (f *Follower) advance(p int, next int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if next <= f.read[p] {
		return
	}
	f.read[p] = next
	if f.wait > 0 {
		close(f.cond)
		f.cond = make(chan struct{})
	}
}

// readBytes appends the content of b to dst.
func readBytes(dst []byte, b kafka.Bytes) ([]byte, error) {
	n := b.Len()
	if cap(dst)-len(dst) < n {
		dst = append(dst[:cap(dst)], make([]byte, n)...)[:len(dst)]
	}
	_, err := io.ReadFull(b, dst[len(dst):len(dst)+n])
	return dst[:len(dst)+n], err
}

func closeBytes(b kafka.Bytes) {
	if b != nil {
		_ = b.Close()
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

// IgnoreOwn makes the follower skip the result records that the writer
// with this instance id wrote (see Writer.Instance).
func (f *Follower) IgnoreOwn(instance string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.self = instance
}

func (f *Follower) instance() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.self
}

// own reports whether headers name self as the record's writer.
func own(headers []kafka.Header, self string) bool {
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
