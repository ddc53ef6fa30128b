package routing

import (
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Config is what the engine knows of the configuration. The gateway builds
// it from the YAML config; it is validated there (no unknown references, no
// fallback cycles), and the engine trusts it.
type Config struct {
	Libraries []Library
	Operators []Operator
	Queues    []Queue

	// DefaultIdleTimeout ends a chat that has been silent this long when its
	// account does not say otherwise. Zero means 30 minutes.
	DefaultIdleTimeout time.Duration

	// RestoreGrace is how long a chat restored after a restart stays held by
	// an operator who has not come back online; after that it is offered
	// again. Zero means 2 minutes.
	RestoreGrace time.Duration

	// ContextLines is how many lines of each open chat the engine keeps
	// for /history and for a transfer's context. Zero means 50.
	ContextLines int
}

// Library is one library.
type Library struct {
	ID             LibraryID
	Name           string
	Collaborations []CollaborationID
}

// Operator is one librarian.
type Operator struct {
	ID      OperatorID
	Name    string
	Library LibraryID
}

// Queue is a queue of operators, which owns the accounts patrons write to.
type Queue struct {
	ID        QueueID
	Name      string // for people; the id when empty
	Library   LibraryID
	Operators []OperatorID

	// Transcripts keeps the text of this queue's chats after they end.
	Transcripts bool

	// Fallback queues, in order. A chat goes to the first online one when
	// this queue is offline, or when nobody answered within FallbackAfter.
	// Fallbacks' own fallbacks follow, depth first.
	Fallback      []QueueID
	FallbackAfter time.Duration // 0: no timed fallback

	// OfflineMessage is what a patron is told when no queue of the chain
	// is online; the engine's default when empty (see OfflineText).
	OfflineMessage string

	// ShowPhone makes /who show the patron's phone number, for chats that
	// came in on this queue's accounts from a phone number (SMS). Off, the
	// operators know the patron by the guest id only.
	ShowPhone bool

	Accounts []Account
}

// Account is one public account, owned by the queue it is listed under.
type Account struct {
	ID          protocols.AccountID
	Network     protocols.Network
	IdleTimeout time.Duration // 0: Config.DefaultIdleTimeout
}

// Clock tells the engine the time. Tests use a fake one.
type Clock interface {
	Now() time.Time
}

// OfflineText returns what the engine sends a patron of this queue's
// accounts when no queue of the chain is online: OfflineMessage, or the
// engine's default when it is empty.
func (q Queue) OfflineText() string {
	if q.OfflineMessage == "" {
		return textDefaultOffline
	}
	return q.OfflineMessage
}
