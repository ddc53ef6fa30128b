package routing

import (
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// chat is an open chat.
type chat struct {
	rec ChatRecord

	// lines is a ring of the last ctxLines lines: while it is not full,
	// lines[0] is the oldest; once full, lines[first] is.
	lines []Line
	first int

	origin *queue // the queue owning the account
	home   *queue // where routing starts: the origin, or the last transfer's queue
	queue  *queue // the queue of the record (rec.Queue)
	holder *operator
	last   *operator // the last operator who held it, for the ended record
	idle   time.Duration

	// While waiting: the queues the offer covers (tiers[0] first), the
	// position in home.chain of the last tier, and the operators offered
	// it, in the order they were offered.
	tiers   []*queue
	pos     int
	offered []*operator

	idleIdx  int    // index of the chat's idle timer in the heap; -1: none
	fbGen    uint32 // invalidates pending fallback timers
	graceGen uint32 // invalidates a pending restore grace timer; 0: none
	dirty    bool
	ended    bool
}

func (c *chat) guestPeer() Peer { return GuestPeer(c.rec.Guest) }

func (c *chat) isOffered(o *operator) bool {
	for _, x := range c.offered {
		if x == o {
			return true
		}
	}
	return false
}

// involved reports whether o may act on the chat: its holder, or, while it
// waits, an operator it is offered to.
func (c *chat) involved(o *operator) bool {
	if c.rec.Status == ChatHeld {
		return c.holder == o
	}
	return c.isOffered(o)
}

// fresh reports whether the chat is still what a patron wrote alone: never
// answered, never transferred. Offers of a fresh chat show the patron's
// lines as messages; other offers show the conversation as one notice.
func (c *chat) fresh() bool {
	return c.rec.FirstAnswer.IsZero() && c.rec.Transfers == 0
}

// keptLines returns a copy of the kept lines, oldest first.
func (c *chat) keptLines() []Line {
	if len(c.lines) == 0 {
		return nil
	}
	out := make([]Line, 0, len(c.lines))
	out = append(out, c.lines[c.first:]...)
	return append(out, c.lines[:c.first]...)
}

// eachLine calls f on the kept lines, oldest first.
func (c *chat) eachLine(f func(*Line)) {
	n := len(c.lines)
	for i := 0; i < n; i++ {
		f(&c.lines[(c.first+i)%n])
	}
}

// addLine records a new line of c: it is kept, counted, and saved. The
// line alone does not make the record dirty: the record's Lines and
// LastActivity follow from the saved line (the store derives them for
// open chats), so a line costs no SaveChat.
func (e *Engine) addLine(c *chat, src LineSource, op OperatorID, text string, atts []protocols.Attachment) {
	l := Line{N: c.rec.Lines, At: e.now, From: src, Operator: op, Text: text, Attachments: atts}
	c.rec.Lines++
	c.rec.LastActivity = e.now
	if len(c.lines) < e.ctxLines {
		c.lines = append(c.lines, l)
	} else {
		c.lines[c.first] = l
		c.first = (c.first + 1) % len(c.lines)
	}
	e.out = append(e.out, Action{Kind: SaveLine, Chat: c.rec.ID, Queue: c.rec.Origin, Line: l})
}

// setPlace moves c to queue q (nil when it ends) with status st, keeping
// the per-queue counts.
func (e *Engine) setPlace(c *chat, q *queue, st ChatStatus) {
	if c.queue == q && c.rec.Status == st {
		return
	}
	if c.queue != nil {
		switch c.rec.Status {
		case ChatWaiting:
			c.queue.waiting--
		case ChatHeld:
			delete(c.queue.held, c.rec.ID)
		}
	}
	c.queue = q
	c.rec.Status = st
	if q != nil {
		c.rec.Queue = q.id
		switch st {
		case ChatWaiting:
			q.waiting++
		case ChatHeld:
			q.held[c.rec.ID] = c
		}
	}
	e.markDirty(c)
}

// setHolder makes o (nil: nobody) hold c.
func (e *Engine) setHolder(c *chat, o *operator) {
	if c.holder != nil {
		delete(c.holder.holds, c.rec.ID)
		c.last = c.holder
	}
	c.holder = o
	c.rec.Operator = ""
	if o != nil {
		o.holds[c.rec.ID] = c
		c.rec.Operator = o.id
		c.last = o
	}
	e.markDirty(c)
}

// toWatchers sends a notice about c to whoever follows it: the holder, or
// the operators it is offered to; except skips one of them (may be nil).
func (e *Engine) toWatchers(c *chat, except *operator, text string) {
	if c.holder != nil {
		if c.holder != except {
			e.chatNotice(c.holder, c, text)
		}
		return
	}
	for _, o := range c.offered {
		if o != except {
			e.chatNotice(o, c, text)
		}
	}
}

func (e *Engine) patronEvent(ev PatronEvent) {
	in := ev.Inbound
	switch p := in.(type) { // pointers implement Inbound too
	case *protocols.Message:
		in = *p
	case *protocols.StateChange:
		in = *p
	case *protocols.Left:
		in = *p
	case *protocols.Receipt:
		in = *p
	case *protocols.DeliveryFailure:
		in = *p
	}
	switch in := in.(type) {
	case protocols.Message:
		e.patronMessage(ev.Guest, in)
	case protocols.StateChange:
		if c := e.byAddr[in.From]; c != nil {
			e.patronState(c, in.State)
		}
	case protocols.Left:
		if c := e.byAddr[in.From]; c != nil {
			e.endChat(c, EndPatronLeft, textLeft(in.Reason), nil)
		}
	case protocols.Receipt:
		if c := e.byAddr[in.From]; c != nil && c.holder != nil {
			e.out = append(e.out, Action{Kind: SendOperatorReceipt, Operator: c.holder.id,
				From: c.guestPeer(), Chat: c.rec.ID, ID: in.ID})
		}
	case protocols.DeliveryFailure:
		if c := e.byAddr[in.To]; c != nil {
			e.toWatchers(c, nil, textNotReceived(in.Reason))
		}
	}
}

func (e *Engine) patronState(c *chat, st protocols.ChatState) {
	from := c.guestPeer()
	if c.holder != nil {
		e.out = append(e.out, Action{Kind: SendOperatorState, Operator: c.holder.id, From: from, Chat: c.rec.ID, State: st})
		return
	}
	for _, o := range c.offered {
		e.out = append(e.out, Action{Kind: SendOperatorState, Operator: o.id, From: from, Chat: c.rec.ID, State: st})
	}
}

func (e *Engine) patronMessage(g GuestID, m protocols.Message) {
	c := e.byAddr[m.From]
	if c == nil {
		a := e.accounts[m.From.Account]
		if a == nil || g == "" || e.byGuest[g] != nil {
			// Not ours (an account the config does not know), or the
			// gateway broke its promise of one guest id per patron:
			// there is nobody to route it to.
			return
		}
		c = e.open(g, m.From, a)
		e.addLine(c, FromPatron, "", m.Text, m.Attachments)
		e.route(c, "", "")
		return
	}
	e.addLine(c, FromPatron, "", m.Text, m.Attachments)
	text := withAttachments(m.Text, m.Attachments)
	if c.holder != nil {
		e.chatText(c.holder, c, text, false)
		return
	}
	for _, o := range c.offered {
		e.chatText(o, c, text, false)
	}
}

// open starts a chat for the patron at addr, on the queue owning account a.
func (e *Engine) open(g GuestID, addr protocols.Address, a *account) *chat {
	if e.nextChat == 0 {
		e.nextChat = 1
	}
	c := &chat{
		rec: ChatRecord{
			ID:           e.nextChat,
			Origin:       a.q.id,
			Queue:        a.q.id,
			Library:      a.q.lib.id,
			Patron:       addr,
			Guest:        g,
			Started:      e.now,
			LastActivity: e.now,
			Transcript:   a.q.transcripts,
		},
		origin:  a.q,
		home:    a.q,
		idle:    a.idle,
		idleIdx: -1,
	}
	e.nextChat++
	e.setPlace(c, a.q, ChatWaiting)
	e.byAddr[addr] = c
	e.byGuest[g] = c
	e.pushTimer(timer{at: e.now.Add(c.idle).UnixNano(), c: c, kind: timerIdle})
	return c
}

// sendPatron delivers text to the patron of c and records it as a line of
// src (an operator's, or the system's when o is nil).
func (e *Engine) sendPatron(c *chat, o *operator, id protocols.MessageID, text string, atts []protocols.Attachment) {
	e.out = append(e.out, Action{Kind: SendPatron, Chat: c.rec.ID, Patron: c.rec.Patron, ID: id, Text: text, Attachments: atts})
	if o == nil {
		e.addLine(c, FromSystem, "", text, atts)
		return
	}
	e.addLine(c, FromOperator, o.id, text, atts)
	if c.rec.FirstAnswer.IsZero() {
		c.rec.FirstAnswer = e.now
		e.markDirty(c)
	}
}

// endChat ends c for reason: its watchers (but by) are told text, its record
// is saved as ended, and it leaves memory.
func (e *Engine) endChat(c *chat, reason EndReason, text string, by *operator) {
	e.toWatchers(c, by, text)
	e.clearOffer(c)
	e.setHolder(c, nil)
	e.setPlace(c, nil, ChatEnded)
	c.rec.Ended = e.now
	c.rec.EndReason = reason
	if c.last != nil {
		c.rec.Operator = c.last.id
	}
	c.ended = true
	c.graceGen = 0
	if c.idleIdx >= 0 {
		e.timers.remove(c.idleIdx)
	}
	c.lines, c.tiers, c.offered = nil, nil, nil // pending fallback timers may keep c a while
	delete(e.byAddr, c.rec.Patron)
	delete(e.byGuest, c.rec.Guest)
	if e.histChat == c {
		e.histChat, e.hist = nil, ""
	}
}
