package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// runSpec is one backlog run.
type runSpec struct {
	name       string
	n          int
	partitions int
	replicas   int
	profile    string // CPU profile path (first replica), "" for none
	// routed runs the backlog as product events and the gateway with a
	// route that turns each into the trigger the backlog holds.
	routed bool
}

// result is one row of the report.
type result struct {
	name       string
	system     string // "gateway", or what the baseline or reference is
	n          int
	partitions int
	replicas   int
	wall       time.Duration // start of the process(es) to all committed
	active     time.Duration // first to last delivery (or fetch)
	cpu        time.Duration // CPU of the measured process(es)
	benchCPU   time.Duration // CPU of this process (broker, simulator, sink) meanwhile
	peakRSS    int64         // highest peak RSS of one process
	requests   int64
	full       int64
	recipients int64
	mallocs    float64 // heap allocations of the gateway, all replicas
	allocBytes float64
	p50, p99   time.Duration
	pmax       time.Duration
	rate       int // latency scenario: offered events/s
}

func (r result) eventsPerSec() float64 {
	if r.active <= 0 {
		return 0
	}
	return float64(r.n) / r.active.Seconds()
}

// isGateway reports whether r measured the gateway, not the baseline or
// the reference pipeline.
func (r result) isGateway() bool { return r.name != "baseline" && r.name != "reference" }

func (r result) cpuPerEvent() time.Duration { return r.cpu / time.Duration(max(r.n, 1)) }

// timeout bounds one run.
func (e *env) timeout(n int) time.Duration {
	return time.Minute + time.Duration(n)*e.opts.timeoutPerEv
}

