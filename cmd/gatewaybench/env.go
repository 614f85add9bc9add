package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/brazegw/gateway/braze/brazetest"
	"github.com/brazegw/gateway/embedded"
	"github.com/brazegw/gateway/internal/benchdata"
)

// apiKey is the simulator's key; it exists only inside this process and
// the gateway's temporary configuration file.
const apiKey = "bench-key-3e1f9c27-8a4b-4d6e-b5c0-7f2a9d1e4b68"

// campaignID is the API-triggered campaign every event triggers.
const campaignID = "c4d1e2f3-0a9b-4c8d-8e7f-6a5b4c3d2e1f"

// env is the benchmark's world: broker, simulator, sink, gateway binary.
type env struct {
	opts     options
	log      io.Writer
	brokers  []string
	kafka    *embedded.Kafka // nil with -brokers
	sim      *brazetest.Server
	sink     *sink
	sinkSrv  *http.Server
	sinkURL  string
	bin      string
	self     string
	tmp      string
	selfProc procSample // this process at the start (broker + simulator CPU)
}

func newEnv(ctx context.Context, o options, log io.Writer) (*env, error) {
	e := &env{opts: o, log: log}
	var err error
	if e.tmp, err = os.MkdirTemp("", "gatewaybench-"); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			e.close()
		}
	}()
	if o.brokers != "" {
		e.brokers = strings.Split(o.brokers, ",")
	} else {
		if e.kafka, err = embedded.StartKafka("127.0.0.1:0"); err != nil {
			return nil, err
		}
		e.brokers = e.kafka.Addrs()
	}
	e.sim = brazetest.NewUnstartedServer(brazetest.Config{
		Workspaces: []brazetest.Workspace{{Name: "default", APIKeys: []brazetest.APIKey{{Key: apiKey}}, AcceptUnknownIDs: true}},
		// No Limits: the simulator never answers 429. Bodies are dropped
		// and the records capped, so its memory does not grow with N.
		DropBodies: true, MaxRequests: 1, MaxDeliveries: 1,
	})
	e.sink = &sink{next: e.sim.Handler()}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.sinkSrv = &http.Server{Handler: e.sink, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.sinkSrv.Serve(l) }()
	e.sinkURL = "http://" + l.Addr().String()
	if e.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if e.bin = o.gateway; e.bin == "" {
		if e.bin, err = buildGateway(ctx, e.tmp, log); err != nil {
			return nil, err
		}
	}
	e.selfProc, _ = readProc(os.Getpid())
	ok = true
	return e, nil
}

func (e *env) close() {
	if e.sinkSrv != nil {
		_ = e.sinkSrv.Close()
	}
	if e.sim != nil {
		e.sim.Close()
	}
	if e.kafka != nil {
		e.kafka.Close()
	}
	if e.tmp != "" {
		_ = os.RemoveAll(e.tmp)
	}
}

// describe says what the numbers were measured on.
func (e *env) describe() string {
	broker := "embedded kfake broker in the bench process"
	if e.kafka == nil {
		broker = "brokers " + strings.Join(e.brokers, ",")
	}
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s, %s; broker: %s; Braze simulator without limits in the bench process",
		runtime.NumCPU(), cpu, runtime.Version(), runtime.GOOS+"/"+runtime.GOARCH, broker)
}

// buildGateway builds ./cmd/gateway of the module holding the working directory.
func buildGateway(ctx context.Context, dir string, log io.Writer) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "gateway")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/gateway")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = log, log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gateway: %w", err)
	}
	fmt.Fprintf(log, "built the gateway in %v\n", time.Since(start).Round(time.Millisecond))
	return bin, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository")
		}
		dir = parent
	}
}

// topicSet is the topics of one run.
type topicSet struct {
	prefix               string
	input, dlq, results  string
	partitions           int
	group, baselineGroup string
	// routes is the routes file of a routed run, "" otherwise: the input
	// then holds product events.
	routes    string
	allTopics []string
}

func newTopicSet(partitions int) topicSet {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	p := "bench" + hex.EncodeToString(b) + "."
	t := topicSet{prefix: p, input: p + "braze.trigger", dlq: p + "braze.dlq", results: p + "braze.results",
		partitions: partitions, group: p + "gateway", baselineGroup: p + "baseline"}
	t.allTopics = []string{t.input, t.dlq, t.results}
	return t
}

