package consumer

import (
	"context"
	"sync"
)

// inbox passes items from any goroutine to one taker, in lists: the taker
// is woken once for whatever arrived meanwhile (one channel operation per
// wake-up rather than one per item), and putting never waits unless the
// inbox is bounded and full.
type inbox[T any] struct {
	mu    sync.Mutex
	items []T
	// ready holds a token while items wait; space one after a take (for
	// a bounded putter waiting for room).
	ready, space chan struct{}
}

func (b *inbox[T]) init() {
	b.ready = make(chan struct{}, 1)
	b.space = make(chan struct{}, 1)
}

// add adds v without waiting.
func (b *inbox[T]) add(v T) {
	b.mu.Lock()
	b.appendLocked(v)
}

// addWhenRoom adds v once fewer than max items wait, and gives up (false)
// when ctx ends first.
func (b *inbox[T]) addWhenRoom(ctx context.Context, v T, max int) bool {
	b.mu.Lock()
	for len(b.items) >= max {
		b.mu.Unlock()
		select {
		case <-b.space:
		case <-ctx.Done():
			return false
		}
		b.mu.Lock()
	}
	b.appendLocked(v)
	return true
}

// appendLocked appends v, unlocks, and wakes the taker if v is the first
// item waiting.
func (b *inbox[T]) appendLocked(v T) {
	b.items = append(b.items, v)
	first := len(b.items) == 1
	b.mu.Unlock()
	if first {
		select {
		case b.ready <- struct{}{}:
		default:
		}
	}
}

// take returns the waiting items and keeps dst's array (emptied) for the
// next ones, so that two arrays take turns. Call it after receiving from
// ready, and clear the returned items before handing their array back.
func (b *inbox[T]) take(dst []T) []T {
	b.mu.Lock()
	items := b.items
	b.items = dst[:0]
	b.mu.Unlock()
	select {
	case b.space <- struct{}{}:
	default:
	}
	return items
}
