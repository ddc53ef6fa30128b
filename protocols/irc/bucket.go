package irc

import (
	"context"
	"math"
	"sync"
	"time"
)

// clock is the time a bucket uses; tests give a fake one.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// bucket is a token bucket: it holds up to burst tokens, gains rate tokens
// a second, and each line sent takes one. IRC servers disconnect (or
// throttle) clients that send too fast, and irc-go has no flood control of
// its own, so every line the account sends after registration passes here.
// It is safe for concurrent use.
type bucket struct {
	rate  float64
	burst float64
	clock clock

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, c clock) *bucket {
	if c == nil {
		c = realClock{}
	}
	return &bucket{rate: rate, burst: float64(burst), clock: c, tokens: float64(burst), last: c.Now()}
}

func (b *bucket) refillLocked() {
	now := b.clock.Now()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	b.last = now
}

// TryTake takes a token if one is there, without waiting.
func (b *bucket) TryTake() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refillLocked()
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// Wait takes a token, waiting until one is there or ctx ends.
func (b *bucket) Wait(ctx context.Context) error {
	for {
		b.mu.Lock()
		b.refillLocked()
		if b.tokens >= 1 {
			b.tokens--
			b.mu.Unlock()
			return nil
		}
		need := time.Duration(math.Ceil((1 - b.tokens) / b.rate * float64(time.Second)))
		b.mu.Unlock()
		select {
		case <-b.clock.After(max(need, time.Millisecond)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
