package routing

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// restoreScenario leaves: pat's chat 1 held by alice, sam's chat 2 waiting
// (offered to alice and bob), kim's chat 3 ended, kim's chat 4 waiting
// with the offline message after a transfer... see the steps.
func restoreScenario(t *testing.T) (*harness, State) {
	h := newHarness(t, testConfig())
	h.run(steps(
		setupStep(up(alice), up(bob), say("pat", "hi")),
		step{after: time.Minute, ev: reply(alice, pat, "hello"), setup: true},
		setupStep(say("sam", "question"), say("kim", "hi"), reply(bob, "guest-1003", "/close")),
		step{after: time.Minute, ev: sayOn("unc-sms", "kim", "by sms"), setup: true},
		setupStep(up(carol), reply(bob, "guest-1003", "taking it"), reply(bob, "guest-1003", "/transfer night")),
	))
	return h, h.e.Snapshot()
}

// Rule 15.
func TestRestoreEqualsSnapshot(t *testing.T) {
	h, st := restoreScenario(t)
	if len(st.Chats) != 3 || st.NextChat != 5 {
		t.Fatalf("scenario: %d chats, next %d", len(st.Chats), st.NextChat)
	}
	h.clock.t = h.clock.t.Add(time.Hour / 60)
	e2, err := New(testConfig(), h.clock, st)
	if err != nil {
		t.Fatal(err)
	}
	if st2 := e2.Snapshot(); !reflect.DeepEqual(st, st2) {
		t.Fatalf("restored snapshot differs:\n got %+v\nwant %+v", st2, st)
	}

	// It goes on: the holder's messages still reach the patron, waiting
	// chats are offered as operators come back.
	h2 := &harness{t: t, clock: h.clock, e: e2}
	h2.run([]step{
		{ev: up(alice), want: lines(
			"queue-presence reference online",
			offerTo(alice, sam, "guest-1002 · irc · Reference (UNC) — new chat", "question"))},
		{ev: reply(alice, pat, "still here"), persist: true, want: lines(
			`send-patron pat: "still here"`,
			`save-line #1.2 alice@unc: "still here"`)},
		{ev: up(carol), want: lines(
			"queue-presence night online",
			noticeTo(carol, "guest-1003", "Conversation so far:\n[15:06] guest-1003: by sms\n[15:06] Bob: taking it\n[15:06] owlgate: "+textTransferPatron),
			noticeTo(carol, "guest-1003", "guest-1003 · sms · Night Owl (Duke) — transferred"),
			noticeTo(carol, "guest-1003", textHint))},
		{ev: say("sam", "new patron"), persist: true, want: lines(
			`save-line #2.1 patron: "new patron"`,
			sendOp(alice, sam, "new patron"))},
		{ev: patronIn("pat", protocols.Left{From: addrOn("unc-irc", "pat")}), setup: true},
		{ev: say("pat", "again"), persist: true, want: lines(
			`save-line #5.0 patron: "again"`,
			offerTo(alice, pat, noteRef, "again"),
			"save-chat #5 waiting reference lines=1")},
	})
}

// Rule 15.
func TestRestoreGrace(t *testing.T) {
	h, st := restoreScenario(t)
	start := h.clock.t
	e2, err := New(testConfig(), h.clock, st)
	if err != nil {
		t.Fatal(err)
	}
	h2 := &harness{t: t, clock: h.clock, e: e2}
	conv := "Conversation so far:\n[15:04] guest-1001: hi\n[15:05] Alice: hello"
	h2.run([]step{
		{after: 10 * time.Second, ev: up(bob), want: lines(
			"queue-presence reference online",
			offerTo(bob, sam, "guest-1002 · irc · Reference (UNC) — new chat", "question"))},
		{ev: say("pat", "hello?"), want: lines(sendOp(alice, pat, "hello?"))}, // still alice's during the grace
		{after: 2*time.Minute - 10*time.Second - time.Second, ev: Tick{}},
		{after: time.Second, ev: Tick{}, want: lines(
			noticeTo(bob, pat, "Alice went offline; this chat is waiting again."),
			noticeTo(bob, pat, conv+"\n[15:06] guest-1001: hello?"),
			noticeTo(bob, pat, "guest-1001 · irc · Reference (UNC) — waiting again"),
			noticeTo(bob, pat, textHint))},
	})
	if d := h.clock.t.Sub(start); d != 2*time.Minute {
		t.Fatalf("grace ran at +%v", d)
	}

	// A holder who comes back in time keeps the chat.
	h3, st3 := restoreScenario(t)
	e3, err := New(testConfig(), h3.clock, st3)
	if err != nil {
		t.Fatal(err)
	}
	(&harness{t: t, clock: h3.clock, e: e3}).run([]step{
		{after: time.Minute, ev: up(alice), setup: true},
		{after: 5 * time.Minute, ev: Tick{}},
		{ev: say("pat", "hello?"), want: lines(sendOp(alice, pat, "hello?"))},
	})
}

