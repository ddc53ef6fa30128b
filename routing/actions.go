package routing

import "github.com/owlgate/owlgate/protocols"

// ActionKind says what an [Action] asks the gateway to do.
type ActionKind uint8

// The actions. Each lists the Action fields it uses.
const (
	// SendPatron: deliver Text (and Attachments) to the patron at Patron,
	// in Chat. ID is the operator's message id, for receipts.
	SendPatron ActionKind = iota + 1
	// SendPatronState: send chat state State to Patron.
	SendPatronState
	// SendOperator: deliver Text to Operator, from peer From (the
	// patron's guest JID for everything about a chat). Notice marks text
	// owlgate wrote, not a person. Chat is set when it is about a chat,
	// and then Patron and Queue (the chat's current queue) too, when the
	// text comes from the patron's peer.
	SendOperator
	// SendOperatorState: chat state State from peer From to Operator.
	SendOperatorState
	// SendOperatorReceipt: the patron received the message with id ID;
	// tell Operator, from peer From.
	SendOperatorReceipt
	// QueuePresence: queue Queue went online (Online) or offline; the link
	// updates the queue JID's presence and the gateway logs its accounts
	// in or out.
	QueuePresence
	// SaveChat: persist Record, the chat's current record.
	SaveChat
	// SaveLine: persist Line, a new line of chat Chat, which came in on
	// queue Queue (the chat's origin: its transcript and redaction follow
	// that queue's config).
	SaveLine
)

var actionNames = [...]string{"", "send-patron", "send-patron-state", "send-operator",
	"send-operator-state", "send-operator-receipt", "queue-presence", "save-chat", "save-line"}

func (k ActionKind) String() string {
	if int(k) < len(actionNames) && k != 0 {
		return actionNames[k]
	}
	return "unknown"
}

// Action is one thing the gateway must do after an event. Only the fields
// its Kind names are set. Actions are values: the engine keeps no reference
// to what it hands out, except the Attachments slice, which must not be
// modified.
type Action struct {
	Kind        ActionKind
	Chat        ChatID
	Patron      protocols.Address
	Operator    OperatorID
	From        Peer
	Queue       QueueID
	Online      bool
	ID          protocols.MessageID
	Text        string
	Notice      bool
	State       protocols.ChatState
	Attachments []protocols.Attachment
	Record      ChatRecord
	Line        Line
}
