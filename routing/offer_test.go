package routing

import (
	"slices"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

const (
	pat GuestID = "guest-1001"
	sam GuestID = "guest-1002"

	alice OperatorID = "alice@unc"
	bob   OperatorID = "bob@unc"
	erin  OperatorID = "erin@unc"
	carol OperatorID = "carol@duke"
	dave  OperatorID = "dave@far"

	noteRef      = "guest-1001 · irc · Reference (UNC) — new chat"
	noteNightVia = "guest-1001 · irc · Night Owl (Duke) — via Reference (UNC) fallback"
	offlineRef   = "Ask a Librarian is closed; email ask@example.edu."
)

// Rule 1.
func TestQueueOnlineFromOperatorAvailability(t *testing.T) {
	runCases(t, []testCase{
		{name: "available resource makes the queue online", steps: []step{
			{ev: up(alice), want: lines("queue-presence reference online")},
		}},
		{name: "show chat counts as available", steps: []step{
			{ev: pres(alice, "pc", ShowChat), want: lines("queue-presence reference online")},
		}},
		{name: "away xa dnd are not available", steps: []step{
			{ev: pres(alice, "pc", ShowAway)},
			{ev: pres(alice, "phone", ShowXA)},
			{ev: pres(bob, "pc", ShowDND)},
			{ev: pres(alice, "pc", ShowAvailable), want: lines("queue-presence reference online")},
			{ev: pres(alice, "pc", ShowDND), want: lines("queue-presence reference offline")},
		}},
		{name: "any resource is enough", steps: []step{
			{ev: pres(alice, "pc", ShowAvailable), want: lines("queue-presence reference online")},
			{ev: pres(alice, "phone", ShowAvailable)},
			{ev: pres(alice, "pc", ShowAway)},
			{ev: pres(alice, "phone", ShowOffline), want: lines("queue-presence reference offline")},
			{ev: pres(alice, "pc", ShowOffline)},
		}},
		{name: "only the change is reported", steps: []step{
			{ev: up(alice), want: lines("queue-presence reference online")},
			{ev: up(bob)},
			{ev: up(bob)},
			{ev: down(alice)},
			{ev: down(bob), want: lines("queue-presence reference offline")},
			{ev: down(bob)},
		}},
		{name: "operator of two queues", cfg: func(c *Config) {
			c.Queues[1].Operators = append(c.Queues[1].Operators, alice)
		}, steps: []step{
			{ev: up(alice), want: lines("queue-presence reference online", "queue-presence night online")},
			{ev: up(carol)},
			{ev: down(alice), want: lines("queue-presence reference offline")},
		}},
		{name: "unknown operator is ignored", steps: []step{
			{ev: up("mallory@evil")},
		}},
	})
}

func TestQueueStatusIntrospection(t *testing.T) {
	h := newHarness(t, testConfig())
	h.run(steps(setupStep(up(alice), up(bob), pres(bob, "pc", ShowAway), say("pat", "hi"), say("sam", "hello"),
		reply(alice, sam, "hello sam"))))
	if !h.e.QueueOnline("reference") || h.e.QueueOnline("night") || h.e.QueueOnline("nowhere") {
		t.Error("QueueOnline is wrong")
	}
	st, ok := h.e.QueueStatus("reference")
	want := QueueStatus{Online: true, Available: []OperatorID{alice}, Waiting: 1, Held: 1}
	if !ok || st.Online != want.Online || !slices.Equal(st.Available, want.Available) ||
		st.Waiting != want.Waiting || st.Held != want.Held {
		t.Errorf("QueueStatus = %+v, want %+v", st, want)
	}
	if _, ok := h.e.QueueStatus("nowhere"); ok {
		t.Error("QueueStatus of an unknown queue")
	}
	if n := h.e.OpenChats(); n != 2 {
		t.Errorf("OpenChats = %d", n)
	}
}

// Rule 2.
func TestRingAllOffer(t *testing.T) {
	runCases(t, []testCase{
		{name: "every available operator of the queue, three lines each", steps: steps(
			setupStep(up(alice), up(bob), up(carol)),
			step{ev: say("pat", "hi"), want: lines(
				offerTo(alice, pat, noteRef, "hi"),
				offerTo(bob, pat, noteRef, "hi"))},
		)},
		{name: "recorded", steps: steps(
			setupStep(up(alice)),
			step{ev: say("pat", "hi"), persist: true, want: lines(
				`save-line #1.0 patron: "hi"`,
				offerTo(alice, pat, noteRef, "hi"),
				"save-chat #1 waiting reference lines=1")},
			step{ev: say("sam", "hello"), persist: true, want: lines(
				`save-line #2.0 patron: "hello"`,
				offerTo(alice, sam, "guest-1002 · irc · Reference (UNC) — new chat", "hello"),
				"save-chat #2 waiting reference lines=1")},
		)},
		{name: "not to operators away", steps: steps(
			setupStep(up(alice), pres(bob, "pc", ShowAway)),
			step{ev: say("pat", "hi"), want: offerTo(alice, pat, noteRef, "hi")},
		)},
		{name: "attachments as links on their own lines", steps: steps(
			setupStep(up(alice)),
			step{ev: patronIn("pat", protocols.Message{From: addrOn("unc-irc", "pat"), Text: "see this",
				Attachments: []protocols.Attachment{{URL: "https://x.example/a.png"}, {URL: "https://x.example/b.pdf"}}}),
				want: offerTo(alice, pat, noteRef, "see this\nhttps://x.example/a.png\nhttps://x.example/b.pdf")},
		)},
		{name: "names fall back to ids", cfg: func(c *Config) {
			c.Queues[0].Name = ""
			c.Libraries[0].Name = ""
		}, steps: steps(
			setupStep(up(alice)),
			step{ev: say("pat", "hi"), want: offerTo(alice, pat, "guest-1001 · irc · reference (unc) — new chat", "hi")},
		)},
		{name: "the queue owning the account", steps: steps(
			setupStep(up(alice), up(carol)),
			step{ev: sayOn("duke-web", "pat", "hi"), want: offerTo(carol, pat, "guest-1001 · webchat · Night Owl (Duke) — new chat", "hi")},
		)},
	})
}

// Rule 3.
func TestFirstReplyWins(t *testing.T) {
	runCases(t, []testCase{
		{name: "first reply takes the chat; the others are told", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{after: 30 * time.Second, ev: OperatorMessage{From: bob, To: GuestPeer(pat), ID: "m1", Text: "hello"}, persist: true, want: lines(
				`send-patron pat: "hello" id=m1`,
				`save-line #1.1 bob@unc: "hello"`,
				noticeTo(alice, pat, "Bob took this chat."),
				"save-chat #1 held reference op=bob@unc lines=2 answered@15:04:30")},
			step{after: time.Minute, ev: say("pat", "thanks"), want: lines(sendOp(bob, pat, "thanks"))},
			step{after: time.Minute, ev: reply(bob, pat, "you're welcome"), persist: true, want: lines(
				`send-patron pat: "you're welcome"`,
				`save-line #1.3 bob@unc: "you're welcome"`)},
			step{ev: reply(alice, pat, "me too"), want: lines(noticeTo(alice, pat, "Not delivered: Bob has this chat."))},
		)},
		{name: "operator attachments reach the patron", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{ev: OperatorMessage{From: alice, To: GuestPeer(pat), Text: "here",
				Attachments: []protocols.Attachment{{URL: "https://lib.example/guide.pdf"}}},
				want: lines(`send-patron pat: "here" +https://lib.example/guide.pdf`)},
		)},
	})
}

