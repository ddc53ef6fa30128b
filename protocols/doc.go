// Package protocols is the contract between owlgate and the chat networks
// patrons write from.
//
// It defines the common message model every network is translated to and
// from ([Address], the inbound events [Message], [StateChange], [Left],
// [Receipt] and [DeliveryFailure], and the outbound events [OutMessage],
// [OutState] and [OutAttachment]), the [Adapter] interface one logged-in
// public account implements, the [Capabilities] an adapter declares, the
// [AccountState] it reports, and the sentinel errors that tell the gateway
// whether retrying a send can help.
//
// The package is a leaf: it imports nothing of owlgate, so a network's
// package (protocols/irc, protocols/matrix, ...) depends on it and on
// nothing in the core. Adapters know nothing of queues, operators or XMPP.
//
// # Life of an adapter
//
// The gateway builds one adapter per configured account with the network's
// [Factory], which decodes and validates the account's own configuration
// keys and must not do any I/O, so that `owlgate check` can call it. While
// the account's queue is staffed the gateway calls [Adapter.Run], which
// connects, reconnects with [Backoff] when the connection drops, reports
// each change of state through [Sink.ReportState], and hands every event
// from the network to [Sink.Deliver]. Run returns when its context is
// cancelled, or early with an error wrapping [ErrBadCredentials] when
// retrying cannot help. [Adapter.Send] delivers one outbound event or
// returns an error for which [Retryable] says whether to try again later.
//
// Optional abilities (a web hook handler, a history fetch) are small extra
// interfaces the gateway finds with a type assertion.
package protocols
