package routing

import "time"

// Timers are a min-heap of deadlines with lazy invalidation: nothing is
// removed from the heap when it stops mattering. A fallback or grace timer
// carries the generation of its chat it was set for, and is dropped when it
// comes due if the chat has moved on; an idle timer, one per chat, is only
// pushed again (to LastActivity + idle) when it comes due before the chat's
// real idle deadline. So no event costs more than O(log n) timer work, and
// patron and operator lines cost none.

type timerKind uint8

const (
	timerIdle     timerKind = iota + 1 // the chat's idle timeout
	timerFallback                      // widen a waiting chat's offer to the next tier
	timerGrace                         // a restored chat's holder has not come back
)

type timer struct {
	at   int64 // Unix nanoseconds
	c    *chat
	gen  uint32
	kind timerKind
}

// before orders timers by deadline, then chat id, then kind, so that timers
// due together run in the same order whatever the heap's history.
func (t *timer) before(u *timer) bool {
	if t.at != u.at {
		return t.at < u.at
	}
	if t.c.rec.ID != u.c.rec.ID {
		return t.c.rec.ID < u.c.rec.ID
	}
	return t.kind < u.kind
}

// timerHeap is a binary min-heap. It keeps each chat's idleIdx up to date,
// so that the idle timer of a chat that ends is removed at once: ended
// chats are not kept alive by the heap for the rest of their timeout.
type timerHeap []timer

// set puts t at index i.
func (h timerHeap) set(i int, t timer) {
	h[i] = t
	if t.kind == timerIdle {
		t.c.idleIdx = i
	}
}

func (h timerHeap) up(i int) {
	t := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !t.before(&h[p]) {
			break
		}
		h.set(i, h[p])
		i = p
	}
	h.set(i, t)
}

func (h timerHeap) down(i int) {
	n := len(h)
	t := h[i]
	for {
		m := 2*i + 1
		if m >= n {
			break
		}
		if r := m + 1; r < n && h[r].before(&h[m]) {
			m = r
		}
		if !h[m].before(&t) {
			break
		}
		h.set(i, h[m])
		i = m
	}
	h.set(i, t)
}

func (h *timerHeap) push(t timer) {
	*h = append(*h, t)
	h.up(len(*h) - 1)
}

// remove takes out the timer at index i and returns it.
func (h *timerHeap) remove(i int) timer {
	s := *h
	t := s[i]
	n := len(s) - 1
	if i != n {
		s.set(i, s[n])
	}
	s[n] = timer{}
	s = s[:n]
	*h = s
	if i < n {
		s.down(i)
		s.up(i)
	}
	if t.kind == timerIdle {
		t.c.idleIdx = -1
	}
	return t
}

func (h *timerHeap) pop() timer { return h.remove(0) }

func (e *Engine) pushTimer(t timer) { e.timers.push(t) }

// idleAt is when chat c ends for silence.
func (c *chat) idleAt() int64 { return c.rec.LastActivity.Add(c.idle).UnixNano() }

// live reports whether t still matters, and when it is really due.
func (t *timer) live() (bool, int64) {
	c := t.c
	if c.ended {
		return false, 0
	}
	switch t.kind {
	case timerIdle:
		return true, c.idleAt()
	case timerFallback:
		return t.gen == c.fbGen && c.rec.Status == ChatWaiting, t.at
	case timerGrace:
		return t.gen == c.graceGen && c.rec.Status == ChatHeld, t.at
	}
	return false, 0
}

// tick runs the timers that are due.
func (e *Engine) tick() {
	now := e.now.UnixNano()
	for len(e.timers) > 0 && e.timers[0].at <= now {
		t := e.timers.pop()
		ok, at := t.live()
		switch {
		case !ok:
		case at > now: // an idle timer of a chat that had lines since
			t.at = at
			e.timers.push(t)
		case t.kind == timerIdle:
			e.endChat(t.c, EndIdle, textIdle(t.c.idle), nil)
		case t.kind == timerFallback:
			e.widen(t.c)
		case t.kind == timerGrace:
			if h := t.c.holder; h != nil && !h.available() {
				e.holderGone(t.c)
			}
			t.c.graceGen = 0
		}
	}
}

// NextDeadline returns when the earliest pending timer is due (fallback,
// idle timeout, restore grace), and false when none is pending. The gateway
// sends a [Tick] then. Stale timers at the top of the heap are dropped, so
// the deadline is a real one.
func (e *Engine) NextDeadline() (time.Time, bool) {
	for len(e.timers) > 0 {
		t := &e.timers[0]
		ok, at := t.live()
		switch {
		case !ok:
			e.timers.pop()
		case at > t.at:
			u := e.timers.pop()
			u.at = at
			e.timers.push(u)
		default:
			return time.Unix(0, t.at), true
		}
	}
	return time.Time{}, false
}
