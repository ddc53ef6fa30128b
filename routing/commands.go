package routing

import (
	"strconv"
	"strings"
	"unicode"

	"github.com/owlgate/owlgate/protocols"
)

// cmdKind is what an operator's text to a guest or a queue asks for.
type cmdKind uint8

const (
	cmdText     cmdKind = iota // not a command: text for the patron
	cmdTransfer                // /transfer <queue|operator>
	cmdClose                   // /close
	cmdWho                     // /who
	cmdHistory                 // /history
	cmdHelp                    // /help
	cmdStatus                  // /status (to a queue)
	cmdUnknown                 // any other /word
)

type command struct {
	kind cmdKind
	name string // the command as written, for cmdUnknown: "/foo"
	arg  string // what follows the command, trimmed
	text string // for cmdText: the text, a leading "//" turned into "/"
}

var commandNames = map[string]cmdKind{
	"/transfer": cmdTransfer,
	"/close":    cmdClose,
	"/who":      cmdWho,
	"/history":  cmdHistory,
	"/help":     cmdHelp,
	"/status":   cmdStatus,
}

// parseCommand reads an operator's text. Text starting with "/" is a
// command, whose name is matched without regard to case; "//" escapes a
// literal leading slash: "//etc/hosts" is the text "/etc/hosts".
func parseCommand(s string) command {
	if !strings.HasPrefix(s, "/") {
		return command{kind: cmdText, text: s}
	}
	if strings.HasPrefix(s, "//") {
		return command{kind: cmdText, text: s[1:]}
	}
	name, arg := s, ""
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		name, arg = s[:i], strings.TrimSpace(s[i:])
	}
	kind, ok := commandNames[strings.ToLower(name)]
	if !ok {
		kind = cmdUnknown
	}
	return command{kind: kind, name: name, arg: arg}
}

// guestCommand runs a command o sent to a guest's JID; c is the guest's open
// chat, or nil. Answers come from that JID.
func (e *Engine) guestCommand(o *operator, peer Peer, c *chat, cmd command) {
	var id ChatID
	if c != nil {
		id = c.rec.ID
	}
	switch cmd.kind {
	case cmdHelp:
		e.notice(o, peer, id, textGuestHelp)
		return
	case cmdUnknown, cmdStatus:
		e.notice(o, peer, id, textUnknownCommand(cmd.name)+"\n"+textGuestHelp)
		return
	}
	if c == nil {
		e.notice(o, peer, 0, textNoChatCommand(GuestID(peer.ID)))
		return
	}
	if cmd.kind == cmdWho {
		e.chatNotice(o, c, e.whoText(c))
		return
	}
	if !c.involved(o) {
		if c.rec.Status == ChatHeld {
			e.chatNotice(o, c, textNotAllowedHeld(c.holder.name))
		} else {
			e.chatNotice(o, c, textNotAllowedWaiting)
		}
		return
	}
	switch cmd.kind {
	case cmdHistory:
		e.chatNotice(o, c, textHistoryHead+"\n"+e.history(c))
	case cmdClose:
		e.chatNotice(o, c, textClosed)
		e.endChat(c, EndClosed, textClosedBy(o.name), o)
	case cmdTransfer:
		e.transfer(c, o, cmd.arg)
	}
}

// transfer hands chat c, which o holds or was offered, to the queue or
// operator named by arg.
func (e *Engine) transfer(c *chat, o *operator, arg string) {
	lib := c.queue.lib
	if q := e.queues[QueueID(arg)]; q != nil {
		switch {
		case q == c.queue:
			e.chatNotice(o, c, textTransferSame(q.label)+" "+e.transferUsage(c))
		case !mayTransfer(lib, q.lib):
			e.chatNotice(o, c, textTransferNotAllowed(q.label)+" "+e.transferUsage(c))
		case !q.online():
			e.chatNotice(o, c, textTransferOffline(q.label)+" "+e.transferUsage(c))
		default:
			e.transferToQueue(c, o, q)
		}
		return
	}
	if t := e.ops[OperatorID(arg)]; t != nil {
		switch {
		case t == o:
			e.chatNotice(o, c, textTransferSelf+" "+e.transferUsage(c))
		case !mayTransfer(lib, t.lib):
			e.chatNotice(o, c, textTransferNotAllowed(t.name)+" "+e.transferUsage(c))
		case !t.available():
			e.chatNotice(o, c, textTransferUnavailable(t.name)+" "+e.transferUsage(c))
		default:
			e.transferToOperator(c, o, t)
		}
		return
	}
	if arg == "" {
		e.chatNotice(o, c, e.transferUsage(c))
		return
	}
	e.chatNotice(o, c, textTransferUnknown(arg)+" "+e.transferUsage(c))
}

// transferUsage says how to write /transfer and where the chat may go now.
func (e *Engine) transferUsage(c *chat) string {
	var ids []string
	for _, q := range e.queueList {
		if q != c.queue && q.online() && mayTransfer(c.queue.lib, q.lib) {
			ids = append(ids, string(q.id))
		}
	}
	return textTransferUsage(ids)
}

