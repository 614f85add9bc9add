package kafkaread

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
)

// This file speaks the one request of the Kafka protocol that a read
// repeats: Fetch (version 4, which every broker since Kafka 0.11 answers,
// Kafka 4 included), and decodes its records (message format v2) straight
// from the connection's buffer. kafka-go's Batch.ReadMessage allocates the
// key, the value, every header key and value and the header list apart:
// five allocations per record on the gateway's records, a third of those
// the gateway made per event. Here a record's key, value and header values
// share one allocation, and header keys are interned.

// Record is one record of the partition.
type Record struct {
	Offset int64
	Time   time.Time
	// Key, Value and the headers' values share one allocation that
	// belongs to the receiver: they stay valid after deliver returns. A
	// missing (null) key or value is nil.
	Key, Value []byte
	// Headers is reused for the next record: keep its elements, not the
	// slice.
	Headers []kafka.Header
}

const (
	fetchKey     = 1 // Fetch's API key
	fetchVersion = 4
	// v2Header is the size of a record batch's header after its length.
	v2Header = 49
	// Batch attributes.
	codecMask       = 0x07
	logAppendTime   = 0x08
	controlBatch    = 0x20
	readUncommitted = 0
)

// errFormat reports a message format older than v2 (Kafka < 0.11).
var errFormat = errors.New("message format v0/v1 (written by Kafka before 0.11) is not supported")

// appendFetch appends a Fetch v4 request for one partition from offset.
func appendFetch(b []byte, correlation int32, client, topic string, partition int, offset int64, cfg *Config) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0) // size, set below
	b = binary.BigEndian.AppendUint16(b, fetchKey)
	b = binary.BigEndian.AppendUint16(b, fetchVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(correlation))
	b = appendString(b, client)
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // replica id -1: a consumer
	b = binary.BigEndian.AppendUint32(b, uint32(cfg.MaxWait.Milliseconds()))
	b = binary.BigEndian.AppendUint32(b, uint32(cfg.MinBytes))
	b = binary.BigEndian.AppendUint32(b, uint32(cfg.MaxBytes))
	b = append(b, readUncommitted)
	b = binary.BigEndian.AppendUint32(b, 1) // one topic
	b = appendString(b, topic)
	b = binary.BigEndian.AppendUint32(b, 1) // one partition
	b = binary.BigEndian.AppendUint32(b, uint32(partition))
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(cfg.MaxBytes))
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// response reads one response from a connection: n counts the bytes of
// it not yet read.
type response struct {
	r *bufio.Reader
	n int
	// scratch holds what does not fit in r's buffer, decompressed holds a
	// compressed batch's records; both are reused.
	scratch      []byte
	decompressed bytes.Buffer
}

var errShort = errors.New("kafkaread: response shorter than its contents")

// fixed returns the next n bytes, n no more than r's buffer holds; they
// are valid until the next read.
func (rs *response) fixed(n int) ([]byte, error) {
	if n > rs.n {
		return nil, errShort
	}
	b, err := rs.r.Peek(n)
	if err != nil {
		return nil, err
	}
	_, _ = rs.r.Discard(n) // within what Peek buffered: nothing is read
	rs.n -= n
	return b, nil
}

// bytes returns the next n bytes, from r's buffer when they fit in it,
// else copied into scratch; they are valid until the next read.
func (rs *response) bytes(n int) ([]byte, error) {
	if n <= rs.r.Size() {
		return rs.fixed(n)
	}
	if n > rs.n {
		return nil, errShort
	}
	if cap(rs.scratch) < n {
		rs.scratch = make([]byte, n)
	}
	b := rs.scratch[:n]
	if _, err := io.ReadFull(rs.r, b); err != nil {
		return nil, err
	}
	rs.n -= n
	return b, nil
}

// skip discards the next n bytes.
func (rs *response) skip(n int) error {
	if n > rs.n {
		return errShort
	}
	d, err := rs.r.Discard(n)
	rs.n -= d
	return err
}

// release drops a scratch buffer that a large batch grew, so that one
// such batch does not hold its size for the life of the connection.
func (rs *response) release() {
	if cap(rs.scratch) > 1<<20 {
		rs.scratch = nil
	}
	if rs.decompressed.Cap() > 1<<20 {
		rs.decompressed = bytes.Buffer{}
	}
}

// partitionData is what a fetch response says of the partition.
type partitionData struct {
	highWatermark int64
	records       int // bytes of record batches that follow
}

