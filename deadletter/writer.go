// Package deadletter writes the gateway's durable outputs to Kafka: the
// dead-letter topic (the original record byte for byte plus the dlq.*
// headers of DESIGN.md §3) and the results topic (one JSON record per final
// outcome, keyed source/id). Writes are asynchronous and acknowledged by all
// in-sync replicas; a write that fails is retried until it succeeds or the
// writer is closed, because an outcome that is not durable must not let its
// record be committed.
//
// It does not decide outcomes; package pipeline does.
package deadletter

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"github.com/brazegw/gateway/event"
)

// Config configures the writers.
type Config struct {
	Brokers []string `yaml:"-"`
	// DLQTopic is the dead-letter topic.
	DLQTopic string `yaml:"dlq_topic"`
	// ResultsTopic is the results topic.
	ResultsTopic string `yaml:"results_topic"`
	// BatchTimeout is how long a write waits for others to share a produce request.
	BatchTimeout time.Duration `yaml:"batch_timeout"`
	// Transport carries TLS and SASL settings; nil means plaintext.
	Transport *kafka.Transport `yaml:"-"`
}

// DefaultConfig returns the default topics and a 5 ms batch timeout.
func DefaultConfig() Config {
	return Config{DLQTopic: "braze.dlq", ResultsTopic: "braze.results", BatchTimeout: 5 * time.Millisecond}
}

// Validate names the first invalid setting.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("deadletter: brokers are required")
	case c.DLQTopic == "":
		return errors.New("outputs.dlq_topic is required")
	case c.ResultsTopic == "":
		return errors.New("outputs.results_topic is required")
	case c.BatchTimeout <= 0:
		return errors.New("outputs.batch_timeout must be positive")
	}
	return nil
}

// Writer writes dead letters and results. It is safe for concurrent use;
// Close flushes pending writes.
type Writer struct {
	// instance tags this process's result records, so that its own
	// follower skips decoding what it already knows.
	instance       string
	instanceHeader []kafka.Header

	dlq, results *output
	transport    *kafka.Transport
	log          *zap.Logger
	written      *prometheus.CounterVec
	failures     *prometheus.CounterVec

	// bufs are the buffers of acknowledged result records, for the next
	// ones: a result's key and value cost no allocation once the writer
	// runs.
	bufs bufferList
}

// bufferList is a bounded list of free byte buffers.
type bufferList struct {
	mu   sync.Mutex
	free [][]byte
}

// maxFreeBuffers bounds bufferList: 4,096 buffers of at most 1 KB (results
// records take about 400 bytes: 1.7 MB).
const maxFreeBuffers = 4096

// get returns an empty buffer of at least n bytes' capacity.
func (l *bufferList) get(n int) []byte {
	l.mu.Lock()
	if k := len(l.free); k > 0 {
		b := l.free[k-1]
		l.free[k-1] = nil
		l.free = l.free[:k-1]
		l.mu.Unlock()
		if cap(b) >= n {
			return b
		}
		return make([]byte, 0, n)
	}
	l.mu.Unlock()
	return make([]byte, 0, n)
}

// put keeps b (its capacity) for get, unless the list is full or b large.
func (l *bufferList) put(b []byte) {
	if cap(b) > 1024 {
		return
	}
	l.mu.Lock()
	if len(l.free) < maxFreeBuffers {
		l.free = append(l.free, b[:0])
	}
	l.mu.Unlock()
}

// maxBatch is the most records one produce request carries per partition.
const maxBatch = 500

// New returns a Writer. reg receives its metrics (nil: none).
func New(cfg Config, log *zap.Logger, reg prometheus.Registerer) (*Writer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{
		instance: newInstanceID(),
		log:      log.Named("outputs"),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_output_records_total",
			Help: "Records written to the dead-letter and results topics.",
		}, []string{"topic"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "braze_gateway_output_write_errors_total",
			Help: "Failed writes to the dead-letter and results topics (they are retried).",
		}, []string{"topic"}),
		transport: cfg.Transport,
	}
	if reg != nil {
		reg.MustRegister(w.written, w.failures)
	}
	if w.transport == nil {
		w.transport = &kafka.Transport{}
	}
	w.instanceHeader = []kafka.Header{{Key: HeaderInstance, Value: []byte(w.instance)}}
	client := &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: w.transport, Timeout: 10 * time.Second}
	w.dlq = w.newOutput(client, cfg, cfg.DLQTopic)
	w.results = w.newOutput(client, cfg, cfg.ResultsTopic)
	w.results.acked = newAcked()
	return w, nil
}

