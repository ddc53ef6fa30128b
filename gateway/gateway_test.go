package gateway

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// recordingLink is an operator link that records what the gateway sends.
type recordingLink struct {
	mu      sync.Mutex
	actions []routing.Action
	changed chan struct{}
}

func newRecordingLink() *recordingLink { return &recordingLink{changed: make(chan struct{})} }

func (l *recordingLink) Run(ctx context.Context, post PostFunc) error {
	<-ctx.Done()
	return ctx.Err()
}

func (l *recordingLink) Send(a routing.Action) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.actions = append(l.actions, a)
	close(l.changed)
	l.changed = make(chan struct{})
}

// waitFor blocks until an action matching ok was sent, and returns it.
func (l *recordingLink) waitFor(t *testing.T, what string, ok func(routing.Action) bool) routing.Action {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		l.mu.Lock()
		for _, a := range l.actions {
			if ok(a) {
				l.mu.Unlock()
				return a
			}
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("no %s among the %d actions sent to the link: %+v", what, len(l.actions), l.actions)
		}
	}
}

func textTo(op routing.OperatorID, substr string) func(routing.Action) bool {
	return func(a routing.Action) bool {
		return a.Kind == routing.SendOperator && a.Operator == op && strings.Contains(a.Text, substr)
	}
}

// failingAdapter refuses every message to patrons for good.
type failingAdapter struct{ protocols.Adapter }

func (f failingAdapter) Send(ctx context.Context, out protocols.Outbound) error {
	return fmt.Errorf("test network: %w", protocols.ErrUnknownPatron)
}

// harness is one gateway on a loopback network and a SQLite store.
type harness struct {
	t      *testing.T
	net    *protocoltest.Loopback
	link   *recordingLink
	st     *store.SQLite
	gw     *Gateway
	cancel context.CancelFunc
	done   chan error
}

func routingConfig() routing.Config {
	return routing.Config{
		Libraries: []routing.Library{{ID: "unc", Name: "UNC"}},
		Operators: []routing.Operator{
			{ID: "alice@localhost", Name: "Alice", Library: "unc"},
			{ID: "bob@localhost", Name: "Bob", Library: "unc"},
		},
		Queues: []routing.Queue{{
			ID: "reference", Name: "Reference", Library: "unc",
			Operators: []routing.OperatorID{"alice@localhost", "bob@localhost"},
			Accounts:  []routing.Account{{ID: "unc-loop", Network: "loop"}},
		}},
	}
}

// start runs a gateway on the store at path; wrap may replace the adapter,
// and each option may change the gateway's options.
func start(t *testing.T, net *protocoltest.Loopback, path string, wrap func(protocols.Adapter) protocols.Adapter, options ...func(*Options)) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	adapter, err := net.Factory()(protocols.AccountSpec{ID: "unc-loop", Network: "loop"})
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		adapter = wrap(adapter)
	}
	h := &harness{t: t, net: net, link: newRecordingLink(), st: st, done: make(chan error, 1)}
	opts := Options{
		Routing:  routingConfig(),
		Accounts: []Account{{ID: "unc-loop", Network: "loop", Queue: "reference", Adapter: adapter}},
		Store:    st,
		Link:     h.link,
	}
	for _, o := range options {
		o(&opts)
	}
	h.gw, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	go func() { h.done <- h.gw.Run(runCtx) }()
	t.Cleanup(h.stop)
	return h
}

// stop shuts the gateway down and closes the store; it may be called twice.
func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("gateway Run: %v", err)
	}
	if err := h.st.Close(); err != nil {
		h.t.Errorf("store Close: %v", err)
	}
}

// helloOffered brings alice online and has patron1 write "hello": it
// returns the patron and the offer alice got.
func (h *harness) helloOffered() (*protocoltest.LoopbackPatron, routing.Action) {
	h.t.Helper()
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	if err := h.net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		h.t.Fatal(err)
	}
	patron := h.net.Patron("unc-loop", "patron1")
	if err := patron.Say(h.ctx(), "hello"); err != nil {
		h.t.Fatal(err)
	}
	return patron, h.link.waitFor(h.t, "offer", textTo("alice@localhost", "hello"))
}

func (h *harness) post(ev routing.Event) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.gw.Post(ctx, ev); err != nil {
		h.t.Fatalf("Post(%T): %v", ev, err)
	}
}

func (h *harness) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	h.t.Cleanup(cancel)
	return ctx
}

