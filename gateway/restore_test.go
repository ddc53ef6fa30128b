package gateway

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

// TestStoredStateEqualsEngineState drives the engine through the gateway's
// execute (so its writes go to a real SQLite store exactly as in
// production), then checks that what the store gives back at start is the
// engine's state, and that an engine rebuilt from it has the same state: an
// open chat keeps its holder, its lines and its waiting messages.
func TestStoredStateEqualsEngineState(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "owlgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := routingConfig()
	cfg.Queues = append(cfg.Queues, routing.Queue{
		ID: "special", Name: "Special Collections", Library: "unc",
		Operators:   []routing.OperatorID{"bob@localhost"},
		Transcripts: true,
		Accounts:    []routing.Account{{ID: "unc-sms", Network: "sms"}},
	})
	cfg.ContextLines = DefaultContextLines
	clock := &fixedClock{t: time.Date(2026, 12, 4, 15, 0, 0, 123, time.UTC)}
	engine, err := routing.New(cfg, clock, routing.State{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Routing: cfg, Store: st, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	var last *store.Commit
	handle := func(ev routing.Event) {
		clock.t = clock.t.Add(7 * time.Second)
		if c := g.execute(engine.Handle(ev)); c != nil {
			last = c
		}
		g.dispatch()
	}
	patron := func(account protocols.AccountID, network protocols.Network, user protocols.UserID, text string) routing.GuestID {
		addr := protocols.Address{Network: network, Account: account, User: user}
		guest, err := st.Guest(ctx, addr)
		if err != nil {
			t.Fatal(err)
		}
		handle(routing.PatronEvent{Guest: guest, Inbound: protocols.Message{From: addr, Text: text}})
		return guest
	}
	say := func(guest routing.GuestID, text string) {
		handle(routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer(guest), Text: text})
	}

	handle(routing.OperatorPresence{Operator: "alice@localhost", Resource: "desk", Show: routing.ShowAvailable})
	held := patron("unc-loop", "loop", "patron1", "Do you have maps of 1850?")
	say(held, "Yes, in the map room.")
	patron("unc-loop", "loop", "patron1", "Thanks! Which floor?")
	// Special Collections is offline: the patron gets the offline message
	// and the chat waits with both messages.
	waiting := patron("unc-sms", "sms", "+15555550123", "hello?")
	patron("unc-sms", "sms", "+15555550123", "still there?")
	closed := patron("unc-loop", "loop", "patron3", "quick one")
	say(closed, "/close")
	if err := last.Wait(ctx); err != nil {
		t.Fatal(err)
	}

	want := engine.Snapshot()
	if len(want.Chats) != 2 {
		t.Fatalf("engine has %d open chats, want 2 (held %s, waiting %s)", len(want.Chats), held, waiting)
	}
	for i := range want.Chats {
		want.Chats[i].Record = store.NormalRecord(want.Chats[i].Record)
		for j := range want.Chats[i].Lines {
			want.Chats[i].Lines[j] = store.NormalLine(want.Chats[i].Lines[j])
		}
	}
	got, err := st.Load(ctx, DefaultContextLines)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stored state differs from the engine's:\n got %+v\nwant %+v", got, want)
	}
	if r := got.Chats[0].Record; r.Guest != held || r.Operator != "alice@localhost" || r.Status != routing.ChatHeld || len(got.Chats[0].Lines) != 3 {
		t.Errorf("held chat restored as %+v with %d lines", r, len(got.Chats[0].Lines))
	}
	if r := got.Chats[1].Record; r.Guest != waiting || r.Status != routing.ChatWaiting || !r.OfflineNotified {
		t.Errorf("waiting chat restored as %+v", r)
	}

	rebuilt, err := routing.New(cfg, clock, got)
	if err != nil {
		t.Fatal(err)
	}
	if again := rebuilt.Snapshot(); !reflect.DeepEqual(again, got) {
		t.Errorf("engine rebuilt from the store has another state:\n got %+v\nwant %+v", again, got)
	}
}
