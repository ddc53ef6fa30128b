package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/routing"
)

// fakeTimers is time the test moves: every After is recorded, and fires
// only when the test says.
type fakeTimers struct {
	mu      sync.Mutex
	now     time.Time
	waits   []*fakeWait
	changed chan struct{}
}

type fakeWait struct {
	d     time.Duration
	c     chan time.Time
	fired bool
}

func newFakeTimers() *fakeTimers {
	return &fakeTimers{now: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (f *fakeTimers) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTimers) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &fakeWait{d: d, c: make(chan time.Time, 1)}
	f.waits = append(f.waits, w)
	close(f.changed)
	f.changed = make(chan struct{})
	return w.c
}

// next waits for a timer of duration d not yet fired, in [lo, hi] when the
// duration is jittered.
func (f *fakeTimers) next(t *testing.T, what string, lo, hi time.Duration) *fakeWait {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		f.mu.Lock()
		for _, w := range f.waits {
			if !w.fired && w.d >= lo && w.d <= hi {
				f.mu.Unlock()
				return w
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			t.Fatalf("no timer for %s (%v..%v) was set", what, lo, hi)
		}
	}
}

// fire moves the clock by the timer's duration and fires it.
func (f *fakeTimers) fire(w *fakeWait) {
	f.mu.Lock()
	f.now = f.now.Add(w.d)
	w.fired = true
	now := f.now
	f.mu.Unlock()
	w.c <- now
}

// pending counts the timers of duration d set and not fired.
func (f *fakeTimers) pending(d time.Duration) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waits {
		if !w.fired && w.d == d {
			n++
		}
	}
	return n
}

// countingAdapter counts its runs; failures, while positive, makes Run
// fail at once.
type countingAdapter struct {
	protocols.Adapter
	runs     atomic.Int32
	failures atomic.Int32
	started  chan struct{} // receives at every Run
}

func (c *countingAdapter) Run(ctx context.Context, sink protocols.Sink) error {
	c.runs.Add(1)
	c.started <- struct{}{}
	if c.failures.Add(-1) >= 0 {
		return fmt.Errorf("test network: %w", protocols.ErrTimeout)
	}
	return c.Adapter.Run(ctx, sink)
}

const grace = 2 * time.Minute

func supervised(t *testing.T, failures int32) (*harness, *fakeTimers, *countingAdapter) {
	timers := newFakeTimers()
	counting := &countingAdapter{started: make(chan struct{}, 16)}
	counting.failures.Store(failures)
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		counting.Adapter = a
		return counting
	}, func(o *Options) {
		o.Timers = timers
		o.Accounts[0].OfflineGrace = grace
	})
	return h, timers, counting
}

func (h *harness) presence(op routing.OperatorID, show routing.Show) {
	h.post(routing.OperatorPresence{Operator: op, Resource: "desk", Show: show})
}

func (h *harness) waitState(t *testing.T, st protocols.AccountState) {
	t.Helper()
	h.waitStatus(t, "state "+st.String(), func(s AccountStatus) bool { return s.State == st })
}

// waitStatus waits until the account's status satisfies ok.
func (h *harness) waitStatus(t *testing.T, what string, ok func(AccountStatus) bool) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		changed := h.gw.StateChanged()
		if ok(h.gw.Accounts()[0]) {
			return
		}
		select {
		case <-timeout:
			t.Fatalf("account status %+v: want %s", h.gw.Accounts()[0], what)
		case <-changed:
		}
	}
}

