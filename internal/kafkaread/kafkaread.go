// Package kafkaread reads one partition of a Kafka topic, record by
// record: it fetches from the partition's leader and hands each record to
// a callback on the reading goroutine.
//
// kafka-go's Dialer and Conn connect (TLS, SASL), find the leader and
// resolve offsets; the fetches themselves are written and their records
// decoded here (wire.go), from the connection's buffer as they arrive.
// kafka.Reader reads on a goroutine of its own and passes every record
// through a channel, which costs about as much again as reading the
// record (on this project's benchmark machine: 1.9–2.4 µs per record
// through a Reader, 0.9–1.3 µs through Conn); Conn's Batch.ReadMessage
// allocates five times per record; kafka-go's Client.Fetch decodes each
// record batch of a response into 64 KB pages of its own, so a response of
// small batches (a producer that does not linger) holds tens of megabytes.
package kafkaread

import (
	"bufio"
	"context"
	"crypto/tls"
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
//
// The Record passed to deliver is reused for the next one: its Key, Value
// and header values are deliver's to keep, the Record and its Headers
// slice are not.
func Read(ctx context.Context, cfg Config, offset int64, deliver func(*Record) bool) error {
	// Fetches carry the client id kafka-go's own requests carry.
	r := &reader{cfg: cfg, offset: offset, log: cfg.Logger, keys: interner{}, client: kafka.DefaultClientID}
	if cfg.Dialer != nil && cfg.Dialer.ClientID != "" {
		r.client = cfg.Dialer.ClientID
	}
	if r.log == nil {
		r.log = zap.NewNop()
	}
	r.dialer = r.buffered(ctx, cfg.Dialer, cfg.MaxWait+readTimeout)
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

	dialed      *bufferedConn // the connection the dialer made last
	client      string        // the client id fetches carry
	correlation int32         // the last fetch's correlation id
	request     []byte        // the fetch request, rewritten for each
	resp        response
	rec         Record
	keys        interner
}

// session connects to the partition's leader and reads from it until a
// read fails, deliver asks to stop (errStopped) or ctx ends.
func (r *reader) session(ctx context.Context, deliver func(*Record) bool) error {
	conn, err := r.dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	raw := r.dialed
	if raw == nil || raw.LocalAddr().String() != conn.LocalAddr().String() {
		return fmt.Errorf("kafkaread: the connection to the leader of %s/%d was not made by its dialer", r.cfg.Topic, r.cfg.Partition)
	}
	// A fetch the broker holds open (MaxWait) ends at once with ctx.
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(past) })
	defer stop()
	if err := r.seek(ctx, conn); err != nil {
		return err
	}
	r.atEnd = false
	r.resp.r = raw.r
	for {
		if err := r.fetch(ctx, raw, deliver); err != nil {
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

// seek resolves a sentinel offset and moves r.offset past records that
// retention removed.
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
	return nil
}

// fetch makes one fetch and delivers what it returns.
func (r *reader) fetch(ctx context.Context, conn *bufferedConn, deliver func(*Record) bool) error {
	if r.cfg.Next != nil {
		next, err := r.cfg.Next(ctx, r.offset, r.atEnd)
		if err != nil {
			return err
		}
		r.offset = max(r.offset, next)
	}
	r.correlation++
	r.request = appendFetch(r.request[:0], r.correlation, r.client, r.cfg.Topic, r.cfg.Partition, r.offset, &r.cfg)
	_ = conn.SetWriteDeadline(time.Now().Add(readTimeout))
	if err := ctx.Err(); err != nil { // the deadline set could undo ctx's
		return err
	}
	if _, err := conn.Write(r.request); err != nil {
		return fmt.Errorf("fetch at offset %d: %w", r.offset, err)
	}
	pd, err := r.resp.readHead(r.correlation, r.cfg.Partition)
	if err != nil {
		return fmt.Errorf("fetch at offset %d: %w", r.offset, err)
	}
	start := r.offset
	err = r.resp.readBatches(pd.records, &r.rec, r.keys, func(rec *Record) error {
		if rec.Offset < r.offset {
			return nil // a batch may start before the offset asked for
		}
		if !deliver(rec) {
			return errStopped
		}
		r.offset = rec.Offset + 1
		r.delivered++
		return nil
	}, func(last int64) {
		// Transaction markers and records compaction removed end a
		// batch without a record to deliver.
		r.offset = max(r.offset, last+1)
	})
	if err != nil { // errStopped too: Read tells it by errors.Is
		return fmt.Errorf("fetch at offset %d: %w", r.offset, err)
	}
	if r.resp.n != 0 {
		return fmt.Errorf("fetch at offset %d: %d bytes of the response left unread", r.offset, r.resp.n)
	}
	if pd.records > 0 && r.offset == start {
		// Brokers send the first record batch whole, however large:
		// records that end nowhere would be asked for again at once.
		return fmt.Errorf("fetch at offset %d: %d bytes of records without a whole record batch", r.offset, pd.records)
	}
	r.atEnd = r.offset >= pd.highWatermark
	return nil
}

// bufferSize is how much of a connection one system call reads at most.
const bufferSize = 64 << 10

// buffered returns a copy of d (kafka-go's default when nil) whose
// connections are read bufferSize bytes at a time, each system call with
// a read deadline timeout from when it starts, until ctx ends. TLS is
// set up under the buffer, so that fetch can write and read the Kafka
// protocol on the connection that the dialer made last (r.dialed).
//
// kafka-go reads through a 4 KB bufio.Reader of its own: a system call
// for every 4 KB of records (4 % of the gateway's CPU on a backlog). And
// renewing the deadline for every record, so that a receiver that holds
// records back does not fail the next read, cost 3 % more; once per
// system call it costs nothing measurable.
func (r *reader) buffered(ctx context.Context, d *kafka.Dialer, timeout time.Duration) *kafka.Dialer {
	if d == nil {
		d = kafka.DefaultDialer
	}
	b := *d
	b.TLS = nil
	dial := d.DialFunc
	if dial == nil {
		dial = (&net.Dialer{LocalAddr: d.LocalAddr, FallbackDelay: d.FallbackDelay, KeepAlive: d.KeepAlive}).DialContext
	}
	b.DialFunc = func(dialCtx context.Context, network, address string) (net.Conn, error) {
		c, err := dial(dialCtx, network, address)
		if err != nil {
			return nil, err
		}
		if d.TLS != nil {
			if c, err = handshake(dialCtx, c, d.TLS, address); err != nil {
				return nil, err
			}
		}
		bc := &bufferedConn{Conn: c, r: bufio.NewReaderSize(&timedReader{c, ctx, timeout}, bufferSize)}
		r.dialed = bc
		return bc, nil
	}
	return &b
}

// handshake makes c a TLS client connection as kafka-go's Dialer would:
// the server name, unless cfg sets one, is address's host.
func handshake(ctx context.Context, c net.Conn, cfg *tls.Config, address string) (net.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			host = address
		}
		cfg.ServerName = host
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
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
