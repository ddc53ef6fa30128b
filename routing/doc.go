// Package routing is owlgate's routing engine: queues, operators, chats,
// claims, transfers and fallback, as one deterministic state machine.
//
// The engine is pure. It starts no goroutine, does no I/O, keeps no global
// state and reads the time only from the injected [Clock]. The gateway
// feeds it one [Event] at a time from a single goroutine through
// [Engine.Handle], and carries out the [Action] values it returns, in
// order: deliver to a patron or an operator, change a queue's presence,
// persist a record or a line. It sends a [Tick] at [Engine.NextDeadline].
// [Engine.Snapshot] and [New] rebuild the engine after a restart.
//
// # Queues and operators
//
// An operator is available when any of their XMPP resources shows
// available or chat; away, xa, dnd and offline are not. A queue is online
// while at least one of its operators is available. [QueuePresence] is
// emitted when a queue's state changes, and only then. After [New] every
// operator and queue is offline, with no action emitted.
//
// # Offers
//
// A patron's message from an address with no open chat opens a chat (ids
// from [State.NextChat] on) on the queue owning the account. Routing starts
// from the chat's home queue (the origin, or the queue of its last
// transfer) and walks the home's chain: the queue, then its fallbacks depth
// first, without duplicates. The offer covers the chain up to its first
// online queue, which the record names (ChatRecord.Queue); every available
// operator of the covered queues is offered the chat (ring-all). An offer
// is the patron's lines as plain messages, then a notice naming guest,
// network and queue (with "via <home> fallback" when offered through a
// fallback), then a notice hint to reply. A chat that is not fresh (it was
// answered or transferred) is offered with the conversation so far as one
// notice instead of the patron's lines. Patron messages sent while the chat
// waits go to every offered operator.
//
// When the covered queue has FallbackAfter and nobody took the chat in that
// time, the offer widens to the next online queue of the chain (with that
// queue's own FallbackAfter next), or, when none is online, to the whole
// chain; operators offered earlier keep the offer. An operator who becomes
// available is offered at once every waiting chat whose offer covers one of
// their queues.
//
// With no queue of the chain online (at open, or when a held chat's holder
// or all offered operators went away), the patron is sent the origin
// queue's offline message once per chat (a default one when the queue has
// none: see text.go), recorded as a system line; the chat keeps waiting on
// its whole chain, so the first operator of the chain to come online is
// offered it, from the chain's first online queue. Nothing the patron wrote
// is dropped; a chat that ends before anyone answered has a zero
// FirstAnswer.
//
// # Claims and holders
//
// The first offered operator to write to the guest takes the chat: the
// text goes to the patron, the others offered are told who took it, and the
// record names the queue the taker was offered it through. Text to a guest
// from anyone but the holder (or, while waiting, an offered operator) is
// not delivered and the sender is told why; so is text to a guest with no
// open chat (owlgate is never an open relay). When the holder is no longer
// available the chat waits again and is routed afresh, with a notice that
// the holder went offline before each offer; so when every offered
// operator of a waiting chat goes away.
//
// # Ending
//
// A chat ends when the patron leaves, after the account's idle timeout
// without any line (Account.IdleTimeout, else Config.DefaultIdleTimeout,
// else 30 minutes), or on /close by the holder (or an offered operator while
// it waits). The holder, or the offered operators, are told; the patron is
// told nothing. The ended record is saved and the chat leaves memory; the
// patron's next message opens a new chat under the same guest id.
//
// # Commands
//
// Text an operator sends to a guest starting with "/" is a command, never
// sent to the patron: /transfer <queue|operator JID>, /close, /who,
// /history and /help; anything else gets the list of commands. "//" sends
// a literal leading slash ("//etc" sends "/etc"). /who is open to any
// operator; it names the patron by guest id only, unless the queue owning
// the account they wrote to sets ShowPhone and their id is a phone number
// (SMS), which /who then shows: the library publishing the number decides.
// /history, /transfer and /close only to the holder (or an
// offered operator while the chat waits). To a queue's JID, /status lists
// its available operators, the chats waiting on it (its own and those it is
// a fallback for) and the chats it holds; /help lists the queue commands.
// Answers come from the peer the command was sent to.
//
// A transfer may go to a queue or an operator of the library of the chat's
// current queue, or of a library sharing a collaboration with it. A queue
// must be online: the chat waits there (it becomes the chat's home, so its
// own fallback chain applies) and its available operators get the
// conversation so far as one notice, then the note and the hint. An
// operator must be available: they hold the chat at once and get the
// conversation; the record keeps its queue. Either way the previous holder
// (and other offered operators) are told, Transfers counts it, and the
// patron is told to hold on (a system line). Refusals say why and how to
// write the command, with the queues the chat may go to now.
//
// Operators may always write to each other (internal messages, not
// notices); messages to an unknown operator are answered "no such
// operator"; events from operators the config does not know are ignored.
//
// # Lines, records and persistence
//
// Every patron message, operator text delivered to the patron and system
// text sent to the patron is a [Line], numbered from 0 per chat, emitted as
// [SaveLine]; the engine keeps the last Config.ContextLines of each open
// chat for /history, transfers and re-offers. Attachments travel with lines
// and to patrons as Attachments; to operators, each attachment's URL is
// appended to the text on its own line (SendOperator has no attachments).
// Whenever a chat's record changes other than by a new line (it opens, is
// claimed, transferred, waits again, changes queue, holder or status, its
// first answer, the offline message sent, its end), one [SaveChat] with the
// whole record, current Lines and LastActivity included, is emitted after
// the event's other actions. A new line alone emits only its SaveLine: the
// record's Lines and LastActivity follow from its lines, so state that can
// be derived is not written twice. A stored open chat's record may thus
// hold an older Lines and LastActivity than its lines say; the store
// derives them from the lines when it loads open chats (see
// [ChatRecord.Lines]). An ended chat's last SaveChat carries the true
// values.
//
// Times in text for operators ("[15:04] guest-1042: hi") are in the
// location of the clock's times; durations are written like "30m" or
// "1m30s".
//
// # Guest ids and patrons
//
// The gateway resolves each patron's stable guest id and passes it with
// every [PatronEvent]; the engine never makes one. An address with an open
// chat keeps that chat's guest id even when an event carries another. A
// message that would open a chat for a guest id that already has an open
// chat at another address (a gateway bug), or that comes in on an account
// the config does not know, is ignored.
//
// # Restart
//
// [New] restores every open chat of the [State]: records and kept lines,
// with their holders. A held chat whose holder has not come back within
// Config.RestoreGrace (default two minutes) is routed again as when a
// holder goes offline. A restored waiting chat waits on its whole chain and
// is routed afresh when an operator of it comes online, so its fallback
// timer counts from then, not from before the restart. A chat that was
// transferred is restored with its current queue as home. A held chat
// whose holder is no longer configured is restored waiting. New fails,
// naming the chat, when a chat's queue is not configured, when two open
// chats share a patron or a guest id, when a chat is not open, or when
// NextChat is not above every chat id.
//
// # Timers and cost
//
// Deadlines live in a min-heap with lazy invalidation (see timers.go): a
// line costs no timer work, a state change at most O(log n). Open chats are
// indexed by address and by guest id; per-queue indexes serve presence
// changes and /status. A patron message on a held chat makes no
// allocation.
package routing
