package deadletter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
)

// producer writes the records of one topic with kafka-go's Client.RawProduce
// (the batches encoded in batch.go):
// partitioned as Java producers do (murmur2 of the key), gathered per
// partition for up to linger or maxBatch records, one request in flight per
// partition so that the records of a key stay in order, acknowledged by
// all in-sync replicas. kafka.Writer does the same, but asks its metadata
// cache for the topic's partitions once per message (five allocations
// each): with one results record per event that was a tenth of the
// gateway's allocations. Failed writes are reported, not retried: Writer
// retries them.
type producer struct {
	client   *kafka.Client
	topic    string
	linger   time.Duration
	maxBatch int
	timeout  time.Duration
	// complete is called once per batch with its outcome: the partition
	// and, on success, the offset of its first record.
	complete func(partition int, base int64, msgs []kafka.Message, err error)

	mu       sync.Mutex
	closed   bool
	parts    []*partitionQueue // by partition
	refresh  *time.Timer       // reads the partition count again
	inflight sync.WaitGroup    // partition goroutines with work
}

// partitionQueue holds one partition's records waiting to be sent.
type partitionQueue struct {
	id      int
	pending []kafka.Message
	running bool   // a goroutine is sending this partition's records
	buf     []byte // the encoded batch, reused by that goroutine
}

// idleBufferBytes is the largest encoded-batch buffer a partition keeps
// while it has nothing to send.
const idleBufferBytes = 256 << 10

// maxBatchBytes bounds the records of one request, below the 1 MB that
// brokers accept in one batch by default (message.max.bytes); a larger
// record goes alone.
const maxBatchBytes = 900 << 10

// partitionsTTL is how often the topic's partition count is read again.
const partitionsTTL = 30 * time.Second

func newProducer(client *kafka.Client, topic string, linger time.Duration, maxBatch int,
	complete func(partition int, base int64, msgs []kafka.Message, err error)) *producer {
	return &producer{client: client, topic: topic, linger: linger, maxBatch: maxBatch,
		timeout: 10 * time.Second, complete: complete}
}

// write queues msgs. An error (the producer is closed, or the topic's
// partitions were never learnt and cannot be now) means none of them was
// queued.
func (p *producer) write(msgs []kafka.Message) error {
	p.mu.Lock()
	if len(p.parts) == 0 && !p.closed {
		p.mu.Unlock()
		if err := p.learnPartitions(); err != nil {
			return err
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("deadletter: writer closed")
	}
	var bal kafka.Murmur2Balancer
	ids := partitionIDs(len(p.parts))
	for _, m := range msgs {
		q := p.parts[bal.Balance(m, ids...)]
		q.pending = append(q.pending, m)
		if !q.running {
			q.running = true
			p.inflight.Add(1)
			go p.send(q)
		}
	}
	return nil
}

// learnPartitions reads the topic's partition count and, the first time it
// succeeds, schedules refreshRetry to read it again every partitionsTTL
// (partitions may be added to a topic while the gateway runs).
func (p *producer) learnPartitions() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	md, err := p.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{p.topic}})
	if err != nil {
		return fmt.Errorf("metadata of %s: %w", p.topic, err)
	}
	n := 0
	for _, t := range md.Topics {
		if t.Name == p.topic {
			if t.Error != nil {
				return fmt.Errorf("metadata of %s: %w", p.topic, t.Error)
			}
			n = len(t.Partitions)
		}
	}
	if n == 0 {
		return fmt.Errorf("metadata of %s: %w", p.topic, kafka.UnknownTopicOrPartition)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.parts) < n { // partitions are only ever added
		p.parts = append(p.parts, &partitionQueue{id: len(p.parts)})
	}
	if p.refresh == nil && !p.closed {
		p.refresh = time.AfterFunc(partitionsTTL, p.refreshPartitions)
	}
	return nil
}

// refreshPartitions reads the partition count again; until it succeeds the
// count known stays in use, and it tries again sooner.
func (p *producer) refreshPartitions() {
	next := partitionsTTL
	if p.learnPartitions() != nil {
		next = partitionsTTL / 10
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.refresh.Reset(next)
	}
}

// send sends q's records until none are left: it waits linger for more
// to gather (unless a batch is already full), then sends up to maxBatch.
func (p *producer) send(q *partitionQueue) {
	defer p.inflight.Done()
	var batch []kafka.Message
	for {
		p.mu.Lock()
		full := len(q.pending) >= p.maxBatch
		p.mu.Unlock()
		if !full && p.linger > 0 {
			time.Sleep(p.linger)
		}
		p.mu.Lock()
		if len(q.pending) == 0 {
			q.running = false
			if cap(q.buf) > idleBufferBytes {
				q.buf = nil // an idle partition keeps no large buffer
			}
			p.mu.Unlock()
			return
		}
		n, size := 1, recordSize(q.pending[0])
		for n < min(len(q.pending), p.maxBatch) {
			if size += recordSize(q.pending[n]); size > maxBatchBytes {
				break
			}
			n++
		}
		batch = append(batch[:0], q.pending[:n]...)
		rest := copy(q.pending, q.pending[n:])
		clear(q.pending[rest:])
		q.pending = q.pending[:rest]
		p.mu.Unlock()
		base, err := p.produce(q, batch)
		p.complete(q.id, base, batch, err)
		clear(batch)
		if cap(q.buf) > 2*maxBatchBytes {
			q.buf = nil // one very large record does not stay
		}
	}
}

// produce sends one batch to q's partition and waits for the brokers;
// base is the offset the first record was written at.
func (p *producer) produce(q *partitionQueue, msgs []kafka.Message) (base int64, err error) {
	q.buf = appendBatch(q.buf[:0], msgs, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	var body bytes.Reader
	body.Reset(q.buf)
	res, err := p.client.RawProduce(ctx, &kafka.RawProduceRequest{
		Topic:        p.topic,
		Partition:    q.id,
		RequiredAcks: kafka.RequireAll,
		RawRecords:   protocol.RawRecordSet{Reader: &body},
	})
	switch {
	case err != nil:
		// kafka-go may still be copying the request from the buffer
		// (an attempt cut short by ctx): the next batch gets another.
		q.buf = nil
		return 0, err
	case res.Error != nil:
		return 0, res.Error
	}
	for _, err := range res.RecordErrors {
		return 0, err
	}
	return res.BaseOffset, nil
}

// isClosed reports whether close was called.
func (p *producer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// close waits for queued records to be sent (or to fail).
func (p *producer) close() {
	p.mu.Lock()
	p.closed = true
	if p.refresh != nil {
		p.refresh.Stop()
	}
	p.mu.Unlock()
	p.inflight.Wait()
}

// partitionIDs returns 0…n-1, shared between calls (balancers only read it).
func partitionIDs(n int) []int {
	if n <= len(idsCache) {
		return idsCache[:n]
	}
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

var idsCache = partitionIDs256()

func partitionIDs256() []int {
	ids := make([]int, 256)
	for i := range ids {
		ids[i] = i
	}
	return ids
}