// Rule 4.
func TestNonHolderRefused(t *testing.T) {
	runCases(t, []testCase{
		{name: "another operator of the queue", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: reply(bob, pat, "hi from bob"), want: lines(noticeTo(bob, pat, "Not delivered: Alice has this chat."))},
		)},
		{name: "an operator never offered the waiting chat", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi")),
			step{ev: reply(carol, pat, "mine"), want: lines(
				noticeTo(carol, pat, "Not delivered: this chat was not offered to you (it waits for Reference (UNC))."))},
			step{ev: reply(alice, pat, "hello"), want: lines(`send-patron pat: "hello"`)},
		)},
		{name: "an operator of the queue who is away", steps: steps(
			setupStep(up(alice), pres(bob, "pc", ShowAway), say("pat", "hi")),
			step{ev: reply(bob, pat, "mine"), want: lines(
				noticeTo(bob, pat, "Not delivered: this chat was not offered to you (it waits for Reference (UNC))."))},
		)},
		{name: "a guest without an open chat", steps: []step{
			{ev: reply(alice, "guest-1009", "hello?"), want: lines(noticeTo(alice, "guest-1009", "Not delivered: guest-1009 has no open chat."))},
		}},
	})
}

// Rule 5.
func TestPatronMessagesWhileWaiting(t *testing.T) {
	runCases(t, []testCase{
		{name: "offered to every offered operator, in order", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{ev: say("pat", "second"), want: lines(sendOp(alice, pat, "second"), sendOp(bob, pat, "second"))},
			step{ev: say("pat", "third"), want: lines(sendOp(alice, pat, "third"), sendOp(bob, pat, "third"))},
		)},
	})
}

