// Package kafkaread reads one partition of a Kafka topic, record by
// record, with kafka-go's Conn: it fetches from the partition's leader and
// hands each record to a callback on the reading goroutine.
//
// kafka.Reader does the same from a goroutine of its own and passes every
// record through a channel, which costs about as much again as reading the
// record (on this project's benchmark machine: 1.9–2.4 µs per record
// through a Reader, 0.9–1.3 µs through Conn). kafka-go's Client.Fetch is
// no better choice: it decodes each record batch of a response into 64 KB
// pages of its own, so a response of small batches (a producer that does
// not linger) holds tens of megabytes. Conn decodes from the connection as
// it goes.
package kafkaread

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"
)

// Config says which partition to read and how.
type Config struct {
	// Brokers (bootstrap addresses), Topic and Partition name what to read.
	Brokers   []string
	Topic     string
	Partition int
	// Dialer carries TLS and SASL settings; nil means kafka-go's default.
	Dialer *kafka.Dialer
	// MinBytes, MaxBytes and MaxWait shape each fetch: the broker answers
	// once MinBytes are there or MaxWait has passed, with at most MaxBytes
	// (a larger first record batch still arrives whole).
	MinBytes, MaxBytes int
	MaxWait            time.Duration
	// Logger receives a warning when reading keeps failing; nil means none.
	Logger *zap.Logger
	// OnError, if set, is told of every failed attempt (for a metric).
	OnError func(error)
	// Next, if set, is called before every fetch with the offset the fetch
	// would start at and whether the previous fetch reached the end of the
	// partition; the fetch starts at the offset it returns instead, when
	// that is higher (the records between are not read). It may wait. An
	// error ends the attempt, as a failed read does.
	Next func(ctx context.Context, offset int64, atEnd bool) (int64, error)
}

// readTimeout bounds how long a connection may stay silent beyond MaxWait:
// every system call that reads from it gets MaxWait plus this from when it
// starts. The time the receiver of the records takes (backpressure) never
// counts against it. A variable for tests.
var readTimeout = 10 * time.Second

// errStopped ends a session when the callback asks to stop.
var errStopped = errors.New("kafkaread: stopped")

