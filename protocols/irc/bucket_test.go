package irc

import (
	"context"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that moves only when Advance is called.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	waiting chan struct{} // gets a value each time After is called
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), waiting: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, fakeWaiter{c.now.Add(d), ch})
	c.waiting <- struct{}{}
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

func TestBucketBurstThenRate(t *testing.T) {
	clk := newFakeClock()
	b := newBucket(2, 5, clk)
	ctx := context.Background()
	for i := range 5 {
		if err := b.Wait(ctx); err != nil {
			t.Fatalf("burst line %d: %v", i, err)
		}
	}
	if b.TryTake() {
		t.Fatal("a sixth token right after the burst")
	}
	got := make(chan error, 1)
	go func() { got <- b.Wait(ctx) }()
	<-clk.waiting // the Wait sleeps on the clock
	select {
	case err := <-got:
		t.Fatalf("Wait returned %v before the clock moved", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(499 * time.Millisecond)
	select {
	case err := <-got:
		t.Fatalf("Wait returned %v after 499ms at 2 tokens/s", err)
	case <-time.After(20 * time.Millisecond):
	}
	clk.Advance(time.Millisecond)
	// The Wait wakes at 500ms, or sleeps again for the rounding and
	// wakes at the next advance.
	for done := false; !done; {
		select {
		case err := <-got:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-clk.waiting:
			clk.Advance(time.Millisecond)
		case <-time.After(5 * time.Second):
			t.Fatal("Wait did not return after 500ms at 2 tokens/s")
		}
	}

	// Idle time refills up to the burst, not beyond.
	clk.Advance(time.Hour)
	n := 0
	for b.TryTake() {
		n++
	}
	if n != 5 {
		t.Errorf("after an idle hour %d tokens, want the burst 5", n)
	}
	// A steady 2 per second.
	clk.Advance(3 * time.Second)
	n = 0
	for b.TryTake() {
		n++
	}
	if n != 5 { // 6 earned, capped at 5
		t.Errorf("after 3s %d tokens, want 5 (capped)", n)
	}
	clk.Advance(1500 * time.Millisecond)
	n = 0
	for b.TryTake() {
		n++
	}
	if n != 3 {
		t.Errorf("after 1.5s %d tokens, want 3", n)
	}
}

func TestBucketWaitHonoursContext(t *testing.T) {
	clk := newFakeClock()
	b := newBucket(1, 1, clk)
	if !b.TryTake() {
		t.Fatal("no first token")
	}
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- b.Wait(ctx) }()
	<-clk.waiting
	cancel()
	select {
	case err := <-got:
		if err != context.Canceled {
			t.Errorf("Wait = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait ignored its context")
	}
}
