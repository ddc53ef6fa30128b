// Package irc is owlgate's IRC network: one [Adapter] is one nick of the
// library on one IRC server, which patrons write private messages to.
//
// [New] is the network's [protocols.Factory] (`network: irc` in the config);
// [Config] documents the account's keys, and examples/README.md lists them.
//
// # Connection
//
// The adapter drives the connection itself with irc-go's ircmsg (parsing
// and composing lines), ircreader (reading them) and ircutils (SASL
// encoding), rather than with its ircevent client: ircevent's Connect is not
// cancellable by a context, it answers a nick in use with nick_0, nick_1...
// rather than the configured alt_nick, runs its own reconnection loop at a
// fixed interval where owlgate wants [protocols.Backoff], and sends CTCP
// replies without any flood control.
//
// Registration sends PASS (with a server password), CAP LS 302, NICK and
// USER. Of the IRCv3 capabilities the server offers, message-tags (a
// message's msgid becomes [protocols.Message.ID]), server-time (its time
// becomes [protocols.Message.Sent]; zero without it) and echo-message (the
// echoes of our own lines are ignored) are requested, and sasl when the
// account uses SASL; a server without CAP (it answers 421) registers
// without them. labeled-response is not requested: delivery failures are
// matched by the target nick in the error numeric, which works on every
// server. SASL PLAIN and EXTERNAL (the client certificate in the TLS
// handshake) are done before CAP END; a refusal (902, 904, 905), a server
// that offers no SASL or not the mechanism, a wrong server password (464,
// or ngircd's "ERROR :Access denied: Bad password?") and NickServ answering
// IDENTIFY with a wrong-password notice (Atheme's and Anope's wordings,
// within a minute of IDENTIFY) are bad credentials: Run reports
// [protocols.AccountBadCredentials] and returns an error wrapping
// [protocols.ErrBadCredentials]. Every other failure (the server
// unreachable, TLS that does not verify, a drop, no registration within a
// minute, no answer to a PING sent after two silent minutes) is reported as
// [protocols.AccountBackoff] with the time of the next attempt, after
// [protocols.Backoff]'s delay. The account is online at the end of the MOTD
// (376 or 422), when ISUPPORT is known; then it identifies to NickServ and
// joins its channels. When ctx ends it sends QUIT, waits up to two seconds
// for the server to close, reports [protocols.AccountStopped] and returns
// nil.
//
// # Nicks
//
// When nick is in use at registration the account takes alt_nick (default
// nick + "_"), and takes nick back as soon as it sees it free: the holder
// quitting or changing nick where the account sees it (a shared channel),
// or an ISON poll (every presence_poll) finding it offline. If alt_nick is
// taken too, the attempt fails and is retried with backoff.
//
// # Patrons
//
// A patron is addressed by the nick they first wrote from. A private
// PRIVMSG or NOTICE to the account's nick (from a user, not a server, not
// NickServ and the other services) is a [protocols.Message], its
// formatting and colour codes stripped (bold, italics, underline,
// strikethrough, monospace, reverse, reset, \x03 colours with their numbers,
// \x04 hex colours). CTCP ACTION ("/me waves") becomes the text "* waves":
// the nick is the patron's id, which operators are not shown. CTCP VERSION
// and PING are answered with a NOTICE, when the token bucket has room (a
// CTCP flood must not get the library disconnected); other CTCP is
// ignored. In a configured channel, a line addressed to the account's nick
// ("UNCLibrary: help", "UNCLibrary, help") is the sender's message without
// the address; the chat goes on in private.
//
// IRC has no stable user id, and tells a client of a nick change or a quit
// only when it shares a channel with that user. So the adapter keeps, in
// memory, a map from each patron's UserID (the nick they first wrote from)
// to their nick now: when it sees a patron change nick, their messages keep
// coming with the original UserID and messages to that UserID go to the new
// nick, so the chat and the guest id stay the same. A QUIT it sees is a
// [protocols.Left] with Reason "quit: <message>". The patrons active within
// two hours are also polled with ISON every presence_poll (as the token
// bucket allows, most recent first); one no longer online has left
// (Reason "offline"). A nick change the account does not see therefore looks
// like leaving, and the new nick is a new patron. If someone else takes the
// nick a renamed patron first wrote from and writes, the renamed patron is
// reported as left (the UserID now belongs to the newcomer). The map does
// not survive a restart of owlgate: messages to a UserID it does not know
// go to that nick.
//
// # Sending
//
// An [protocols.OutMessage] becomes one PRIVMSG per line of its text (empty
// lines and control characters dropped), each line split on UTF-8
// boundaries (at a space in the second half of a piece when there is one)
// so that the line as the server relays it, ":nick!user@host PRIVMSG target
// :text\r\n", stays within 512 bytes, counting room for a 12-byte user and
// a 63-byte host; max_line lowers that. Capabilities declares
// MaxTextLength 0 because Send takes any length and splits it itself. An
// [protocols.OutAttachment] is its caption and its URL, each on its own
// line. [protocols.OutState] is ignored (IRC has no typing notifications).
// Every line after registration passes a token bucket per account (rate
// lines a second after a burst, default 2 and 5; irc-go has no flood
// control), and Sends are serialised so that a message's lines stay
// together and in order. Send returns an error wrapping
// [protocols.ErrNotConnected] while the account is not online (also when
// the connection drops mid-message: the whole message may then be sent
// again), and [protocols.ErrTimeout] when ctx ends while it waits for the
// bucket. An error numeric about a nick owlgate wrote to in the last two
// minutes (401 and 406 "no such nick", 404, and the numerics of users who
// refuse messages) is a [protocols.DeliveryFailure] for the last message
// sent there, once per message.
//
// IRC acknowledges nothing, and a line written to a connection the server
// has just closed is accepted by the kernel and lost. So a PING follows the
// lines to patrons (one out at a time, through the bucket like any line), and its PONG confirms every line written before it,
// since a server reads in order. Lines not confirmed when a connection ends
// with an error are written again, first and in order, on the next
// connection (to the patron's nick then: a patron gone by then gives "no
// such nick", and the operator is told). A line may so arrive twice, never
// silently not at all while owlgate runs (see confirm.go).
//
// # Logging
//
// Nicks of patrons and message texts are logged at debug level only; the
// account's own nick and the server are logged at info. Secrets are never
// logged nor put in errors.
package irc
