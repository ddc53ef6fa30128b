package routing

import (
	"errors"
	"slices"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Engine is the routing state machine. It is not safe for concurrent use:
// the gateway drives it from one goroutine.
type Engine struct {
	clock Clock
	now   time.Time // the clock at the start of the current Handle

	ctxLines     int
	defaultIdle  time.Duration
	restoreGrace time.Duration

	libs      map[LibraryID]*library
	ops       map[OperatorID]*operator
	queues    map[QueueID]*queue
	queueList []*queue // config order
	accounts  map[protocols.AccountID]*account

	// The open chats, by patron and by guest id.
	byAddr   map[protocols.Address]*chat
	byGuest  map[GuestID]*chat
	nextChat ChatID

	timers timerHeap

	out     []Action // reused by every Handle
	dirty   []*chat  // chats whose record changed during this Handle
	scratch []*chat

	// hist caches the rendered history of one chat at one line count, so
	// that a transfer or re-offer to many operators renders it once.
	histChat  *chat
	histLines int
	hist      string
}

// New builds an engine for cfg, restoring the open chats of st (the zero
// State for a fresh start). Every operator starts offline. It fails only
// when cfg refers to what it does not define, or when st does not fit cfg
// or itself (a chat on a queue that is no longer configured, two open chats
// of one patron, ...); the error names the chat.
func New(cfg Config, clock Clock, st State) (*Engine, error) {
	if clock == nil {
		return nil, errors.New("routing: nil clock")
	}
	e := &Engine{
		clock:   clock,
		byAddr:  make(map[protocols.Address]*chat),
		byGuest: make(map[GuestID]*chat),
	}
	if err := e.build(cfg); err != nil {
		return nil, err
	}
	e.now = clock.Now()
	if err := e.restore(st); err != nil {
		return nil, err
	}
	return e, nil
}

// Handle applies one event and returns what the gateway must do, in order.
// The returned slice (and its backing array) is reused by the next call to
// Handle: use or copy it before calling Handle again. Records (SaveChat)
// come after the other actions of the event, one per chat whose record
// changed other than by new lines.
func (e *Engine) Handle(ev Event) []Action {
	clear(e.out)
	e.out = e.out[:0]
	e.now = e.clock.Now()
	switch ev := ev.(type) {
	case PatronEvent:
		e.patronEvent(ev)
	case OperatorPresence:
		e.presence(ev)
	case OperatorMessage:
		e.operatorMessage(ev)
	case OperatorChatState:
		e.operatorChatState(ev)
	case Tick:
		e.tick()
	// The same events by pointer, which implement Event too.
	case *PatronEvent:
		e.patronEvent(*ev)
	case *OperatorPresence:
		e.presence(*ev)
	case *OperatorMessage:
		e.operatorMessage(*ev)
	case *OperatorChatState:
		e.operatorChatState(*ev)
	case *Tick:
		e.tick()
	}
	e.flush()
	return e.out
}

// flush records every chat whose record changed.
func (e *Engine) flush() {
	for i, c := range e.dirty {
		c.dirty = false
		e.out = append(e.out, Action{Kind: SaveChat, Chat: c.rec.ID, Record: c.rec})
		e.dirty[i] = nil
	}
	e.dirty = e.dirty[:0]
}

// markDirty records that c's record changed in this Handle, other than its
// Lines and LastActivity (which follow from its lines): it is saved at the
// end of the event.
func (e *Engine) markDirty(c *chat) {
	if !c.dirty {
		c.dirty = true
		e.dirty = append(e.dirty, c)
	}
}

// notice sends text written by owlgate to operator o, from peer from.
func (e *Engine) notice(o *operator, from Peer, c ChatID, text string) {
	e.out = append(e.out, Action{Kind: SendOperator, Operator: o.id, From: from, Chat: c, Text: text, Notice: true})
}

// chatNotice sends a notice about chat c to o, from the patron's peer.
func (e *Engine) chatNotice(o *operator, c *chat, text string) {
	e.chatText(o, c, text, true)
}

// chatText sends text in chat c to o, from the patron's peer, naming the
// patron and the chat's queue so the link can show who it is.
func (e *Engine) chatText(o *operator, c *chat, text string, notice bool) {
	e.out = append(e.out, Action{Kind: SendOperator, Operator: o.id, From: c.guestPeer(), Chat: c.rec.ID,
		Patron: c.rec.Patron, Queue: c.rec.Queue, Text: text, Notice: notice})
}

// Snapshot returns every open chat, with the lines the engine keeps of it,
// in the order of their ids, and the next chat id. New(cfg, clock,
// e.Snapshot()) rebuilds an engine with the same chats.
func (e *Engine) Snapshot() State {
	st := State{NextChat: e.nextChat}
	if len(e.byAddr) == 0 {
		return st
	}
	st.Chats = make([]ChatSnapshot, 0, len(e.byAddr))
	for _, c := range e.sortedChats() {
		st.Chats = append(st.Chats, ChatSnapshot{Record: c.rec, Lines: c.keptLines()})
	}
	return st
}

func (e *Engine) sortedChats() []*chat {
	cs := make([]*chat, 0, len(e.byAddr))
	for _, c := range e.byAddr {
		cs = append(cs, c)
	}
	sortChats(cs)
	return cs
}

func sortChats(cs []*chat) {
	slices.SortFunc(cs, func(a, b *chat) int {
		switch {
		case a.rec.ID < b.rec.ID:
			return -1
		case a.rec.ID > b.rec.ID:
			return 1
		}
		return 0
	})
}

// QueueStatus is what the engine knows of a queue now.
type QueueStatus struct {
	Online    bool
	Available []OperatorID // its available operators, in config order
	Waiting   int          // open chats with this queue that wait for an operator
	Held      int          // open chats with this queue that an operator holds
}

// QueueOnline reports whether at least one operator of queue q is
// available. It is false for a queue that is not configured.
func (e *Engine) QueueOnline(q QueueID) bool {
	x := e.queues[q]
	return x != nil && x.online()
}

// QueueStatus returns the status of queue q, and false when q is not
// configured.
func (e *Engine) QueueStatus(q QueueID) (QueueStatus, bool) {
	x := e.queues[q]
	if x == nil {
		return QueueStatus{}, false
	}
	s := QueueStatus{Online: x.online(), Waiting: x.waiting, Held: len(x.held)}
	for _, o := range x.ops {
		if o.available() {
			s.Available = append(s.Available, o.id)
		}
	}
	return s, true
}

// OpenChats returns how many chats are open.
func (e *Engine) OpenChats() int { return len(e.byAddr) }
