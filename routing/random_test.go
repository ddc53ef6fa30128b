package routing

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// checkInvariants checks the engine's indexes against its chats.
func checkInvariants(t *testing.T, e *Engine, when string) {
	t.Helper()
	fail := func(f string, args ...any) {
		t.Helper()
		t.Fatalf(when+": "+f, args...)
	}
	waiting := map[*queue]int{}
	held := map[*queue]int{}
	for addr, c := range e.byAddr {
		if c.ended || c.rec.Patron != addr || e.byGuest[c.rec.Guest] != c {
			fail("chat %d badly indexed", c.rec.ID)
		}
		if c.queue == nil || c.rec.Queue != c.queue.id {
			fail("chat %d: queue %v", c.rec.ID, c.rec.Queue)
		}
		switch c.rec.Status {
		case ChatHeld:
			held[c.queue]++
			if c.holder == nil || c.holder.holds[c.rec.ID] != c || c.rec.Operator != c.holder.id || len(c.tiers) != 0 || len(c.offered) != 0 {
				fail("held chat %d inconsistent", c.rec.ID)
			}
		case ChatWaiting:
			waiting[c.queue]++
			if c.holder != nil || c.rec.Operator != "" || len(c.tiers) == 0 || c.pos != len(c.tiers)-1 {
				fail("waiting chat %d inconsistent", c.rec.ID)
			}
			for i, q := range c.tiers {
				if c.home.chain[i] != q || q.offering[c.rec.ID] != c {
					fail("chat %d: tier %d is not its chain's", c.rec.ID, i)
				}
				// Never invisible: every available operator of a
				// covered queue is offered it.
				for _, o := range q.ops {
					if o.available() != c.isOffered(o) && o.available() {
						fail("chat %d: %s available but not offered", c.rec.ID, o.id)
					}
				}
			}
			for _, o := range c.offered {
				if !o.available() || c.tierOf(o) == nil {
					fail("chat %d offered to %s, unavailable or outside its tiers", c.rec.ID, o.id)
				}
			}
			if len(c.offered) == 0 && c.pos != len(c.home.chain)-1 {
				fail("chat %d offered to nobody but not waiting on its whole chain", c.rec.ID)
			}
		default:
			fail("open chat %d status %v", c.rec.ID, c.rec.Status)
		}
	}
	if len(e.byGuest) != len(e.byAddr) {
		fail("guest index has %d chats, address index %d", len(e.byGuest), len(e.byAddr))
	}
	for _, q := range e.queueList {
		if q.waiting != waiting[q] || len(q.held) != held[q] {
			fail("queue %s counts %d/%d, want %d/%d", q.id, q.waiting, len(q.held), waiting[q], held[q])
		}
		n := 0
		for _, o := range q.ops {
			if o.available() {
				n++
			}
		}
		if n != q.availOps {
			fail("queue %s: availOps %d, want %d", q.id, q.availOps, n)
		}
		for id, c := range q.offering {
			if e.byAddr[c.rec.Patron] != c || c.rec.Status != ChatWaiting || !slices.Contains(c.tiers, q) {
				fail("queue %s offers stale chat %d", q.id, id)
			}
		}
	}
	for i := range e.timers {
		if tm := &e.timers[i]; tm.kind == timerIdle && tm.c.idleIdx != i {
			fail("idle timer index out of date")
		}
	}
}

// persisted is what a store keeps of the engine's SaveChat and SaveLine
// actions, as far as open chats go: each chat's last saved record and its
// newest saved line.
type persisted struct {
	records map[ChatID]ChatRecord
	newest  map[ChatID]Line
}

func (p *persisted) apply(as []Action) {
	for _, a := range as {
		switch a.Kind {
		case SaveChat:
			if a.Record.Status == ChatEnded {
				delete(p.records, a.Chat)
				delete(p.newest, a.Chat)
				continue
			}
			p.records[a.Chat] = a.Record
		case SaveLine:
			if l, ok := p.newest[a.Chat]; !ok || a.Line.N >= l.N {
				p.newest[a.Chat] = a.Line
			}
		}
	}
}