// TestPatronToOperatorAndBack runs the whole path through the gateway: an
// operator comes online, the account logs in, a patron writes, the operator
// is offered the chat and answers, the patron receives the answer.
func TestPatronToOperatorAndBack(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), nil)
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	h.link.waitFor(t, "queue online", func(a routing.Action) bool {
		return a.Kind == routing.QueuePresence && a.Queue == "reference" && a.Online
	})
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	patron := net.Patron("unc-loop", "patron1")
	if err := patron.Say(h.ctx(), "Where are the atlases?"); err != nil {
		t.Fatal(err)
	}
	offer := h.link.waitFor(t, "the patron's message offered to alice", textTo("alice@localhost", "Where are the atlases?"))
	if offer.From.Kind != routing.PeerGuest || !strings.HasPrefix(offer.From.ID, routing.GuestPrefix) {
		t.Fatalf("offer from %+v, want a guest peer", offer.From)
	}
	guest := routing.GuestID(offer.From.ID)
	h.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(guest), ID: "m1", Text: "Second floor, by the windows."})
	got, err := patron.Next(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if got != "Second floor, by the windows." {
		t.Errorf("patron received %q", got)
	}
}

// TestRestartKeepsChatAndHolder stops the gateway mid-chat and starts a new
// one on the same store: the chat, its holder and the guest id survive.
func TestRestartKeepsChatAndHolder(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	path := filepath.Join(t.TempDir(), "owlgate.db")
	h := start(t, net, path, nil)
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	patron := net.Patron("unc-loop", "patron1")
	if err := patron.Say(h.ctx(), "first question"); err != nil {
		t.Fatal(err)
	}
	offer := h.link.waitFor(t, "offer", textTo("alice@localhost", "first question"))
	guest := routing.GuestID(offer.From.ID)
	h.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(guest), Text: "answer one"})
	if got, err := patron.Next(h.ctx()); err != nil || got != "answer one" {
		t.Fatalf("patron received %q, %v", got, err)
	}
	h.stop()

	h2 := start(t, net, path, nil)
	h2.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "laptop", Show: routing.ShowChat})
	if err := net.WaitOnline(h2.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	if err := patron.Say(h2.ctx(), "second question"); err != nil {
		t.Fatal(err)
	}
	// The chat is still alice's: the message goes to her alone, from the
	// same guest id, with no new offer.
	msg := h2.link.waitFor(t, "the second message", textTo("alice@localhost", "second question"))
	if msg.From != routing.GuestPeer(guest) {
		t.Errorf("after restart the patron is %+v, want %s", msg.From, guest)
	}
	h2.post(routing.OperatorMessage{From: "bob@localhost", To: routing.GuestPeer(guest), Text: "bob butting in"})
	h2.link.waitFor(t, "bob refused", textTo("bob@localhost", "Alice"))
	h2.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(guest), Text: "answer two"})
	if got, err := patron.Next(h2.ctx()); err != nil || got != "answer two" {
		t.Fatalf("patron received %q, %v", got, err)
	}
}

// TestFailedDeliveryReachesOperator: a message the network refuses for good
// is reported to the operator as not received, and leaves the outbox.
func TestFailedDeliveryReachesOperator(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		return failingAdapter{a}
	})
	_, offer := h.helloOffered()
	h.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(routing.GuestID(offer.From.ID)), Text: "hi there"})
	h.link.waitFor(t, "message not received", textTo("alice@localhost", "not received"))
	pending, err := h.st.PendingOutbound(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d messages still pending after a permanent failure", len(pending))
	}
}

// TestAdapterPanicIsRecovered: a panicking adapter does not take the
// gateway down; it is restarted and reported in backoff.
func TestAdapterPanicIsRecovered(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	panicked := make(chan struct{})
	var once sync.Once
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		return &panicOnce{Adapter: a, once: &once, panicked: panicked}
	})
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	<-panicked
	// After the backoff the adapter runs again and comes online.
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	if st := h.gw.accounts["unc-loop"].State().State; st != protocols.AccountOnline {
		t.Errorf("account state %s, want online", st)
	}
}

type panicOnce struct {
	protocols.Adapter
	once     *sync.Once
	panicked chan struct{}
}

func (p *panicOnce) Run(ctx context.Context, sink protocols.Sink) error {
	first := false
	p.once.Do(func() { first = true })
	if first {
		close(p.panicked)
		panic("adapter bug")
	}
	return p.Adapter.Run(ctx, sink)
}

