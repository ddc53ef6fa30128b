package protocoltest

import (
	"context"
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/owlgate/owlgate/protocols"
)

// Loopback is an in-memory chat network: patrons made with [Loopback.Patron]
// write to the accounts of adapters made by its [Loopback.Factory], and
// receive what those adapters send. It exists for the tests of the gateway
// and of this suite; no production code uses it.
type Loopback struct {
	name protocols.Network

	mu       sync.Mutex
	accounts map[protocols.AccountID]*LoopbackAdapter
	patrons  map[protocols.Address]*LoopbackPatron
	changed  chan struct{} // closed (and replaced) when an adapter goes online

	// MaxTextLength is the longest text the network carries; longer
	// texts are split by the adapter. 0 for no limit.
	MaxTextLength int
}

// NewLoopback returns an empty network called name.
func NewLoopback(name protocols.Network) *Loopback {
	return &Loopback{
		name:     name,
		accounts: map[protocols.AccountID]*LoopbackAdapter{},
		patrons:  map[protocols.Address]*LoopbackPatron{},
		changed:  make(chan struct{}),
	}
}

// LoopbackConfig is the account keys a loopback account accepts.
type LoopbackConfig struct {
	// Fail, when set, makes the account's logins fail with bad
	// credentials.
	Fail bool `yaml:"fail"`
}

// Factory returns the network's adapter factory.
func (n *Loopback) Factory() protocols.Factory {
	return func(spec protocols.AccountSpec) (protocols.Adapter, error) {
		var cfg LoopbackConfig
		if spec.Decode != nil {
			if err := spec.Decode(&cfg); err != nil {
				return nil, err
			}
		}
		a := &LoopbackAdapter{net: n, id: spec.ID, fail: cfg.Fail}
		n.mu.Lock()
		n.accounts[spec.ID] = a
		n.mu.Unlock()
		return a, nil
	}
}

// Adapter returns the adapter the factory built for an account, or nil.
func (n *Loopback) Adapter(id protocols.AccountID) *LoopbackAdapter {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.accounts[id]
}

// Patron returns the patron user on the network, writing to account.
func (n *Loopback) Patron(account protocols.AccountID, user protocols.UserID) *LoopbackPatron {
	addr := protocols.Address{Network: n.name, Account: account, User: user}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p, ok := n.patrons[addr]; ok {
		return p
	}
	p := &LoopbackPatron{net: n, addr: addr, changed: make(chan struct{})}
	n.patrons[addr] = p
	return p
}

func (n *Loopback) notifyLocked() {
	close(n.changed)
	n.changed = make(chan struct{})
}

// LoopbackAdapter is one account on a [Loopback] network.
type LoopbackAdapter struct {
	net  *Loopback
	id   protocols.AccountID
	fail bool

	mu   sync.Mutex
	sink protocols.Sink // set while online
}

var _ protocols.Adapter = (*LoopbackAdapter)(nil)

// Capabilities: typing, receipts and presence, like a modern network.
func (a *LoopbackAdapter) Capabilities() protocols.Capabilities {
	return protocols.Capabilities{Typing: true, Receipts: true, Presence: true, MaxTextLength: a.net.MaxTextLength}
}

// Run goes online at once and stays online until ctx ends.
func (a *LoopbackAdapter) Run(ctx context.Context, sink protocols.Sink) error {
	sink.ReportState(protocols.StateReport{State: protocols.AccountConnecting})
	if a.fail {
		err := fmt.Errorf("loopback %s: %w", a.id, protocols.ErrBadCredentials)
		sink.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
		return err
	}
	a.mu.Lock()
	a.sink = sink
	a.mu.Unlock()
	a.net.mu.Lock()
	a.net.notifyLocked()
	a.net.mu.Unlock()
	sink.ReportState(protocols.StateReport{State: protocols.AccountOnline})
	<-ctx.Done()
	a.mu.Lock()
	a.sink = nil
	a.mu.Unlock()
	sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
	return nil
}

// Online reports whether the adapter is running.
func (a *LoopbackAdapter) Online() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sink != nil
}

func (a *LoopbackAdapter) currentSink() protocols.Sink {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sink
}