// Rule 5.
func TestWaitingChatOfferedWhenOperatorComesOnline(t *testing.T) {
	runCases(t, []testCase{
		{name: "with every patron line so far", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{ev: say("pat", "anyone there?"), want: lines(sendOp(alice, pat, "anyone there?"))},
			step{ev: up(bob), want: offerTo(bob, pat, noteRef, "hi", "anyone there?")},
		)},
		{name: "after nobody was online", steps: steps(
			step{ev: say("pat", "hi"), want: lines(toPatron("pat", offlineRef))},
			step{ev: say("pat", "hello?")},
			step{ev: up(bob), want: lines("queue-presence reference online", offerTo(bob, pat, noteRef, "hi", "hello?"))},
		)},
		{name: "to a fallback operator after nobody was online", steps: steps(
			setupStep(say("pat", "hi")),
			step{ev: up(carol), want: lines("queue-presence night online", offerTo(carol, pat, noteNightVia, "hi"))},
		)},
		{name: "to the home queue's operator while it waits on a fallback", steps: steps(
			setupStep(up(carol)),
			step{ev: say("pat", "hi"), want: offerTo(carol, pat, noteNightVia, "hi")},
			step{ev: up(alice), want: lines("queue-presence reference online", offerTo(alice, pat, noteRef, "hi"))},
		)},
		{name: "every waiting chat, by chat id", steps: steps(
			setupStep(say("pat", "hi"), say("sam", "hello")),
			step{ev: up(alice), want: lines("queue-presence reference online",
				offerTo(alice, pat, noteRef, "hi"),
				offerTo(alice, sam, "guest-1002 · irc · Reference (UNC) — new chat", "hello"))},
		)},
		{name: "coming back from away", steps: steps(
			setupStep(up(alice), pres(bob, "pc", ShowAway), say("pat", "hi")),
			step{ev: pres(bob, "pc", ShowAvailable), want: offerTo(bob, pat, noteRef, "hi")},
		)},
		{name: "a second resource offers nothing again", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{ev: pres(alice, "phone", ShowChat)},
		)},
		{name: "held chats are not offered", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: up(bob)},
		)},
	})
}