func TestStanzaID(t *testing.T) {
	g := &Gateway{}
	for _, stanza := range []protocols.MessageID{"", "purple1234", "a.b.c"} {
		id := g.outboundID(42, stanza)
		if got := StanzaID(id); got != stanza {
			t.Errorf("StanzaID(%q) = %q, want %q", id, got, stanza)
		}
	}
	if a, b := g.outboundID(1, "x"), g.outboundID(1, "x"); a == b {
		t.Errorf("two outbound ids are equal: %q", a)
	}
}

// TestDeliveredLeaveOutbox: delivered messages leave the outbox while the
// gateway runs, though no later event writes a batch to take them along
// (the loop submits them on its own), and none is left at a clean
// shutdown.
func TestDeliveredLeaveOutbox(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	path := filepath.Join(t.TempDir(), "owlgate.db")
	watch := &doneWatcher{seen: make(chan doneBatch, 64)}
	h := start(t, net, path, nil, func(o *Options) {
		watch.Store = o.Store
		o.Store = watch
	})
	patron, offer := h.helloOffered()
	guest := routing.GuestPeer(routing.GuestID(offer.From.ID))
	const n = 20
	for i := range n {
		h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: fmt.Sprint("answer ", i)})
	}
	for i := range n {
		if got, err := patron.Next(h.ctx()); err != nil || got != fmt.Sprint("answer ", i) {
			t.Fatalf("patron received %q, %v", got, err)
		}
	}
	// Nothing else happens: the loop removes them on its own, in batches
	// of its own; wait for the batches that carry all n, then look.
	for got := 0; got < n; {
		select {
		case d := <-watch.seen:
			// Batches apply in order: this one durable, all before it are.
			if err := d.commit.Wait(h.ctx()); err != nil {
				t.Fatal(err)
			}
			got = d.total
		case <-h.ctx().Done():
			t.Fatalf("only some of %d delivered messages were marked done", n)
		}
	}
	if pending, err := h.st.PendingOutbound(h.ctx()); err != nil || len(pending) != 0 {
		t.Fatalf("%d delivered messages still in the outbox (%v)", len(pending), err)
	}

	// A last one, delivered just before a clean shutdown.
	h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: "bye"})
	if got, err := patron.Next(h.ctx()); err != nil || got != "bye" {
		t.Fatalf("patron received %q, %v", got, err)
	}
	h.stop()
	st, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if pending, err := st.PendingOutbound(context.Background()); err != nil || len(pending) != 0 {
		t.Errorf("after a clean shutdown: %d messages in the outbox, %v", len(pending), err)
	}
}

// doneWatcher is a store that tells the test about every batch that marks
// outbound messages done, with how many were marked so far.
type doneWatcher struct {
	store.Store
	mu    sync.Mutex
	total int
	seen  chan doneBatch
}

type doneBatch struct {
	commit *store.Commit
	total  int
}

func (w *doneWatcher) Submit(b store.Batch) *store.Commit {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.Store.Submit(b)
	if len(b.Done) > 0 {
		w.total += len(b.Done)
		w.seen <- doneBatch{commit: c, total: w.total}
	}
	return c
}

// TestEnqueueKeepsOrder: events enqueued without waiting for the disk reach
// the operator in order, and are stored all the same.
func TestEnqueueKeepsOrder(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), nil)
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	var sink protocols.Sink = h.gw.accounts["unc-loop"]
	q, ok := sink.(protocols.Enqueuer)
	if !ok {
		t.Fatal("the gateway's sink is not an Enqueuer")
	}
	from := protocols.Address{Network: "loop", Account: "unc-loop", User: "patron1"}
	const n = 50
	for i := range n {
		if err := q.Enqueue(h.ctx(), protocols.Message{From: from, Text: fmt.Sprint("line ", i)}); err != nil {
			t.Fatal(err)
		}
	}
	last := h.link.waitFor(t, "the last line", textTo("alice@localhost", fmt.Sprint("line ", n-1)))
	h.link.mu.Lock()
	next := 0
	for _, a := range h.link.actions {
		if a.Kind == routing.SendOperator && a.Operator == "alice@localhost" && a.From == last.From && strings.HasPrefix(a.Text, "line ") {
			if a.Text != fmt.Sprint("line ", next) {
				t.Errorf("alice got %q, want %q", a.Text, fmt.Sprint("line ", next))
			}
			next++
		}
	}
	h.link.mu.Unlock()
	if next != n {
		t.Errorf("alice got %d lines, want %d", next, n)
	}
	if err := h.st.Submit(store.Batch{}).Wait(h.ctx()); err != nil {
		t.Fatal(err)
	}
	state, err := h.st.Load(h.ctx(), 100)
	if err != nil || len(state.Chats) != 1 || state.Chats[0].Record.Lines != n {
		t.Fatalf("stored %+v, %v; want one chat with %d lines", state.Chats, err, n)
	}
}

