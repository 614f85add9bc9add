package consumer

// gate keeps per-key order within a partition: a message is handed on only
// when every earlier message sharing one of its ordering keys (its Kafka key,
// and its schedule key) has finished. Messages with no key are never held.
// Later messages of other keys keep flowing. It is owned by one goroutine.
type gate struct {
	queues map[string][]*Message // per key: messages in offset order, head in flight
}

func newGate() *gate { return &gate{queues: make(map[string][]*Message)} }

// enter registers m under its keys and reports whether it may go now.
func (g *gate) enter(m *Message) bool {
	for _, k := range m.keys {
		q := g.queues[k]
		if len(q) > 0 {
			m.blockers++
		}
		g.queues[k] = append(q, m)
	}
	return m.blockers == 0
}

// leave removes a finished message (the head of each of its queues) and
// returns the messages it was the last to hold back.
func (g *gate) leave(m *Message, ready []*Message) []*Message {
	for _, k := range m.keys {
		q := g.queues[k]
		if len(q) == 0 || q[0] != m {
			continue // not possible for a message that went; defensive
		}
		q[0] = nil
		q = q[1:]
		if len(q) == 0 {
			delete(g.queues, k)
			continue
		}
		g.queues[k] = q
		if next := q[0]; next.blockers > 0 {
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