// handOver withdraws c from o, who transfers it to target, and from
// everyone else following it, telling each.
func (e *Engine) handOver(c *chat, o *operator, target string) {
	e.chatNotice(o, c, textTransferred(target))
	e.toWatchers(c, o, textTransferredBy(o.name, target))
	e.clearOffer(c)
	e.setHolder(c, nil)
	c.graceGen = 0
	c.rec.Transfers++
}

func (e *Engine) transferToQueue(c *chat, o *operator, q *queue) {
	from := c.queue.label
	e.handOver(c, o, q.label)
	c.home = q
	e.route(c, "", textTransferredFrom(from, o.name)) // q is online: the chat goes there
	e.sendPatron(c, nil, "", textTransferPatron, nil)
}

func (e *Engine) transferToOperator(c *chat, o *operator, t *operator) {
	from := c.queue.label
	e.handOver(c, o, t.name)
	c.home = c.queue
	e.setHolder(c, t)
	e.setPlace(c, c.queue, ChatHeld)
	e.chatNotice(t, c, textTransferredFrom(from, o.name)+textSoFar+"\n"+e.history(c))
	e.chatNotice(t, c, textYouHoldIt)
	e.sendPatron(c, nil, "", textTransferPatron, nil)
}

// whoText answers /who.
func (e *Engine) whoText(c *chat) string {
	var b strings.Builder
	b.WriteString(textNoteHead(string(c.rec.Guest), string(c.rec.Patron.Network), c.queue.label))
	b.WriteString("\n")
	if c.origin.showPhone && isPhoneNumber(c.rec.Patron.User) {
		// The queue owning the number the patron texted chose to show it.
		b.WriteString(textPhone(string(c.rec.Patron.User)) + "\n")
	}
	if c.rec.Status == ChatHeld {
		b.WriteString("Held by " + c.holder.name)
		if c.rec.Answered() {
			b.WriteString("; first answer after " + fmtDuration(c.rec.Wait(e.now)) + ".")
		} else {
			b.WriteString("; not answered yet.")
		}
	} else {
		if c.rec.Answered() {
			b.WriteString("Waiting again; offered to ")
		} else {
			b.WriteString("Waiting for " + fmtDuration(c.rec.Wait(e.now)) + "; offered to ")
		}
		if len(c.offered) == 0 {
			b.WriteString("nobody (nobody is available).")
		} else {
			for i, o := range c.offered {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteString(o.name)
			}
			b.WriteString(".")
		}
	}
	b.WriteString("\nStarted " + fmtClock(c.rec.Started) + ", " + fmtDuration(e.now.Sub(c.rec.Started)) +
		" ago; lines: " + strconv.Itoa(c.rec.Lines) + "; transfers: " + strconv.Itoa(c.rec.Transfers) + ".")
	return b.String()
}

// queueStatusText answers /status to a queue: its available operators, the
// chats waiting on it (its own, and those it is a fallback for) and the
// chats it holds.
func (e *Engine) queueStatusText(q *queue) string {
	var b strings.Builder
	b.WriteString(q.label)
	if q.online() {
		b.WriteString(" is online.\nAvailable: ")
	} else {
		b.WriteString(" is offline.\nAvailable: ")
	}
	n := 0
	for _, o := range q.ops {
		if o.available() {
			if n > 0 {
				b.WriteString(", ")
			}
			b.WriteString(o.name)
			n++
		}
	}
	if n == 0 {
		b.WriteString("nobody")
	}
	b.WriteString(".\n")
	waiting := e.collect([]*queue{q}, func(*chat) bool { return true })
	writeList(&b, "Waiting", waiting, func(c *chat) string {
		return string(c.rec.Guest) + " (" + fmtDuration(e.now.Sub(c.rec.Started)) + ")"
	})
	b.WriteString("\n")
	held := make([]*chat, 0, len(q.held))
	for _, c := range q.held {
		held = append(held, c)
	}
	sortChats(held)
	writeList(&b, "Held", held, func(c *chat) string {
		return string(c.rec.Guest) + " by " + c.holder.name
	})
	return b.String()
}

func writeList(b *strings.Builder, title string, cs []*chat, item func(*chat) string) {
	if len(cs) == 0 {
		b.WriteString(title + ": none.")
		return
	}
	b.WriteString(title + " (" + strconv.Itoa(len(cs)) + "): ")
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(item(c))
	}
	b.WriteString(".")
}

// isPhoneNumber reports whether a patron's id is an E.164 phone number
// ("+" and 2 to 15 digits), as SMS patrons' are.
func isPhoneNumber(u protocols.UserID) bool {
	if len(u) < 3 || len(u) > 16 || u[0] != '+' {
		return false
	}
	for i := 1; i < len(u); i++ {
		if u[i] < '0' || u[i] > '9' {
			return false
		}
	}
	return true
}
