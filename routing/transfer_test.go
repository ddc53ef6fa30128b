package routing

import (
	"testing"
	"time"
)

const convHiHello = "Conversation so far:\n[15:04] guest-1001: hi\n[15:05] Alice: hello"

// heldByAlice: alice holds pat's chat ("hi" at 15:04, "hello" at 15:05).
func heldByAlice(others ...Event) []step {
	return steps(
		setupStep(append([]Event{up(alice)}, others...)...),
		setupStep(say("pat", "hi")),
		step{after: time.Minute, ev: reply(alice, pat, "hello"), setup: true},
	)
}

// Rule 11.
func TestTransferToQueue(t *testing.T) {
	usage := "Write /transfer <queue> or /transfer <operator JID>."
	runCases(t, []testCase{
		{name: "to a collaboration's queue, with the conversation", steps: steps(
			heldByAlice(up(carol)),
			step{ev: reply(alice, pat, "/transfer night"), persist: true, want: lines(
				noticeTo(alice, pat, "Transferred to Night Owl (Duke)."),
				noticeTo(carol, pat, "Transferred from Reference (UNC) by Alice. "+convHiHello),
				noticeTo(carol, pat, "guest-1001 · irc · Night Owl (Duke) — transferred"),
				noticeTo(carol, pat, textHint),
				toPatron("pat", textTransferPatron),
				`save-line #1.2 system: "`+textTransferPatron+`"`,
				"save-chat #1 waiting night lines=3 transfers=1 answered@15:05:00")},
			step{ev: say("pat", "ok"), want: lines(sendOp(carol, pat, "ok"))},
			step{ev: reply(alice, pat, "wait"), want: lines(
				noticeTo(alice, pat, "Not delivered: this chat was not offered to you (it waits for Night Owl (Duke)).")),
			},
			step{ev: reply(carol, pat, "hi, Night Owl here"), want: lines(`send-patron pat: "hi, Night Owl here"`)},
			step{ev: reply(alice, pat, "wait"), want: lines(noticeTo(alice, pat, "Not delivered: Carol has this chat."))},
		)},
		{name: "to a queue of the same library", steps: steps(
			heldByAlice(up(erin)),
			step{ev: reply(alice, pat, "/transfer special"), want: lines(
				noticeTo(alice, pat, "Transferred to Special (UNC)."),
				noticeTo(erin, pat, "Transferred from Reference (UNC) by Alice. "+convHiHello),
				noticeTo(erin, pat, "guest-1001 · irc · Special (UNC) — transferred"),
				noticeTo(erin, pat, textHint),
				toPatron("pat", textTransferPatron))},
		)},
		{name: "a waiting chat, by an offered operator", steps: steps(
			setupStep(up(alice), up(bob), up(carol), say("pat", "hi")),
			step{ev: reply(bob, pat, "/transfer night"), want: lines(
				noticeTo(bob, pat, "Transferred to Night Owl (Duke)."),
				noticeTo(alice, pat, "Bob transferred this chat to Night Owl (Duke)."),
				noticeTo(carol, pat, "Transferred from Reference (UNC) by Bob. Conversation so far:\n[15:04] guest-1001: hi"),
				noticeTo(carol, pat, "guest-1001 · irc · Night Owl (Duke) — transferred"),
				noticeTo(carol, pat, textHint),
				toPatron("pat", textTransferPatron))},
		)},
		{name: "refused when the queue is offline; the chat stays", steps: steps(
			heldByAlice(up(carol)),
			step{ev: reply(alice, pat, "/transfer special"), persist: true, want: lines(noticeTo(alice, pat,
				"Cannot transfer to Special (UNC): nobody is available there. "+usage+" Online queues you may transfer to: night."))},
			step{ev: say("pat", "still there?"), want: lines(sendOp(alice, pat, "still there?"))},
		)},
		{name: "refused to its own queue", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "/transfer reference"), want: lines(noticeTo(alice, pat,
				"Cannot transfer: this chat is already with Reference (UNC). "+usage+" No other queue you may transfer to is online."))},
		)},
		{name: "the new queue's fallback chain applies", steps: steps(
			heldByAlice(up(carol), up(erin)),
			step{ev: reply(alice, pat, "/transfer night"), setup: true},
			step{after: 60 * time.Second, ev: Tick{}, want: lines(
				noticeTo(erin, pat, convHiHello+"\n[15:05] owlgate: "+textTransferPatron),
				noticeTo(erin, pat, "guest-1001 · irc · Special (UNC) — via Night Owl (Duke) fallback"),
				noticeTo(erin, pat, textHint))},
		)},
	})
}

