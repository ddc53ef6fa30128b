package xmpp

import (
	"context"
	"log/slog"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/routing"
)

// outState is what the sender goroutine knows; nothing else touches it.
type outState struct {
	online map[routing.QueueID]bool
	guests map[routing.GuestID]*guestState
	// nicked holds the (operator, queue or operator peer) pairs whose
	// first message carried a nickname.
	nicked map[nickKey]struct{}
}

func newOutState() outState {
	return outState{
		online: make(map[routing.QueueID]bool),
		guests: make(map[routing.GuestID]*guestState),
		nicked: make(map[nickKey]struct{}),
	}
}

type nickKey struct {
	op   routing.OperatorID
	peer routing.Peer
}

// guestState is a patron's JID while its chat is open: whom it showed
// itself to, and what its nickname says.
type guestState struct {
	jid     jid.JID
	chat    routing.ChatID
	network string
	queue   string // the queue's name
	seen    map[routing.OperatorID]uint8
}

// The bits of guestState.seen.
const (
	seenPresence uint8 = 1 << iota // the operator was sent the guest's available presence
	seenNick                       // the operator was sent the guest's nickname in this chat
)

// Status texts of the presences owlgate sends.
const (
	statusQueueOnline  = "Online"
	statusQueueOffline = "Offline: no librarian available"
	statusGuestEnded   = "Chat ended"
)

// do carries out one job of the FIFO.
func (s *Service) do(ctx context.Context, j *job) {
	switch j.kind {
	case jobAction:
		s.doAction(ctx, &j.action)
	case jobStanza:
		s.send(ctx, j.stanza)
	case jobPresenceOf:
		if j.subscribed {
			s.send(ctx, &Stanza{Kind: KindPresence, From: j.from, To: j.to, Type: "subscribed"})
		}
		s.send(ctx, s.presenceOf(j.from, j.to))
	case jobWelcome:
		s.welcome(ctx, j.op, j.to)
	case jobAnnounce:
		s.announce(ctx)
	case jobGoodbye:
		s.goodbye(ctx)
		close(j.done)
	}
}

func (s *Service) doAction(ctx context.Context, a *routing.Action) {
	switch a.Kind {
	case routing.SendOperator:
		s.sendOperator(ctx, a)
	case routing.SendOperatorState:
		op := s.opByID[a.Operator]
		from, err := s.fromJID(a.From)
		if op == nil || err != nil {
			s.log.Warn("chat state for an unknown operator or peer; dropped", "operator", a.Operator, "err", err)
			return
		}
		s.send(ctx, &Stanza{Kind: KindMessage, From: from, To: op.jid, Type: "chat", ChatState: a.State.String()})
	case routing.SendOperatorReceipt:
		op := s.opByID[a.Operator]
		from, err := s.fromJID(a.From)
		if op == nil || err != nil || a.ID == "" {
			return
		}
		s.send(ctx, &Stanza{Kind: KindMessage, From: from, To: op.jid, Type: "chat", ReceiptFor: string(a.ID)})
	case routing.QueuePresence:
		q := s.queueByID[a.Queue]
		if q == nil {
			s.log.Warn("presence of an unknown queue; dropped", "queue", a.Queue)
			return
		}
		s.out.online[q.id] = a.Online
		s.log.Info("queue presence", "queue", q.id, "online", a.Online)
		for _, op := range q.ops {
			s.send(ctx, s.queuePresence(q, op.jid))
		}
	case routing.SaveChat:
		s.chatEnded(ctx, a.Record.Guest, a.Record.ID)
	}
}

// fromJID is the JID a peer's messages come from.
func (s *Service) fromJID(p routing.Peer) (jid.JID, error) {
	if p.Kind == routing.PeerGuest {
		return s.guestJID(routing.GuestID(p.ID))
	}
	return s.PeerJID(p)
}