// readHead reads a Fetch v4 response up to its partition's record batches.
func (rs *response) readHead(correlation int32, partition int) (partitionData, error) {
	var pd partitionData
	b, err := rs.r.Peek(4)
	if err != nil {
		return pd, err
	}
	rs.n = int(int32(binary.BigEndian.Uint32(b))) + 4
	if rs.n < 4 {
		return pd, fmt.Errorf("kafkaread: response of negative size %d", rs.n-4)
	}
	// size, correlation id, throttle time, topic count
	if b, err = rs.fixed(16); err != nil {
		return pd, err
	}
	if got := int32(binary.BigEndian.Uint32(b[4:])); got != correlation {
		return pd, fmt.Errorf("kafkaread: response to request %d where %d was expected", got, correlation)
	}
	if topics := int32(binary.BigEndian.Uint32(b[12:])); topics != 1 {
		return pd, fmt.Errorf("kafkaread: fetch response with %d topics", topics)
	}
	if b, err = rs.fixed(2); err != nil {
		return pd, err
	}
	if err = rs.skip(int(binary.BigEndian.Uint16(b))); err != nil { // topic name
		return pd, err
	}
	// partition count, partition, error code, high watermark, last
	// stable offset, aborted transaction count
	if b, err = rs.fixed(30); err != nil {
		return pd, err
	}
	if n := int32(binary.BigEndian.Uint32(b)); n != 1 {
		return pd, fmt.Errorf("kafkaread: fetch response with %d partitions", n)
	}
	if p := int32(binary.BigEndian.Uint32(b[4:])); int(p) != partition {
		return pd, fmt.Errorf("kafkaread: fetch response for partition %d", p)
	}
	code := int16(binary.BigEndian.Uint16(b[8:]))
	pd.highWatermark = int64(binary.BigEndian.Uint64(b[10:]))
	if aborted := int32(binary.BigEndian.Uint32(b[26:])); aborted > 0 {
		if err = rs.skip(16 * int(aborted)); err != nil {
			return pd, err
		}
	}
	if b, err = rs.fixed(4); err != nil {
		return pd, err
	}
	pd.records = max(int(int32(binary.BigEndian.Uint32(b))), 0)
	if code != 0 {
		return pd, kafka.Error(code)
	}
	if pd.records > rs.n {
		return pd, errShort
	}
	return pd, nil
}

// batch is a record batch's header.
type batch struct {
	base      int64 // first offset
	last      int64 // last offset
	attrs     int16
	firstTime int64 // milliseconds
	maxTime   int64
	count     int
}

// readBatches reads the record batches of a response's partition (size
// bytes) and calls deliver with each record of them. A batch cut short by
// the response's size limit ends the reading; the next fetch starts with
// it. end reports each batch's last offset, records or not.
func (rs *response) readBatches(size int, rec *Record, keys interner, deliver func(*Record) error, end func(last int64)) error {
	stop := rs.n - size // rs.n when the batches are read
	defer rs.release()
	for rs.n-stop >= 17 {
		b, err := rs.fixed(17) // base offset, length, leader epoch, magic
		if err != nil {
			return err
		}
		base := int64(binary.BigEndian.Uint64(b))
		length := int(int32(binary.BigEndian.Uint32(b[8:])))
		magic := b[16]
		if length-5 > rs.n-stop {
			return rs.skip(rs.n - stop) // a partial batch: the next fetch starts with it
		}
		if magic != 2 {
			return errFormat
		}
		if length < v2Header {
			return fmt.Errorf("kafkaread: record batch at offset %d of length %d", base, length)
		}
		if b, err = rs.fixed(v2Header - 5); err != nil { // crc .. record count
			return err
		}
		bt := batch{
			base:      base,
			attrs:     int16(binary.BigEndian.Uint16(b[4:])),
			last:      base + int64(int32(binary.BigEndian.Uint32(b[6:]))),
			firstTime: int64(binary.BigEndian.Uint64(b[10:])),
			maxTime:   int64(binary.BigEndian.Uint64(b[18:])),
			count:     int(int32(binary.BigEndian.Uint32(b[40:]))),
		}
		n := length - v2Header
		if bt.attrs&controlBatch != 0 {
			if err := rs.skip(n); err != nil { // transaction markers: no data
				return err
			}
			end(bt.last)
			continue
		}
		if codec := compress.Compression(bt.attrs & codecMask); codec != 0 {
			body, err := rs.bytes(n)
			if err != nil {
				return err
			}
			if body, err = rs.decompress(codec, body); err != nil {
				return fmt.Errorf("kafkaread: record batch at offset %d: %w", base, err)
			}
			if err := decodeRecords(body, &bt, rec, keys, deliver); err != nil {
				return err
			}
		} else if err := rs.streamRecords(n, &bt, rec, keys, deliver); err != nil {
			return err
		}
		end(bt.last)
	}
	return rs.skip(rs.n - stop)
}

// streamRecords decodes the records of an uncompressed batch, n bytes,
// one at a time from the connection's buffer, and delivers each: a batch
// larger than the buffer is never held whole.
func (rs *response) streamRecords(n int, bt *batch, rec *Record, keys interner, deliver func(*Record) error) error {
	var spans [2 * maxSpans]span
	for i := 0; i < bt.count && n > 0; i++ {
		head, err := rs.r.Peek(min(n, binary.MaxVarintLen32))
		if err != nil {
			return err
		}
		length, k, err := bt.recordLength(head, n)
		if err != nil {
			return err
		}
		if err := rs.skip(k); err != nil {
			return err
		}
		r, err := rs.bytes(length)
		if err != nil {
			return err
		}
		n -= k + length
		if err := bt.deliver(r, rec, keys, spans[:0], deliver); err != nil {
			return err
		}
	}
	return rs.skip(n)
}