// Rule 11.
func TestTransferToOperator(t *testing.T) {
	usage := "Write /transfer <queue> or /transfer <operator JID>."
	runCases(t, []testCase{
		{name: "they hold it at once", steps: steps(
			heldByAlice(up(carol)),
			step{ev: reply(alice, pat, "/transfer carol@duke"), persist: true, want: lines(
				noticeTo(alice, pat, "Transferred to Carol."),
				noticeTo(carol, pat, "Transferred from Reference (UNC) by Alice. "+convHiHello),
				noticeTo(carol, pat, textYouHoldIt),
				toPatron("pat", textTransferPatron),
				`save-line #1.2 system: "`+textTransferPatron+`"`,
				"save-chat #1 held reference op=carol@duke lines=3 transfers=1 answered@15:05:00")},
			step{ev: say("pat", "ok"), want: lines(sendOp(carol, pat, "ok"))},
			step{ev: reply(carol, pat, "hello from Duke"), want: lines(`send-patron pat: "hello from Duke"`)},
		)},
		{name: "a waiting chat to an operator of the same library", steps: steps(
			setupStep(up(alice), up(bob), up(erin), say("pat", "hi")),
			step{ev: reply(alice, pat, "/transfer erin@unc"), want: lines(
				noticeTo(alice, pat, "Transferred to erin@unc."),
				noticeTo(bob, pat, "Alice transferred this chat to erin@unc."),
				noticeTo(erin, pat, "Transferred from Reference (UNC) by Alice. Conversation so far:\n[15:04] guest-1001: hi"),
				noticeTo(erin, pat, textYouHoldIt),
				toPatron("pat", textTransferPatron))},
			// Their first answer is the chat's: the record is saved for
			// it, not only the line.
			step{after: time.Minute, ev: reply(erin, pat, "erin here"), persist: true, want: lines(
				`send-patron pat: "erin here"`,
				`save-line #1.2 erin@unc: "erin here"`,
				"save-chat #1 held reference op=erin@unc lines=3 transfers=1 answered@15:05:00")},
			step{after: time.Minute, ev: reply(erin, pat, "anything else?"), persist: true, want: lines(
				`send-patron pat: "anything else?"`,
				`save-line #1.3 erin@unc: "anything else?"`)},
		)},
		{name: "refused when they are not available", steps: steps(
			heldByAlice(pres(bob, "pc", ShowAway)),
			step{ev: reply(alice, pat, "/transfer bob@unc"), want: lines(noticeTo(alice, pat,
				"Cannot transfer to Bob: not available. "+usage+" No other queue you may transfer to is online."))},
		)},
		{name: "refused to oneself", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "/transfer alice@unc"), want: lines(noticeTo(alice, pat,
				"Cannot transfer to yourself. "+usage+" No other queue you may transfer to is online."))},
		)},
	})
}

// Rule 11.
func TestTransferRefusedOutsideLibrary(t *testing.T) {
	usage := "Write /transfer <queue> or /transfer <operator JID>."
	runCases(t, []testCase{
		{name: "a queue of a library outside the collaboration", steps: steps(
			heldByAlice(up(dave)),
			step{ev: reply(alice, pat, "/transfer far"), want: lines(noticeTo(alice, pat,
				"Cannot transfer to Far Desk (Far College): not in this chat's library or a collaboration of it. "+usage+
					" No other queue you may transfer to is online."))},
			step{ev: say("pat", "hello?"), want: lines(sendOp(alice, pat, "hello?"))},
		)},
		{name: "an operator of such a library", steps: steps(
			heldByAlice(up(dave), up(carol)),
			step{ev: reply(alice, pat, "/transfer dave@far"), want: lines(noticeTo(alice, pat,
				"Cannot transfer to Dave: not in this chat's library or a collaboration of it. "+usage+
					" Online queues you may transfer to: night."))},
		)},
		{name: "an unknown target", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "/transfer nowhere"), want: lines(noticeTo(alice, pat,
				`Cannot transfer: no queue or operator "nowhere". `+usage+" No other queue you may transfer to is online."))},
			step{ev: reply(alice, pat, "/transfer"), want: lines(noticeTo(alice, pat,
				usage+" No other queue you may transfer to is online."))},
		)},
		{name: "by someone who does not hold it", steps: steps(
			heldByAlice(up(bob), up(carol)),
			step{ev: reply(bob, pat, "/transfer night"), want: lines(noticeTo(bob, pat, "Not allowed: Alice has this chat."))},
		)},
	})
}
