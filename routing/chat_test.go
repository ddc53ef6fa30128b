package routing

import (
	"reflect"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Rule 8.
func TestOfflineMessageAndUnanswered(t *testing.T) {
	runCases(t, []testCase{
		{name: "once per chat, kept, and unanswered at the end", steps: []step{
			{ev: say("pat", "hi"), persist: true, want: lines(
				`save-line #1.0 patron: "hi"`,
				toPatron("pat", offlineRef),
				`save-line #1.1 system: "`+offlineRef+`"`,
				"save-chat #1 waiting reference lines=2 offline-notified")},
			// A line alone saves no record: the store derives its count
			// and time from the line.
			{after: time.Minute, ev: say("pat", "hello?"), persist: true, want: lines(
				`save-line #1.2 patron: "hello?"`)},
			{after: time.Minute, ev: patronIn("pat", protocols.Left{From: addrOn("unc-irc", "pat")}), persist: true, want: lines(
				"save-chat #1 ended reference lines=3 offline-notified end=patron-left@15:06:00")},
		}},
		{name: "the default offline message", steps: []step{
			{ev: sayOn("far-irc", "pat", "hi"), want: lines(toPatron("pat", textDefaultOffline))},
		}},
		{name: "not while a fallback is online", steps: steps(
			setupStep(up(erin)),
			step{ev: say("pat", "hi"), want: offerTo(erin, pat, "guest-1001 · irc · Special (UNC) — via Reference (UNC) fallback", "hi")},
		)},
	})
}

// Rule 9.
func TestPatronLeft(t *testing.T) {
	left := func(reason string) Event {
		return patronIn("pat", protocols.Left{From: addrOn("unc-irc", "pat"), Reason: reason})
	}
	runCases(t, []testCase{
		{name: "the holder is told, with the reason", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{after: time.Minute, ev: left("quit: bye"), persist: true, want: lines(
				noticeTo(alice, pat, "The patron left (quit: bye)."),
				"save-chat #1 ended reference op=alice@unc lines=2 answered@15:04:00 end=patron-left@15:05:00")},
			step{ev: reply(alice, pat, "bye?"), want: lines(noticeTo(alice, pat, "Not delivered: guest-1001 has no open chat."))},
		)},
		{name: "the offered operators are told while it waits", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{ev: left(""), want: lines(noticeTo(alice, pat, "The patron left."), noticeTo(bob, pat, "The patron left."))},
		)},
		{name: "after a holder went offline, the ended record names them", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello"), down(alice)),
			step{ev: left(""), persist: true, want: lines(
				"save-chat #1 ended reference op=alice@unc lines=3 answered@15:04:00 offline-notified end=patron-left@15:04:00")},
		)},
		{name: "without an open chat nothing happens", steps: []step{
			{ev: left("quit")},
		}},
	})
}

// Rule 9.
func TestIdleTimeoutPerNetwork(t *testing.T) {
	runCases(t, []testCase{
		{name: "default 30 minutes after the last line", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{after: time.Minute, ev: reply(alice, pat, "hello"), want: lines(`send-patron pat: "hello"`)},
			step{after: 29*time.Minute + 59*time.Second, ev: Tick{}},
			step{after: time.Second, ev: Tick{}, persist: true, want: lines(
				noticeTo(alice, pat, "Chat closed after 30m without messages."),
				"save-chat #1 ended reference op=alice@unc lines=2 answered@15:05:00 end=idle@15:35:00")},
		)},
		{name: "the offered operators while it waits", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "/close")),
			step{ev: say("pat", "hi again"), want: lines(
				offerTo(alice, pat, noteRef, "hi again"), offerTo(bob, pat, noteRef, "hi again"))},
			step{after: 30 * time.Minute, ev: Tick{}, want: lines(
				noticeTo(alice, pat, "Chat closed after 30m without messages."),
				noticeTo(bob, pat, "Chat closed after 30m without messages."))},
		)},
		{name: "patron lines push it back", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello")),
			step{after: 20 * time.Minute, ev: say("pat", "one more thing"), want: lines(sendOp(alice, pat, "one more thing"))},
			step{after: 10 * time.Minute, ev: Tick{}},
			step{after: 20 * time.Minute, ev: Tick{}, want: lines(noticeTo(alice, pat, "Chat closed after 30m without messages."))},
		)},
		{name: "SMS account with its own timeout", steps: steps(
			setupStep(up(alice), sayOn("unc-sms", "pat", "hi"), reply(alice, pat, "hello")),
			step{after: time.Hour, ev: Tick{}},
			step{after: time.Hour, ev: Tick{}, want: lines(noticeTo(alice, pat, "Chat closed after 2h without messages."))},
		)},
		{name: "configured default", cfg: func(c *Config) { c.DefaultIdleTimeout = 90 * time.Second }, steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello")),
			step{after: 90 * time.Second, ev: Tick{}, want: lines(noticeTo(alice, pat, "Chat closed after 1m30s without messages."))},
		)},
	})
}

