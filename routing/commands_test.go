package routing

import (
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in   string
		want command
	}{
		{"hello", command{kind: cmdText, text: "hello"}},
		{"", command{kind: cmdText}},
		{" /close", command{kind: cmdText, text: " /close"}},
		{"//etc/hosts", command{kind: cmdText, text: "/etc/hosts"}},
		{"//", command{kind: cmdText, text: "/"}},
		{"/close", command{kind: cmdClose, name: "/close"}},
		{"/close now", command{kind: cmdClose, name: "/close", arg: "now"}},
		{"/CLOSE", command{kind: cmdClose, name: "/CLOSE"}},
		{"/transfer night", command{kind: cmdTransfer, name: "/transfer", arg: "night"}},
		{"/transfer   carol@duke  ", command{kind: cmdTransfer, name: "/transfer", arg: "carol@duke"}},
		{"/transfer\tnight", command{kind: cmdTransfer, name: "/transfer", arg: "night"}},
		{"/transfer", command{kind: cmdTransfer, name: "/transfer"}},
		{"/who", command{kind: cmdWho, name: "/who"}},
		{"/history", command{kind: cmdHistory, name: "/history"}},
		{"/help", command{kind: cmdHelp, name: "/help"}},
		{"/status", command{kind: cmdStatus, name: "/status"}},
		{"/foo bar", command{kind: cmdUnknown, name: "/foo", arg: "bar"}},
		{"/", command{kind: cmdUnknown, name: "/"}},
		{"/closed", command{kind: cmdUnknown, name: "/closed"}},
	}
	for _, tt := range tests {
		if got := parseCommand(tt.in); got != tt.want {
			t.Errorf("parseCommand(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

// Rule 12.
func TestCommands(t *testing.T) {
	unknown := "Unknown command /foo (not sent to the patron).\n" + textGuestHelp
	runCases(t, []testCase{
		{name: "/who of a held chat", steps: steps(
			heldByAlice(up(bob)),
			step{after: time.Minute, ev: reply(bob, pat, "/who"), want: lines(noticeTo(bob, pat,
				"guest-1001 · irc · Reference (UNC)\nHeld by Alice; first answer after 1m.\nStarted 15:04, 2m ago; lines: 2; transfers: 0."))},
		)},
		{name: "/who of a waiting chat", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi")),
			step{after: 90 * time.Second, ev: reply(alice, pat, "/WHO"), want: lines(noticeTo(alice, pat,
				"guest-1001 · irc · Reference (UNC)\nWaiting for 1m30s; offered to Alice, Bob.\nStarted 15:04, 1m30s ago; lines: 1; transfers: 0."))},
		)},
		{name: "/who of a chat waiting again", steps: steps(
			heldByAlice(up(bob)),
			step{ev: down(alice), setup: true},
			step{ev: reply(bob, pat, "/who"), want: lines(noticeTo(bob, pat,
				"guest-1001 · irc · Reference (UNC)\nWaiting again; offered to Bob.\nStarted 15:04, 1m ago; lines: 2; transfers: 0."))},
		)},
		{name: "/who while nobody is available", steps: steps(
			setupStep(say("pat", "hi")),
			step{ev: reply(alice, pat, "/who"), want: lines(noticeTo(alice, pat,
				"guest-1001 · irc · Reference (UNC)\nWaiting for 0s; offered to nobody (nobody is available).\nStarted 15:04, 0s ago; lines: 2; transfers: 0."))},
		)},
		{name: "/history for the holder only", steps: steps(
			heldByAlice(up(bob)),
			step{ev: reply(alice, pat, "/history"), want: lines(noticeTo(alice, pat,
				"History (the last lines kept):\n[15:04] guest-1001: hi\n[15:05] Alice: hello"))},
			step{ev: reply(bob, pat, "/history"), want: lines(noticeTo(bob, pat, "Not allowed: Alice has this chat."))},
		)},
		{name: "/help", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "/help"), want: lines(noticeTo(alice, pat, textGuestHelp))},
			step{ev: reply(alice, "guest-1009", "/help"), want: lines(noticeTo(alice, "guest-1009", textGuestHelp))},
		)},
		{name: "an unknown command is not sent to the patron", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "/foo"), persist: true, want: lines(noticeTo(alice, pat, unknown))},
			step{ev: reply(alice, pat, "/status"), want: lines(noticeTo(alice, pat,
				"Unknown command /status (not sent to the patron).\n"+textGuestHelp))},
		)},
		{name: "an unknown command does not take a waiting chat", steps: steps(
			setupStep(up(alice), say("pat", "hi")),
			step{ev: reply(alice, pat, "/foo"), want: lines(noticeTo(alice, pat, unknown))},
			step{ev: reply(alice, pat, "/who"), want: lines(noticeTo(alice, pat,
				"guest-1001 · irc · Reference (UNC)\nWaiting for 0s; offered to Alice.\nStarted 15:04, 0s ago; lines: 1; transfers: 0."))},
		)},
		{name: "/who shows the phone number when the account's queue says so",
			cfg: func(c *Config) { c.Queues[0].ShowPhone = true }, steps: steps(
				setupStep(up(alice), textFrom("+15555550123", "hi")),
				step{ev: reply(alice, "guest-1004", "/who"), want: lines(noticeTo(alice, "guest-1004",
					"guest-1004 · sms · Reference (UNC)\nPhone: +15555550123\nWaiting for 0s; offered to Alice.\nStarted 15:04, 0s ago; lines: 1; transfers: 0."))},
			)},
		{name: "/who shows no phone number by default", steps: steps(
			setupStep(up(alice), textFrom("+15555550123", "hi")),
			step{ev: reply(alice, "guest-1004", "/who"), want: lines(noticeTo(alice, "guest-1004",
				"guest-1004 · sms · Reference (UNC)\nWaiting for 0s; offered to Alice.\nStarted 15:04, 0s ago; lines: 1; transfers: 0."))},
		)},
		{name: "/who shows no phone number for an id that is none",
			cfg: func(c *Config) { c.Queues[0].ShowPhone = true }, steps: steps(
				setupStep(up(alice), say("pat", "hi")),
				step{ev: reply(alice, pat, "/who"), want: lines(noticeTo(alice, pat,
					"guest-1001 · irc · Reference (UNC)\nWaiting for 0s; offered to Alice.\nStarted 15:04, 0s ago; lines: 1; transfers: 0."))},
			)},
		// Special shows numbers, but the number belongs to Reference,
		// which does not.
		{name: "/who of a transferred chat follows the queue owning the number",
			cfg: func(c *Config) { c.Queues[2].ShowPhone = true }, steps: steps(
				setupStep(up(alice), up(erin), textFrom("+15555550123", "hi"), reply(alice, "guest-1004", "hello"),
					reply(alice, "guest-1004", "/transfer special")),
				step{ev: reply(erin, "guest-1004", "/who"), want: lines(noticeTo(erin, "guest-1004",
					"guest-1004 · sms · Special (UNC)\nWaiting again; offered to erin@unc.\nStarted 15:04, 0s ago; lines: 3; transfers: 1."))},
			)},
		{name: "// sends a leading slash", steps: steps(
			heldByAlice(),
			step{ev: reply(alice, pat, "//etc/hosts is a file"), want: lines(`send-patron pat: "/etc/hosts is a file"`)},
		)},
		{name: "commands about a guest without a chat", steps: []step{
			{ev: reply(alice, "guest-1009", "/who"), want: lines(noticeTo(alice, "guest-1009", "guest-1009 has no open chat."))},
			{ev: reply(alice, "guest-1009", "/close"), want: lines(noticeTo(alice, "guest-1009", "guest-1009 has no open chat."))},
		}},
		{name: "/status to a queue", steps: steps(
			setupStep(up(alice), up(bob), say("pat", "hi"), say("sam", "hello"), reply(alice, sam, "hi sam")),
			step{after: time.Minute, ev: toQueue(bob, "reference", "/status"), want: lines(
				`notice bob@unc from reference: "Reference (UNC) is online.\nAvailable: Alice, Bob.\nWaiting (1): guest-1001 (1m).\nHeld (1): guest-1002 by Alice."`)},
		)},
		{name: "/status of an offline queue lists what waits on it", steps: steps(
			setupStep(say("pat", "hi")),
			step{ev: toQueue(carol, "night", "/status"), want: lines(
				`notice carol@duke from night: "Night Owl (Duke) is offline.\nAvailable: nobody.\nWaiting (1): guest-1001 (0s).\nHeld: none."`)},
		)},
		{name: "/help and anything else to a queue", steps: []step{
			{ev: toQueue(alice, "reference", "/help"), want: lines(`notice alice@unc from reference: "` + escape(textQueueHelp) + `"`)},
			{ev: toQueue(alice, "reference", "hello"), want: lines(
				`notice alice@unc from reference: "This is the Reference (UNC) queue: /status shows who is available and which chats wait; /help lists commands."`)},
			{ev: toQueue(alice, "nowhere", "/status"), want: lines(`notice alice@unc from nowhere: "Not delivered: no such queue."`)},
		}},
	})
}

// escape writes s as it appears inside %q.
func escape(s string) string {
	q := []rune{}
	for _, r := range s {
		if r == '\n' {
			q = append(q, '\\', 'n')
			continue
		}
		q = append(q, r)
	}
	return string(q)
}

// textFrom is a text from phone number n to the SMS account unc-sms; its
// patron is guest-1004.
func textFrom(n protocols.UserID, text string) Event {
	return PatronEvent{Guest: "guest-1004", Inbound: protocols.Message{From: addrOn("unc-sms", n), Text: text}}
}
