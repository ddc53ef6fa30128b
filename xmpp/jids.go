package xmpp

import (
	"fmt"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/routing"
)

// The JID scheme, for domain D:
//
//	D                  owlgate itself (service discovery, ping, version)
//	<queue>@D          a queue; its presence is the queue's status
//	guest-<n>@D        a patron (routing.GuestPeer)
//	<operator's JID>   an operator, as configured (alice@D in server mode,
//	                   alice@their-own-server in component mode)
//
// Anything else at D is nobody: messages to it are answered with an error.

// jidKind is what a JID is to owlgate.
type jidKind uint8

const (
	jidOther    jidKind = iota // not at D, not an operator
	jidDomain                  // D itself
	jidQueue                   // <queue>@D
	jidGuest                   // guest-N@D
	jidOperator                // a configured operator's bare JID
	jidUnknown                 // some other JID at D
)

// addr is a JID resolved against the configuration.
type addr struct {
	kind jidKind
	peer routing.Peer // for queues, guests and operators
	op   *opInfo      // for operators
	q    *queueInfo   // for queues
}

// resolve says what j (any resource is ignored) is.
func (s *Service) resolve(j jid.JID) addr {
	bare := j.Bare()
	if op := s.ops[bare.String()]; op != nil {
		return addr{kind: jidOperator, peer: routing.OperatorPeer(op.id), op: op}
	}
	if bare.Domainpart() != s.domainStr {
		return addr{kind: jidOther}
	}
	local := bare.Localpart()
	switch {
	case local == "":
		return addr{kind: jidDomain}
	case strings.HasPrefix(local, routing.GuestPrefix) && len(local) > len(routing.GuestPrefix):
		return addr{kind: jidGuest, peer: routing.GuestPeer(routing.GuestID(local))}
	}
	if q := s.queues[local]; q != nil {
		return addr{kind: jidQueue, peer: routing.QueuePeer(q.id), q: q}
	}
	return addr{kind: jidUnknown}
}

// PeerOf maps a JID to the routing peer it stands for: a queue or a guest
// at D, or a configured operator (at D or elsewhere). The resource is
// ignored. ok is false for D itself and for every other JID.
func (s *Service) PeerOf(j jid.JID) (p routing.Peer, ok bool) {
	a := s.resolve(j)
	switch a.kind {
	case jidQueue, jidGuest, jidOperator:
		return a.peer, true
	}
	return routing.Peer{}, false
}

// PeerJID maps a routing peer to its bare JID: <queue>@D, guest-N@D, or the
// operator's configured JID. It fails for a queue or operator the
// configuration does not have, and for a guest id that is not a valid
// local part.
func (s *Service) PeerJID(p routing.Peer) (jid.JID, error) {
	switch p.Kind {
	case routing.PeerQueue:
		if q := s.queueByID[routing.QueueID(p.ID)]; q != nil {
			return q.jid, nil
		}
		return jid.JID{}, fmt.Errorf("xmpp: no queue %q", p.ID)
	case routing.PeerOperator:
		if op := s.opByID[routing.OperatorID(p.ID)]; op != nil {
			return op.jid, nil
		}
		return jid.JID{}, fmt.Errorf("xmpp: no operator %q", p.ID)
	case routing.PeerGuest:
		if !strings.HasPrefix(p.ID, routing.GuestPrefix) {
			return jid.JID{}, fmt.Errorf("xmpp: %q is not a guest id", p.ID)
		}
		j, err := s.domain.WithLocal(p.ID)
		if err != nil {
			return jid.JID{}, fmt.Errorf("xmpp: guest id %q: %w", p.ID, err)
		}
		return j, nil
	}
	return jid.JID{}, fmt.Errorf("xmpp: peer of kind %d", p.Kind)
}

// guestJID is PeerJID for a guest, cached: a chat's messages all come from
// the same JID.
func (s *Service) guestJID(g routing.GuestID) (jid.JID, error) {
	if gs := s.out.guests[g]; gs != nil && gs.jid.Domainpart() != "" {
		return gs.jid, nil
	}
	return s.PeerJID(routing.GuestPeer(g))
}

// guestNumber is the number of a guest id: "1042" for guest-1042.
func guestNumber(g routing.GuestID) string {
	return strings.TrimPrefix(string(g), routing.GuestPrefix)
}

// networkNames are how networks are called in nicknames.
var networkNames = map[string]string{
	"irc":      "IRC",
	"matrix":   "Matrix",
	"discord":  "Discord",
	"whatsapp": "WhatsApp",
	"sms":      "SMS",
	"webchat":  "Web chat",
}

func networkName(n string) string {
	if name, ok := networkNames[n]; ok {
		return name
	}
	return n
}

// guestNick is a patron's XEP-0172 nickname: "Guest 1042 (IRC · Reference)".
func guestNick(g routing.GuestID, network, queue string) string {
	nick := "Guest " + guestNumber(g)
	switch {
	case network != "" && queue != "":
		nick += " (" + networkName(network) + " · " + queue + ")"
	case network != "":
		nick += " (" + networkName(network) + ")"
	case queue != "":
		nick += " (" + queue + ")"
	}
	return nick
}
