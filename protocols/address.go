package protocols

// Network names a chat network: "irc", "matrix", "discord", "whatsapp",
// "sms", "webchat". It is the `network` key of an account in the config.
type Network string

// AccountID is the id of one of the library's public accounts, as written in
// the config (`queues[].accounts[].id`). It is unique across the config.
type AccountID string

// UserID is a patron's id on their network: an IRC nick, a Matrix user id, a
// Discord user id, a WhatsApp JID, an E.164 phone number or a web chat
// session. It may be personal data: never log it above debug level.
type UserID string

// MessageID identifies one message on a network, or one outbound message
// owlgate sent, so that receipts and delivery failures can be matched to it.
// It may be empty when the network has no ids.
type MessageID string

// Address is a patron as one of the library's accounts sees them.
type Address struct {
	Network Network
	Account AccountID
	User    UserID
}

// String returns network/account/user. It contains the patron's id: use it
// in logs at debug level only.
func (a Address) String() string {
	return string(a.Network) + "/" + string(a.Account) + "/" + string(a.User)
}

// IsZero reports whether a is the zero Address.
func (a Address) IsZero() bool { return a == Address{} }