// Rule 6.
func TestHolderOfflineReoffers(t *testing.T) {
	conv := "Conversation so far:\n[15:04] guest-1001: hi\n[15:04] Alice: hello"
	runCases(t, []testCase{
		{name: "offered again to the queue, with a note", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: down(alice), persist: true, want: lines(
				noticeTo(bob, pat, "Alice went offline; this chat is waiting again."),
				noticeTo(bob, pat, conv),
				noticeTo(bob, pat, "guest-1001 · irc · Reference (UNC) — waiting again"),
				noticeTo(bob, pat, textHint),
				"save-chat #1 waiting reference lines=2 answered@15:04:00")},
			step{ev: reply(bob, pat, "I can help"), want: lines(`send-patron pat: "I can help"`)},
		)},
		{name: "holder away is unavailable too", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: pres(alice, "pc", ShowDND), want: lines(
				noticeTo(bob, pat, "Alice went offline; this chat is waiting again."),
				noticeTo(bob, pat, conv),
				noticeTo(bob, pat, "guest-1001 · irc · Reference (UNC) — waiting again"),
				noticeTo(bob, pat, textHint))},
		)},
		{name: "holder still available elsewhere keeps it", steps: steps(
			setupStep(up(alice), pres(alice, "phone", ShowAvailable), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: down(alice)},
			step{ev: say("pat", "still there?"), want: lines(sendOp(alice, pat, "still there?"))},
		)},
		{name: "to the fallback when the queue is empty", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: down(alice), want: lines(
				"queue-presence reference offline",
				noticeTo(carol, pat, "Alice went offline; this chat is waiting again."),
				noticeTo(carol, pat, conv),
				noticeTo(carol, pat, noteNightVia),
				noticeTo(carol, pat, textHint))},
		)},
		{name: "nobody left: the offline message, then the next operator", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: down(alice), persist: true, want: lines(
				"queue-presence reference offline",
				toPatron("pat", offlineRef),
				`save-line #1.2 system: "`+offlineRef+`"`,
				"save-chat #1 waiting reference lines=3 answered@15:04:00 offline-notified")},
			step{after: time.Minute, ev: up(bob), want: lines(
				"queue-presence reference online",
				noticeTo(bob, pat, conv+"\n[15:04] owlgate: "+offlineRef),
				noticeTo(bob, pat, "guest-1001 · irc · Reference (UNC) — waiting again"),
				noticeTo(bob, pat, textHint))},
		)},
		{name: "the offline message to a chat waiting where it was: saved", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			// Still waiting on its home queue: only OfflineNotified
			// changes, and the record is saved for it.
			step{ev: down(alice), persist: true, want: lines(
				"queue-presence reference offline",
				toPatron("pat", offlineRef),
				`save-line #1.1 system: "`+offlineRef+`"`,
				"save-chat #1 waiting reference lines=2 offline-notified")},
		)},
		{name: "all offered operators of a waiting chat go away", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi")),
			step{ev: pres(alice, "pc", ShowAway), want: lines(
				"queue-presence reference offline",
				offerTo(carol, pat, noteNightVia, "hi"))},
		)},
		{name: "one offered operator of several goes away", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{ev: down(alice)},
			step{ev: say("pat", "hello?"), want: lines(sendOp(bob, pat, "hello?"))},
		)},
	})
}

// Rule 7.
func TestFallbackWhenQueueOffline(t *testing.T) {
	runCases(t, []testCase{
		{name: "the first online queue of the chain", steps: steps(
			setupStep(up(carol), up(erin)),
			step{ev: say("pat", "hi"), persist: true, want: lines(
				`save-line #1.0 patron: "hi"`,
				offerTo(carol, pat, noteNightVia, "hi"),
				"save-chat #1 waiting night lines=1")},
			step{ev: reply(carol, pat, "night owl here"), persist: true, want: lines(
				`send-patron pat: "night owl here"`,
				`save-line #1.1 carol@duke: "night owl here"`,
				"save-chat #1 held night op=carol@duke lines=2 answered@15:04:00")},
		)},
		{name: "depth first through the fallbacks' fallbacks", steps: steps(
			setupStep(up(erin)),
			step{ev: say("pat", "hi"), want: offerTo(erin, pat, "guest-1001 · irc · Special (UNC) — via Reference (UNC) fallback", "hi")},
		)},
	})
}

func TestFallbackChain(t *testing.T) {
	cfg := testConfig()
	// reference → night → special, and reference → special again: deduplicated.
	e, err := New(cfg, &fakeClock{t: t0}, State{})
	if err != nil {
		t.Fatal(err)
	}
	var got []QueueID
	for _, q := range e.queues["reference"].chain {
		got = append(got, q.id)
	}
	if want := []QueueID{"reference", "night", "special"}; !slices.Equal(got, want) {
		t.Errorf("chain = %v, want %v", got, want)
	}
}

