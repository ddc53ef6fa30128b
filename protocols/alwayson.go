package protocols

// AlwaysOn is an optional ability of an [Adapter] whose account cannot log
// out: the network reaches owlgate (a phone number whose texts Twilio posts
// to a web hook), so patrons can write at any hour, staffed or not.
//
// The gateway runs such an adapter from its own start to its shutdown,
// whatever the presence of the account's queue: no waiting for the queue to
// come online, no grace period, no logging out. It still restarts it with
// backoff when Run fails, and stops retrying on bad credentials as for any
// account. What patrons write while nobody is staffed is thus recorded, and
// the routing engine answers it with the queue's offline message (and
// records the chat as unanswered if nobody takes it).
type AlwaysOn interface {
	// AlwaysOn reports whether the account must run while its queue is
	// offline. It does not change while the adapter lives.
	AlwaysOn() bool
}

// OfflineMessageSetter is an optional ability of an [AlwaysOn] adapter that
// wants to know the text its patrons are sent when nobody can answer them,
// so as to hold back repeats of it (a text costs the patron and the
// library; SMS sends it at most once per number every 12 hours). The
// gateway calls SetOfflineMessage once, before the first Run, with the
// offline message of the account's queue as the engine sends it (the
// queue's offline_message, or the engine's default).
type OfflineMessageSetter interface {
	SetOfflineMessage(text string)
}
