package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// Defaults for [Options] fields left zero.
const (
	DefaultOfflineGrace = 2 * time.Minute  // an account stays logged in this long after its queue went offline
	DefaultSendRetryFor = 10 * time.Minute // a retryable send failure is retried this long
	DefaultContextLines = 50               // lines of each open chat kept in memory
)

// Options is what a [Gateway] is built from.
type Options struct {
	Routing  routing.Config
	Accounts []Account
	Store    store.Store
	Link     Link          // the operator side; nil runs without one (operators are not reached)
	Log      *slog.Logger  // nil discards
	Clock    routing.Clock // nil: the system clock

	// SendRetryFor is how long a message to a patron is retried after
	// retryable failures before the operator is told it was not received.
	SendRetryFor time.Duration

	// Backoff paces restarts of an account whose adapter failed; the zero
	// value is DefaultBackoff.
	Backoff protocols.Backoff

	// Timers is the accounts' supervisors' time (grace periods, backoff);
	// nil: the system's. Tests use a fake.
	Timers Timers

	// Redact says, per queue, what to black out of the lines of the chats
	// that came in on it before they are stored (see RedactText).
	Redact map[routing.QueueID]Redaction

	// Observer is told about chats, messages and accounts, for the
	// metrics; nil: NopObserver.
	Observer Observer
}

// DefaultBackoff restarts a failed account after about a second, doubling
// up to five minutes, and forgets past failures once an account stayed
// connected for ten minutes.
var DefaultBackoff = protocols.Backoff{Min: time.Second, Max: 5 * time.Minute, Stable: 10 * time.Minute}

// Timers is the time the accounts' supervisors use.
type Timers interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// systemTimers is the system's time.
type systemTimers struct{}

func (systemTimers) Now() time.Time                         { return time.Now() }
func (systemTimers) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Account is one public account and its adapter.
type Account struct {
	ID           protocols.AccountID
	Network      protocols.Network
	Queue        routing.QueueID
	Adapter      protocols.Adapter
	DataDir      string        // the adapter's state folder; Run makes it; may be empty
	OfflineGrace time.Duration // 0: DefaultOfflineGrace
}

// Gateway is the running daemon. Build it with [New], then call [Gateway.Run]
// once.
type Gateway struct {
	opts     Options
	log      *slog.Logger
	clock    routing.Clock
	events   chan envelope
	accounts map[protocols.AccountID]*account
	byQueue  map[routing.QueueID][]*account
	guests   *guestCache
	timers   Timers
	outSeq   uint64    // owned by the loop
	done     doneQueue // delivered messages, for the loop to remove from the outbox
	sends    []outJob  // messages to patrons from the last execute, for dispatch; owned by the loop
	obs      Observer
	presence *presence   // each queue's online state, for QueueOnline
	chats    chatTracker // owned by the loop: open chats, for the observer

	stateMu sync.Mutex
	stateCh chan struct{} // closed at an account's state change

	loopDone chan struct{} // closed when the event loop has ended
}

// errStopped is returned to events posted after the event loop ended.
var errStopped = errors.New("gateway: stopped")