func (e *env) createTopics(ctx context.Context, t topicSet) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return embedded.CreateTopics(ctx, e.brokers,
		embedded.Topic{Name: t.input, Partitions: t.partitions},
		embedded.Topic{Name: t.dlq, Partitions: t.partitions},
		embedded.Topic{Name: t.results, Partitions: t.partitions, Compacted: true})
}

// deleteTopics frees the broker's memory after a run.
func (e *env) deleteTopics(t topicSet) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 30 * time.Second}
	if _, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: t.allTopics}); err != nil {
		fmt.Fprintf(e.log, "delete topics: %v\n", err)
	}
	runtime.GC()
}

// producer writes benchmark events.
type producer struct {
	cl    *kgo.Client
	t     topicSet
	users int
	next  int
	errs  atomic.Int64
	first atomic.Value // error
	wg    sync.WaitGroup
}

func (e *env) newProducer(t topicSet, linger time.Duration) (*producer, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(e.brokers...),
		kgo.DefaultProduceTopic(t.input),
		kgo.ProducerLinger(linger),
		kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(200_000),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	}
	if e.opts.compress {
		opts[len(opts)-1] = kgo.ProducerBatchCompression(kgo.SnappyCompression())
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return &producer{cl: cl, t: t, users: e.opts.users}, nil
}

// produce sends one event; it blocks while the client's buffer is full.
func (p *producer) produce(ctx context.Context) {
	i := p.next
	p.next++
	user := userID(i % p.users)
	appendValue := appendEvent
	if p.t.routes != "" {
		appendValue = appendProductEvent
	}
	rec := &kgo.Record{
		Key:     user,
		Value:   appendValue(make([]byte, 0, 400), p.t.prefix, i, user, time.Now()),
		Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/cloudevents+json")}},
	}
	p.wg.Add(1)
	p.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		if err != nil && p.errs.Add(1) == 1 {
			p.first.Store(err)
		}
		p.wg.Done()
	})
}

// wait waits for every produced record's acknowledgement.
func (p *producer) wait() error {
	p.wg.Wait()
	if err, _ := p.first.Load().(error); err != nil {
		return fmt.Errorf("%d records not produced: %w", p.errs.Load(), err)
	}
	return nil
}

func (p *producer) close() { p.cl.Close() }

// preload produces n events as fast as the broker takes them.
func (e *env) preload(ctx context.Context, t topicSet, n int) error {
	p, err := e.newProducer(t, 10*time.Millisecond)
	if err != nil {
		return err
	}
	defer p.close()
	start := time.Now()
	for range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.produce(ctx)
	}
	if err := p.wait(); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(e.log, "pre-loaded %d events into %d partitions in %v (%.0f/s)\n", n, t.partitions, d.Round(time.Millisecond), float64(n)/d.Seconds())
	return nil
}

func userID(u int) []byte { return fmt.Appendf(nil, "user-%07d", u) }

// appendEvent appends a structured-mode CloudEvent that triggers the
// campaign for one recipient, about 330 bytes. sent_ns carries the produce
// time to the sink, which measures produce→receipt latency with it.
func appendEvent(dst []byte, prefix string, i int, user []byte, now time.Time) []byte {
	dst = appendEnvelope(dst, prefix, i, "/bench", "braze.campaigns.trigger.send", now)
	dst = append(dst, `,"partitionkey":"`...)
	dst = append(dst, user...)
	dst = append(dst, `","data":{"campaign_id":"`+campaignID+`","recipients":[{"external_user_id":"`...)
	dst = append(dst, user...)
	dst = append(dst, `","trigger_properties":{"otp":"`...)
	dst = strconv.AppendInt(dst, int64(100000+i%900000), 10)
	dst = append(dst, `","first_name":"Ann","sent_ns":`...)
	dst = strconv.AppendInt(dst, now.UnixNano(), 10)
	return append(dst, `}}]}}`...)
}