// recordLength reads the length that starts a record from head, the first
// bytes of the avail bytes left in the batch, and returns it and its size.
func (bt *batch) recordLength(head []byte, avail int) (length, size int, err error) {
	l, k := binary.Varint(head)
	if k <= 0 || l < 0 || int64(avail-k) < l {
		return 0, 0, fmt.Errorf("%w in the batch at offset %d", errRecord, bt.base)
	}
	return int(l), k, nil
}

// deliver decodes the record r of bt into rec and delivers it.
func (bt *batch) deliver(r []byte, rec *Record, keys interner, spans []span, deliver func(*Record) error) error {
	if err := decodeRecord(r, bt, rec, keys, spans); err != nil {
		return fmt.Errorf("%w in the batch at offset %d", err, bt.base)
	}
	return deliver(rec)
}

// decompress returns the records that body holds compressed with codec,
// valid until the next call.
func (rs *response) decompress(codec compress.Compression, body []byte) ([]byte, error) {
	c := codec.Codec()
	if c == nil {
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	rs.decompressed.Reset()
	r := c.NewReader(bytes.NewReader(body))
	_, err := rs.decompressed.ReadFrom(r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return rs.decompressed.Bytes(), err
}

// errRecord reports a record that does not parse.
var errRecord = errors.New("kafkaread: malformed record")

// decodeRecords decodes bt's records from body and delivers each.
func decodeRecords(body []byte, bt *batch, rec *Record, keys interner, deliver func(*Record) error) error {
	var spans [2 * maxSpans]span
	for i := 0; i < bt.count && len(body) > 0; i++ {
		length, k, err := bt.recordLength(body, len(body))
		if err != nil {
			return err
		}
		r := body[k : k+length]
		body = body[k+length:]
		if err := bt.deliver(r, rec, keys, spans[:0], deliver); err != nil {
			return err
		}
	}
	return nil
}

// maxSpans is how many headers a record can have before their positions
// are kept on the heap.
const maxSpans = 8

// span is a part of a record: [off, off+n), n -1 for null.
type span struct{ off, n int }

// decodeRecord decodes one record (after its length) into rec.
func decodeRecord(r []byte, bt *batch, rec *Record, keys interner, spans []span) error {
	p := 1 // attributes
	tsDelta, n := binary.Varint(r[min(p, len(r)):])
	if n <= 0 {
		return errRecord
	}
	p += n
	offDelta, n := binary.Varint(r[p:])
	if n <= 0 {
		return errRecord
	}
	p += n
	// key, value, then each header's key and value
	var err error
	var key, value span
	if key, p, err = readSpan(r, p); err != nil {
		return err
	}
	if value, p, err = readSpan(r, p); err != nil {
		return err
	}
	headers, n := binary.Varint(r[p:])
	if n <= 0 || headers < 0 || headers > int64(len(r)) {
		return errRecord
	}
	p += n
	total := max(key.n, 0) + max(value.n, 0)
	for range headers {
		var hk, hv span
		if hk, p, err = readSpan(r, p); err != nil {
			return err
		}
		if hv, p, err = readSpan(r, p); err != nil {
			return err
		}
		spans = append(spans, hk, hv)
		total += max(hv.n, 0)
	}

	buf := make([]byte, 0, total)
	rec.Key, buf = copySpan(buf, r, key)
	rec.Value, buf = copySpan(buf, r, value)
	rec.Headers = rec.Headers[:0]
	for i := 0; i < len(spans); i += 2 {
		h := kafka.Header{Key: keys.intern(r[spans[i].off : spans[i].off+max(spans[i].n, 0)])}
		h.Value, buf = copySpan(buf, r, spans[i+1])
		rec.Headers = append(rec.Headers, h)
	}
	rec.Offset = bt.base + offDelta
	ms := bt.firstTime + tsDelta
	if bt.attrs&logAppendTime != 0 {
		ms = bt.maxTime
	}
	rec.Time = time.UnixMilli(ms)
	return nil
}

// readSpan reads a length (varint, -1 for null) and skips the bytes it
// counts.
func readSpan(r []byte, p int) (span, int, error) {
	l, n := binary.Varint(r[min(p, len(r)):])
	if n <= 0 || l < -1 || int64(len(r)-p-n) < l {
		return span{}, p, errRecord
	}
	s := span{off: p + n, n: int(l)}
	return s, p + n + max(int(l), 0), nil
}

// copySpan appends s of r to buf, whose capacity it fits in, and returns
// it as a slice of buf (nil for null).
func copySpan(buf, r []byte, s span) ([]byte, []byte) {
	if s.n < 0 {
		return nil, buf
	}
	start := len(buf)
	buf = append(buf, r[s.off:s.off+s.n]...)
	return buf[start:len(buf):len(buf)], buf
}

// interner keeps one string per header key it has seen, up to a bound.
type interner map[string]string

func (in interner) intern(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < 64 {
		in[s] = s
	}
	return s
}
