package consumer

import "hash/maphash"

// gate keeps per-key order within a partition: a message is handed on only
// when every earlier message sharing one of its ordering keys (its Kafka key,
// and its schedule key) has finished. Messages with no key are never held.
// Later messages of other keys keep flowing. It is owned by one goroutine.
//
// Keys are 64-bit hashes: two keys that collide are ordered together, which
// costs a little concurrency and never order. The messages waiting on a key
// are linked through the messages themselves, so entering and leaving
// allocate nothing beyond the map's own growth.
type gate struct {
	queues map[uint64]gateQueue // per key: head in flight, then waiting messages in offset order
}

// gateQueue is the list of messages of one key, linked by gateKey.next.
type gateQueue struct{ head, tail *Message }

// gateKey is one ordering key of a message and the next message of the
// same key, in offset order.
type gateKey struct {
	h    uint64
	next *Message
}

// maxKeys is how many ordering keys a message has at most: its Kafka key
// and its schedule key.
const maxKeys = 2

var gateSeed = maphash.MakeSeed()

// kafkaKey returns the ordering key of a Kafka record key.
func kafkaKey(key []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(gateSeed)
	h.WriteByte('k')
	h.Write(key)
	return h.Sum64()
}

// scheduleKey returns the ordering key of a schedule key of a workspace.
func scheduleKey(workspace, key string) uint64 {
	var h maphash.Hash
	h.SetSeed(gateSeed)
	h.WriteByte('s')
	h.WriteString(workspace)
	h.WriteByte(0)
	h.WriteString(key)
	return h.Sum64()
}

// addKey gives m the ordering key h (once).
func (m *Message) addKey(h uint64) {
	for i := range m.nkeys {
		if m.keys[i].h == h {
			return
		}
	}
	if int(m.nkeys) < maxKeys {
		m.keys[m.nkeys] = gateKey{h: h}
		m.nkeys++
	}
}

// key returns m's entry for the ordering key h.
func (m *Message) key(h uint64) *gateKey {
	for i := range m.nkeys {
		if m.keys[i].h == h {
			return &m.keys[i]
		}
	}
	return nil
}

func newGate() *gate { return &gate{queues: make(map[uint64]gateQueue)} }

// enter registers m under its keys and reports whether it may go now.
func (g *gate) enter(m *Message) bool {
	for i := range m.nkeys {
		k := &m.keys[i]
		k.next = nil
		q, ok := g.queues[k.h]
		if ok {
			m.blockers++
			q.tail.key(k.h).next = m
			q.tail = m
		} else {
			q = gateQueue{head: m, tail: m}
		}
		g.queues[k.h] = q
	}
	return m.blockers == 0
}

// leave removes a finished message (the head of each of its queues) and
// returns the messages it was the last to hold back.
func (g *gate) leave(m *Message, ready []*Message) []*Message {
	for i := range m.nkeys {
		k := &m.keys[i]
		q, ok := g.queues[k.h]
		if !ok || q.head != m {
			continue // not possible for a message that went; defensive
		}
		next := k.next
		k.next = nil
		if next == nil {
			delete(g.queues, k.h)
			continue
		}
		q.head = next
		g.queues[k.h] = q
		if next.blockers > 0 {
			next.blockers--
			if next.blockers == 0 {
				ready = append(ready, next)
			}
		}
	}
	return ready
}

// held is the number of distinct keys with messages waiting or in flight.
func (g *gate) held() int { return len(g.queues) }