// Send hands the event to the patron, splitting long texts on rune
// boundaries.
func (a *LoopbackAdapter) Send(ctx context.Context, out protocols.Outbound) error {
	if a.currentSink() == nil {
		return fmt.Errorf("loopback %s: %w", a.id, protocols.ErrNotConnected)
	}
	addr := out.Patron()
	a.net.mu.Lock()
	p, ok := a.net.patrons[addr]
	a.net.mu.Unlock()
	if !ok || addr.Account != a.id {
		return fmt.Errorf("loopback %s: %w", a.id, protocols.ErrUnknownPatron)
	}
	if m, ok := out.(protocols.OutMessage); ok && a.net.MaxTextLength > 0 {
		for _, part := range splitText(m.Text, a.net.MaxTextLength) {
			m.Text = part
			p.receive(m)
		}
		return nil
	}
	p.receive(out)
	return nil
}

// splitText cuts s into pieces of at most max bytes, on rune boundaries.
func splitText(s string, max int) []string {
	var parts []string
	for len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		parts = append(parts, s[:cut])
		s = s[cut:]
	}
	return append(parts, s)
}

// LoopbackPatron is a patron on a [Loopback] network.
type LoopbackPatron struct {
	net  *Loopback
	addr protocols.Address

	mu       sync.Mutex
	received []protocols.Outbound
	read     int
	// changed is closed (and replaced) when the patron receives
	// something: it wakes the goroutines waiting in this patron's
	// NextEvent, and no other patron's.
	changed chan struct{}
}

// Address is the patron's address as the account sees it.
func (p *LoopbackPatron) Address() protocols.Address { return p.addr }

// ID is the patron's user id.
func (p *LoopbackPatron) ID() protocols.UserID { return p.addr.User }

// Send delivers ev (its address is set to the patron's) to the account;
// it fails when the account is not online or the sink refuses it.
func (p *LoopbackPatron) deliver(ctx context.Context, ev protocols.Inbound) error {
	a := p.net.Adapter(p.addr.Account)
	if a == nil {
		return fmt.Errorf("loopback: no account %q", p.addr.Account)
	}
	sink := a.currentSink()
	if sink == nil {
		return fmt.Errorf("loopback: account %q is offline", p.addr.Account)
	}
	return sink.Deliver(ctx, ev)
}

// Say sends text to the account.
func (p *LoopbackPatron) Say(ctx context.Context, text string) error {
	return p.deliver(ctx, protocols.Message{From: p.addr, Text: text})
}

// Type sends a chat state to the account.
func (p *LoopbackPatron) Type(ctx context.Context, st protocols.ChatState) error {
	return p.deliver(ctx, protocols.StateChange{From: p.addr, State: st})
}

// Leave tells the account that the patron left.
func (p *LoopbackPatron) Leave(ctx context.Context) error {
	return p.deliver(ctx, protocols.Left{From: p.addr, Reason: "quit"})
}

func (p *LoopbackPatron) receive(out protocols.Outbound) {
	p.mu.Lock()
	p.received = append(p.received, out)
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// NextEvent returns the next event the patron received, waiting for one.
func (p *LoopbackPatron) NextEvent(ctx context.Context) (protocols.Outbound, error) {
	for {
		p.mu.Lock()
		if p.read < len(p.received) {
			out := p.received[p.read]
			p.read++
			p.mu.Unlock()
			return out, nil
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("patron %s waiting for a message: %w", p.addr.User, ctx.Err())
		}
	}
}

// Next returns the text of the next message the patron received, skipping
// other events.
func (p *LoopbackPatron) Next(ctx context.Context) (string, error) {
	for {
		out, err := p.NextEvent(ctx)
		if err != nil {
			return "", err
		}
		if m, ok := out.(protocols.OutMessage); ok {
			return m.Text, nil
		}
	}
}

// WaitOnline blocks until the account is online.
func (n *Loopback) WaitOnline(ctx context.Context, id protocols.AccountID) error {
	for {
		n.mu.Lock()
		a := n.accounts[id]
		ch := n.changed
		n.mu.Unlock()
		if a != nil && a.Online() {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("account %s not online: %w", id, ctx.Err())
		}
	}
}
