package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// account runs one adapter: its session follows its queue, and one sender
// delivers what the engine has for its patrons.
type account struct {
	g    *Gateway
	spec Account
	log  *slog.Logger

	wantc chan bool // the queue's latest online state; capacity 1, newest wins

	mu        sync.Mutex
	state     protocols.StateReport
	since     time.Time // when state began
	lastErr   string    // the last error reported, kept after recovery
	lastErrAt time.Time
	failures  int // times Run failed (errors and panics) since start
	outq      []outJob
	outWake   chan struct{} // capacity 1
}

func newAccount(g *Gateway, spec Account) *account {
	return &account{
		g:       g,
		spec:    spec,
		log:     g.log.With("network", spec.Network, "account", spec.ID, "queue", spec.Queue),
		wantc:   make(chan bool, 1),
		outWake: make(chan struct{}, 1),
	}
}

// want tells the supervisor whether the queue is online. It never blocks:
// an older value still unread is replaced.
func (a *account) want(online bool) {
	for {
		select {
		case a.wantc <- online:
			return
		default:
		}
		select {
		case <-a.wantc:
		default:
		}
	}
}

// State returns the account's last reported state.
func (a *account) State() protocols.StateReport {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.state
}

// status returns what /status and the metrics show of the account.
func (a *account) status() AccountStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := AccountStatus{
		ID: a.spec.ID, Network: a.spec.Network, Queue: a.spec.Queue,
		State: a.state.State, Since: a.since, Retry: a.state.Retry,
		LastError: a.lastErr, LastErrorAt: a.lastErrAt,
		Failures: a.failures, QueueDepth: len(a.outq),
	}
	if st.State != protocols.AccountBackoff {
		st.Retry = time.Time{}
	}
	return st
}

// Deliver implements protocols.Sink: it resolves the patron's guest id and
// returns once the engine handled the event and its writes are durable.
func (a *account) Deliver(ctx context.Context, ev protocols.Inbound) error {
	pe, err := a.patronEvent(ctx, ev)
	if err != nil {
		return err
	}
	if err := a.g.postDurable(ctx, pe); err != nil {
		return err
	}
	a.observe(ev)
	return nil
}

// Enqueue implements protocols.Enqueuer: like Deliver, but it returns once
// the engine handled the event, without waiting for the disk.
func (a *account) Enqueue(ctx context.Context, ev protocols.Inbound) error {
	pe, err := a.patronEvent(ctx, ev)
	if err != nil {
		return err
	}
	if err := a.g.Post(ctx, pe); err != nil {
		return err
	}
	a.observe(ev)
	return nil
}

// observe counts an event the engine took: a patron's message, or a
// failure the network reported after the send.
func (a *account) observe(ev protocols.Inbound) {
	switch ev.(type) {
	case protocols.Message, *protocols.Message:
		a.g.obs.MessageIn(a.spec.Network)
	case protocols.DeliveryFailure, *protocols.DeliveryFailure:
		a.g.obs.DeliveryFailed(a.spec.Network)
	}
}

// patronEvent checks that ev is this account's and resolves the patron's
// guest id.
func (a *account) patronEvent(ctx context.Context, ev protocols.Inbound) (routing.PatronEvent, error) {
	addr := ev.Patron()
	if addr.Account != a.spec.ID || addr.Network != a.spec.Network {
		return routing.PatronEvent{}, fmt.Errorf("gateway: account %s handed over an event addressed to %s/%s",
			a.spec.ID, addr.Network, addr.Account)
	}
	guest, err := a.g.guests.get(ctx, addr)
	if err != nil {
		return routing.PatronEvent{}, fmt.Errorf("gateway: guest id: %w", err)
	}
	return routing.PatronEvent{Guest: guest, Inbound: ev}, nil
}

var (
	_ protocols.Sink     = (*account)(nil)
	_ protocols.Enqueuer = (*account)(nil)
)

