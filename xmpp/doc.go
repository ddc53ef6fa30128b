// Package xmpp is owlgate's operator link: librarians (operators) answer
// patrons from any ordinary Jabber/XMPP client. It has three parts:
//
//   - the contract between the link and its transports: [Transport],
//     [Handler], [Directory], and the parsed [Stanza] with its codec
//     ([ParseStanza], [Stanza.AppendXML]);
//   - two transports, in their own packages: xmpp/server, the embedded
//     client-to-server XMPP server (xmpp.mode: server), and
//     xmpp/component, an XEP-0114 external component of the operators'
//     own server (xmpp.mode: component);
//   - the [Service] on top of either: the JID scheme, presence to
//     availability, messages and commands to routing events, the engine's
//     actions to stanzas. It is the gateway's Link, the transport's
//     Handler and the embedded server's Directory.
//
// # JIDs
//
// For the domain D (the server's domain, or the component's subdomain):
//
//	<queue>@D       a queue: reference@D. Its presence is the queue's status
//	                (available "Online" while at least one of its operators
//	                is available; unavailable otherwise). /status sent to it
//	                lists who is available, what waits and what is held;
//	                /help lists its commands.
//	guest-<n>@D     a patron, by their stable guest id: guest-1042@D. Every
//	                chat with that patron happens with this JID, and so does
//	                everything owlgate says about the chat.
//	D               owlgate itself: service discovery, ping, version.
//	operators       as configured: alice@D on the embedded server;
//	                alice@their-server in component mode (D is then
//	                owlgate.their-server, say).
//
// Anything else at D is nobody: a message to it gets an error reply
// (item-not-found, with a text naming the operator's queues, when an
// operator wrote; service-unavailable for anyone else), a subscription
// request gets "unsubscribed", an iq gets service-unavailable. Only
// configured operators reach queues and patrons: a message from anyone else
// gets service-unavailable, and owlgate relays nothing for them (it is
// never an open relay).
//
// # What an operator sees
//
// When a patron writes, every available operator of the queue gets, from
// the patron's JID (guest-1042@D, shown as "Guest 1042 (IRC · Reference)":
// an XEP-0172 nickname on the first message of each chat, and the JID's
// presence goes available just before), three messages:
//
//	Where are the atlases?
//	guest-1042 · irc · Reference (UNC) — new chat
//	Reply to take this chat; /help lists commands.
//
// The first to reply takes the chat: the reply goes to the patron, and each
// other operator who was offered it is told "Bob took this chat." in the
// same window. Their later messages to that patron are not delivered
// ("Not delivered: Bob has this chat."). In the chat window, messages
// starting with "/" are commands, never sent to the patron: /transfer
// <queue|operator> (a queue id, a queue's JID, an operator's JID, or an
// xmpp: URI of either, as clients insert for a dragged contact), /close,
// /who, /history, /help; "//" sends a literal leading slash. Notices (the
// patron left, message not received, a transfer's conversation so far)
// come as ordinary chat messages from the patron's JID, so they land in
// the chat's window. The patron's typing (XEP-0085) and delivery receipts
// (XEP-0184, for messages that asked for one) come from the same JID; the
// holder's typing goes to the patron.
//
// A message with an XEP-0066 link (as clients send HTTP uploads) reaches
// the patron as an attachment; a body that only repeats the link is not
// sent as text too. End-to-end encrypted messages (OMEMO, OTR, PGP)
// cannot be read by owlgate and are refused with a not-acceptable error
// saying so: operators turn encryption off for queue and patron contacts.
//
// Operators message each other directly: on the embedded server, the
// server delivers those messages itself (and keeps them for an offline
// colleague); in component mode they never involve owlgate.
//
// # Presence
//
// An operator's availability is their XMPP presence: available or chat
// are available; away, xa, dnd and offline are not. An operator may be
// logged in from several clients: each resource counts, and the operator
// is available while any resource is. On the embedded server owlgate sees
// every session's presence. A component sees only presence addressed to
// its JIDs, and the operators' server sends one copy to each queue JID
// subscribed to them; the service posts a resource's presence to the
// engine only when it changed. A new session is sent its queues' presence
// (and the patrons it is chatting with) directly, whether or not its
// server asks.
//
// Subscription requests from operators to queue and patron JIDs (and to D)
// are approved at once, followed by the JID's current presence; probes are
// answered with it. A patron's JID is available to the operators it wrote
// to while its chat is open, and goes unavailable when the chat ends (when
// the gateway passes the ended chat's record to the link). When owlgate
// stops, every queue and open patron JID goes unavailable first.
//
// # Component mode, the first time
//
// A component cannot read its users' rosters, so owlgate asks for the
// operators' presence: whenever the component connects, each queue JID
// sends its operators a presence probe and a presence subscription request
// (with the queue's name, "Reference (UNC)", as nickname); operators in
// no queue are asked by D itself. A server that already has the
// subscription approves a repeated request silently. What an operator sees
// the first time depends on the client:
//
//   - Gajim: a "Subscription request" notification from
//     reference@owlgate.example.edu; Accept adds the queue to the roster
//     (Gajim offers to ask for its presence in return: that is welcome
//     too, and owlgate approves it).
//   - Pidgin: an "Authorize" dialog ("reference@owlgate.example.edu wants
//     to add you to their buddy list"); Authorize, and optionally Add, to
//     see the queue in the buddy list.
//   - Conversations and other mobile clients: a contact request shown at
//     the top of the contact list or in a chat with the queue; Allow (or
//     Add contact).
//   - Clients or servers set to approve subscriptions automatically show
//     nothing.
//
// Until an operator approves, owlgate sees their presence only when their
// client sends it to a queue or patron JID directly (for example while a
// chat window is open), so they may be offered no chats. If they refuse or
// later cancel the subscription, the log says so. Nothing needs editing by
// hand on the server.
//
// # Service discovery and other queries
//
// D answers disco#info (identity server/im on the embedded server,
// component/generic as a component, named "owlgate"), disco#items (the
// queues, to operators), ping and version. A queue JID answers disco#info
// as client/bot named "Reference (UNC)", a patron JID as account/registered
// named "Guest 1042", both with chat states, receipts and nicknames as
// features; both answer ping and version. Every other get or set (vCard,
// anything with a node) gets an error, and every request gets exactly one
// answer; results and errors are not answered.
//
// # Delivery and shutdown
//
// The gateway's event loop must never wait for the network: [Service.Send]
// queues each action on one unbounded FIFO, drained by one goroutine that
// renders stanzas and hands them to the transport in order. Stanzas the
// handler answers with (subscriptions, iq results, errors) go through the
// same FIFO, so an answer never overtakes a change the engine made before
// it. When Run's context ends, the FIFO is flushed and every queue and open
// patron JID is made unavailable within ServiceConfig.ShutdownTimeout (two
// seconds by default), and only then is the transport stopped.
//
// # Logs
//
// Attributes name the operator, queue, guest and chat; message text is
// logged only at debug level.
package xmpp