// Rule 9.
func TestCloseCommand(t *testing.T) {
	runCases(t, []testCase{
		{name: "by the holder", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: reply(bob, pat, "/close"), want: lines(noticeTo(bob, pat, "Not allowed: Alice has this chat."))},
			step{after: time.Minute, ev: reply(alice, pat, "/close"), persist: true, want: lines(
				noticeTo(alice, pat, "Chat closed."),
				"save-chat #1 ended reference op=alice@unc lines=2 answered@15:04:00 end=closed@15:05:00")},
		)},
		{name: "by an offered operator while it waits; the others are told", steps: steps(
			setupStep(up(alice), up(bob), up(carol), say("pat", "spam")),
			step{ev: reply(carol, pat, "/close"), want: lines(noticeTo(carol, pat, "Not allowed: this chat was not offered to you."))},
			step{ev: reply(bob, pat, "/close"), want: lines(noticeTo(bob, pat, "Chat closed."), noticeTo(alice, pat, "Bob closed this chat."))},
		)},
		{name: "the patron's next message opens a new chat", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "/close")),
			step{ev: say("pat", "hi again"), persist: true, want: lines(
				`save-line #2.0 patron: "hi again"`,
				offerTo(alice, pat, noteRef, "hi again"),
				"save-chat #2 waiting reference lines=1")},
		)},
	})
}

// Rule 10.
func TestMessageNotReceived(t *testing.T) {
	failed := func(reason string) Event {
		return patronIn("pat", protocols.DeliveryFailure{To: addrOn("unc-irc", "pat"), ID: "m1", Reason: reason})
	}
	runCases(t, []testCase{
		{name: "the holder is told", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: failed("number unreachable"), want: lines(noticeTo(alice, pat, "Message not received: number unreachable."))},
			step{ev: failed(""), want: lines(noticeTo(alice, pat, "Message not received."))},
		)},
		{name: "the offered operators while it waits", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{ev: failed("blocked"), want: lines(
				noticeTo(alice, pat, "Message not received: blocked."), noticeTo(bob, pat, "Message not received: blocked."))},
		)},
		{name: "no chat: nothing", steps: []step{
			{ev: failed("gone")},
		}},
	})
}

// Rule 10.
func TestReceiptsAndChatStates(t *testing.T) {
	addr := addrOn("unc-irc", "pat")
	typing := patronIn("pat", protocols.StateChange{From: addr, State: protocols.Composing})
	runCases(t, []testCase{
		{name: "receipts to the holder", steps: steps(
			setupStep(up(alice), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: patronIn("pat", protocols.Receipt{From: addr, ID: "m7"}), want: lines("send-operator-receipt alice@unc from guest-1001: m7")},
		)},
		{name: "patron typing to the holder", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: typing, want: lines("send-operator-state alice@unc from guest-1001: composing")},
		)},
		{name: "patron typing to the offered operators while it waits", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{ev: typing, want: lines(
				"send-operator-state alice@unc from guest-1001: composing",
				"send-operator-state bob@unc from guest-1001: composing")},
		)},
		{name: "holder typing to the patron; others ignored", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), reply(alice, pat, "hello")),
			step{ev: OperatorChatState{From: alice, To: GuestPeer(pat), State: protocols.Paused}, want: lines("send-patron-state pat: paused")},
			step{ev: OperatorChatState{From: bob, To: GuestPeer(pat), State: protocols.Composing}},
			step{ev: OperatorChatState{From: "mallory@evil", To: GuestPeer(pat), State: protocols.Composing}},
		)},
		{name: "between operators", steps: []step{
			{ev: OperatorChatState{From: alice, To: OperatorPeer(bob), State: protocols.Composing}, want: lines("send-operator-state bob@unc from alice@unc: composing")},
		}},
		{name: "without a chat: nothing", steps: []step{
			{ev: typing},
			{ev: patronIn("pat", protocols.Receipt{From: addr, ID: "m7"})},
		}},
	})
}

