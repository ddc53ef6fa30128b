// Package gateway is the owlgate daemon: it joins the accounts' adapters,
// the routing engine, the operator link and the store.
//
// One goroutine owns the engine ([routing.Engine] is not safe for concurrent
// use, by design): every event, from a patron's network, from an operator,
// or a timer, goes through one channel to that loop, which hands it to the
// engine and carries out the actions it returns. Writes go to the store as
// one batch per event ([store.Store.Submit]); the loop does not wait for the
// disk, but a patron's message is acknowledged to its adapter (and so to the
// network, for web hooks) only once its batch is durable.
//
// Messages to patrons are submitted to the store's outbox (and their line
// to the chat) before they are handed to their account's sender, which sends
// them in order, one sender per account, without waiting for the disk:
// nothing is acknowledged to the operator's XMPP client after the write (no
// XEP-0198 acks), so waiting would add a sync's latency to every message
// and no guarantee. The one exception is a message whose event also changed
// a chat's record (the reply that takes the chat, a transfer): it waits
// for that record, so that a patron who saw the answer never meets, after
// a crash, a chat that forgot who holds it. What the outbox is for stays: a message the network
// does not take (the account is reconnecting, the network answers "try
// later") is retried with backoff while the failure is retryable, reported
// to the operator as "message not received" when it fails for good or for
// too long, and sent again after a restart. A crash can lose only what had
// reached neither the disk nor the network, as it would lose a stanza still
// unread. Delivered messages leave the outbox with the next batch the loop
// writes (see doneQueue in sender.go), not one batch each; one delivered
// before its record reached the disk is not written at all (the store drops
// a record marked done in the same group).
//
// An account's adapter runs while its queue is online and for a grace period
// after it went offline, restarted with backoff when it fails and stopped for
// good on bad credentials. A panic in an adapter is recovered and counted as
// a failure.
//
// # What others read
//
// Before the loop carries out an event's actions it looks at them once
// (prepare, in observe.go): the lines of chats that came in on a queue with
// redact are redacted before they are stored ([RedactText]; operators were
// sent the text as written); each QueuePresence updates a snapshot of the
// queues' online state, which [Gateway.QueueOnline] reads without going
// through the loop (the presence API answers from it); and chat records
// tell the [Observer] (the metrics) when a chat opens, is first answered
// and ends. [Gateway.Snapshot] asks the loop itself for the engine's queues
// and open chats (for /status); [Gateway.Accounts] reads the accounts'
// states.
package gateway