// check compares the open chats' records, with Lines and LastActivity
// derived from their newest line as the store does, with the engine's.
func (p *persisted) check(t *testing.T, e *Engine, when string) {
	t.Helper()
	st := e.Snapshot()
	if len(st.Chats) != len(p.records) {
		t.Fatalf("%s: %d open chats saved, %d open", when, len(p.records), len(st.Chats))
	}
	for _, c := range st.Chats {
		r, ok := p.records[c.Record.ID]
		if !ok {
			t.Fatalf("%s: open chat %d never saved", when, c.Record.ID)
		}
		if l, ok := p.newest[r.ID]; ok && l.N >= r.Lines {
			r.Lines, r.LastActivity = l.N+1, l.At
		}
		if r != c.Record {
			t.Fatalf("%s: chat %d saved and derived:\n%+v\nthe engine's:\n%+v", when, r.ID, r, c.Record)
		}
	}
}

// TestRandomScenarios drives random events and checks, after each, the
// invariants, that what was saved (records, and Lines and LastActivity
// derived from the lines) is the engine's state, that a rebuilt engine has
// the same snapshot, and that two engines fed the same events emit the
// same actions.
func TestRandomScenarios(t *testing.T) {
	ops := []OperatorID{alice, bob, erin, carol, dave, "mallory@evil"}
	users := []protocols.UserID{"pat", "sam", "kim"}
	accts := []protocols.AccountID{"unc-irc", "unc-sms", "duke-web", "far-irc"}
	texts := []string{"hello", "/close", "/transfer night", "/transfer special", "/transfer reference",
		"/transfer carol@duke", "/transfer erin@unc", "/transfer far", "/who", "/history", "/foo", "//x"}
	shows := []Show{ShowOffline, ShowAvailable, ShowChat, ShowAway, ShowXA, ShowDND}
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		clockA, clockB := &fakeClock{t: t0}, &fakeClock{t: t0}
		cfg := testConfig()
		cfg.ContextLines = 4
		a, _ := New(cfg, clockA, State{})
		b, _ := New(cfg, clockB, State{})
		saved := &persisted{records: map[ChatID]ChatRecord{}, newest: map[ChatID]Line{}}
		for i := range 400 {
			var ev Event
			guest := func() GuestID {
				return guests[users[rng.IntN(len(users))]]
			}
			switch rng.IntN(8) {
			case 0, 1:
				u := users[rng.IntN(len(users))]
				acct := accts[rng.IntN(len(accts))]
				var in protocols.Inbound = protocols.Message{From: addrOn(acct, u), Text: "q"}
				switch rng.IntN(6) {
				case 0:
					in = protocols.Left{From: addrOn(acct, u)}
				case 1:
					in = protocols.DeliveryFailure{To: addrOn(acct, u), Reason: "x"}
				case 2:
					in = protocols.StateChange{From: addrOn(acct, u), State: protocols.Composing}
				}
				ev = PatronEvent{Guest: guests[u], Inbound: in}
			case 2, 3:
				ev = pres(ops[rng.IntN(len(ops))], ResourceID([]string{"pc", "phone"}[rng.IntN(2)]), shows[rng.IntN(len(shows))])
			case 4, 5:
				ev = reply(ops[rng.IntN(len(ops))], guest(), texts[rng.IntN(len(texts))])
			case 6:
				ev = toQueue(ops[rng.IntN(len(ops))], "reference", "/status")
			case 7:
				d := time.Duration(rng.IntN(40)) * time.Minute / 4
				clockA.t = clockA.t.Add(d)
				clockB.t = clockB.t.Add(d)
				ev = Tick{}
			}
			acts := a.Handle(ev)
			saved.apply(acts)
			ra := render(acts, true)
			rb := render(b.Handle(ev), true)
			if !reflect.DeepEqual(ra, rb) {
				t.Fatalf("seed %d step %d: engines differ:\n%v\n%v", seed, i, ra, rb)
			}
			checkInvariants(t, a, "after a step")
			saved.check(t, a, "after a step")
			if d, ok := a.NextDeadline(); ok && d.Before(clockA.t) {
				t.Fatalf("seed %d step %d: deadline %v in the past", seed, i, d)
			}
			if i%50 == 49 {
				st := a.Snapshot()
				r, err := New(cfg, clockA, st)
				if err != nil {
					t.Fatalf("seed %d step %d: restore: %v", seed, i, err)
				}
				if !reflect.DeepEqual(st, r.Snapshot()) {
					t.Fatalf("seed %d step %d: restored snapshot differs", seed, i)
				}
				checkInvariants(t, r, "after a restore")
			}
		}
	}
}
