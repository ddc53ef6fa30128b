package xmpp

import (
	"context"

	"mellium.im/xmpp/jid"
)

// Transport carries stanzas between owlgate's own JIDs (the domain D, and
// the queue and guest JIDs at D) and the operators. There are two: the
// embedded server (package xmpp/server), where the operators' sessions are
// owlgate's own, and the XEP-0114 component (package xmpp/component), where
// they are another server's. The [Service] on top of either behaves the same.
type Transport interface {
	// Run serves (server) or connects and stays connected (component,
	// reconnecting with backoff) until ctx ends. It hands every stanza for
	// one of owlgate's JIDs to h, parsed, with From set by the transport
	// from the authenticated sender (never trusted from the wire in server
	// mode). It returns nil when ctx ends.
	Run(ctx context.Context, h Handler) error

	// Send writes one stanza from one of owlgate's JIDs to an operator (a
	// bare JID: every available resource, or a full JID). It does not block
	// for long: it queues, and drops nothing silently (a stanza it cannot
	// deliver is reported to the handler as an error stanza, or stored for
	// an offline operator where the transport offers storage).
	Send(ctx context.Context, s *Stanza) error

	// Domain is D: the server's domain or the component's subdomain.
	Domain() jid.JID
}

// Handler receives what a transport reads for owlgate's JIDs. The
// [Service] implements it. Its methods are called from the transport's
// goroutines, possibly concurrently.
type Handler interface {
	// HandleStanza handles one stanza addressed to D or a JID at D, or an
	// operator's broadcast presence (server mode: To is empty).
	HandleStanza(ctx context.Context, s *Stanza)

	// Connected is called when the transport is ready to carry stanzas:
	// once at start in server mode; after each successful handshake in
	// component mode, so the service announces its JIDs' presence again and
	// probes the operators' presence.
	Connected(ctx context.Context)

	// Disconnected is called when a component connection is lost (never in
	// server mode). Every operator is then unknown: the service treats them
	// as offline until their presence arrives again.
	Disconnected(ctx context.Context)
}

// Directory is what the embedded server asks the service about the JIDs it
// serves. The [Service] implements it.
type Directory interface {
	// Operator returns the display name of a configured operator by bare
	// JID, and whether it is one.
	Operator(bare jid.JID) (name string, ok bool)

	// Roster returns an operator's roster: the queues they staff, the
	// colleagues of their library and of the collaborations it shares, each
	// with subscription "both".
	Roster(op jid.JID) []RosterItem
}

// RosterItem is one contact of an operator's roster (RFC 6121).
type RosterItem struct {
	JID          jid.JID
	Name         string
	Groups       []string
	Subscription string // "both", "to", "from" or "none"
}