// backlog pre-loads n events, starts the gateway replicas and waits until
// every event is delivered and committed.
func (e *env) backlog(ctx context.Context, s runSpec) (result, error) {
	res := result{name: s.name, system: "gateway", n: s.n, partitions: s.partitions, replicas: s.replicas}
	t := newTopicSet(s.partitions)
	if s.routed {
		var err error
		if t.routes, err = e.writeRoutes(t); err != nil {
			return res, err
		}
	}
	if err := e.createTopics(ctx, t); err != nil {
		return res, err
	}
	defer e.deleteTopics(t)
	if err := e.preload(ctx, t, s.n); err != nil {
		return res, err
	}
	e.sink.reset(false)
	base := e.delivered()
	self0, _ := readProc(os.Getpid())
	start := time.Now()
	var children []*child
	defer func() {
		for _, c := range children {
			c.stop()
		}
	}()
	for i := range s.replicas {
		c, err := e.startGateway(t, i)
		if err != nil {
			return res, err
		}
		children = append(children, c)
	}
	fmt.Fprintf(e.log, "%s: %d gateway(s) started on %d partitions, %d events\n", s.name, s.replicas, s.partitions, s.n)

	var profErr error
	var profWG sync.WaitGroup
	profiling := false
	deadline := time.Now().Add(e.timeout(s.n))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	lastReport := time.Now()
	for {
		got := e.delivered() - base
		if got >= int64(s.n) {
			break
		}
		if s.profile != "" && !profiling && e.sink.first.Load() != 0 {
			profiling = true
			profWG.Go(func() { profErr = children[0].profile(ctx, s.profile, e.opts.profileSecs) })
		}
		for _, c := range children {
			if c.exited() {
				return res, fmt.Errorf("gateway exited (%v); log: %s", c.err, c.logPath)
			}
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("timed out with %d of %d events delivered; log: %s", got, s.n, children[0].logPath)
		}
		if time.Since(lastReport) > 10*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(e.log, "  %d of %d delivered\n", got, s.n)
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	if err := e.waitCommitted(ctx, t, t.group, int64(s.n), deadline); err != nil {
		return res, err
	}
	res.wall = time.Since(start)
	for _, c := range children {
		p := c.sampler.sample()
		res.cpu += p.cpu
		res.peakRSS = max(res.peakRSS, c.sampler.peakRSS())
		m, err := scrape(ctx, c.admin+"/metrics", "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total")
		if err != nil {
			return res, fmt.Errorf("metrics: %w", err)
		}
		res.mallocs += m["go_memstats_mallocs_total"]
		res.allocBytes += m["go_memstats_alloc_bytes_total"]
	}
	self1, _ := readProc(os.Getpid())
	res.benchCPU = self1.cpu - self0.cpu
	res.active = time.Duration(e.sink.last.Load() - e.sink.first.Load())
	res.requests, res.full, res.recipients = e.sink.requests.Load(), e.sink.full.Load(), e.sink.recipients.Load()
	profWG.Wait()
	if profErr != nil {
		return res, fmt.Errorf("profile: %w", profErr)
	}
	if s.profile != "" {
		e.printProfile(s.profile)
	}
	fmt.Fprintf(e.log, "%s: %.0f events/s, %.2f µs CPU/event, peak RSS %s\n", s.name, res.eventsPerSec(),
		micros(res.cpuPerEvent()), mb(res.peakRSS))
	return res, nil
}

// waitCommitted waits until the group has committed n offsets of the input.
func (e *env) waitCommitted(ctx context.Context, t topicSet, group string, n int64, deadline time.Time) error {
	cl := &kafka.Client{Addr: kafka.TCP(e.brokers...), Timeout: 10 * time.Second}
	parts := make([]int, t.partitions)
	for i := range parts {
		parts[i] = i
	}
	for {
		resp, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{t.input: parts}})
		var sum int64
		if err == nil {
			for _, p := range resp.Topics[t.input] {
				if p.CommittedOffset > 0 {
					sum += p.CommittedOffset
				}
			}
			if sum >= n {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("group %s committed %d of %d offsets (%v)", group, sum, n, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// latency runs one gateway, then produces rate events a second for d and
// measures produce→receipt latency per recipient.
func (e *env) latency(ctx context.Context, rate int, d time.Duration, partitions int) (result, error) {
	res := result{name: "latency", system: "gateway", partitions: partitions, replicas: 1, rate: rate}
	t := newTopicSet(partitions)
	if err := e.createTopics(ctx, t); err != nil {
		return res, err
	}
	defer e.deleteTopics(t)
	c, err := e.startGateway(t, 0)
	if err != nil {
		return res, err
	}
	defer c.stop()
	if err := c.ready(ctx, time.Minute); err != nil {
		return res, err
	}
	p, err := e.newProducer(t, 0)
	if err != nil {
		return res, err
	}
	defer p.close()
	e.sink.reset(true)
	base := e.delivered()
	self0, _ := readProc(os.Getpid())
	cpu0 := c.sampler.sample().cpu
	m0, err := scrape(ctx, c.admin+"/metrics", "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total")
	if err != nil {
		return res, err
	}
	fmt.Fprintf(e.log, "latency: producing %d events/s for %v\n", rate, d)
	start := time.Now()
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	for time.Since(start) < d {
		due := int(time.Since(start).Seconds() * float64(rate))
		for ; sent < due; sent++ {
			p.produce(ctx)
		}
		select {
		case <-ctx.Done():
			tick.Stop()
			return res, ctx.Err()
		case <-tick.C:
		}
	}
	tick.Stop()
	if err := p.wait(); err != nil {
		return res, err
	}
	deadline := time.Now().Add(time.Minute)
	for e.delivered()-base < int64(sent) {
		if time.Now().After(deadline) {
			return res, fmt.Errorf("%d of %d events delivered", e.delivered()-base, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := e.waitCommitted(ctx, t, t.group, int64(sent), deadline); err != nil {
		return res, err
	}
	res.n = sent
	res.wall = time.Since(start)
	res.active = time.Duration(e.sink.last.Load() - e.sink.first.Load())
	res.cpu = c.sampler.sample().cpu - cpu0
	res.peakRSS = c.sampler.peakRSS()
	self1, _ := readProc(os.Getpid())
	res.benchCPU = self1.cpu - self0.cpu
	m1, err := scrape(ctx, c.admin+"/metrics", "go_memstats_mallocs_total", "go_memstats_alloc_bytes_total")
	if err != nil {
		return res, err
	}
	res.mallocs = m1["go_memstats_mallocs_total"] - m0["go_memstats_mallocs_total"]
	res.allocBytes = m1["go_memstats_alloc_bytes_total"] - m0["go_memstats_alloc_bytes_total"]
	res.requests, res.full, res.recipients = e.sink.requests.Load(), e.sink.full.Load(), e.sink.recipients.Load()
	ps := e.sink.percentiles(50, 99, 100)
	res.p50, res.p99, res.pmax = ps[0], ps[1], ps[2]
	e.sink.reset(false)
	fmt.Fprintf(e.log, "latency: p50 %v, p99 %v, max %v over %d events\n", res.p50, res.p99, res.pmax, sent)
	return res, nil
}

// baseline pre-loads n events and consumes them with a minimal kafka-go
// consumer-group loop in a child process (this binary's "consume" mode).
func (e *env) baseline(ctx context.Context, n, partitions int) (result, error) {
	res := result{name: "baseline", system: "kafka-go consume+commit", n: n, partitions: partitions, replicas: 1}
	return e.runChild(ctx, res, "consume")
}

// reference pre-loads n events and sends them with the reference pipeline
// in a child process (this binary's "reference" mode, see referenceCmd).
func (e *env) reference(ctx context.Context, n, partitions int) (result, error) {
	res := result{name: "reference", system: "plain Go pipeline (kafka-go, encoding/json, batches of 50)",
		n: n, partitions: partitions, replicas: 1}
	e.sink.reset(false)
	base := e.delivered()
	res, err := e.runChild(ctx, res, "reference", "-url", e.sinkURL, "-key", apiKey)
	if err != nil {
		return res, err
	}
	res.requests, res.full, res.recipients = e.sink.requests.Load(), e.sink.full.Load(), e.sink.recipients.Load()
	if got := e.delivered() - base; got != int64(n) {
		return res, fmt.Errorf("reference: the simulator accepted %d recipients of %d", got, n)
	}
	return res, nil
}

// runChild pre-loads res.n events on res.partitions and runs this binary
// in mode over them (a consumer group of its own), measuring it as a
// gateway is measured.
func (e *env) runChild(ctx context.Context, res result, mode string, args ...string) (result, error) {
	n := res.n
	t := newTopicSet(res.partitions)
	if err := e.createTopics(ctx, t); err != nil {
		return res, err
	}
	defer e.deleteTopics(t)
	if err := e.preload(ctx, t, n); err != nil {
		return res, err
	}
	self0, _ := readProc(os.Getpid())
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, e.timeout(n))
	defer cancel()
	args = append([]string{mode, "-brokers", strings.Join(e.brokers, ","),
		"-topic", t.input, "-group", t.baselineGroup, "-n", fmt.Sprint(n)}, args...)
	cmd := exec.CommandContext(cctx, e.self, args...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, e.log
	if err := cmd.Start(); err != nil {
		return res, err
	}
	smp := startSampler(cmd.Process.Pid, 100*time.Millisecond)
	err := cmd.Wait()
	smp.finish()
	if err != nil {
		return res, fmt.Errorf("%s: %w", mode, err)
	}
	res.wall = time.Since(start)
	var first, last int64
	if _, err := fmt.Sscanf(strings.TrimSpace(out.String()), "first=%d last=%d", &first, &last); err != nil {
		return res, fmt.Errorf("%s printed %q: %w", mode, out.String(), err)
	}
	res.active = time.Duration(last - first)
	ru, ok := cmd.ProcessState.SysUsage().(*syscallRusage)
	if !ok {
		return res, fmt.Errorf("no resource usage of %s", mode)
	}
	res.cpu = rusageCPU(ru)
	res.peakRSS = max(int64(ru.Maxrss)*1024, smp.peakRSS())
	self1, _ := readProc(os.Getpid())
	res.benchCPU = self1.cpu - self0.cpu
	if err := e.waitCommitted(ctx, t, t.baselineGroup, int64(n), time.Now().Add(30*time.Second)); err != nil {
		return res, err
	}
	fmt.Fprintf(e.log, "%s: %.0f events/s, %.2f µs CPU/event, peak RSS %s\n", res.name, res.eventsPerSec(),
		micros(res.cpuPerEvent()), mb(res.peakRSS))
	return res, nil
}

// printProfile prints the top of a CPU profile with go tool pprof.
func (e *env) printProfile(path string) {
	cmd := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", e.bin, path)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(e.log, "go tool pprof: %v\n", err)
	}
	cmd = exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=40", e.bin, path)
	cmd.Stdout, cmd.Stderr = e.log, e.log
	_ = cmd.Run()
}
