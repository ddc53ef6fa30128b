package routing

import "strconv"

// QueueID is a queue's id from the config; its JID is <queue>@domain.
type QueueID string

// LibraryID is a library's id from the config.
type LibraryID string

// CollaborationID names a collaboration: libraries that share queues and
// may transfer chats to each other.
type CollaborationID string

// OperatorID is an operator's bare JID, as written in the config
// ("alice@example.edu").
type OperatorID string

// ResourceID is the resource of one of an operator's XMPP sessions: an
// operator may be logged in from several clients at once.
type ResourceID string

// GuestID is the stable id of a patron on one account ("guest-1042"); it is
// the local part of the patron's JID. The store assigns it, never from a
// phone number or handle.
type GuestID string

// GuestPrefix starts every guest id. No queue id may start with it.
const GuestPrefix = "guest-"

// GuestIDFromNumber returns the guest id of sequence number n: guest-<n>.
func GuestIDFromNumber(n int64) GuestID {
	return GuestID(GuestPrefix + strconv.FormatInt(n, 10))
}

// ChatID identifies one chat. The engine assigns them in increasing order.
type ChatID uint64