// Rule 7.
func TestFallbackAfterTimeout(t *testing.T) {
	runCases(t, []testCase{
		{name: "widens after fallback_after; the first operators keep the offer", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi")),
			step{after: 89 * time.Second, ev: Tick{}},
			step{after: time.Second, ev: Tick{}, want: offerTo(carol, pat, noteNightVia, "hi")},
			step{ev: say("pat", "hello?"), want: lines(sendOp(alice, pat, "hello?"), sendOp(carol, pat, "hello?"))},
			step{ev: reply(alice, pat, "sorry, here"), persist: true, want: lines(
				`send-patron pat: "sorry, here"`,
				`save-line #1.2 alice@unc: "sorry, here"`,
				noticeTo(carol, pat, "Alice took this chat."),
				"save-chat #1 held reference op=alice@unc lines=3 answered@15:05:30")},
		)},
		{name: "the fallback operator takes it", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi")),
			step{after: 90 * time.Second, ev: Tick{}, want: offerTo(carol, pat, noteNightVia, "hi")},
			step{ev: reply(carol, pat, "hello"), persist: true, want: lines(
				`send-patron pat: "hello"`,
				`save-line #1.1 carol@duke: "hello"`,
				noticeTo(alice, pat, "Carol took this chat."),
				"save-chat #1 held night op=carol@duke lines=2 answered@15:05:30")},
		)},
		{name: "each tier with its own fallback_after", steps: steps(
			setupStep(up(alice), up(carol), up(erin), say("pat", "hi")),
			step{after: 90 * time.Second, ev: Tick{}, want: offerTo(carol, pat, noteNightVia, "hi")},
			step{after: 59 * time.Second, ev: Tick{}},
			step{after: time.Second, ev: Tick{}, want: offerTo(erin, pat, "guest-1001 · irc · Special (UNC) — via Reference (UNC) fallback", "hi")},
			step{after: time.Hour / 4, ev: Tick{}},
		)},
		{name: "not after the chat was taken", steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi"), reply(alice, pat, "hello")),
			step{after: 90 * time.Second, ev: Tick{}},
		)},
		{name: "offline tiers are skipped, then offered when they come online", steps: steps(
			setupStep(up(alice), up(erin), say("pat", "hi")),
			step{after: 90 * time.Second, ev: Tick{}, want: offerTo(erin, pat, "guest-1001 · irc · Special (UNC) — via Reference (UNC) fallback", "hi")},
			step{ev: up(carol), want: lines("queue-presence night online", offerTo(carol, pat, noteNightVia, "hi"))},
		)},
		{name: "no fallback_after: no timed fallback", cfg: func(c *Config) { c.Queues[0].FallbackAfter = 0 }, steps: steps(
			setupStep(up(alice), up(carol), say("pat", "hi")),
			step{after: 10 * time.Minute, ev: Tick{}},
		)},
	})
}

func TestNextDeadline(t *testing.T) {
	h := newHarness(t, testConfig())
	if _, ok := h.e.NextDeadline(); ok {
		t.Error("deadline without chats")
	}
	h.run(steps(setupStep(up(alice), up(carol), say("pat", "hi"))))
	if d, ok := h.e.NextDeadline(); !ok || !d.Equal(t0.Add(90*time.Second)) {
		t.Errorf("deadline = %v %v, want the fallback at +90s", d, ok)
	}
	h.clock.t = t0.Add(time.Minute)
	h.run(steps(setupStep(reply(alice, pat, "hello"))))
	// The fallback timer is stale now; the idle timeout counts from the reply.
	if d, ok := h.e.NextDeadline(); !ok || !d.Equal(t0.Add(31*time.Minute)) {
		t.Errorf("deadline = %v %v, want the idle timeout at +31m", d, ok)
	}
}