// Rule 13.
func TestOperatorToOperator(t *testing.T) {
	runCases(t, []testCase{
		{name: "always delivered, across libraries, online or not", steps: []step{
			{ev: OperatorMessage{From: alice, To: OperatorPeer(bob), Text: "lunch?"}, want: lines(`send-operator bob@unc from alice@unc: "lunch?"`)},
			{ev: OperatorMessage{From: dave, To: OperatorPeer(alice), Text: "/status is a text here"}, want: lines(`send-operator alice@unc from dave@far: "/status is a text here"`)},
		}},
		{name: "unknown operator", steps: []step{
			{ev: OperatorMessage{From: alice, To: OperatorPeer("nobody@x"), Text: "hi"}, want: lines(`notice alice@unc from nobody@x: "Not delivered: no such operator."`)},
		}},
		{name: "unconfigured sender ignored", steps: []step{
			{ev: OperatorMessage{From: "mallory@evil", To: OperatorPeer(alice), Text: "hi"}},
		}},
	})
}

// Rule 13 and the design's "never an open relay".
func TestNoOpenRelay(t *testing.T) {
	runCases(t, []testCase{
		{name: "no patron who has not written", steps: []step{
			{ev: reply(alice, "guest-9999", "buy now"), want: lines(noticeTo(alice, "guest-9999", "Not delivered: guest-9999 has no open chat."))},
		}},
		{name: "no unconfigured operator, even to an open chat", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{ev: reply("mallory@evil", pat, "hello")},
		)},
		{name: "no account that is not configured", steps: []step{
			{ev: sayOn("elsewhere", "pat", "hi")},
			{ev: reply(alice, pat, "hello"), want: lines(noticeTo(alice, pat, "Not delivered: guest-1001 has no open chat."))},
		}},
		{name: "an operator of another library", steps: steps(
			setupStep(up(alice), up(dave), say("pat", "hi")),
			step{ev: reply(dave, pat, "hello"), want: lines(
				noticeTo(dave, pat, "Not delivered: this chat was not offered to you (it waits for Reference (UNC)).")),
			},
		)},
	})
}

// Rule 14.
func TestStableGuestID(t *testing.T) {
	h := newHarness(t, testConfig())
	left := patronIn("pat", protocols.Left{From: addrOn("unc-irc", "pat")})
	h.run(steps(setupStep(up(alice), say("pat", "hi"), left)))
	h.run([]step{{ev: say("pat", "back again"), want: offerTo(alice, pat, noteRef, "back again")}})
	// A different guest id on the open chat's address: the chat's stays.
	h.run([]step{{ev: PatronEvent{Guest: "guest-7777", Inbound: protocols.Message{From: addrOn("unc-irc", "pat"), Text: "me"}},
		want: lines(sendOp(alice, pat, "me"))}})
	st := h.e.Snapshot()
	if len(st.Chats) != 1 || st.Chats[0].Record.ID != 2 || st.Chats[0].Record.Guest != pat {
		t.Fatalf("open chats = %+v, want chat 2 of %s", st.Chats, pat)
	}
	// The same user on another account is another patron.
	h.run([]step{{ev: PatronEvent{Guest: sam, Inbound: protocols.Message{From: addrOn("unc-sms", "pat"), Text: "sms"}},
		want: offerTo(alice, sam, "guest-1002 · sms · Reference (UNC) — new chat", "sms")}})
}

