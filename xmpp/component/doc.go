// Package component is owlgate's XEP-0114 external component: the
// xmpp.Transport of component mode (xmpp.mode: component). owlgate keeps one
// TCP connection to the operators' XMPP server (Prosody, ejabberd,
// Openfire) and owns a subdomain of it, D (xmpp.domain); the server routes
// every stanza for D and for JIDs at D (queue@D, guest-1042@D) over that
// connection, and delivers what owlgate sends from those JIDs to its users.
// Operators keep their own accounts on their server.
//
// # Setting up the server
//
// An administrator declares the component in the XMPP server, with a shared
// secret, and gives owlgate the same secret. The subdomain must not also be
// a virtual host of the server. It needs DNS records only if users of other
// servers (federation) are to reach it.
//
// Prosody (prosody.cfg.lua, or a file in conf.d/; then prosodyctl reload,
// or a restart when component_ports changed):
//
//	component_ports = { 5347 }
//	component_interfaces = { "127.0.0.1" } -- owlgate on the same machine; else a private address
//
//	Component "owlgate.example.edu"
//	    component_secret = "a long random secret"
//
// ejabberd (ejabberd.yml; then ejabberdctl reload_config, or a restart for a
// new listener):
//
//	listen:
//	  -
//	    port: 5347
//	    ip: "127.0.0.1"
//	    module: ejabberd_service
//	    hosts:
//	      owlgate.example.edu:
//	        password: "a long random secret"
//
// Openfire (not tested): Server settings, External components: enable the
// service (port 5275 by default) and allow owlgate.example.edu with the
// secret.
//
// owlgate's config:
//
//	xmpp:
//	  mode: component
//	  domain: owlgate.example.edu
//	  connect: 127.0.0.1:5347
//	  secret: ${OWLGATE_COMPONENT_SECRET}
//
// XEP-0114 streams are not encrypted and the secret only authenticates: keep
// the component port on loopback or a private network, never on the
// Internet.
//
// # Behaviour
//
// Run dials xmpp.connect, sends a jabber:component:accept stream header to
// D, answers with the handshake (the hex SHA-1 of the server's stream id
// followed by the secret) and waits for the server's empty <handshake/>.
// It then calls Handler.Connected, and hands the handler every stanza the
// server routes to D, in the order read, one at a time, with From as the
// server stamped it (the server authenticated its users; owlgate trusts its
// server). Stanzas not addressed to D or without a from are logged and
// skipped, as are elements that are not stanzas or carry a malformed JID.
//
// When the connection is lost (the server stopped or restarted, the network
// broke, a write blocked for WriteTimeout, TCP keepalives failed) Run calls
// Handler.Disconnected (the service then treats every operator as offline),
// waits as Config.Backoff says (exponential with jitter, reset after a
// stable connection) and reconnects; after each handshake it calls
// Connected again, so the service announces its JIDs and probes the
// operators' presence anew. Failed attempts (refused connections, a server
// closing during the handshake, a name already connected) are retried the
// same way; State reports the phase, the last error and when the next
// attempt starts.
//
// # Decisions
//
// A refused handshake is a configuration error, not a network one: with
// not-authorized (a wrong xmpp.secret; ejabberd also answers it for a name
// it does not serve) or host-unknown (Prosody: xmpp.domain is not a
// Component) Run returns at once with ErrNotAuthorized or ErrHostUnknown,
// wrapped in a message that names the config key to fix and the server
// setting it must match. Retrying would only hammer the server and hide the
// mistake in a log; the gateway reports the error and stops, as it does for
// an adapter's bad credentials. (A server reloaded with a new secret is
// fixed by changing xmpp.secret and restarting owlgate.)
//
// Send never waits for the network. It renders the stanza and appends it to
// one FIFO queue that outlives connections: while the link is down,
// stanzas wait there and are written after the next handshake, before what
// Connected sends (so a fresh presence follows a stale one, never the
// reverse). The queue is bounded (Config.MaxQueue stanzas, 10,000 by
// default): when it is full Send returns ErrQueueFull and the caller knows
// the stanza was not taken. Nothing is dropped silently: a stanza is either
// refused by Send with an error, or written whole to the socket, or still
// queued when Run returns (then counted in a warning). A write that fails
// puts every stanza not written whole back at the head of the queue.
// XEP-0114 has no acknowledgements, so a stanza written just before the
// connection broke may still be lost inside the network or the server, as
// with any component.
//
// When Run's context ends it writes what is queued (within a few seconds),
// closes its stream, waits briefly for the server to close its own, and
// returns nil, without calling Disconnected: the service sends its goodbye
// presences through Send before it cancels the transport.
//
// Stanzas larger than Config.MaxStanza (xmpp.max_stanza, 256 KiB by
// default) are refused by Send; one arriving from the server (enforced to
// within 4 KiB, the read buffer) ends the connection with a
// policy-violation stream error and a reconnection: owlgate never buffers
// more than that per stanza. Prosody and ejabberd limit client stanzas to
// 256 KiB by default, so that does not happen in practice.
package component