// Rule 15.
func TestRestoreFallbackTimerRestarts(t *testing.T) {
	h := newHarness(t, testConfig())
	h.run(steps(setupStep(up(alice), say("pat", "hi"))))
	st := h.e.Snapshot()
	h.clock.t = h.clock.t.Add(10 * time.Minute)
	e2, err := New(testConfig(), h.clock, st)
	if err != nil {
		t.Fatal(err)
	}
	// The chat started 10 minutes ago: its fallback counts from when it
	// is offered again, not from its start.
	(&harness{t: t, clock: h.clock, e: e2}).run([]step{
		{ev: up(alice), want: lines("queue-presence reference online", offerTo(alice, pat, noteRef, "hi"))},
		{ev: up(carol), want: lines("queue-presence night online")},
		{after: 89 * time.Second, ev: Tick{}},
		{after: time.Second, ev: Tick{}, want: offerTo(carol, pat, noteNightVia, "hi")},
	})
}

func TestRestoreErrors(t *testing.T) {
	_, st := restoreScenario(t)
	tests := []struct {
		name string
		cfg  func(*Config)
		st   func(*State)
		want string
	}{
		{name: "queue removed", cfg: func(c *Config) {
			c.Queues[1].Name = "x"
			c.Queues = append(c.Queues[:1], c.Queues[2:]...)
			c.Queues[0].Fallback = []QueueID{"special"}
		}, want: `chat 4: queue "night" is not configured`},
		{name: "duplicate chat", st: func(s *State) { s.Chats = append(s.Chats, s.Chats[0]) }, want: "chat 1: missing or duplicate"},
		{name: "next chat too low", st: func(s *State) { s.NextChat = 2 }, want: "next chat id 2"},
		{name: "ended chat", st: func(s *State) { s.Chats[0].Record.Status = ChatEnded }, want: "chat 1: status ended"},
		{name: "two chats of one patron", st: func(s *State) { s.Chats[1].Record.Patron = s.Chats[0].Record.Patron }, want: "patron already has open chat 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			s := State{NextChat: st.NextChat, Chats: append([]ChatSnapshot(nil), st.Chats...)}
			if tt.st != nil {
				tt.st(&s)
			}
			_, err := New(cfg, &fakeClock{t: t0}, s)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRestoreUnknownHolderWaits(t *testing.T) {
	_, st := restoreScenario(t)
	cfg := testConfig()
	cfg.Operators[0].ID = "alice@elsewhere"
	cfg.Queues[0].Operators[0] = "alice@elsewhere"
	e, err := New(cfg, &fakeClock{t: t0}, st)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.Snapshot().Chats[0].Record; r.Status != ChatWaiting || r.Operator != "" {
		t.Errorf("record = %+v", r)
	}
}

func TestNewRejectsDanglingConfig(t *testing.T) {
	cfg := testConfig()
	cfg.Queues[0].Fallback = []QueueID{"nowhere"}
	if _, err := New(cfg, &fakeClock{t: t0}, State{}); err == nil || !strings.Contains(err.Error(), `"nowhere"`) {
		t.Errorf("err = %v", err)
	}
	if _, err := New(testConfig(), nil, State{}); err == nil {
		t.Error("nil clock accepted")
	}
}
