package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// countingObserver counts what it is told.
type countingObserver struct {
	mu     sync.Mutex
	counts map[string]int
	waits  []time.Duration
}

func (o *countingObserver) add(key string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.counts == nil {
		o.counts = map[string]int{}
	}
	o.counts[key]++
}

func (o *countingObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[key]
}

func (o *countingObserver) ChatOpened(q routing.QueueID) { o.add("opened " + string(q)) }
func (o *countingObserver) ChatAnswered(q routing.QueueID, wait time.Duration) {
	o.add("answered " + string(q))
	o.mu.Lock()
	o.waits = append(o.waits, wait)
	o.mu.Unlock()
}
func (o *countingObserver) ChatEnded(q routing.QueueID, answered bool) {
	if answered {
		o.add("ended answered " + string(q))
	} else {
		o.add("ended unanswered " + string(q))
	}
}
func (o *countingObserver) MessageIn(n protocols.Network)      { o.add("in " + string(n)) }
func (o *countingObserver) MessageOut(n protocols.Network)     { o.add("out " + string(n)) }
func (o *countingObserver) DeliveryFailed(n protocols.Network) { o.add("failed " + string(n)) }
func (o *countingObserver) AccountState(a protocols.AccountID, n protocols.Network, s protocols.AccountState) {
	o.add("state " + string(a) + " " + s.String())
}
func (o *countingObserver) Reconnect(a protocols.AccountID, n protocols.Network) {
	o.add("reconnect " + string(a))
}

var _ Observer = (*countingObserver)(nil)

// TestPresenceSnapshot: QueueOnline follows the engine's QueuePresence,
// and PresenceChanged wakes a reader at each change.
func TestPresenceSnapshot(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), nil)
	if online, known := h.gw.QueueOnline("reference"); online || !known {
		t.Fatalf("at start QueueOnline = %v, %v; want offline, known", online, known)
	}
	if _, known := h.gw.QueueOnline("nosuch"); known {
		t.Error("an unknown queue is known")
	}
	changed := h.gw.PresenceChanged()
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	select {
	case <-changed:
	case <-h.ctx().Done():
		t.Fatal("no presence change")
	}
	// Post returns once the engine handled the event, and the snapshot is
	// set while its actions are carried out: no wait is needed.
	if online, _ := h.gw.QueueOnline("reference"); !online {
		t.Error("reference offline after alice came online")
	}
	changed = h.gw.PresenceChanged()
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAway})
	<-changed
	if online, _ := h.gw.QueueOnline("reference"); online {
		t.Error("reference online after alice went away")
	}
}

// TestSnapshotAndObserver runs a chat to its end and checks the loop's
// snapshot on the way, and what the observer was told.
func TestSnapshotAndObserver(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	obs := &countingObserver{}
	h := start(t, net, filepath.Join(t.TempDir(), "owlgate.db"), nil, func(o *Options) { o.Observer = obs })
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	patron := net.Patron("unc-loop", "patron1")
	if err := patron.Say(h.ctx(), "hello"); err != nil {
		t.Fatal(err)
	}
	offer := h.link.waitFor(t, "offer", textTo("alice@localhost", "hello"))
	snap, err := h.gw.Snapshot(h.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Queues) != 1 || snap.OpenChats != 1 {
		t.Fatalf("snapshot = %+v", snap)
	}
	q := snap.Queues[0]
	if q.ID != "reference" || !q.Online || q.Waiting != 1 || q.Held != 0 || len(q.Available) != 1 || q.Available[0] != "alice@localhost" {
		t.Errorf("queue snapshot = %+v", q)
	}

	guest := routing.GuestPeer(routing.GuestID(offer.From.ID))
	h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: "hi"})
	if _, err := patron.Next(h.ctx()); err != nil {
		t.Fatal(err)
	}
	if snap, err = h.gw.Snapshot(h.ctx()); err != nil || snap.Queues[0].Held != 1 || snap.Queues[0].Waiting != 0 {
		t.Errorf("after the answer: %+v, %v", snap, err)
	}
	h.post(routing.OperatorMessage{From: "alice@localhost", To: guest, Text: "/close"})
	h.link.waitFor(t, "chat closed", func(a routing.Action) bool {
		return a.Kind == routing.SaveChat && a.Record.Status == routing.ChatEnded
	})
	if snap, err = h.gw.Snapshot(h.ctx()); err != nil || snap.OpenChats != 0 {
		t.Errorf("after /close: %+v, %v", snap, err)
	}
	// The sender counts a message once Send returned; stopping waits
	// for the senders, so every count is in.
	h.stop()
	for key, want := range map[string]int{
		"opened reference": 1, "answered reference": 1, "ended answered reference": 1,
		"in loop": 1, "out loop": 1, "state unc-loop online": 1,
	} {
		if got := obs.get(key); got != want {
			t.Errorf("%s: %d, want %d (all: %v)", key, got, want, obs.counts)
		}
	}
	if len(obs.waits) != 1 || obs.waits[0] < 0 {
		t.Errorf("waits = %v", obs.waits)
	}

	// A stopped gateway answers no snapshot.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := h.gw.Snapshot(ctx); err == nil {
		t.Error("Snapshot of a stopped gateway: no error")
	}
}

// TestRedactionOnWrite: the lines of a queue that redacts are stored
// redacted; the operator still reads what the patron wrote.
func TestRedactionOnWrite(t *testing.T) {
	net := protocoltest.NewLoopback("loop")
	path := filepath.Join(t.TempDir(), "owlgate.db")
	h := start(t, net, path, nil, func(o *Options) {
		o.Redact = map[routing.QueueID]Redaction{"reference": RedactEmail | RedactPhone}
		o.Routing.Queues[0].Transcripts = true
	})
	h.post(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	if err := net.WaitOnline(h.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	patron := net.Patron("unc-loop", "patron1")
	const said = "I am ada@example.edu, call me at +1 919 555 0100 about ISBN 9780134685991"
	if err := patron.Say(h.ctx(), said); err != nil {
		t.Fatal(err)
	}
	offer := h.link.waitFor(t, "offer", textTo("alice@localhost", "ada@example.edu"))
	h.post(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(routing.GuestID(offer.From.ID)),
		Text: "Sure, I'll write to ada@example.edu"})
	if _, err := patron.Next(h.ctx()); err != nil {
		t.Fatal(err)
	}
	// Deliver returned once the patron's line was durable; the operator's
	// line went with the event Post waited for, and is durable once a
	// later batch is: a store barrier.
	if err := h.st.Submit(store.Batch{Done: []protocols.MessageID{"barrier"}}).Wait(h.ctx()); err != nil {
		t.Fatal(err)
	}
	lines := mustLinesOf(t, h.st, 1)
	if len(lines) != 2 {
		t.Fatalf("stored lines: %+v", lines)
	}
	if want := "I am [email], call me at [phone] about ISBN 9780134685991"; lines[0].Text != want {
		t.Errorf("stored patron line %q, want %q", lines[0].Text, want)
	}
	if want := "Sure, I'll write to [email]"; lines[1].Text != want {
		t.Errorf("stored operator line %q, want %q", lines[1].Text, want)
	}
	if strings.Contains(lines[0].Text+lines[1].Text, "ada@") {
		t.Error("an address was stored")
	}
}

func mustLinesOf(t *testing.T, st *store.SQLite, chat routing.ChatID) []routing.Line {
	t.Helper()
	ls, err := st.Lines(context.Background(), chat)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}