// Rule 16.
func TestRecords(t *testing.T) {
	h := newHarness(t, testConfig())
	h.run(steps(setupStep(up(erin), say("pat", "hi"))))
	h.clock.t = t0.Add(time.Minute)
	h.run(steps(setupStep(reply(erin, pat, "hello"))))
	st := h.e.Snapshot()
	if len(st.Chats) != 1 {
		t.Fatalf("chats = %d", len(st.Chats))
	}
	r := st.Chats[0].Record
	want := ChatRecord{ID: 1, Status: ChatHeld, Origin: "reference", Queue: "special", Library: "unc",
		Patron: addrOn("unc-irc", "pat"), Guest: pat, Operator: erin,
		Started: t0, FirstAnswer: t0.Add(time.Minute), LastActivity: t0.Add(time.Minute),
		Transcript: false, Lines: 2}
	if r != want {
		t.Errorf("record:\n got %+v\nwant %+v", r, want)
	}
	if r.Wait(t0.Add(time.Hour)) != time.Minute {
		t.Errorf("wait = %v", r.Wait(t0))
	}
	ls := st.Chats[0].Lines
	if len(ls) != 2 || !reflect.DeepEqual(ls[0], Line{N: 0, At: t0, From: FromPatron, Text: "hi"}) ||
		ls[1].Operator != erin || ls[1].From != FromOperator || ls[1].N != 1 {
		t.Errorf("lines = %+v", ls)
	}
	if st.NextChat != 2 {
		t.Errorf("NextChat = %d", st.NextChat)
	}
}

func TestRecordsTranscriptFromOrigin(t *testing.T) {
	cfg := testConfig()
	cfg.Queues[0].Transcripts = true
	h := newHarness(t, cfg)
	h.run(steps(setupStep(say("pat", "hi"))))
	if st := h.e.Snapshot(); !st.Chats[0].Record.Transcript {
		t.Error("Transcript not taken from the origin queue")
	}
}

func TestContextLinesKept(t *testing.T) {
	cfg := testConfig()
	cfg.ContextLines = 3
	h := newHarness(t, cfg)
	h.run(steps(setupStep(up(alice), say("pat", "1"), reply(alice, pat, "2"), say("pat", "3"), reply(alice, pat, "4"), say("pat", "5"))))
	st := h.e.Snapshot()
	ls := st.Chats[0].Lines
	if len(ls) != 3 || ls[0].Text != "3" || ls[1].Text != "4" || ls[2].Text != "5" || ls[2].N != 4 {
		t.Errorf("kept lines = %+v", ls)
	}
	if st.Chats[0].Record.Lines != 5 {
		t.Errorf("Lines = %d", st.Chats[0].Record.Lines)
	}
	h.run([]step{{ev: reply(alice, pat, "/history"), want: lines(noticeTo(alice, pat,
		"History (the last lines kept):\n[15:04] guest-1001: 3\n[15:04] Alice: 4\n[15:04] guest-1001: 5"))}})
}

func TestHandleReusesItsBuffer(t *testing.T) {
	h := newHarness(t, testConfig())
	a := h.e.Handle(up(alice))
	if len(a) != 1 {
		t.Fatalf("actions = %v", render(a, true))
	}
	b := h.e.Handle(up(bob))
	if len(b) != 0 || cap(b) == 0 || &a[:1][0] != &b[:1][0] {
		t.Error("the actions buffer is not reused")
	}
}

func TestEventsByPointer(t *testing.T) {
	runCases(t, []testCase{{name: "pointers are events too", steps: []step{
		{ev: &OperatorPresence{Operator: alice, Resource: "pc", Show: ShowAvailable}, want: lines("queue-presence reference online")},
		{ev: &PatronEvent{Guest: pat, Inbound: &protocols.Message{From: addrOn("unc-irc", "pat"), Text: "hi"}}, want: offerTo(alice, pat, noteRef, "hi")},
		{ev: &OperatorMessage{From: alice, To: GuestPeer(pat), Text: "hello"}, want: lines(`send-patron pat: "hello"`)},
		{ev: &OperatorChatState{From: alice, To: GuestPeer(pat), State: protocols.Composing}, want: lines("send-patron-state pat: composing")},
		{after: 30 * time.Minute, ev: &Tick{}, want: lines(noticeTo(alice, pat, "Chat closed after 30m without messages."))},
	}}})
}
