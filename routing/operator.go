package routing

// What operators send: text and commands to patrons and queues, internal
// messages to each other, chat states.

func (e *Engine) operatorMessage(m OperatorMessage) {
	o := e.ops[m.From]
	if o == nil {
		return // not a configured operator: the link should not let it in
	}
	switch m.To.Kind {
	case PeerGuest:
		e.toGuest(o, m)
	case PeerQueue:
		e.toQueue(o, m)
	case PeerOperator:
		e.toOperator(o, m)
	}
}

// toGuest handles text and commands from o to a patron's guest JID. Text
// reaches the patron only from the holder, or from an operator offered the
// waiting chat, who takes it; everyone else is told why not.
func (e *Engine) toGuest(o *operator, m OperatorMessage) {
	g := GuestID(m.To.ID)
	c := e.byGuest[g]
	cmd := parseCommand(m.Text)
	if cmd.kind != cmdText {
		e.guestCommand(o, m.To, c, cmd)
		return
	}
	if cmd.text == "" && len(m.Attachments) == 0 {
		return // nothing to deliver
	}
	switch {
	case c == nil:
		e.notice(o, m.To, 0, textNoChat(g))
	case c.rec.Status == ChatHeld && c.holder == o:
		e.sendPatron(c, o, m.ID, cmd.text, m.Attachments)
	case c.rec.Status == ChatHeld:
		e.chatNotice(o, c, textHeldBy(c.holder.name))
	case c.isOffered(o):
		e.claim(c, o, m, cmd.text)
	default:
		e.chatNotice(o, c, textNotOffered(c.queue.label))
	}
}

// toQueue answers what o sends to a queue's JID: /status and /help.
func (e *Engine) toQueue(o *operator, m OperatorMessage) {
	q := e.queues[QueueID(m.To.ID)]
	if q == nil {
		e.notice(o, m.To, 0, textNoQueue)
		return
	}
	switch cmd := parseCommand(m.Text); cmd.kind {
	case cmdStatus:
		e.notice(o, m.To, 0, e.queueStatusText(q))
	case cmdHelp:
		e.notice(o, m.To, 0, textQueueHelp)
	default:
		e.notice(o, m.To, 0, textQueueHint(q.label))
	}
}

// toOperator relays internal messages between operators: always allowed,
// between configured operators only.
func (e *Engine) toOperator(o *operator, m OperatorMessage) {
	t := e.ops[OperatorID(m.To.ID)]
	if t == nil {
		e.notice(o, m.To, 0, textNoOperator)
		return
	}
	e.out = append(e.out, Action{Kind: SendOperator, Operator: t.id, From: OperatorPeer(o.id),
		Text: withAttachments(m.Text, m.Attachments)})
}

// operatorChatState forwards the holder's chat states to the patron, and
// chat states between operators; the rest are dropped (they carry no text).
func (e *Engine) operatorChatState(s OperatorChatState) {
	o := e.ops[s.From]
	if o == nil {
		return
	}
	switch s.To.Kind {
	case PeerGuest:
		if c := e.byGuest[GuestID(s.To.ID)]; c != nil && c.rec.Status == ChatHeld && c.holder == o {
			e.out = append(e.out, Action{Kind: SendPatronState, Chat: c.rec.ID, Patron: c.rec.Patron, State: s.State})
		}
	case PeerOperator:
		if t := e.ops[OperatorID(s.To.ID)]; t != nil {
			e.out = append(e.out, Action{Kind: SendOperatorState, Operator: t.id, From: OperatorPeer(o.id), State: s.State})
		}
	}
}
