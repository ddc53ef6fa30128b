package xmpp

import (
	"bytes"
	"context"
	"strings"
	"unicode"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// HandleStanza handles one stanza for D or a JID at D, or an operator's
// broadcast presence. It implements [Handler]; it may be called from
// several goroutines at once, and returns once the engine handled what the
// stanza meant.
func (s *Service) HandleStanza(ctx context.Context, st *Stanza) {
	switch st.Kind {
	case KindPresence:
		s.handlePresence(st)
	case KindMessage:
		s.handleMessage(st)
	case KindIQ:
		s.handleIQ(st)
	}
}

// Connected announces the queues' presence to their operators, and in
// component mode asks the operators' servers for their presence: a
// subscription request and a probe from each queue JID to each of its
// operators (from D to operators in no queue). It implements [Handler].
func (s *Service) Connected(ctx context.Context) {
	s.log.Info("operator link connected", "domain", s.domainStr)
	s.enqueue(job{kind: jobAnnounce})
}

// Disconnected forgets every operator's presence: each resource that was
// online is posted offline, so the engine routes their chats again. It
// implements [Handler].
func (s *Service) Disconnected(ctx context.Context) {
	s.log.Warn("operator link disconnected; operators count as offline until their presence comes again")
	for _, op := range s.opList {
		op.pmu.Lock()
		for r := range op.res {
			delete(op.res, r)
			s.postEvent(routing.OperatorPresence{Operator: op.id, Resource: routing.ResourceID(r), Show: routing.ShowOffline})
		}
		op.pmu.Unlock()
	}
}

// showOf maps an available or unavailable presence to the engine's Show.
// An unknown <show/> counts as available (RFC 6121 4.7.2.1 lists four;
// a client that writes another still says it is there).
func showOf(st *Stanza) routing.Show {
	if st.Type == "unavailable" {
		return routing.ShowOffline
	}
	switch st.PresenceShow {
	case "chat":
		return routing.ShowChat
	case "away":
		return routing.ShowAway
	case "xa":
		return routing.ShowXA
	case "dnd":
		return routing.ShowDND
	}
	return routing.ShowAvailable
}

func (s *Service) handlePresence(st *Stanza) {
	from := s.resolve(st.From)
	switch st.Type {
	case "", "unavailable":
		if from.kind != jidOperator {
			s.log.Debug("presence from someone who is not an operator; ignored", "from", st.From.String())
			return
		}
		if !from.op.remote && !st.To.Equal(jid.JID{}) {
			// The embedded server reports its sessions' broadcast
			// presence (To empty); a directed presence to one of our
			// JIDs says nothing about the operator's availability.
			return
		}
		s.operatorPresence(from.op, st)
		return
	case "error":
		s.log.Debug("presence error", "from", st.From.String(), "to", st.To.String(), "cond", st.ErrorCond)
		return
	}
	if st.To.Equal(jid.JID{}) {
		return // subscription stanzas are always addressed
	}
	to := s.resolve(st.To)
	ours := to.kind == jidQueue || to.kind == jidGuest || to.kind == jidDomain
	reply := func(typ string) {
		s.enqueue(job{kind: jobStanza, stanza: &Stanza{Kind: KindPresence, From: st.To.Bare(), To: st.From.Bare(), Type: typ}})
	}
	switch st.Type {
	case "subscribe":
		if from.kind != jidOperator || !ours {
			s.log.Debug("subscription request refused", "from", st.From.String(), "to", st.To.String())
			reply("unsubscribed")
			return
		}
		s.enqueue(job{kind: jobPresenceOf, subscribed: true, from: st.To.Bare(), to: st.From.Bare()})
	case "probe":
		switch {
		case from.kind == jidOperator && ours:
			s.enqueue(job{kind: jobPresenceOf, from: st.To.Bare(), to: st.From})
		case to.kind == jidUnknown:
			reply("unsubscribed")
		}
	case "unsubscribe":
		if ours {
			// RFC 6121 3.3: the contact's presence stops; the operator
			// still gets queue changes as directed presence.
			reply("unavailable")
		}
	case "subscribed":
		if from.kind == jidOperator {
			s.log.Debug("operator accepted a presence subscription", "operator", from.op.id, "to", st.To.String())
		}
	case "unsubscribed":
		// Also the answer to a probe before the operator accepted the
		// subscription request, so not worth more than debug.
		if from.kind == jidOperator {
			s.log.Debug("no presence subscription from the operator (yet): owlgate learns their presence only when their client sends it",
				"operator", from.op.id, "to", st.To.String())
		}
	}
}

// operatorPresence posts a change of one of op's resources, once: in
// component mode the operator's server sends a copy to every queue JID
// subscribed to them.
func (s *Service) operatorPresence(op *opInfo, st *Stanza) {
	show := showOf(st)
	res := st.From.Resourcepart()
	op.pmu.Lock()
	defer op.pmu.Unlock()
	if show == routing.ShowOffline && res == "" {
		// Unavailable from the bare JID: every session is gone.
		for r := range op.res {
			delete(op.res, r)
			s.postEvent(routing.OperatorPresence{Operator: op.id, Resource: routing.ResourceID(r), Show: routing.ShowOffline})
		}
		return
	}
	old, known := op.res[res]
	switch {
	case known && old == show, !known && show == routing.ShowOffline:
		return
	case show == routing.ShowOffline:
		delete(op.res, res)
	default:
		op.res[res] = show
	}
	s.log.Debug("operator presence", "operator", op.id, "resource", res, "show", show.String())
	s.postEvent(routing.OperatorPresence{Operator: op.id, Resource: routing.ResourceID(res), Show: show})
	if !known {
		// A new session: show it the queues and the patrons it should
		// see (its server may not have asked).
		s.enqueue(job{kind: jobWelcome, op: op, to: st.From})
	}
}

// chatStates maps XEP-0085 element names to chat states.
var chatStates = map[string]protocols.ChatState{
	"active":    protocols.StateActive,
	"composing": protocols.Composing,
	"paused":    protocols.Paused,
	"inactive":  protocols.Inactive,
	"gone":      protocols.Gone,
}

// encryptedNS are the payloads of end-to-end encrypted messages, which
// owlgate cannot read and must not pass on as their fallback body.
var encryptedNS = [][]byte{
	[]byte(`"eu.siacs.conversations.axolotl"`), // OMEMO (legacy)
	[]byte(`"urn:xmpp:omemo:`),                 // OMEMO 2
	[]byte(`"jabber:x:encrypted"`),             // XEP-0027 PGP
	[]byte(`"urn:xmpp:openpgp:0"`),             // XEP-0373
}

func encrypted(st *Stanza) bool {
	if strings.HasPrefix(st.Body, "?OTR") {
		return true
	}
	for _, ns := range encryptedNS {
		if bytes.Contains(st.Payload, ns) {
			return true
		}
	}
	return false
}

const (
	textEncrypted = "owlgate cannot read end-to-end encrypted messages (OMEMO, OTR, PGP): " +
		"turn encryption off for this contact and send it again."
	textToDomain = "This is owlgate. Write to a queue (like %s) or to a patron's guest JID."
)

func (s *Service) handleMessage(st *Stanza) {
	switch st.Type {
	case "error":
		s.log.Debug("message error", "from", st.From.String(), "to", st.To.String(), "cond", st.ErrorCond)
		return
	case "headline":
		return
	}
	hasContent := st.Body != "" || len(st.OOBURLs) > 0
	from := s.resolve(st.From)
	if from.kind != jidOperator {
		if hasContent {
			s.log.Debug("message from someone who is not an operator; refused", "from", st.From.String(), "to", st.To.String())
			s.enqueue(job{kind: jobStanza, stanza: ErrorReply(st, "cancel", "service-unavailable", "")})
		}
		return
	}
	op := from.op
	to := s.resolve(st.To)
	switch to.kind {
	case jidQueue, jidGuest, jidOperator:
	case jidDomain:
		if hasContent {
			s.enqueue(job{kind: jobStanza, stanza: ErrorReply(st, "cancel", "service-unavailable",
				strings.Replace(textToDomain, "%s", s.exampleQueue(op), 1))})
		}
		return
	default:
		if hasContent {
			s.enqueue(job{kind: jobStanza, stanza: ErrorReply(st, "cancel", "item-not-found", s.noSuchText(op, st.To))})
		}
		return
	}
	if st.Type == "groupchat" {
		if hasContent {
			s.enqueue(job{kind: jobStanza, stanza: ErrorReply(st, "modify", "bad-request", "")})
		}
		return
	}
	if hasContent {
		if encrypted(st) {
			s.log.Info("encrypted message from an operator refused", "operator", op.id, "to", st.To.String())
			s.enqueue(job{kind: jobStanza, stanza: ErrorReply(st, "modify", "not-acceptable", textEncrypted)})
			return
		}
		text, atts := content(st)
		if to.kind == jidGuest {
			text = s.transferArg(text)
		}
		s.log.Debug("operator message", "operator", op.id, "to", st.To.String(), "text", text)
		s.postEvent(routing.OperatorMessage{From: op.id, To: to.peer, ID: protocols.MessageID(st.ID),
			Text: text, Attachments: atts})
		if st.ReceiptReq && st.ID != "" && to.kind == jidQueue {
			// A queue reads its commands at once; a patron's receipt
			// comes from their network, if ever.
			s.enqueue(job{kind: jobStanza, stanza: &Stanza{Kind: KindMessage, From: st.To.Bare(), To: st.From,
				Type: st.Type, ReceiptFor: st.ID}})
		}
		return
	}
	if st.ChatState != "" {
		if cs, ok := chatStates[st.ChatState]; ok {
			s.postEvent(routing.OperatorChatState{From: op.id, To: to.peer, State: cs})
		}
		return
	}
	// Receipts, markers and whatever else has no text: the engine takes
	// no receipts from operators.
}

// content is a message's text and attachments. A body that only repeats
// an attachment's URL (XEP-0066 as HTTP upload clients send it) is not
// sent as text too.
func content(st *Stanza) (string, []protocols.Attachment) {
	if len(st.OOBURLs) == 0 {
		return st.Body, nil
	}
	text := st.Body
	atts := make([]protocols.Attachment, 0, len(st.OOBURLs))
	for _, u := range st.OOBURLs {
		atts = append(atts, protocols.Attachment{URL: u})
		if strings.TrimSpace(text) == u {
			text = ""
		}
	}
	return text, atts
}

// transferArg rewrites the JID in "/transfer <JID>" to what the engine
// knows: a queue's JID (science@D) to the queue's id, an operator's JID in
// any case, or as an xmpp: URI (which clients insert for a dragged
// contact), to the operator's configured id. Other text is returned as is.
func (s *Service) transferArg(text string) string {
	const cmd = "/transfer"
	if len(text) <= len(cmd) || !strings.EqualFold(text[:len(cmd)], cmd) || !unicode.IsSpace(rune(text[len(cmd)])) {
		return text
	}
	arg := strings.TrimSpace(text[len(cmd):])
	arg = strings.TrimPrefix(arg, "xmpp:")
	if i := strings.IndexByte(arg, '?'); i >= 0 {
		arg = arg[:i]
	}
	if !strings.Contains(arg, "@") {
		return text
	}
	j, err := jid.Parse(arg)
	if err != nil {
		return text
	}
	switch a := s.resolve(j); a.kind {
	case jidQueue:
		return text[:len(cmd)] + " " + string(a.q.id)
	case jidOperator:
		return text[:len(cmd)] + " " + string(a.op.id)
	}
	return text
}

// exampleQueue is a queue JID to name in help: op's first queue, or any.
func (s *Service) exampleQueue(op *opInfo) string {
	switch {
	case len(op.queues) > 0:
		return op.queues[0].jid.String()
	case len(s.queueList) > 0:
		return s.queueList[0].jid.String()
	}
	return "queue@" + s.domainStr
}

// noSuchText explains a message to a JID at D that is nobody.
func (s *Service) noSuchText(op *opInfo, to jid.JID) string {
	var b strings.Builder
	b.WriteString("There is no queue or patron ")
	b.WriteString(to.Bare().String())
	b.WriteString(".")
	if len(op.queues) > 0 {
		b.WriteString(" Your queues: ")
		for i, q := range op.queues {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(q.jid.String())
		}
		b.WriteString(".")
	}
	return b.String()
}