// output is one topic's producer and its series.
type output struct {
	*producer
	written, failed prometheus.Counter
	// acked, for the results topic, is where its records were written.
	acked *acked

	// Failed writes are logged at most once per warnEvery.
	warnMu     sync.Mutex
	lastWarn   time.Time
	suppressed int // failures not logged since lastWarn
}

// warnEvery is the shortest time between two warnings about one topic's
// failed writes: a broker restart fails every record in flight, each on
// its own, and thousands of identical lines would hide the rest.
const warnEvery = time.Second

// warnFailed logs a failed write, unless one was logged less than
// warnEvery ago; the next warning counts those it stood for.
func (o *output) warnFailed(log *zap.Logger, attempts int, err error) {
	o.warnMu.Lock()
	now := time.Now()
	if now.Sub(o.lastWarn) < warnEvery {
		o.suppressed++
		o.warnMu.Unlock()
		return
	}
	more := o.suppressed
	o.lastWarn, o.suppressed = now, 0
	o.warnMu.Unlock()
	log.Warn("output write failed; retrying", zap.String("topic", o.topic), zap.Int("attempt", attempts),
		zap.Int("failures_not_logged", more), zap.Error(err))
}

func (w *Writer) newOutput(client *kafka.Client, cfg Config, topic string) *output {
	o := &output{written: w.written.WithLabelValues(topic), failed: w.failures.WithLabelValues(topic)}
	o.producer = newProducer(client, topic, cfg.BatchTimeout, maxBatch, func(p int, base int64, msgs []kafka.Message, err error) {
		if err == nil && o.acked != nil {
			o.acked.add(p, base, len(msgs))
		}
		for _, m := range msgs {
			w.completed(o, m, err)
		}
	})
	return o
}

// Acker is told the outcome of a write: nil once it is acknowledged, an
// error once it has failed for good. It is an alias of an interface
// literal, so that an interface of the caller's that a Writer satisfies
// can name it without importing this package. A caller's record of an
// event can be the Acker (storing a pointer in an interface costs nothing),
// where a closure would be one allocation per write.
type Acker = interface{ Ack(error) }

// AckFunc is a function that is an Acker.
type AckFunc func(error)

// Ack calls f(err).
func (f AckFunc) Ack(err error) { f(err) }

// A message in flight carries its Acker in WriterData on its first
// attempt, a *retriedWrite once a write of it has failed.
type retriedWrite struct {
	done     Acker
	attempts int
}

// pending returns m's Acker and how many of its writes have failed.
func pending(m kafka.Message) (done Acker, attempts int) {
	switch d := m.WriterData.(type) {
	case *retriedWrite:
		return d.done, d.attempts
	case Acker:
		return d, 0
	}
	panic(fmt.Sprintf("deadletter: message without acknowledgement (%T)", m.WriterData))
}

func (w *Writer) completed(o *output, m kafka.Message, err error) {
	done, attempts := pending(m)
	if err == nil {
		o.written.Inc()
		done.Ack(nil)
		if o == w.results {
			// Acknowledged: nothing reads the record's buffer any more
			// (its key starts it; see Result).
			w.bufs.put(m.Key)
		}
		return
	}
	w.retry(o, m, done, attempts+1, err)
}

// retry writes m again after a pause that grows with its attempts. (Apart
// from completed, whose m would otherwise be moved to the heap for every
// write, as the timer's function keeps it.)
func (w *Writer) retry(o *output, m kafka.Message, done Acker, attempts int, err error) {
	o.failed.Inc()
	m.WriterData = &retriedWrite{done: done, attempts: attempts}
	wait := min(time.Duration(attempts)*200*time.Millisecond, 5*time.Second)
	o.warnFailed(w.log, attempts, err)
	time.AfterFunc(wait, func() { w.write(o, m) })
}

