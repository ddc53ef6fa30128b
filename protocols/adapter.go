package protocols

import (
	"context"
	"log/slog"
	"time"
)

// Adapter is one logged-in public account of the library on one network.
//
// Run and Send may be called concurrently. An adapter must not panic; the
// gateway recovers a panic all the same, marks the account failed and backs
// off before running it again.
type Adapter interface {
	// Run connects the account and keeps it connected until ctx is
	// cancelled, reconnecting with backoff after transient failures. It
	// reports every change of connection state through sink.ReportState and
	// every event from the network through sink.Deliver. It returns nil
	// when ctx is cancelled, after reporting [AccountStopped], or an error
	// wrapping [ErrBadCredentials] (after reporting [AccountBadCredentials])
	// when retrying cannot help.
	Run(ctx context.Context, sink Sink) error

	// Send delivers one outbound event to a patron. It returns nil once the
	// network accepted the event, or an error; [Retryable] tells whether
	// sending the same event later can succeed. A text longer than
	// Capabilities().MaxTextLength is split by the adapter.
	Send(ctx context.Context, out Outbound) error

	// Capabilities tells what the network can do. It does not change
	// while the adapter lives.
	Capabilities() Capabilities
}

// Sink receives what an adapter reports. The gateway implements it.
type Sink interface {
	// Deliver hands one inbound event to the gateway. It returns once the
	// gateway has taken responsibility for the event (it is durably
	// stored), so an adapter may then acknowledge it to the network (for
	// example answer a web hook with 200). An error means the event was
	// not taken: the adapter should make the network retry or, when it
	// cannot, retry itself.
	Deliver(ctx context.Context, ev Inbound) error

	// ReportState records a change of the account's connection state. It
	// does not block.
	ReportState(r StateReport)
}

// Enqueuer is a [Sink] that can also take an event without waiting for it
// to be durable: Enqueue returns once the gateway has the event in its event
// loop, in order with every event delivered or enqueued before it. Adapters
// of networks with nothing to acknowledge (IRC: a message read from the
// socket cannot be given back) use it when they find it by type assertion,
// so that a burst of patron messages reaches the disk in groups rather than
// one sync after the other. What such a network delivered is no less safe:
// a crash loses at most what was not yet written, as it would lose what was
// still unread.
type Enqueuer interface {
	Enqueue(ctx context.Context, ev Inbound) error
}

// Capabilities is what a network can do, so that the engine and the
// operators can be told.
type Capabilities struct {
	Typing        bool // chat states are sent and received
	Receipts      bool // delivery receipts are reported
	Attachments   bool // files can be sent as attachments, not only as links
	RichText      bool // the network renders formatted text
	Presence      bool // the network reports the patron leaving
	MaxTextLength int  // longest text in one message, in bytes; 0 for no limit

	// IdleTimeout is how long a chat on this network may be silent before
	// it ends, when the account's config does not say. Networks without
	// presence (SMS) want a long one; 0 leaves the gateway's default.
	IdleTimeout time.Duration
}

// AccountState is the connection state of one account.
type AccountState uint8

// The account states, in the order an account usually goes through them.
const (
	AccountStopped        AccountState = iota // not running: its queue is offline, or owlgate stops
	AccountConnecting                         // connecting or logging in
	AccountOnline                             // logged in; patrons can write
	AccountBackoff                            // a transient failure; waiting before the next attempt
	AccountBadCredentials                     // the network refused the credentials; not retrying
)

var accountStateNames = [...]string{"stopped", "connecting", "online", "backoff", "bad-credentials"}

// String returns the state's name as /status and the metrics show it:
// "stopped", "connecting", "online", "backoff", "bad-credentials".
func (s AccountState) String() string {
	if int(s) < len(accountStateNames) {
		return accountStateNames[s]
	}
	return "unknown"
}

// StateReport is one change of an account's state.
type StateReport struct {
	State AccountState
	Err   error     // why, for AccountBackoff and AccountBadCredentials; never holds a secret
	Retry time.Time // when the next attempt is due, for AccountBackoff
}

// AccountSpec is what a [Factory] builds an adapter from.
type AccountSpec struct {
	ID      AccountID
	Network Network

	// Decode decodes the account's own configuration keys (every key of
	// the account but the common ones: id, network, idle_timeout) into v,
	// a pointer to the network's config struct. It is strict: an unknown
	// key is an error that names the file, line and key. Secret values
	// (`${ENV}` and `file:` references) are resolved by the config types
	// the struct uses.
	Decode func(v any) error

	// DataDir is a folder this account may keep state in (a device
	// session, a sync token). It exists.
	DataDir string

	// Log is the account's logger, with the network and account attributes
	// already set.
	Log *slog.Logger
}

// Factory builds an adapter for one account from its spec. It decodes and
// validates the account's configuration and must not do I/O: `owlgate
// check` calls it to check a config. Errors should come from spec.Decode or
// name the key at fault.
type Factory func(spec AccountSpec) (Adapter, error)

// DecodeInto decodes the account's own keys into v, as Decode does; a spec
// without Decode (a test's) leaves v as it is.
func (s AccountSpec) DecodeInto(v any) error {
	if s.Decode == nil {
		return nil
	}
	return s.Decode(v)
}

// Logger returns the account's logger, or one that discards when the spec
// has none.
func (s AccountSpec) Logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// NetworkOr returns the spec's network, or def when it names none.
func (s AccountSpec) NetworkOr(def Network) Network {
	if s.Network == "" {
		return def
	}
	return s.Network
}