// appendEnvelope appends the start of event i of a run: a structured-mode
// CloudEvent's attributes up to its time, without a closing brace.
func appendEnvelope(dst []byte, prefix string, i int, source, typ string, now time.Time) []byte {
	dst = append(dst, `{"specversion":"1.0","id":"`...)
	dst = append(dst, prefix...)
	dst = strconv.AppendInt(dst, int64(i), 10)
	dst = append(dst, `","source":"`...)
	dst = append(dst, source...)
	dst = append(dst, `","type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","time":"`...)
	dst = now.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// appendProductEvent appends the product event that benchdata.OTPRoutes turns into
// what appendEvent writes: a one-time password a service asked to send,
// about 300 bytes.
func appendProductEvent(dst []byte, prefix string, i int, user []byte, now time.Time) []byte {
	dst = appendEnvelope(dst, prefix, i, "/accounts", "com.example.login.otp_requested", now)
	dst = append(dst, `,"data":{"user_id":"`...)
	dst = append(dst, user...)
	dst = append(dst, `","otp":"`...)
	dst = strconv.AppendInt(dst, int64(100000+i%900000), 10)
	dst = append(dst, `","profile":{"first_name":"Ann","locale":"en"},"channel":"email","sent_ns":`...)
	dst = strconv.AppendInt(dst, now.UnixNano(), 10)
	return append(dst, `}}`...)
}

// writeRoutes writes the routes file of a routed run over t's input.
func (e *env) writeRoutes(t topicSet) (string, error) {
	path := filepath.Join(e.tmp, t.prefix+"routes.yaml")
	return path, os.WriteFile(path, benchdata.OTPRoutes(t.input, campaignID), 0o644)
}

// sink sits in front of the simulator: it counts requests and recipients
// and, while recording, the produce→receipt latency of every recipient.
type sink struct {
	next http.Handler

	requests   atomic.Int64
	full       atomic.Int64 // requests carrying 50 recipients
	recipients atomic.Int64
	first      atomic.Int64 // unix ns of the first request since reset
	last       atomic.Int64 // unix ns of the latest request

	recording atomic.Bool
	mu        sync.Mutex
	latencies []time.Duration
}

var (
	recipientField = []byte(`"external_user_id"`)
	sentField      = []byte(`"sent_ns":`)
)

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	now := time.Now()
	n := bytes.Count(body, recipientField)
	if n > 0 {
		s.requests.Add(1)
		s.recipients.Add(int64(n))
		if n == 50 {
			s.full.Add(1)
		}
		s.first.CompareAndSwap(0, now.UnixNano())
		s.last.Store(now.UnixNano())
	}
	if s.recording.Load() {
		var lat []time.Duration
		for rest := body; ; {
			i := bytes.Index(rest, sentField)
			if i < 0 {
				break
			}
			rest = rest[i+len(sentField):]
			j := 0
			for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
				j++
			}
			if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
				lat = append(lat, now.Sub(time.Unix(0, ns)))
			}
		}
		s.mu.Lock()
		s.latencies = append(s.latencies, lat...)
		s.mu.Unlock()
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.next.ServeHTTP(w, r)
}

// reset zeroes the counters and latencies and sets recording.
func (s *sink) reset(record bool) {
	s.requests.Store(0)
	s.full.Store(0)
	s.recipients.Store(0)
	s.first.Store(0)
	s.last.Store(0)
	s.mu.Lock()
	s.latencies = nil
	s.mu.Unlock()
	s.recording.Store(record)
}

// percentiles returns the p-th percentiles of the recorded latencies.
func (s *sink) percentiles(ps ...float64) []time.Duration {
	s.mu.Lock()
	l := slices.Clone(s.latencies)
	s.mu.Unlock()
	return percentiles(l, ps...)
}

func percentiles(l []time.Duration, ps ...float64) []time.Duration {
	out := make([]time.Duration, len(ps))
	if len(l) == 0 {
		return out
	}
	slices.Sort(l)
	for i, p := range ps {
		k := int(p/100*float64(len(l))+0.5) - 1
		out[i] = l[min(max(k, 0), len(l)-1)]
	}
	return out
}

// delivered is the number of recipients the simulator accepted so far.
func (e *env) delivered() int64 {
	var n uint64
	for _, d := range e.sim.Stats().Deliveries {
		n += d.Count
	}
	return int64(n)
}
