package routing

import "slices"

// Offers: where a waiting chat goes, who is offered it, fallback, claims,
// and what operator presence changes.

// route offers waiting chat c afresh, from the start of its home's chain:
// the offer covers the chain up to its first online queue, which the chat
// is then with. preface, when set, is a notice each offered operator gets
// before the offer; header starts the conversation notice of a chat that is
// not fresh. With no queue of the chain online, the offer covers the whole
// chain (whoever comes online first is offered the chat), and the patron is
// sent the offline message, once per chat.
func (e *Engine) route(c *chat, preface, header string) {
	e.clearOffer(c)
	chain := c.home.chain
	i := firstOnline(chain, 0)
	if i < 0 {
		e.setPlace(c, c.home, ChatWaiting)
		e.extend(c, len(chain)-1, "", "")
		if !c.rec.OfflineNotified {
			c.rec.OfflineNotified = true
			e.markDirty(c)
			e.sendPatron(c, nil, "", c.origin.offline, nil)
		}
		return
	}
	e.setPlace(c, chain[i], ChatWaiting)
	e.extend(c, i, preface, header)
}

// firstOnline returns the index of the first online queue of chain from
// index from on, or -1.
func firstOnline(chain []*queue, from int) int {
	for i := from; i < len(chain); i++ {
		if chain[i].online() {
			return i
		}
	}
	return -1
}

// extend widens the offer of waiting chat c to the queues of its chain up
// to index to: each available operator of them not yet offered the chat is
// offered it. When the last queue added is online and has a timed
// fallback, the timer to widen further is set.
func (e *Engine) extend(c *chat, to int, preface, header string) {
	chain := c.home.chain
	for ; c.pos < to; c.pos++ {
		q := chain[c.pos+1]
		c.tiers = append(c.tiers, q)
		q.offering[c.rec.ID] = c
		c.offered = slices.Grow(c.offered, q.availOps)
		note := ""
		for _, o := range q.ops {
			if o.available() && !c.isOffered(o) {
				if note == "" {
					note = e.note(c, q)
				}
				e.offer(c, o, preface, header, note)
			}
		}
	}
	if q := chain[to]; q.online() && q.fallbackAfter > 0 && to < len(chain)-1 {
		e.pushTimer(timer{at: e.now.Add(q.fallbackAfter).UnixNano(), c: c, kind: timerFallback, gen: c.fbGen})
	}
}

// offer offers waiting chat c to o: the preface, the patron's lines (or, for
// a chat that is not fresh, the conversation as one notice starting with
// header), the note and the hint to reply.
func (e *Engine) offer(c *chat, o *operator, preface, header, note string) {
	c.offered = append(c.offered, o)
	if preface != "" {
		e.chatNotice(o, c, preface)
	}
	if c.fresh() {
		c.eachLine(func(l *Line) {
			if l.From == FromPatron {
				e.chatText(o, c, withAttachments(l.Text, l.Attachments), false)
			}
		})
	} else {
		e.chatNotice(o, c, header+textSoFar+"\n"+e.history(c))
	}
	e.chatNotice(o, c, note)
	e.chatNotice(o, c, textHint)
}

// note is the line naming the chat in an offer made through tier q.
func (e *Engine) note(c *chat, q *queue) string {
	var why string
	switch {
	case q != c.home:
		why = "via " + c.home.label + " fallback"
	case c.rec.Transfers > 0:
		why = "transferred"
	case c.rec.FirstAnswer.IsZero():
		why = "new chat"
	default:
		why = "waiting again"
	}
	return textNote(string(c.rec.Guest), string(c.rec.Patron.Network), q.label, why)
}

// clearOffer withdraws the offer of c from every queue and operator, and
// cancels its fallback timer.
func (e *Engine) clearOffer(c *chat) {
	for i, q := range c.tiers {
		delete(q.offering, c.rec.ID)
		c.tiers[i] = nil
	}
	c.tiers = c.tiers[:0]
	clear(c.offered)
	c.offered = c.offered[:0]
	c.pos = -1
	c.fbGen++
}

// widen runs the timed fallback of waiting chat c: the offer widens to the
// next online queue of the chain, or to the whole chain when none is online.
// The operators offered it keep the offer.
func (e *Engine) widen(c *chat) {
	chain := c.home.chain
	i := firstOnline(chain, c.pos+1)
	if i < 0 {
		i = len(chain) - 1
	}
	e.extend(c, i, "", "")
}

