package protocols

import "time"

// ChatState is a XEP-0085-style chat state: what the other side is doing.
type ChatState uint8

// The chat states. Networks that know only "typing" report [Composing] and
// [Paused].
const (
	StateActive ChatState = iota + 1
	Composing
	Paused
	Inactive
	Gone
)

var chatStateNames = [...]string{"", "active", "composing", "paused", "inactive", "gone"}

func (s ChatState) String() string {
	if int(s) < len(chatStateNames) && s != 0 {
		return chatStateNames[s]
	}
	return "unknown"
}

// Attachment is a file a patron sent or an operator shares, as a link.
type Attachment struct {
	URL      string
	Name     string // file name, if the network gives one
	MIMEType string
	Size     int64 // bytes; 0 when unknown
}

// Inbound is an event from a network: one of [Message], [StateChange],
// [Left], [Receipt] or [DeliveryFailure].
type Inbound interface {
	// Patron is the patron the event is from or about.
	Patron() Address
	inbound()
}

// Message is text a patron sent, with optional attachments.
type Message struct {
	From        Address
	ID          MessageID
	Text        string
	Attachments []Attachment
	Sent        time.Time // when the network says it was sent; zero if unknown
}

// StateChange is a patron's chat state (typing, paused).
type StateChange struct {
	From  Address
	State ChatState
}

// Left reports that the patron left: quit IRC, left the Matrix room, closed
// the web chat.
type Left struct {
	From   Address
	Reason string // for the operator, e.g. "quit: Ping timeout"; may be empty
}

// Receipt reports that a message owlgate sent reached the patron.
type Receipt struct {
	From Address
	ID   MessageID
}

// DeliveryFailure reports that a message owlgate sent was not delivered,
// for example a Twilio status callback with status "undelivered". Adapters
// report failures that happen after Send returned; a failure that Send itself
// sees is its returned error.
type DeliveryFailure struct {
	To     Address
	ID     MessageID
	Reason string // short and free of personal data: "number unreachable"
}

func (m Message) Patron() Address         { return m.From }
func (s StateChange) Patron() Address     { return s.From }
func (l Left) Patron() Address            { return l.From }
func (r Receipt) Patron() Address         { return r.From }
func (f DeliveryFailure) Patron() Address { return f.To }

func (Message) inbound()         {}
func (StateChange) inbound()     {}
func (Left) inbound()            {}
func (Receipt) inbound()         {}
func (DeliveryFailure) inbound() {}

// Outbound is an event owlgate sends to a patron: one of [OutMessage],
// [OutState] or [OutAttachment].
type Outbound interface {
	// Patron is the patron the event is for.
	Patron() Address
	outbound()
}

// OutMessage is text for a patron. Its ID is chosen by owlgate; an adapter
// whose network assigns its own ids reports receipts and failures with the
// id owlgate gave.
type OutMessage struct {
	To   Address
	ID   MessageID
	Text string
}

// OutState is a chat state for a patron. Adapters whose network has no
// typing notifications ignore it and return nil.
type OutState struct {
	To    Address
	State ChatState
}

// OutAttachment is a file for a patron, as a link. Networks without
// attachments get the URL as text.
type OutAttachment struct {
	To         Address
	ID         MessageID
	Attachment Attachment
	Caption    string
}

func (m OutMessage) Patron() Address    { return m.To }
func (s OutState) Patron() Address      { return s.To }
func (a OutAttachment) Patron() Address { return a.To }

func (OutMessage) outbound()    {}
func (OutState) outbound()      {}
func (OutAttachment) outbound() {}

// Compile-time guards: every event implements its interface.
var (
	_ Inbound  = Message{}
	_ Inbound  = StateChange{}
	_ Inbound  = Left{}
	_ Inbound  = Receipt{}
	_ Inbound  = DeliveryFailure{}
	_ Outbound = OutMessage{}
	_ Outbound = OutState{}
	_ Outbound = OutAttachment{}
)
