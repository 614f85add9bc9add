package deadletter

import (
	"encoding/binary"
	"hash/crc32"
	"time"

	"github.com/segmentio/kafka-go"
)

// The producer encodes its record batches here (message format v2,
// uncompressed) and sends them with kafka-go's Client.RawProduce. kafka-go's
// Client.Produce encodes each record through an interface per field into
// pages of its own: 5 % of the gateway's CPU, with one results record per
// event. Encoding by appending to one reused buffer, then a CRC-32C over it,
// costs a fraction of that.

// batchOverhead is the size of a record batch's header, with the size
// prefix a raw record set carries.
const batchOverhead = 4 + 61

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendBatch appends msgs as one record batch, preceded by its size (the
// form of a raw record set), to b. Records without a time take now.
func appendBatch(b []byte, msgs []kafka.Message, now time.Time) []byte {
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, 0)          // size, set below
	b = binary.BigEndian.AppendUint64(b, 0)          // base offset
	b = binary.BigEndian.AppendUint32(b, 0)          // batch length, set below
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch -1
	b = append(b, 2)                                 // magic
	b = binary.BigEndian.AppendUint32(b, 0)          // crc, set below
	crcFrom := len(b)
	b = binary.BigEndian.AppendUint16(b, 0)                   // attributes: no compression, create time
	b = binary.BigEndian.AppendUint32(b, uint32(len(msgs)-1)) // last offset delta
	times := len(b)
	b = binary.BigEndian.AppendUint64(b, 0)          // first timestamp, set below
	b = binary.BigEndian.AppendUint64(b, 0)          // max timestamp, set below
	b = binary.BigEndian.AppendUint64(b, ^uint64(0)) // producer id -1
	b = binary.BigEndian.AppendUint16(b, 0xffff)     // producer epoch -1
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // base sequence -1
	b = binary.BigEndian.AppendUint32(b, uint32(len(msgs)))

	nowMs := now.UnixMilli()
	var first, maxTs int64
	for i := range msgs {
		m := &msgs[i]
		ts := nowMs
		if !m.Time.IsZero() {
			ts = m.Time.UnixMilli()
		}
		if i == 0 {
			first = ts
		}
		maxTs = max(maxTs, ts)
		size := 1 + varintLen(ts-first) + varintLen(int64(i)) + nullBytesLen(m.Key) + nullBytesLen(m.Value) +
			varintLen(int64(len(m.Headers)))
		for _, h := range m.Headers {
			size += varintLen(int64(len(h.Key))) + len(h.Key) + nullBytesLen(h.Value)
		}
		b = binary.AppendVarint(b, int64(size))
		b = append(b, 0) // attributes
		b = binary.AppendVarint(b, ts-first)
		b = binary.AppendVarint(b, int64(i))
		b = appendNullBytes(b, m.Key)
		b = appendNullBytes(b, m.Value)
		b = binary.AppendVarint(b, int64(len(m.Headers)))
		for _, h := range m.Headers {
			b = binary.AppendVarint(b, int64(len(h.Key)))
			b = append(b, h.Key...)
			b = appendNullBytes(b, h.Value)
		}
	}
	binary.BigEndian.PutUint64(b[times:], uint64(first))
	binary.BigEndian.PutUint64(b[times+8:], uint64(maxTs))
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	binary.BigEndian.PutUint32(b[start+12:], uint32(len(b)-start-16))
	binary.BigEndian.PutUint32(b[crcFrom-4:], crc32.Checksum(b[crcFrom:], castagnoli))
	return b
}

// appendNullBytes appends v as Kafka's nullable bytes (varint length, -1
// for nil).
func appendNullBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// varintLen is the length of v as a (zig-zag) varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// nullBytesLen is the length of v as nullable bytes.
func nullBytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varintLen(int64(len(v))) + len(v)
}
