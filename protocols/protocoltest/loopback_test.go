package protocoltest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/owlgate/owlgate/protocols"
)

// loopbackHarness runs the suite on a fresh Loopback network per test.
func loopbackHarness(t *testing.T, maxText int, wrap func(protocols.Adapter) protocols.Adapter) Harness {
	net := NewLoopback("loop")
	net.MaxTextLength = maxText
	var patrons atomic.Int64
	return Harness{
		Network: "loop",
		Account: "lib-loop",
		NewAdapter: func(t *testing.T) protocols.Adapter {
			a, err := net.Factory()(protocols.AccountSpec{ID: "lib-loop", Network: "loop"})
			if err != nil {
				t.Fatal(err)
			}
			return wrap(a)
		},
		NewPatron: func(t *testing.T, ctx context.Context) Patron {
			return net.Patron("lib-loop", protocols.UserID(fmt.Sprintf("patron%d", patrons.Add(1))))
		},
	}
}

func TestLoopbackPassesSuite(t *testing.T) {
	Run(t, loopbackHarness(t, 0, func(a protocols.Adapter) protocols.Adapter { return a }))
}

func TestLoopbackWithTextLimitPassesSuite(t *testing.T) {
	Run(t, loopbackHarness(t, 64, func(a protocols.Adapter) protocols.Adapter { return a }))
}

// truncating is a broken adapter: it cuts every text to 10 bytes.
type truncating struct{ protocols.Adapter }

func (a truncating) Send(ctx context.Context, out protocols.Outbound) error {
	if m, ok := out.(protocols.OutMessage); ok && len(m.Text) > 10 {
		m.Text = m.Text[:10]
		out = m
	}
	return a.Adapter.Send(ctx, out)
}

// TestBrokenAdapterHelper is run by TestSuiteFailsBrokenAdapter in a child
// process; on its own it does nothing.
func TestBrokenAdapterHelper(t *testing.T) {
	if os.Getenv("PROTOCOLTEST_BROKEN") != "1" {
		t.Skip("run by TestSuiteFailsBrokenAdapter")
	}
	Run(t, loopbackHarness(t, 0, func(a protocols.Adapter) protocols.Adapter { return truncating{a} }))
}

// TestSuiteFailsBrokenAdapter checks that the suite can fail: an adapter
// that truncates replies must not pass.
func TestSuiteFailsBrokenAdapter(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenAdapterHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "PROTOCOLTEST_BROKEN=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed an adapter that truncates replies:\n%s", out)
	}
	if !strings.Contains(string(out), "--- FAIL: TestBrokenAdapterHelper/ReplyReachesPatron") {
		t.Errorf("want ReplyReachesPatron to fail; output:\n%s", out)
	}
}

// TestLoopbackWakesOnlyThatPatron: a message to one patron wakes the
// goroutines waiting in that patron's Next, and no other patron's; every
// waiter gets its own message.
func TestLoopbackWakesOnlyThatPatron(t *testing.T) {
	net := NewLoopback("loop")
	a, err := net.Factory()(protocols.AccountSpec{ID: "lib-loop", Network: "loop"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go a.Run(ctx, nopSink{})
	if err := net.WaitOnline(ctx, "lib-loop"); err != nil {
		t.Fatal(err)
	}
	alice, bob := net.Patron("lib-loop", "alice"), net.Patron("lib-loop", "bob")
	alice.mu.Lock()
	aliceWake := alice.changed
	alice.mu.Unlock()
	if err := a.Send(ctx, protocols.OutMessage{To: bob.Address(), Text: "for bob"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-aliceWake:
		t.Error("a message to bob woke alice's waiters")
	default:
	}
	if err := a.Send(ctx, protocols.OutMessage{To: alice.Address(), Text: "for alice"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-aliceWake:
	default:
		t.Error("a message to alice did not wake her waiters")
	}

	// Many patrons waiting at once each get their own message.
	const n = 50
	var patrons []*LoopbackPatron
	got := make(chan error, n)
	for i := range n {
		p := net.Patron("lib-loop", protocols.UserID(fmt.Sprint("p", i)))
		patrons = append(patrons, p)
		go func() {
			text, err := p.Next(ctx)
			if err == nil && text != fmt.Sprint("to p", i) {
				err = fmt.Errorf("p%d got %q", i, text)
			}
			got <- err
		}()
	}
	for i, p := range patrons {
		if err := a.Send(ctx, protocols.OutMessage{To: p.Address(), Text: fmt.Sprint("to p", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		if err := <-got; err != nil {
			t.Error(err)
		}
	}
}

// nopSink is a sink that takes everything and does nothing.
type nopSink struct{}

func (nopSink) Deliver(ctx context.Context, ev protocols.Inbound) error { return nil }
func (nopSink) ReportState(protocols.StateReport)                       {}