// ReportState implements protocols.Sink; each change is logged once.
func (a *account) ReportState(r protocols.StateReport) {
	now := a.g.timers.Now()
	a.mu.Lock()
	prev := a.state.State
	a.state = r
	if prev != r.State || a.since.IsZero() {
		a.since = now
	}
	if r.Err != nil {
		a.lastErr, a.lastErrAt = r.Err.Error(), now
	}
	a.mu.Unlock()
	a.g.notifyState()
	if prev != r.State {
		a.g.obs.AccountState(a.spec.ID, a.spec.Network, r.State)
	}
	if prev == r.State && r.State != protocols.AccountBackoff {
		return
	}
	switch r.State {
	case protocols.AccountBadCredentials:
		a.log.Error("account refused: fix its credentials in the config", "state", r.State.String(), "err", r.Err)
	case protocols.AccountBackoff:
		a.log.Warn("account disconnected", "state", r.State.String(), "err", r.Err, "retry", r.Retry)
	default:
		a.log.Info("account state", "state", r.State.String())
	}
}

// supervise runs the adapter while the queue is online and for the grace
// period after, restarting it with backoff when it fails. An adapter that is
// protocols.AlwaysOn runs from the start, whatever the queue's presence.
func (a *account) supervise(ctx context.Context) error {
	always := a.alwaysOn()
	var (
		wanted  bool
		cancel  context.CancelFunc
		done    chan error
		started time.Time
		graceC  <-chan time.Time
		retryC  <-chan time.Time
		backoff = a.g.opts.Backoff
		timers  = a.g.timers
	)
	start := func() {
		var runCtx context.Context
		runCtx, cancel = context.WithCancel(ctx)
		done = make(chan error, 1)
		started = timers.Now()
		go func() { done <- a.run(runCtx) }()
	}
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel, done = nil, nil
		}
	}
	if always {
		wanted = true
		start()
	}
	for {
		select {
		case <-ctx.Done():
			stop()
			return nil
		case on := <-a.wantc:
			if always && !on {
				// An always-on account ignores its queue going offline
				// (its queue coming online restarts it after bad
				// credentials, as any account).
				continue
			}
			wanted = on
			switch {
			case on:
				graceC = nil
				if cancel == nil && retryC == nil {
					start()
				}
			case cancel != nil && graceC == nil:
				graceC = timers.After(a.spec.OfflineGrace)
			}
		case <-graceC:
			graceC, retryC = nil, nil
			stop()
			a.log.Info("queue offline past the grace period; account logged out")
		case err := <-done:
			cancel()
			cancel, done = nil, nil
			a.mu.Lock()
			a.failures++
			a.mu.Unlock()
			if errors.Is(err, protocols.ErrBadCredentials) {
				a.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
				continue // until the queue goes offline and online again
			}
			if !wanted {
				continue
			}
			d := backoff.Next(timers.Now().Sub(started))
			a.ReportState(protocols.StateReport{State: protocols.AccountBackoff, Err: err, Retry: timers.Now().Add(d)})
			retryC = timers.After(d)
		case <-retryC:
			retryC = nil
			if wanted && cancel == nil {
				a.g.obs.Reconnect(a.spec.ID, a.spec.Network)
				start()
			}
		}
	}
}

// alwaysOn reports whether the account cannot log out
// (protocols.AlwaysOn), and if so tells the adapter its queue's offline
// message (protocols.OfflineMessageSetter) before it first runs.
func (a *account) alwaysOn() bool {
	ao, ok := a.spec.Adapter.(protocols.AlwaysOn)
	if !ok || !ao.AlwaysOn() {
		return false
	}
	if s, ok := a.spec.Adapter.(protocols.OfflineMessageSetter); ok {
		for _, q := range a.g.opts.Routing.Queues {
			if q.ID == a.spec.Queue {
				s.SetOfflineMessage(q.OfflineText())
			}
		}
	}
	return true
}

// run runs the adapter once, turning a panic into an error.
func (a *account) run(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("adapter panicked; restarting it with backoff", "panic", fmt.Sprint(p))
			err = fmt.Errorf("adapter panicked: %v", p)
		}
	}()
	err = a.spec.Adapter.Run(ctx, a)
	if err == nil && ctx.Err() == nil {
		err = errors.New("adapter stopped by itself")
	}
	if ctx.Err() != nil && !errors.Is(err, protocols.ErrBadCredentials) {
		return nil
	}
	return err
}