// Read reads the partition from offset (an offset, kafka.FirstOffset or
// kafka.LastOffset) on and calls deliver with each record, in offset
// order, on the calling goroutine, until deliver returns false (Read then
// returns nil) or ctx ends (Read returns ctx's error). Failures — a leader
// moving, a broker restarting — are retried, after a growing pause, from
// the first record not yet delivered. Records that retention removed
// before they were read are skipped, with a warning; an offset past the
// partition's end is waited on until records reach it.
func Read(ctx context.Context, cfg Config, offset int64, deliver func(kafka.Message) bool) error {
	r := &reader{cfg: cfg, offset: offset, log: cfg.Logger}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.dialer = buffered(ctx, cfg.Dialer, cfg.MaxWait+readTimeout)
	failures := 0
	for {
		delivered := r.delivered
		err := r.session(ctx, deliver)
		if errors.Is(err, errStopped) {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if r.delivered > delivered {
			failures = 0 // it worked for a while: start the pauses again
		}
		failures++
		if cfg.OnError != nil {
			cfg.OnError(err)
		}
		if failures == 1 || failures%20 == 0 {
			r.log.Warn("partition read failed; retrying", zap.String("topic", cfg.Topic),
				zap.Int("partition", cfg.Partition), zap.Int64("offset", r.offset), zap.Int("attempt", failures), zap.Error(err))
		}
		if err := sleep(ctx, min(time.Duration(failures)*100*time.Millisecond, time.Second)); err != nil {
			return err
		}
	}
}

type reader struct {
	cfg       Config
	dialer    *kafka.Dialer
	log       *zap.Logger
	offset    int64 // next record to deliver, or a FirstOffset/LastOffset sentinel
	delivered int64 // records delivered so far
	atEnd     bool  // the last fetch reached the partition's end
}

// session connects to the partition's leader and reads from it until a
// read fails, deliver asks to stop (errStopped) or ctx ends.
func (r *reader) session(ctx context.Context, deliver func(kafka.Message) bool) error {
	conn, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// A fetch the broker holds open (MaxWait) ends at once with ctx.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(past) })
	defer stop()
	if err := r.seek(ctx, conn); err != nil {
		return err
	}
	r.atEnd = false
	for {
		if err := r.fetch(ctx, conn, deliver); err != nil {
			return err
		}
	}
}

// past is a deadline that has passed: it fails the connection's reads.
var past = time.Unix(1, 0)

// deadline sets conn's deadline to d from now. Setting it could undo the
// one that ctx's end set, so it reports ctx's end after setting.
func deadline(ctx context.Context, conn *kafka.Conn, d time.Duration) error {
	_ = conn.SetDeadline(time.Now().Add(d))
	return ctx.Err()
}

// dial connects to the partition's leader, asking each broker in turn.
func (r *reader) dial(ctx context.Context) (*kafka.Conn, error) {
	var errs []error
	for _, b := range r.cfg.Brokers {
		conn, err := r.dialer.DialLeader(ctx, "tcp", b, r.cfg.Topic, r.cfg.Partition)
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("connect to the leader of %s/%d: %w", r.cfg.Topic, r.cfg.Partition, errors.Join(errs...))
}

// seek resolves a sentinel offset and positions conn at r.offset, moving
// past records that retention removed.
func (r *reader) seek(ctx context.Context, conn *kafka.Conn) error {
	if err := deadline(ctx, conn, readTimeout); err != nil {
		return err
	}
	first, last, err := conn.ReadOffsets()
	if err != nil {
		return fmt.Errorf("read offsets: %w", err)
	}
	switch {
	case r.offset == kafka.FirstOffset:
		r.offset = first
	case r.offset == kafka.LastOffset:
		r.offset = last
	case r.offset < first:
		r.log.Warn("records removed before they were read; skipping to the partition's first offset",
			zap.String("topic", r.cfg.Topic), zap.Int("partition", r.cfg.Partition),
			zap.Int64("offset", r.offset), zap.Int64("first", first))
		r.offset = first
	case r.offset > last:
		return fmt.Errorf("offset %d is past the partition's end (%d): %w", r.offset, last, kafka.OffsetOutOfRange)
	}
	_, err = conn.Seek(r.offset, kafka.SeekAbsolute|kafka.SeekDontCheck)
	return err
}

// fetch makes one fetch and delivers what it returns.
func (r *reader) fetch(ctx context.Context, conn *kafka.Conn, deliver func(kafka.Message) bool) error {
	if r.cfg.Next != nil {
		next, err := r.cfg.Next(ctx, r.offset, r.atEnd)
		if err != nil {
			return err
		}
		if next > r.offset {
			if _, err := conn.Seek(next, kafka.SeekAbsolute|kafka.SeekDontCheck); err != nil {
				return err
			}
			r.offset = next
		}
	}
	if err := deadline(ctx, conn, r.cfg.MaxWait+readTimeout); err != nil {
		return err
	}
	before := r.delivered
	batch := conn.ReadBatchWith(kafka.ReadBatchConfig{MinBytes: r.cfg.MinBytes, MaxBytes: r.cfg.MaxBytes, MaxWait: r.cfg.MaxWait})
	for {
		m, err := batch.ReadMessage()
		if err != nil {
			break
		}
		if m.Offset < r.offset {
			continue // a compressed batch may start before the offset asked for
		}
		if !deliver(m) {
			_ = batch.Close()
			return errStopped
		}
		r.offset = m.Offset + 1
		r.delivered++
	}
	r.atEnd = r.offset >= batch.HighWaterMark()
	if err := batch.Close(); err != nil {
		if errors.Is(err, kafka.RequestTimedOut) && r.delivered > before {
			// A response that MaxBytes cut inside a record batch ends
			// in a partial record; kafka-go reports that end as a
			// timeout when the fetch's deadline has passed meanwhile,
			// as a receiver that held records back makes it. The
			// connection is fine: the next fetch starts at the cut record.
			return nil
		}
		return fmt.Errorf("fetch at offset %d: %w", r.offset, err)
	}
	return nil
}

// bufferSize is how much of a connection one system call reads at most.
const bufferSize = 64 << 10

// buffered returns a copy of d (kafka-go's default when nil) whose
// connections are read bufferSize bytes at a time, each system call with
// a read deadline timeout from when it starts, until ctx ends.
//
// kafka-go reads through a 4 KB bufio.Reader of its own: a system call
// for every 4 KB of records (4 % of the gateway's CPU on a backlog). And
// renewing the deadline for every record, so that a receiver that holds
// records back does not fail the next read, cost 3 % more; once per
// system call it costs nothing measurable.
func buffered(ctx context.Context, d *kafka.Dialer, timeout time.Duration) *kafka.Dialer {
	if d == nil {
		d = kafka.DefaultDialer
	}
	b := *d
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{LocalAddr: d.LocalAddr, FallbackDelay: d.FallbackDelay, KeepAlive: d.KeepAlive}).DialContext
	}
	b.DialFunc = func(dialCtx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(dialCtx, network, address)
		if err != nil {
			return nil, err
		}
		return &bufferedConn{Conn: c, r: bufio.NewReaderSize(&timedReader{c, ctx, timeout}, bufferSize)}, nil
	}
	return &b
}

// bufferedConn is a connection read through a buffer.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// timedReader reads from a connection with a read deadline timeout from
// the start of each read, until ctx ends. ctx's end sets a deadline in the
// past (session); a read that starts later would undo it, so it reports
// ctx's end instead.
type timedReader struct {
	conn    net.Conn
	ctx     context.Context
	timeout time.Duration
}

func (r *timedReader) Read(p []byte) (int, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(r.timeout))
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.conn.Read(p)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