// write queues msgs for o. A failure to queue them (the topic's metadata
// is not known yet, say) is as transient as a failed write: it is retried
// the same way, so that no event is left without an outcome; a closed
// writer fails them for good.
func (w *Writer) write(o *output, msgs ...kafka.Message) {
	err := o.write(msgs)
	if err == nil {
		return
	}
	if o.isClosed() {
		for _, m := range msgs {
			done, _ := pending(m)
			done.Ack(errors.New("deadletter: writer closed"))
		}
		return
	}
	for _, m := range msgs {
		w.completed(o, m, fmt.Errorf("deadletter: enqueue: %w", err))
	}
}

// DeadLetter writes rec to the dead-letter topic with its key, value and
// headers unchanged plus the dlq.* headers, and tells done when it is
// acknowledged.
func (w *Writer) DeadLetter(rec *event.Record, dl *event.DeadLetter, done Acker) {
	w.write(w.dlq, kafka.Message{
		Key:        rec.Key,
		Value:      rec.Value,
		Headers:    Headers(rec, dl),
		WriterData: done,
	})
}

// Result writes r to the results topic, keyed source/id, and tells done
// when it is acknowledged.
func (w *Writer) Result(r *event.Result, done Acker) {
	// Key (event.ResultKey) and value share one buffer, which the key
	// starts; it is used again once the record is acknowledged.
	buf := w.bufs.get(len(r.Source) + 1 + len(r.ID) + 384)
	buf = append(append(append(buf, r.Source...), '/'), r.ID...)
	key := buf[:len(buf)]
	v, err := r.AppendJSON(buf[len(buf):])
	if err != nil {
		done.Ack(fmt.Errorf("deadletter: encode result: %w", err))
		return
	}
	w.write(w.results, kafka.Message{
		Key:        key,
		Value:      v,
		Headers:    w.instanceHeader,
		WriterData: done,
	})
}

// Close sends what is queued, waits for the answers and stops retrying
// failed writes (they fail for good).
func (w *Writer) Close() error {
	w.dlq.close()
	w.results.close()
	w.transport.CloseIdleConnections()
	return nil
}

// Header names of the dead-letter topic (DESIGN.md §3).
const (
	HeaderReason         = "dlq.reason"
	HeaderStatus         = "dlq.status"
	HeaderError          = "dlq.error"
	HeaderResponse       = "dlq.response"
	HeaderAttempts       = "dlq.attempts"
	HeaderTopic          = "dlq.topic"
	HeaderPartition      = "dlq.partition"
	HeaderOffset         = "dlq.offset"
	HeaderFirstAttemptAt = "dlq.first_attempt_at"
	HeaderFailedAt       = "dlq.failed_at"
)

const (
	maxErrorBytes    = 1 << 10
	maxResponseBytes = 4 << 10
)

// Headers returns the record's own headers followed by the dlq.* headers.
func Headers(rec *event.Record, dl *event.DeadLetter) []kafka.Header {
	hs := make([]kafka.Header, 0, len(rec.Headers)+10)
	for _, h := range rec.Headers {
		hs = append(hs, kafka.Header{Key: h.Key, Value: h.Value})
	}
	add := func(k, v string) { hs = append(hs, kafka.Header{Key: k, Value: []byte(v)}) }
	add(HeaderReason, string(dl.Reason))
	if dl.Status != 0 {
		add(HeaderStatus, strconv.Itoa(dl.Status))
	}
	add(HeaderError, clip(oneLine(dl.Error), maxErrorBytes))
	if len(dl.Response) > 0 {
		add(HeaderResponse, clip(string(dl.Response), maxResponseBytes))
	}
	add(HeaderAttempts, strconv.Itoa(dl.Attempts))
	add(HeaderTopic, rec.Topic)
	add(HeaderPartition, strconv.Itoa(rec.Partition))
	add(HeaderOffset, strconv.FormatInt(rec.Offset, 10))
	if !dl.FirstAttempt.IsZero() {
		add(HeaderFirstAttemptAt, dl.FirstAttempt.UTC().Format(time.RFC3339Nano))
	}
	add(HeaderFailedAt, dl.FailedAt.UTC().Format(time.RFC3339Nano))
	return hs
}

// HeaderInstance names the process that wrote a result record.
const HeaderInstance = "gateway.instance"

// Instance returns the id this writer tags its result records with.
func (w *Writer) Instance() string { return w.instance }

func newInstanceID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
