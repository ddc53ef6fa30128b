package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Observer is told what the gateway does, for the metrics (package httpapi
// implements it with Prometheus). Its methods are called from the event
// loop, the accounts' supervisors and their senders, concurrently: they
// must be quick and never block. Chats are counted by their origin queue,
// the one owning the account the patron wrote to, so that for every queue
// opened = answered + unanswered + still open.
type Observer interface {
	ChatOpened(queue routing.QueueID)
	ChatAnswered(queue routing.QueueID, wait time.Duration) // the first answer, wait after the start
	ChatEnded(queue routing.QueueID, answered bool)

	MessageIn(network protocols.Network)      // a patron's message reached the engine
	MessageOut(network protocols.Network)     // a message to a patron was accepted by its network
	DeliveryFailed(network protocols.Network) // a message to a patron failed for good

	AccountState(account protocols.AccountID, network protocols.Network, state protocols.AccountState) // a change of state
	Reconnect(account protocols.AccountID, network protocols.Network)                                  // a restart after a failure
}

// NopObserver observes nothing.
type NopObserver struct{}

var _ Observer = NopObserver{}

func (NopObserver) ChatOpened(routing.QueueID)                  {}
func (NopObserver) ChatAnswered(routing.QueueID, time.Duration) {}
func (NopObserver) ChatEnded(routing.QueueID, bool)             {}
func (NopObserver) MessageIn(protocols.Network)                 {}
func (NopObserver) MessageOut(protocols.Network)                {}
func (NopObserver) DeliveryFailed(protocols.Network)            {}
func (NopObserver) AccountState(protocols.AccountID, protocols.Network, protocols.AccountState) {
}
func (NopObserver) Reconnect(protocols.AccountID, protocols.Network) {}

// prepare looks at the engine's actions before execute carries them out:
// it redacts the lines of queues that redact (only what is stored changes;
// operators were sent the text as written), keeps the queues' presence for
// QueueOnline, and tells the observer about chats. It runs on the loop.
func (g *Gateway) prepare(actions []routing.Action) {
	for i := range actions {
		a := &actions[i]
		switch a.Kind {
		case routing.SaveLine:
			if r := g.opts.Redact[a.Queue]; r != 0 {
				a.Line.Text = RedactText(a.Line.Text, r)
			}
		case routing.QueuePresence:
			g.presence.set(a.Queue, a.Online)
		case routing.SaveChat:
			g.chats.saw(&a.Record, g.obs)
		}
	}
}

// chatTracker knows, of every open chat, whether it was answered yet, to
// tell the observer when a chat opens, is first answered and ends. Only
// the loop uses it (and Run, before the loop starts).
type chatTracker map[routing.ChatID]bool

// restore adds the chats open at start, which are not new.
func (t chatTracker) restore(st routing.State) {
	for _, c := range st.Chats {
		t[c.Record.ID] = c.Record.Answered()
	}
}

func (t chatTracker) saw(r *routing.ChatRecord, obs Observer) {
	answered, known := t[r.ID]
	if !known {
		obs.ChatOpened(r.Origin)
	}
	if !answered && r.Answered() {
		obs.ChatAnswered(r.Origin, r.FirstAnswer.Sub(r.Started))
	}
	if r.Status == routing.ChatEnded {
		obs.ChatEnded(r.Origin, r.Answered())
		delete(t, r.ID)
		return
	}
	t[r.ID] = r.Answered()
}

// presence is every queue's online state as the engine last reported it,
// for readers outside the loop: the presence API reads it without asking
// the loop.
type presence struct {
	online map[routing.QueueID]*atomic.Bool // the configured queues; fixed at New

	mu      sync.Mutex
	changed chan struct{} // closed at the next change
}

func newPresence(queues []routing.Queue) *presence {
	p := &presence{online: make(map[routing.QueueID]*atomic.Bool, len(queues)), changed: make(chan struct{})}
	for _, q := range queues {
		p.online[q.ID] = new(atomic.Bool)
	}
	return p
}

func (p *presence) set(q routing.QueueID, online bool) {
	b := p.online[q]
	if b == nil || b.Swap(online) == online {
		return
	}
	p.mu.Lock()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// QueueOnline reports whether queue q is online (some operator of it is
// available), as of the engine's last change, and whether q is a
// configured queue. It is safe to call at any time, and cheap: it does not
// go through the event loop. Every queue is offline until the engine says
// otherwise.
func (g *Gateway) QueueOnline(q routing.QueueID) (online, known bool) {
	b := g.presence.online[q]
	if b == nil {
		return false, false
	}
	return b.Load(), true
}

// PresenceChanged returns a channel that is closed at the next change of
// any queue's online state.
func (g *Gateway) PresenceChanged() <-chan struct{} {
	g.presence.mu.Lock()
	defer g.presence.mu.Unlock()
	return g.presence.changed
}