// TestShiftChangeKeepsAccountLoggedIn: the last operator leaves and another
// arrives within the grace period: the account is never logged out.
func TestShiftChangeKeepsAccountLoggedIn(t *testing.T) {
	h, timers, counting := supervised(t, 0)
	h.presence("alice@localhost", routing.ShowAvailable)
	<-counting.started
	if err := h.net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	h.presence("alice@localhost", routing.ShowOffline)
	w := timers.next(t, "the grace period", grace, grace)
	h.presence("bob@localhost", routing.ShowAvailable)
	// The supervisor dropped the grace timer: firing it now changes
	// nothing. (It is a channel nobody reads any more.)
	timers.fire(w)
	h.presence("bob@localhost", routing.ShowAway)
	w2 := timers.next(t, "a new grace period", grace, grace)
	h.presence("bob@localhost", routing.ShowChat)
	timers.fire(w2)
	h.post(routing.Tick{}) // a round trip through the loop
	if !h.net.Adapter("unc-loop").Online() {
		t.Error("the account logged out during a shift change")
	}
	if n := counting.runs.Load(); n != 1 {
		t.Errorf("the adapter ran %d times, want once", n)
	}
}

// TestAccountLogsOutAfterGrace: when the last operator leaves, the account
// stays logged in for the grace period, then logs out.
func TestAccountLogsOutAfterGrace(t *testing.T) {
	h, timers, counting := supervised(t, 0)
	h.presence("alice@localhost", routing.ShowAvailable)
	<-counting.started
	if err := h.net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	h.presence("alice@localhost", routing.ShowDND)
	w := timers.next(t, "the grace period", grace, grace)
	if !h.net.Adapter("unc-loop").Online() {
		t.Fatal("the account logged out before the grace period ended")
	}
	timers.fire(w)
	h.waitState(t, protocols.AccountStopped)
	if h.net.Adapter("unc-loop").Online() {
		t.Error("the account is still logged in after the grace period")
	}
	// The queue comes back: the account logs in again.
	h.presence("alice@localhost", routing.ShowAvailable)
	<-counting.started
	if err := h.net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
}

// TestFailedAccountBacksOff: an adapter that fails is restarted after an
// exponential, jittered backoff, and its status says why.
func TestFailedAccountBacksOff(t *testing.T) {
	h, timers, counting := supervised(t, 2)
	h.presence("alice@localhost", routing.ShowAvailable)
	<-counting.started
	first := timers.next(t, "the first backoff", 500*time.Millisecond, time.Second)
	st := h.gw.Accounts()[0]
	if st.State != protocols.AccountBackoff || st.Failures != 1 || st.LastError == "" || st.Retry.IsZero() {
		t.Errorf("status after a failure: %+v", st)
	}
	timers.fire(first)
	<-counting.started
	second := timers.next(t, "the second backoff", time.Second, 2*time.Second)
	timers.fire(second)
	<-counting.started
	if err := h.net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	h.waitState(t, protocols.AccountOnline)
	st = h.gw.Accounts()[0]
	if st.Failures != 2 || st.LastError == "" || !st.Retry.IsZero() {
		t.Errorf("status after recovering: %+v", st)
	}
}

// TestBadCredentialsStopRetrying: an account the network refuses is not
// retried, and says so.
func TestBadCredentialsStopRetrying(t *testing.T) {
	timers := newFakeTimers()
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		return badCredentials{a}
	}, func(o *Options) { o.Timers = timers })
	h.presence("alice@localhost", routing.ShowAvailable)
	// The supervisor reports the state again once Run returned, after
	// counting the failure.
	h.waitStatus(t, "bad credentials, counted", func(s AccountStatus) bool {
		return s.State == protocols.AccountBadCredentials && s.Failures == 1
	})
	h.post(routing.Tick{})
	if st := h.gw.Accounts()[0]; !strings.Contains(st.LastError, "bad credentials") {
		t.Errorf("status: %+v", st)
	}
	timers.mu.Lock()
	n := len(timers.waits)
	timers.mu.Unlock()
	if n != 0 {
		t.Errorf("%d timers set after bad credentials, want no retry", n)
	}
}

type badCredentials struct{ protocols.Adapter }

func (b badCredentials) Run(ctx context.Context, sink protocols.Sink) error {
	err := fmt.Errorf("test network: %w", protocols.ErrBadCredentials)
	sink.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
	return err
}
