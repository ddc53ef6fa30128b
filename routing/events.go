package routing

import "github.com/owlgate/owlgate/protocols"

// Event is something the engine reacts to: one of [PatronEvent],
// [OperatorPresence], [OperatorMessage], [OperatorChatState] or [Tick].
type Event interface{ event() }

// PatronEvent is an event from a patron's network. The gateway resolves the
// patron's stable guest id (from the store) before handing it over. A send
// that failed for good is reported as a [protocols.DeliveryFailure].
type PatronEvent struct {
	Guest   GuestID
	Inbound protocols.Inbound
}

// Show is an operator's XMPP presence.
type Show uint8

// The presences. Only [ShowAvailable] and [ShowChat] make an operator
// available for chats.
const (
	ShowOffline   Show = iota // unavailable, or disconnected
	ShowAvailable             // available, no <show/>
	ShowChat                  // <show>chat</show>
	ShowAway                  // <show>away</show>
	ShowXA                    // <show>xa</show>
	ShowDND                   // <show>dnd</show>
)

var showNames = [...]string{"offline", "available", "chat", "away", "xa", "dnd"}

func (s Show) String() string {
	if int(s) < len(showNames) {
		return showNames[s]
	}
	return "unknown"
}

// Available reports whether an operator with this presence is offered chats.
func (s Show) Available() bool { return s == ShowAvailable || s == ShowChat }

// OperatorPresence is the presence of one of an operator's sessions. An
// operator is available when any of their resources is.
type OperatorPresence struct {
	Operator OperatorID
	Resource ResourceID
	Show     Show
}

// PeerKind says what a [Peer] is.
type PeerKind uint8

// The kinds of peer. Their JIDs are <queue>@D, guest-N@D and the operator's
// own JID.
const (
	PeerQueue PeerKind = iota + 1
	PeerGuest
	PeerOperator
)

// Peer is the other end of an operator's conversation: a queue, a patron (by
// guest id) or another operator. The operator link maps JIDs to peers and
// back.
type Peer struct {
	Kind PeerKind
	ID   string
}

// QueuePeer, GuestPeer and OperatorPeer make peers.
func QueuePeer(q QueueID) Peer       { return Peer{Kind: PeerQueue, ID: string(q)} }
func GuestPeer(g GuestID) Peer       { return Peer{Kind: PeerGuest, ID: string(g)} }
func OperatorPeer(o OperatorID) Peer { return Peer{Kind: PeerOperator, ID: string(o)} }

// OperatorMessage is a message an operator sent to a peer. Text starting
// with "/" to a queue or a guest is a command.
type OperatorMessage struct {
	From        OperatorID
	To          Peer
	ID          protocols.MessageID // the stanza id, echoed in receipts; may be empty
	Text        string
	Attachments []protocols.Attachment
}

// OperatorChatState is an operator's chat state towards a peer.
type OperatorChatState struct {
	From  OperatorID
	To    Peer
	State protocols.ChatState
}

// Tick tells the engine that time passed: it runs the timers that are due
// (fallback, idle timeout, restore grace). The gateway sends one at
// [Engine.NextDeadline].
type Tick struct{}

func (PatronEvent) event()       {}
func (OperatorPresence) event()  {}
func (OperatorMessage) event()   {}
func (OperatorChatState) event() {}
func (Tick) event()              {}
