package xmpp

import (
	"mellium.im/xmpp/jid"
)

// Namespaces of the extensions owlgate reads and writes.
const (
	NSChatStates = "http://jabber.org/protocol/chatstates" // XEP-0085
	NSReceipts   = "urn:xmpp:receipts"                     // XEP-0184
	NSNick       = "http://jabber.org/protocol/nick"       // XEP-0172
	NSOOB        = "jabber:x:oob"                          // XEP-0066
	NSDelay      = "urn:xmpp:delay"                        // XEP-0203
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info" // XEP-0030
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSPing       = "urn:xmpp:ping"     // XEP-0199
	NSVersion    = "jabber:iq:version" // XEP-0092
	NSRoster     = "jabber:iq:roster"  // RFC 6121
	NSStanzas    = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Kind is a stanza's element name.
type Kind uint8

// The three stanza kinds.
const (
	KindMessage Kind = iota + 1
	KindPresence
	KindIQ
)

func (k Kind) String() string {
	switch k {
	case KindMessage:
		return "message"
	case KindPresence:
		return "presence"
	case KindIQ:
		return "iq"
	}
	return "unknown"
}

// Stanza is one top-level stanza as the service sees it: the attributes,
// the parts of the payload owlgate understands, and the payload as raw
// XML for what it does not (an iq's query, or what a transport forwards
// between operators untouched).
//
// Transports parse incoming stanzas into it (ParseStanza) and write outgoing
// ones with its MarshalXML, in the stream's default namespace (jabber:client
// or jabber:component:accept).
type Stanza struct {
	Kind Kind
	From jid.JID
	To   jid.JID
	ID   string
	Type string // as on the wire: "chat", "unavailable", "get", "error", or empty
	Lang string

	// Message
	Body         string
	ChatState    string // XEP-0085 element name: active, composing, paused, inactive, gone; empty if none
	ReceiptReq   bool   // XEP-0184 <request/>
	ReceiptFor   string // XEP-0184 <received id=.../>; empty if none
	OOBURLs      []string
	Delay        string // XEP-0203 stamp, RFC 3339, for stored messages
	Nick         string // XEP-0172, in messages and presence
	Subject      string
	Thread       string
	ErrorType    string // for type="error": cancel, modify, auth, wait
	ErrorCond    string // defined condition, e.g. item-not-found
	ErrorText    string
	PresenceShow string // away, chat, dnd, xa; empty
	Status       string
	Priority     int

	// Payload is the raw XML of the children the fields above do not
	// cover (for an iq, its query element), as read. It is written as is.
	Payload []byte
}
