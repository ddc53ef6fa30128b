package gateway

import (
	"path/filepath"
	"sync"
	"testing"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/routing"
)

// alwaysOnAdapter is a loopback account that cannot log out, like an SMS
// number, and records the offline message it is told.
type alwaysOnAdapter struct {
	*countingAdapter
	mu      sync.Mutex
	offline []string
}

func (a *alwaysOnAdapter) AlwaysOn() bool { return true }

func (a *alwaysOnAdapter) SetOfflineMessage(text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.offline = append(a.offline, text)
}

var (
	_ protocols.AlwaysOn             = (*alwaysOnAdapter)(nil)
	_ protocols.OfflineMessageSetter = (*alwaysOnAdapter)(nil)
)

// TestAlwaysOnAccountRunsWhileQueueOffline: an always-on account runs from
// the start with nobody staffing its queue, answers a patron with the
// queue's offline message, and is not logged out when its queue goes
// offline again.
func TestAlwaysOnAccountRunsWhileQueueOffline(t *testing.T) {
	timers := newFakeTimers()
	net := protocoltest.NewLoopback("loop")
	ao := &alwaysOnAdapter{countingAdapter: &countingAdapter{started: make(chan struct{}, 16)}}
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		ao.Adapter = a
		return ao
	}, func(o *Options) {
		o.Timers = timers
		o.Accounts[0].OfflineGrace = grace
	})
	select {
	case <-ao.started:
	case <-h.ctx().Done():
		t.Fatal("the always-on account did not start with its queue offline")
	}
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatalf("the always-on account did not start with its queue offline: %v", err)
	}
	want := routing.Queue{}.OfflineText() // the test queue has no offline_message
	ao.mu.Lock()
	told := append([]string(nil), ao.offline...)
	ao.mu.Unlock()
	if len(told) != 1 || told[0] != want {
		t.Errorf("the adapter was told the offline messages %q, want once %q", told, want)
	}

	patron := net.Patron("unc-loop", "patron-1")
	if err := patron.Say(h.ctx(), "anyone there at 3am?"); err != nil {
		t.Fatal(err)
	}
	if got, err := patron.Next(h.ctx()); err != nil || got != want {
		t.Fatalf("the patron received %q, %v; want the offline message", got, err)
	}

	// A shift comes and goes: no grace period starts, the account stays.
	h.presence("alice@localhost", routing.ShowAvailable)
	h.link.waitFor(t, "the offer to alice", textTo("alice@localhost", "anyone there at 3am?"))
	h.presence("alice@localhost", routing.ShowOffline)
	// The supervisor takes one value at a time from its channel of
	// capacity 1: once the third send went through, it has handled the
	// first two (the queue going offline, again).
	acct := h.gw.accounts["unc-loop"]
	for range 3 {
		acct.wantc <- false
	}
	if n := timers.pending(grace); n != 0 {
		t.Errorf("%d grace timers set for an always-on account", n)
	}
	if !net.Adapter("unc-loop").Online() {
		t.Error("the always-on account logged out")
	}
	if n := ao.runs.Load(); n != 1 {
		t.Errorf("the adapter ran %d times, want once", n)
	}
}
