package routing

import "fmt"

// restore rebuilds the open chats of st. Every operator is offline now:
// a held chat keeps its holder for the restore grace, and a waiting chat
// waits on every queue of its chain until someone comes online.
func (e *Engine) restore(st State) error {
	var maxID ChatID
	ids := make(map[ChatID]bool, len(st.Chats))
	for i := range st.Chats {
		s := &st.Chats[i]
		r := s.Record
		if r.ID == 0 || ids[r.ID] {
			return fmt.Errorf("routing: restored chat %d: missing or duplicate chat id", r.ID)
		}
		ids[r.ID] = true
		maxID = max(maxID, r.ID)
		origin, cur := e.queues[r.Origin], e.queues[r.Queue]
		switch {
		case origin == nil:
			return fmt.Errorf("routing: restored chat %d: origin queue %q is not configured", r.ID, r.Origin)
		case cur == nil:
			return fmt.Errorf("routing: restored chat %d: queue %q is not configured", r.ID, r.Queue)
		case r.Status != ChatWaiting && r.Status != ChatHeld:
			return fmt.Errorf("routing: restored chat %d: status %v is not open", r.ID, r.Status)
		case r.Patron.IsZero() || r.Guest == "":
			return fmt.Errorf("routing: restored chat %d: no patron or guest id", r.ID)
		case e.byAddr[r.Patron] != nil:
			return fmt.Errorf("routing: restored chat %d: patron already has open chat %d", r.ID, e.byAddr[r.Patron].rec.ID)
		case e.byGuest[r.Guest] != nil:
			return fmt.Errorf("routing: restored chat %d: guest %s already has open chat %d", r.ID, r.Guest, e.byGuest[r.Guest].rec.ID)
		}
		c := &chat{rec: r, origin: origin, home: origin, idle: e.defaultIdle, idleIdx: -1}
		if a := e.accounts[r.Patron.Account]; a != nil {
			c.idle = a.idle
		}
		if r.Transfers > 0 {
			c.home = cur // a transfer restarts routing from its queue
		}
		lines := s.Lines
		if len(lines) > e.ctxLines {
			lines = lines[len(lines)-e.ctxLines:]
		}
		c.lines = append(make([]Line, 0, len(lines)), lines...)

		// Place the chat without counting it as a change to save.
		c.queue = cur
		holder := e.ops[r.Operator]
		if r.Status == ChatHeld && holder == nil {
			// The holder is no longer configured: the chat waits again,
			// and is saved so at its next change.
			c.rec.Status, c.rec.Operator = ChatWaiting, ""
		}
		if c.rec.Status == ChatHeld {
			cur.held[r.ID] = c
			c.holder, c.last = holder, holder
			holder.holds[r.ID] = c
			c.graceGen = 1
			e.pushTimer(timer{at: e.now.Add(e.restoreGrace).UnixNano(), c: c, kind: timerGrace, gen: c.graceGen})
		} else {
			cur.waiting++
			c.pos = -1
			e.extend(c, len(c.home.chain)-1, "", "") // nobody is available: offers nobody
		}
		e.pushTimer(timer{at: c.idleAt(), c: c, kind: timerIdle})
		e.byAddr[r.Patron] = c
		e.byGuest[r.Guest] = c
	}
	switch {
	case st.NextChat == 0:
		e.nextChat = maxID + 1
	case st.NextChat <= maxID:
		return fmt.Errorf("routing: restored state: next chat id %d is not above chat %d", st.NextChat, maxID)
	default:
		e.nextChat = st.NextChat
	}
	return nil
}