// sendOperator delivers text to an operator, from the peer it is about.
// The first message of each chat to each operator carries the patron's
// nickname, after the patron's JID showed itself available.
func (s *Service) sendOperator(ctx context.Context, a *routing.Action) {
	op := s.opByID[a.Operator]
	if op == nil {
		s.log.Warn("message for an unknown operator; dropped", "operator", a.Operator, "chat", a.Chat)
		return
	}
	from, err := s.fromJID(a.From)
	if err != nil {
		s.log.Warn("message from an unknown peer; dropped", "operator", op.id, "chat", a.Chat, "err", err)
		return
	}
	st := &Stanza{Kind: KindMessage, From: from, To: op.jid, ID: s.newID(), Type: "chat", Body: a.Text}
	switch a.From.Kind {
	case routing.PeerGuest:
		if a.Chat == 0 {
			break // a refusal about a patron with no open chat
		}
		g := routing.GuestID(a.From.ID)
		gs := s.guestFor(g, a.Chat, from)
		if a.Patron.Network != "" {
			gs.network = string(a.Patron.Network)
		}
		if q := s.queueByID[a.Queue]; q != nil {
			gs.queue = q.name
		}
		seen := gs.seen[op.id]
		if seen&seenPresence == 0 {
			s.send(ctx, s.guestPresence(gs, op.jid, true))
			seen |= seenPresence
		}
		if seen&seenNick == 0 {
			st.Nick = guestNick(g, gs.network, gs.queue)
			seen |= seenNick
		}
		gs.seen[op.id] = seen
	case routing.PeerQueue, routing.PeerOperator:
		k := nickKey{op: op.id, peer: a.From}
		if _, ok := s.out.nicked[k]; !ok {
			s.out.nicked[k] = struct{}{}
			if q := s.queueByID[routing.QueueID(a.From.ID)]; q != nil && a.From.Kind == routing.PeerQueue {
				st.Nick = q.name
			} else if o := s.opByID[routing.OperatorID(a.From.ID)]; o != nil {
				st.Nick = o.name
			}
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("to operator", "operator", op.id, peerAttr(a.From), a.From.ID, "chat", a.Chat, "notice", a.Notice, "text", a.Text)
	}
	s.send(ctx, st)
}

// guestFor returns the state of guest g in chat, starting afresh when the
// guest's chat changed.
func (s *Service) guestFor(g routing.GuestID, chat routing.ChatID, j jid.JID) *guestState {
	gs := s.out.guests[g]
	switch {
	case gs == nil:
		gs = &guestState{jid: j, chat: chat, seen: make(map[routing.OperatorID]uint8, 2)}
		s.out.guests[g] = gs
	case gs.chat != chat:
		// A new chat of the same patron: the nickname is sent again;
		// the presence, already available, is not.
		gs.chat = chat
		for o, seen := range gs.seen {
			gs.seen[o] = seen &^ seenNick
		}
	}
	return gs
}

// chatEnded makes an ended chat's guest JID unavailable to everyone it
// showed itself to.
func (s *Service) chatEnded(ctx context.Context, g routing.GuestID, chat routing.ChatID) {
	gs := s.out.guests[g]
	if gs == nil || gs.chat != chat {
		return
	}
	delete(s.out.guests, g)
	for o, seen := range gs.seen {
		if op := s.opByID[o]; op != nil && seen&seenPresence != 0 {
			s.send(ctx, s.guestPresence(gs, op.jid, false))
		}
	}
}

func (s *Service) queuePresence(q *queueInfo, to jid.JID) *Stanza {
	st := &Stanza{Kind: KindPresence, From: q.jid, To: to}
	if s.out.online[q.id] {
		st.Status = statusQueueOnline
	} else {
		st.Type = "unavailable"
		st.Status = statusQueueOffline
	}
	return st
}

func (s *Service) guestPresence(gs *guestState, to jid.JID, available bool) *Stanza {
	st := &Stanza{Kind: KindPresence, From: gs.jid, To: to}
	if !available {
		st.Type = "unavailable"
		st.Status = statusGuestEnded
		return st
	}
	switch {
	case gs.network != "" && gs.queue != "":
		st.Status = networkName(gs.network) + " · " + gs.queue
	case gs.network != "":
		st.Status = networkName(gs.network)
	}
	return st
}

// presenceOf is the current presence of from (D, a queue or a guest) for
// to.
func (s *Service) presenceOf(from, to jid.JID) *Stanza {
	a := s.resolve(from)
	switch a.kind {
	case jidQueue:
		return s.queuePresence(a.q, to)
	case jidGuest:
		if gs := s.out.guests[routing.GuestID(a.peer.ID)]; gs != nil {
			return s.guestPresence(gs, to, true)
		}
		return &Stanza{Kind: KindPresence, From: from, To: to, Type: "unavailable"}
	case jidDomain:
		return &Stanza{Kind: KindPresence, From: from, To: to}
	}
	return &Stanza{Kind: KindPresence, From: from, To: to, Type: "unavailable"}
}

// welcome shows a new session of op (full JID to) its queues' presence and
// the patrons it is chatting with: a server does not always probe them.
func (s *Service) welcome(ctx context.Context, op *opInfo, to jid.JID) {
	for _, q := range op.queues {
		s.send(ctx, s.queuePresence(q, to))
	}
	for _, gs := range s.out.guests {
		if gs.seen[op.id]&seenPresence != 0 {
			s.send(ctx, s.guestPresence(gs, to, true))
		}
	}
}

// announce runs when the transport (re)connects: every queue's presence to
// its operators, the open patrons' presence to whom they showed it, and in
// component mode a probe and a subscription request to each operator
// from each of their queues (from D for operators in no queue).
func (s *Service) announce(ctx context.Context) {
	for _, q := range s.queueList {
		for _, op := range q.ops {
			s.send(ctx, s.queuePresence(q, op.jid))
		}
	}
	for _, gs := range s.out.guests {
		for o, seen := range gs.seen {
			if op := s.opByID[o]; op != nil && seen&seenPresence != 0 {
				s.send(ctx, s.guestPresence(gs, op.jid, true))
			}
		}
	}
	for _, op := range s.opList {
		if !op.remote {
			continue // the embedded server reports its users' presence itself
		}
		watchers := make([]jid.JID, 0, len(op.queues))
		for _, q := range op.queues {
			watchers = append(watchers, q.jid)
		}
		if len(watchers) == 0 {
			watchers = append(watchers, s.domain)
		}
		for _, w := range watchers {
			// The probe goes first: a server answers a probe from a
			// JID without a subscription with "unsubscribed", which
			// Prosody also applies to a subscription request still
			// pending, so a request sent before it would be cancelled
			// before the operator ever saw it.
			s.send(ctx, &Stanza{Kind: KindPresence, From: w, To: op.jid, Type: "probe"})
			s.send(ctx, &Stanza{Kind: KindPresence, From: w, To: op.jid, Type: "subscribe", Nick: s.watcherNick(w)})
		}
	}
}

// watcherNick is the nickname in a subscription request (XEP-0172 4.2):
// "Reference (UNC)" for a queue, "owlgate" for D.
func (s *Service) watcherNick(w jid.JID) string {
	if q := s.queues[w.Localpart()]; q != nil && w.Localpart() != "" {
		return q.label
	}
	return "owlgate"
}

// goodbye tells every operator that the queues and open patrons went
// unavailable.
func (s *Service) goodbye(ctx context.Context) {
	for _, q := range s.queueList {
		for _, op := range q.ops {
			s.send(ctx, &Stanza{Kind: KindPresence, From: q.jid, To: op.jid, Type: "unavailable", Status: "owlgate stopped"})
		}
	}
	for g, gs := range s.out.guests {
		for o, seen := range gs.seen {
			if op := s.opByID[o]; op != nil && seen&seenPresence != 0 {
				s.send(ctx, &Stanza{Kind: KindPresence, From: gs.jid, To: op.jid, Type: "unavailable", Status: "owlgate stopped"})
			}
		}
		delete(s.out.guests, g)
	}
}

// peerAttr is the log attribute naming a peer: queue, guest or operator
// (the sending colleague, as "from").
func peerAttr(p routing.Peer) string {
	switch p.Kind {
	case routing.PeerQueue:
		return "queue"
	case routing.PeerGuest:
		return "guest"
	}
	return "from"
}
