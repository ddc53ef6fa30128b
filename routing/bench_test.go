package routing

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// benchConfig: one queue of n operators, one account.
func benchConfig(n int) Config {
	cfg := Config{
		Libraries: []Library{{ID: "unc", Name: "UNC"}},
		Queues: []Queue{{ID: "reference", Name: "Reference", Library: "unc",
			Accounts: []Account{{ID: "unc-irc", Network: "irc"}}}},
	}
	for i := range n {
		id := OperatorID("op" + strconv.Itoa(i) + "@unc")
		cfg.Operators = append(cfg.Operators, Operator{ID: id, Name: "Op " + strconv.Itoa(i), Library: "unc"})
		cfg.Queues[0].Operators = append(cfg.Queues[0].Operators, id)
	}
	return cfg
}

func benchEngine(b *testing.B, ops int) (*Engine, *fakeClock) {
	b.Helper()
	clock := &fakeClock{t: t0}
	e, err := New(benchConfig(ops), clock, State{})
	if err != nil {
		b.Fatal(err)
	}
	for i := range ops {
		e.Handle(OperatorPresence{Operator: OperatorID("op" + strconv.Itoa(i) + "@unc"), Resource: "pc", Show: ShowAvailable})
	}
	return e, clock
}

func reportEvents(b *testing.B, perOp int) {
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "events/s")
}

// A patron's message on a held chat: the hot path.
func BenchmarkPatronMessageHeld(b *testing.B) {
	e, _ := benchEngine(b, 10)
	addr := protocols.Address{Network: "irc", Account: "unc-irc", User: "pat"}
	e.Handle(PatronEvent{Guest: "guest-1", Inbound: protocols.Message{From: addr, Text: "hi"}})
	e.Handle(OperatorMessage{From: "op0@unc", To: GuestPeer("guest-1"), Text: "hello"})
	var ev Event = PatronEvent{Guest: "guest-1", Inbound: protocols.Message{From: addr, Text: "I am looking for a book on owls"}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(e.Handle(ev)) != 3 {
			b.Fatal("unexpected actions")
		}
	}
	reportEvents(b, 1)
}

// A new chat offered to 10 operators; each iteration also ends it (the
// patron leaves), so it is two events.
func BenchmarkNewChatOfferedTo10(b *testing.B) {
	e, _ := benchEngine(b, 10)
	addr := protocols.Address{Network: "irc", Account: "unc-irc", User: "pat"}
	var open Event = PatronEvent{Guest: "guest-1", Inbound: protocols.Message{From: addr, Text: "hi"}}
	var left Event = PatronEvent{Guest: "guest-1", Inbound: protocols.Left{From: addr}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if n := len(e.Handle(open)); n != 32 {
			b.Fatalf("%d actions", n)
		}
		e.Handle(left)
	}
	reportEvents(b, 2)
}

// A claim: a new chat offered to 10 operators, the first reply (the other
// nine are told), and the patron leaving: three events.
func BenchmarkClaimFirstReply(b *testing.B) {
	e, _ := benchEngine(b, 10)
	addr := protocols.Address{Network: "irc", Account: "unc-irc", User: "pat"}
	var open Event = PatronEvent{Guest: "guest-1", Inbound: protocols.Message{From: addr, Text: "hi"}}
	var claim Event = OperatorMessage{From: "op3@unc", To: GuestPeer("guest-1"), ID: "m1", Text: "hello, how can I help?"}
	var left Event = PatronEvent{Guest: "guest-1", Inbound: protocols.Left{From: addr}}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		e.Handle(open)
		if n := len(e.Handle(claim)); n != 12 {
			b.Fatalf("%d actions", n)
		}
		e.Handle(left)
	}
	reportEvents(b, 3)
}

// openChats opens n chats on a queue of two available operators, each with
// one patron line, and returns the heap in use after GC, in bytes, minus
// what was in use before.
func openChats(tb testing.TB, n int) (*Engine, float64) {
	clock := &fakeClock{t: t0}
	e, err := New(benchConfig(2), clock, State{})
	if err != nil {
		tb.Fatal(err)
	}
	e.Handle(OperatorPresence{Operator: "op0@unc", Resource: "pc", Show: ShowAvailable})
	e.Handle(OperatorPresence{Operator: "op1@unc", Resource: "pc", Show: ShowAvailable})
	evs := make([]PatronEvent, n)
	for i := range evs {
		evs[i] = PatronEvent{Guest: GuestIDFromNumber(int64(i + 1)), Inbound: protocols.Message{
			From: protocols.Address{Network: "irc", Account: "unc-irc", User: protocols.UserID(fmt.Sprintf("patron-%07d", i))},
			Text: fmt.Sprintf("Hello, I need help finding article %d", i)}}
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range evs {
		clock.t = clock.t.Add(time.Millisecond)
		e.Handle(evs[i])
	}
	evs = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(e)
	return e, float64(after.HeapInuse) - float64(before.HeapInuse)
}

// 100,000 open chats: the heap they take (with their patron text and
// addresses, which the gateway would otherwise hold).
func BenchmarkOpen100kChats(b *testing.B) {
	var mb float64
	for range b.N {
		e, heap := openChats(b, 100_000)
		if e.OpenChats() != 100_000 {
			b.Fatal("chats not open")
		}
		mb = heap / 1e6
	}
	b.ReportMetric(mb, "heap-MB")
}

func TestOpen100kChatsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e, heap := openChats(t, 100_000)
	if e.OpenChats() != 100_000 {
		t.Fatal("chats not open")
	}
	t.Logf("100,000 open chats: %.1f MB of heap", heap/1e6)
	if heap > 100e6 {
		t.Errorf("100,000 open chats take %.1f MB of heap, want < 100", heap/1e6)
	}
	// Every one is still routed: a reply takes the last one.
	got := render(e.Handle(OperatorMessage{From: "op1@unc", To: GuestPeer(GuestIDFromNumber(100_000)), Text: "hi"}), false)
	if len(got) != 2 {
		t.Errorf("claim of the last chat: %v", got)
	}
}

func TestTimerHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h timerHeap
	chats := make([]*chat, 500)
	for i := range chats {
		chats[i] = &chat{rec: ChatRecord{ID: ChatID(i + 1)}, idleIdx: -1}
		h.push(timer{at: rng.Int64N(1000), c: chats[i], kind: timerIdle})
		h.push(timer{at: rng.Int64N(1000), c: chats[i], kind: timerFallback})
	}
	for _, c := range chats[:200] {
		if h[c.idleIdx].c != c {
			t.Fatal("idle index out of date")
		}
		h.remove(c.idleIdx)
		if c.idleIdx != -1 {
			t.Fatal("removed timer still indexed")
		}
	}
	if len(h) != 800 {
		t.Fatalf("len = %d", len(h))
	}
	last := timer{at: -1, c: chats[0]}
	for len(h) > 0 {
		x := h.pop()
		if x.before(&last) {
			t.Fatalf("out of order: %+v after %+v", x, last)
		}
		last = x
	}
}
