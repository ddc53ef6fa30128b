// Package server is owlgate's embedded XMPP server (xmpp.mode: server):
// client-to-server XMPP (RFC 6120, RFC 6121) for the configured operators,
// implementing [xmpp.Transport] under the [xmpp.Service].
//
// # Streams
//
// The stream layer is written by hand on encoding/xml: a byte reader with
// an exact size limit feeds a raw tokenizer, a guard counts the nesting
// depth and refuses comments, processing instructions (but the XML
// declaration) and DTDs, and a namespace-aware decoder on top hands each
// stanza to [xmpp.ParseStanza]. Negotiation: STARTTLS is always offered,
// and required unless Config.AllowPlaintext is set and the server listens
// on a loopback address; then SASL SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN
// (PLAIN only over TLS, or on that loopback plaintext), at most
// Config.MaxAuthFailures attempts per stream; then resource binding, and
// the legacy session iq (RFC 3921) answered for old clients. Every
// failure in negotiation writes a stream error and closes the connection.
// No in-band registration, no s2s, no stream management.
//
// Passwords are kept only as salted SCRAM credentials (see scram.go):
// SCRAM checks the client's proof (RFC 5802, RFC 7677, without channel
// binding: the "y" flag is accepted, "p=" refused), PLAIN re-derives the
// key from the given password with the stored salt. Unknown users and
// wrong passwords both get <not-authorized/>, and SCRAM answers an
// unknown user with a stable fake salt so the two cannot be told apart.
//
// # Sessions and resources
//
// An operator may have up to Config.MaxResources sessions at once (desk
// and laptop). A resource already bound by another session of the same
// operator is not taken over (RFC 6120 7.7.2.2, third option): the new
// session gets the requested resource with a random suffix
// ("desk-Xk3p9a"). Replacing the older session would let two clients
// configured alike log each other out in turn. An empty resource gets a
// random one.
//
// # Routing
//
// Stanzas from a session get From set to its full JID, whatever they said.
// Then, by their 'to':
//
//   - the domain, or a JID at the domain that is not an operator (a queue,
//     a guest-N, the domain with a resource): to the Handler; except iq
//     get/set to the bare domain, which the server answers itself (disco,
//     ping, version, legacy session; anything else service-unavailable);
//   - an operator's full JID: to that session, as read (unknown children
//     are kept as raw XML, so client extensions pass through);
//   - an operator's bare JID (or no 'to': the sender's own account):
//     messages of type chat, normal or headline go to every available
//     session with non-negative priority (not only the highest one: every
//     desk of a librarian is offered the chat, the first reply takes it);
//     groupchat is refused. With none available, a chat or normal message
//     with content (body, subject or link) is stored for the operator's
//     next login (OfflineStore, with a XEP-0203 delay stamp), up to
//     Config.MaxOffline; chat states and receipts alone are dropped. iq
//     get/set are answered by the server on the account's behalf: roster
//     (from the Directory, read-only), vcard-temp (kept in memory), disco,
//     ping; everything else service-unavailable (carbons and blocking
//     feature-not-implemented);
//   - another domain: remote-server-not-found.
//
// A message to an operator's full JID whose session is gone is treated as
// sent to the bare JID (chat, normal) or dropped (headline, error).
//
// # Presence
//
// Broadcast presence (no 'to') goes to the Handler (To empty), to the
// user's other available sessions, and to the available sessions of the
// operators in the user's roster (Directory.Roster). On a session's
// initial presence it receives its colleagues' current presence and, with
// a non-negative priority, the messages stored while the operator was
// offline. When an available session ends, the server broadcasts its
// unavailable presence the same way. Rosters are fixed by the
// configuration with subscription "both": a subscribe to an operator is
// answered subscribed (and with their presence), probes are answered, and
// other subscription changes ignored. Directed presence to a queue or
// guest JID goes to the Handler. The server sends no probes for the
// service: the Handler sees the operator's initial presence and answers
// with its own JIDs' presence through Send.
//
// # Limits
//
// Per connection: Config.MaxStanza bytes per stanza (and stream header and
// SASL element), Config.MaxDepth levels of nesting, a token bucket of
// Config.Rate stanzas per second with Config.Burst, Config.MaxQueue bytes
// waiting to be written (a client that does not read is disconnected).
// Breaking one closes that stream only, with policy-violation,
// not-well-formed, restricted-xml, bad-format, invalid-namespace or
// unsupported-stanza-type. Whitespace keepalives are read and ignored; a
// session silent for Config.IdleTimeout is pinged (XEP-0199), and closed
// with connection-timeout if it stays silent for Config.PingTimeout.
// Negotiation must finish within Config.NegotiationTimeout.
//
// # Logs
//
// Logs carry the operator, resource and remote address; never message
// bodies nor passwords.
package server