// tierOf returns the first queue of the offer of c that o belongs to.
func (c *chat) tierOf(o *operator) *queue {
	for _, q := range c.tiers {
		if o.inQueue(q) {
			return q
		}
	}
	return nil
}

// claim makes o, who was offered waiting chat c, its holder with reply m.
// The chat is then with the queue o was offered it through.
func (e *Engine) claim(c *chat, o *operator, m OperatorMessage, text string) {
	q := c.tierOf(o)
	if q == nil {
		q = c.queue
	}
	e.sendPatron(c, o, m.ID, text, m.Attachments)
	took := textTook(o.name)
	for _, x := range c.offered {
		if x != o {
			e.chatNotice(x, c, took)
		}
	}
	e.clearOffer(c)
	e.setHolder(c, o)
	e.setPlace(c, q, ChatHeld)
	c.graceGen = 0
}

// holderGone puts held chat c back to waiting after its holder left.
func (e *Engine) holderGone(c *chat) {
	name := c.holder.name
	e.setHolder(c, nil)
	c.graceGen = 0
	e.setPlace(c, c.queue, ChatWaiting)
	e.route(c, textWentOffline(name), "")
}

func (e *Engine) presence(ev OperatorPresence) {
	o := e.ops[ev.Operator]
	if o == nil {
		return
	}
	was := o.available()
	if old, ok := o.resources[ev.Resource]; ok && old.Available() {
		o.availRes--
	}
	if ev.Show == ShowOffline {
		delete(o.resources, ev.Resource)
	} else {
		o.resources[ev.Resource] = ev.Show
	}
	if ev.Show.Available() {
		o.availRes++
	}
	switch now := o.available(); {
	case now && !was:
		e.operatorOnline(o)
	case !now && was:
		e.operatorOffline(o)
	}
}

// operatorOnline: o became available. Their queues may go online, and they
// are offered every chat waiting on their queues.
func (e *Engine) operatorOnline(o *operator) {
	for _, q := range o.queues {
		q.availOps++
		if q.availOps == 1 {
			e.out = append(e.out, Action{Kind: QueuePresence, Queue: q.id, Online: true})
		}
	}
	for _, c := range e.collect(o.queues, func(c *chat) bool { return !c.isOffered(o) }) {
		if c.ended || c.rec.Status != ChatWaiting || c.isOffered(o) {
			continue
		}
		if len(c.offered) == 0 {
			e.route(c, "", "") // it waited for anyone of its chain
			continue
		}
		if q := c.tierOf(o); q != nil {
			e.offer(c, o, "", "", e.note(c, q))
		}
	}
}

// operatorOffline: o is no longer available. Their queues may go offline;
// the chats they hold wait again; the chats they were offered and nobody
// else is re-routed.
func (e *Engine) operatorOffline(o *operator) {
	for _, q := range o.queues {
		q.availOps--
		if q.availOps == 0 {
			e.out = append(e.out, Action{Kind: QueuePresence, Queue: q.id, Online: false})
		}
	}
	held := e.scratch[:0]
	for _, c := range o.holds {
		held = append(held, c)
	}
	sortChats(held)
	for i, c := range held {
		held[i] = nil
		if c.holder == o {
			e.holderGone(c)
		}
	}
	e.scratch = held[:0]
	for _, c := range e.collect(o.queues, func(c *chat) bool { return c.isOffered(o) }) {
		if c.ended || c.rec.Status != ChatWaiting || !c.isOffered(o) {
			continue
		}
		for i, x := range c.offered {
			if x == o {
				c.offered = slices.Delete(c.offered, i, i+1)
				break
			}
		}
		if len(c.offered) == 0 {
			e.route(c, "", "")
		}
	}
}

// collect returns the chats waiting on any of qs for which keep is true,
// without duplicates, by chat id.
func (e *Engine) collect(qs []*queue, keep func(*chat) bool) []*chat {
	var cs []*chat
	for i, q := range qs {
	next:
		for id, c := range q.offering {
			for _, p := range qs[:i] {
				if p.offering[id] != nil {
					continue next
				}
			}
			if keep(c) {
				cs = append(cs, c)
			}
		}
	}
	sortChats(cs)
	return cs
}
