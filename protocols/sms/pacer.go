package sms

import (
	"context"
	"sync"
	"time"
)

// clock is the time the adapter uses for pacing, retries and the offline
// message's interval; tests give a fake one.
type clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// sleep waits d on c, or until ctx ends.
func sleep(ctx context.Context, c clock, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-c.After(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pacer spaces the texts one sending number sends: at most one every
// interval, with no burst (Twilio queues what a number sends faster than its
// pace, and carriers filter bursts). It is safe for concurrent use; each
// caller is given the next free slot.
type pacer struct {
	interval time.Duration
	clock    clock

	mu   sync.Mutex
	next time.Time // the earliest time the next text may go
}

func newPacer(rate float64, c clock) *pacer {
	return &pacer{interval: time.Duration(float64(time.Second) / rate), clock: c}
}

// Wait returns when the caller may send, or ctx's error. A slot taken by a
// caller whose ctx ended is not given back.
func (p *pacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	now := p.clock.Now()
	at := now
	if p.next.After(now) {
		at = p.next
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	return sleep(ctx, p.clock, at.Sub(now))
}