// Enqueue refuses an event of another account, as Deliver does.
func TestEnqueueRefusesOtherAccount(t *testing.T) {
	h := start(t, protocoltest.NewLoopback("loop"), filepath.Join(t.TempDir(), "owlgate.db"), nil)
	h.post(routing.Tick{}) // the gateway is running
	err := h.gw.accounts["unc-loop"].Enqueue(h.ctx(), protocols.Message{From: protocols.Address{Network: "loop", Account: "other", User: "x"}})
	if err == nil {
		t.Fatal("an event of another account was taken")
	}
}

// TestSendDoesNotWaitForDisk: an operator's answer reaches the patron while
// the batch recording it is still held back from the disk; it is recorded
// once the store lets it through.
func TestSendDoesNotWaitForDisk(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	held := &holdingStore{release: make(chan struct{})}
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), nil, func(o *Options) {
		held.Store = o.Store
		o.Store = held
	})
	patron, offer := h.helloOffered()
	guest := routing.GuestPeer(routing.GuestID(offer.From.ID))
	// The first answer takes the chat, which waits for the disk (see
	// TestClaimDurableBeforeAnswer); the next ones do not.
	h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: "taken"})
	if got, err := patron.Next(h.ctx()); err != nil || got != "taken" {
		t.Fatalf("patron received %q, %v", got, err)
	}
	held.hold()
	h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: "an answer"})
	if got, err := patron.Next(h.ctx()); err != nil || got != "an answer" {
		t.Fatalf("patron received %q, %v while the store held the batch", got, err)
	}
	close(held.release)
	if err := held.Submit(store.Batch{}).Wait(h.ctx()); err != nil {
		t.Fatal(err)
	}
	state, err := h.st.Load(h.ctx(), 100)
	if err != nil || len(state.Chats) != 1 || state.Chats[0].Record.Lines != 3 {
		t.Fatalf("stored %+v, %v; want one chat with its three lines", state.Chats, err)
	}
}

// TestClaimDurableBeforeAnswer: the reply that takes a chat reaches the
// patron only once the chat's new holder is on disk, so that a crash right
// after the patron saw it cannot give the chat back to the queue. The
// adapter looks at the store when it is asked to send.
func TestClaimDurableBeforeAnswer(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	var st *store.SQLite
	holders := make(chan routing.OperatorID, 4)
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), func(a protocols.Adapter) protocols.Adapter {
		return storeWatcher{Adapter: a, seen: func() {
			state, err := st.Load(context.Background(), 0)
			if err != nil || len(state.Chats) != 1 {
				t.Errorf("at the send: %+v, %v", state.Chats, err)
				holders <- ""
				return
			}
			holders <- state.Chats[0].Record.Operator
		}}
	})
	st = h.st
	_, offer := h.helloOffered()
	h.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(routing.GuestID(offer.From.ID)), Text: "mine"})
	if op := <-holders; op != "alice@localhost" {
		t.Errorf("when the answer was sent, the stored holder was %q, want alice@localhost", op)
	}
}

// storeWatcher calls seen before it sends a message to a patron.
type storeWatcher struct {
	protocols.Adapter
	seen func()
}

func (w storeWatcher) Send(ctx context.Context, out protocols.Outbound) error {
	if _, ok := out.(protocols.OutMessage); ok {
		w.seen()
	}
	return w.Adapter.Send(ctx, out)
}

// holdingStore, once hold was called, keeps every batch from the store
// until release is closed, then submits them in order.
type holdingStore struct {
	store.Store
	release chan struct{}
	mu      sync.Mutex
	prev    chan struct{} // closed when the last held batch was submitted; nil: not holding
}

func (s *holdingStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prev = make(chan struct{})
	close(s.prev)
}

func (s *holdingStore) Submit(b store.Batch) *store.Commit {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.prev == nil {
		return s.Store.Submit(b)
	}
	// Submit encodes b at once and keeps nothing of it: the goroutine
	// gets a copy.
	b.Chats, b.Lines = slices.Clone(b.Chats), slices.Clone(b.Lines)
	b.Outbound, b.Done = slices.Clone(b.Outbound), slices.Clone(b.Done)
	c := store.NewCommit()
	prev, next := s.prev, make(chan struct{})
	s.prev = next
	go func() {
		<-s.release
		<-prev
		inner := s.Store.Submit(b)
		close(next)
		c.Finish(inner.Wait(context.Background()))
	}()
	return c
}
