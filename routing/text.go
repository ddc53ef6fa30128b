package routing

import (
	"strconv"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Every text the engine writes for people is here, so that it can be
// reviewed (and one day translated) in one place.

// To patrons.
const (
	// textDefaultOffline is the offline message of a queue that has none.
	textDefaultOffline = "Nobody is available to answer right now. Your message has been kept; " +
		"a librarian will answer when one is available."
	// textTransferPatron tells a patron their chat moves to someone else.
	textTransferPatron = "You are being transferred to another librarian; please hold on."
)

// To operators, about a chat (from the patron's guest JID).
const (
	textHint              = "Reply to take this chat; /help lists commands."
	textSoFar             = "Conversation so far:"
	textHistoryHead       = "History (the last lines kept):"
	textClosed            = "Chat closed."
	textYouHoldIt         = "You have this chat now: your replies go to the patron. /help lists commands."
	textNotAllowedWaiting = "Not allowed: this chat was not offered to you."
	textTransferSelf      = "Cannot transfer to yourself."
	textGuestHelp         = "Commands in a chat:\n" +
		"/transfer <queue|operator JID> — hand the chat to another queue or librarian\n" +
		"/close — end the chat\n" +
		"/who — who has the chat, who was offered it, how long it waited\n" +
		"/history — the conversation so far\n" +
		"/help — this list\n" +
		"Start a message with // to send text beginning with /."
)

// To operators, from a queue's JID or another peer.
const (
	textQueueHelp = "Commands to a queue:\n" +
		"/status — who is available in this queue, which chats wait and which are held\n" +
		"/help — this list"
	textNoQueue    = "Not delivered: no such queue."
	textNoOperator = "Not delivered: no such operator."
)

// textNoteHead names a chat: guest, network and queue.
func textNoteHead(guest, network, queue string) string {
	return guest + " · " + network + " · " + queue
}

// textNote is the second line of an offer: the chat, and why it is offered.
func textNote(guest, network, queue, why string) string {
	return textNoteHead(guest, network, queue) + " — " + why
}

func textPhone(number string) string        { return "Phone: " + number }
func textTook(name string) string           { return name + " took this chat." }
func textHeldBy(name string) string         { return "Not delivered: " + name + " has this chat." }
func textNoChat(g GuestID) string           { return "Not delivered: " + string(g) + " has no open chat." }
func textNoChatCommand(g GuestID) string    { return string(g) + " has no open chat." }
func textNotAllowedHeld(name string) string { return "Not allowed: " + name + " has this chat." }
func textWentOffline(name string) string {
	return name + " went offline; this chat is waiting again."
}
func textClosedBy(name string) string { return name + " closed this chat." }
func textUnknownCommand(name string) string {
	return "Unknown command " + name + " (not sent to the patron)."
}
func textQueueHint(queue string) string {
	return "This is the " + queue + " queue: /status shows who is available and which chats wait; /help lists commands."
}

func textNotOffered(queue string) string {
	return "Not delivered: this chat was not offered to you (it waits for " + queue + ")."
}

func textLeft(reason string) string {
	if reason == "" {
		return "The patron left."
	}
	return "The patron left (" + reason + ")."
}

func textIdle(d time.Duration) string {
	return "Chat closed after " + fmtDuration(d) + " without messages."
}

func textNotReceived(reason string) string {
	if reason == "" {
		return "Message not received."
	}
	return "Message not received: " + reason + "."
}

func textTransferred(to string) string { return "Transferred to " + to + "." }
func textTransferredBy(name, to string) string {
	return name + " transferred this chat to " + to + "."
}

// textTransferredFrom starts the context a transfer's new side receives.
func textTransferredFrom(from, name string) string {
	return "Transferred from " + from + " by " + name + ". "
}

func textTransferSame(queue string) string {
	return "Cannot transfer: this chat is already with " + queue + "."
}
func textTransferNotAllowed(to string) string {
	return "Cannot transfer to " + to + ": not in this chat's library or a collaboration of it."
}
func textTransferOffline(queue string) string {
	return "Cannot transfer to " + queue + ": nobody is available there."
}
func textTransferUnavailable(name string) string {
	return "Cannot transfer to " + name + ": not available."
}
func textTransferUnknown(arg string) string {
	return "Cannot transfer: no queue or operator " + strconv.Quote(arg) + "."
}

func textTransferUsage(queues []string) string {
	s := "Write /transfer <queue> or /transfer <operator JID>."
	if len(queues) == 0 {
		return s + " No other queue you may transfer to is online."
	}
	return s + " Online queues you may transfer to: " + strings.Join(queues, ", ") + "."
}

// withAttachments is text for an operator: the text, then each attachment's
// URL on its own line.
func withAttachments(text string, atts []protocols.Attachment) string {
	if len(atts) == 0 {
		return text
	}
	var b strings.Builder
	b.WriteString(text)
	for _, a := range atts {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(a.URL)
	}
	return b.String()
}

// history renders the kept lines of c, one per line:
// "[15:04] guest-1042: text", "[15:05] Alice: text", "[15:06] owlgate: text".
func (e *Engine) history(c *chat) string {
	if e.histChat == c && e.histLines == c.rec.Lines {
		return e.hist
	}
	var b strings.Builder
	c.eachLine(func(l *Line) {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString("[" + fmtClock(l.At) + "] ")
		switch l.From {
		case FromPatron:
			b.WriteString(string(c.rec.Guest))
		case FromOperator:
			if o := e.ops[l.Operator]; o != nil {
				b.WriteString(o.name)
			} else {
				b.WriteString(string(l.Operator))
			}
		default:
			b.WriteString("owlgate")
		}
		b.WriteString(": ")
		b.WriteString(withAttachments(l.Text, l.Attachments))
	})
	if b.Len() == 0 {
		b.WriteString("(no lines)")
	}
	e.histChat, e.histLines, e.hist = c, c.rec.Lines, b.String()
	return e.hist
}

// fmtClock is a time of day for operators, in the clock's location.
func fmtClock(t time.Time) string { return t.Format("15:04") }

// fmtDuration writes a duration in whole seconds without zero parts:
// "30m", "1m30s", "2h", "0s".
func fmtDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b []byte
	if h := d / time.Hour; h > 0 {
		b = strconv.AppendInt(b, int64(h), 10)
		b = append(b, 'h')
	}
	if m := d % time.Hour / time.Minute; m > 0 {
		b = strconv.AppendInt(b, int64(m), 10)
		b = append(b, 'm')
	}
	if s := d % time.Minute / time.Second; s > 0 {
		b = strconv.AppendInt(b, int64(s), 10)
		b = append(b, 's')
	}
	return string(b)
}