// systemClock is the real clock.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// New checks the options and builds a gateway. It does no I/O.
func New(opts Options) (*Gateway, error) {
	if opts.Store == nil {
		return nil, errors.New("gateway: no store")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Clock == nil {
		opts.Clock = systemClock{}
	}
	if opts.SendRetryFor <= 0 {
		opts.SendRetryFor = DefaultSendRetryFor
	}
	if opts.Backoff.Min == 0 && opts.Backoff.Max == 0 && opts.Backoff.Stable == 0 {
		opts.Backoff.Min, opts.Backoff.Max, opts.Backoff.Stable = DefaultBackoff.Min, DefaultBackoff.Max, DefaultBackoff.Stable
	}
	if opts.Timers == nil {
		opts.Timers = systemTimers{}
	}
	if opts.Routing.ContextLines <= 0 {
		opts.Routing.ContextLines = DefaultContextLines
	}
	if opts.Observer == nil {
		opts.Observer = NopObserver{}
	}
	g := &Gateway{
		opts:     opts,
		log:      opts.Log,
		clock:    opts.Clock,
		events:   make(chan envelope, 256),
		accounts: make(map[protocols.AccountID]*account, len(opts.Accounts)),
		byQueue:  make(map[routing.QueueID][]*account),
		guests:   newGuestCache(opts.Store, 100_000),
		timers:   opts.Timers,
		stateCh:  make(chan struct{}),
		loopDone: make(chan struct{}),
		outSeq:   uint64(time.Now().UnixNano()),
		obs:      opts.Observer,
		presence: newPresence(opts.Routing.Queues),
		chats:    make(chatTracker),
	}
	for _, spec := range opts.Accounts {
		if spec.Adapter == nil {
			return nil, fmt.Errorf("gateway: account %s has no adapter", spec.ID)
		}
		if _, dup := g.accounts[spec.ID]; dup {
			return nil, fmt.Errorf("gateway: account %s listed twice", spec.ID)
		}
		if spec.OfflineGrace <= 0 {
			spec.OfflineGrace = DefaultOfflineGrace
		}
		a := newAccount(g, spec)
		g.accounts[spec.ID] = a
		g.byQueue[spec.Queue] = append(g.byQueue[spec.Queue], a)
	}
	return g, nil
}

// Run loads the open chats from the store, then runs the event loop, the
// operator link, and the accounts until ctx ends. It returns nil after a
// clean shutdown; the caller closes the store after it, which flushes it.
func (g *Gateway) Run(ctx context.Context) error {
	state, err := g.opts.Store.Load(ctx, g.opts.Routing.ContextLines)
	if err != nil {
		return fmt.Errorf("gateway: loading open chats: %w", err)
	}
	engine, err := routing.New(g.opts.Routing, g.clock, state)
	if err != nil {
		return fmt.Errorf("gateway: restoring open chats: %w", err)
	}
	g.chats.restore(state)
	for _, a := range g.accounts {
		if a.spec.DataDir != "" {
			if err := os.MkdirAll(a.spec.DataDir, 0o700); err != nil {
				return fmt.Errorf("gateway: account %s: %w", a.spec.ID, err)
			}
		}
	}
	pending, err := g.opts.Store.PendingOutbound(ctx)
	if err != nil {
		return fmt.Errorf("gateway: loading unsent messages: %w", err)
	}
	g.log.Info("gateway starting", "open_chats", len(state.Chats), "unsent", len(pending), "accounts", len(g.accounts))

	grp, ctx := errgroup.WithContext(ctx)
	grp.Go(func() error {
		defer close(g.loopDone)
		return g.loop(ctx, engine)
	})
	for _, a := range g.accounts {
		grp.Go(func() error { return a.supervise(ctx) })
		grp.Go(func() error { return a.sendLoop(ctx) })
	}
	for _, o := range pending {
		if a, ok := g.accounts[o.To.Account]; ok {
			a.enqueue(outJob{record: o})
		} else {
			g.log.Warn("unsent message for an account no longer configured; dropping it from the outbox",
				"account", o.To.Account, "chat", o.Chat)
			g.opts.Store.Submit(store.Batch{Done: []protocols.MessageID{o.ID}})
		}
	}
	if g.opts.Link != nil {
		grp.Go(func() error {
			err := g.opts.Link.Run(ctx, g.Post)
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("operator link: %w", err)
		})
	} else {
		g.log.Warn("no operator link: operators cannot be reached")
	}
	err = grp.Wait()
	g.log.Info("gateway stopped")
	return err
}

// Post hands an event to the event loop and waits until the engine handled
// it. The operator link posts with it; tests may too.
func (g *Gateway) Post(ctx context.Context, ev routing.Event) error {
	_, err := g.handle(ctx, ev)
	return err
}

// postDurable hands an event to the loop and waits until what the engine
// wrote for it is durable.
func (g *Gateway) postDurable(ctx context.Context, ev routing.Event) error {
	commit, err := g.handle(ctx, ev)
	if err != nil || commit == nil {
		return err
	}
	return commit.Wait(ctx)
}

// handle hands an event to the loop and returns the commit of what the
// engine wrote for it (nil when it wrote nothing).
func (g *Gateway) handle(ctx context.Context, ev routing.Event) (*store.Commit, error) {
	done := make(chan *store.Commit, 1)
	select {
	case g.events <- envelope{ev: ev, done: done}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g.loopDone:
		return nil, errStopped
	}
	select {
	case c := <-done:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-g.loopDone:
		// The loop answers before it ends: an answer may be waiting.
		select {
		case c := <-done:
			return c, nil
		default:
		}
		return nil, errStopped
	}
}
