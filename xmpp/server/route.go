package server

import (
	"bytes"
	"context"
	"encoding/xml"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
)

// bind registers c as a session of its account under full, or under a
// new resource when that one is taken (the older session is kept: two
// clients configured with the same resource would otherwise log each
// other out in turn). It starts the writer and queues the bind result
// before anyone can route to the session.
func (s *Server) bind(c *conn, full jid.JID, id string) bool {
	a := c.acct
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(a.sessions) >= s.cfg.MaxResources {
		return false
	}
	for taken := true; taken; {
		taken = false
		for _, o := range a.sessions {
			if o.jid.Resourcepart() == full.Resourcepart() {
				taken = true
				break
			}
		}
		if taken {
			nf, err := full.WithResource(full.Resourcepart() + "-" + randomString(6))
			if err != nil { // too long with the suffix
				nf, _ = full.WithResource("owlgate-" + randomString(8))
			}
			full = nf
		}
	}
	c.jid = full
	c.log = c.log.With("operator", a.str, "resource", full.Resourcepart())
	c.startWriter()
	c.enqueue(bindResult(id, full))
	a.sessions = append(a.sessions, c)
	return true
}

// unbind removes a session that ended, and broadcasts its unavailable
// presence if it was available.
func (s *Server) unbind(c *conn) {
	a := c.acct
	s.mu.Lock()
	for i, o := range a.sessions {
		if o == c {
			copy(a.sessions[i:], a.sessions[i+1:])
			a.sessions[len(a.sessions)-1] = nil
			a.sessions = a.sessions[:len(a.sessions)-1]
			break
		}
	}
	was := c.available
	c.available = false
	c.presence = nil
	s.mu.Unlock()
	if was {
		st := &xmpp.Stanza{Kind: xmpp.KindPresence, Type: "unavailable", From: c.jid}
		s.broadcast(c, st)
		s.h.HandleStanza(s.ctx, st)
	}
}

// readLoop reads and routes the stanzas of a bound session.
func (c *conn) readLoop() error {
	for {
		start, err := c.nextElement()
		if err != nil {
			return err
		}
		st, err := c.readStanza(start)
		if err != nil {
			return err
		}
		if !c.allow() {
			return &streamError{cond: "policy-violation", text: "too many stanzas per second"}
		}
		if st == nil {
			continue
		}
		c.s.route(c, st)
	}
}

// Where a stanza from a session goes.
type dest uint8

const (
	destUser    dest = iota + 1 // a configured operator (the sender's own account when 'to' is empty)
	destServer                  // the domain itself
	destService                 // another JID at the domain: a queue, a guest, the domain with a resource
	destRemote                  // another domain: no s2s
)

func (s *Server) destOf(c *conn, to jid.JID) (dest, *account) {
	if to.Equal(jid.JID{}) {
		return destUser, c.acct
	}
	if !to.Domain().Equal(s.domain) {
		return destRemote, nil
	}
	if to.Localpart() == "" {
		if to.Resourcepart() == "" {
			return destServer, nil
		}
		return destService, nil
	}
	if a := s.accounts[to.Bare().String()]; a != nil {
		return destUser, a
	}
	return destService, nil
}

// route handles one stanza read from a session (From already stamped).
func (s *Server) route(c *conn, st *xmpp.Stanza) {
	d, a := s.destOf(c, st.To)
	switch st.Kind {
	case xmpp.KindMessage:
		switch d {
		case destRemote:
			c.errorReply(st, "cancel", "remote-server-not-found")
		case destServer, destService:
			s.h.HandleStanza(s.ctx, st)
		case destUser:
			if st.To.Equal(jid.JID{}) {
				st.To = a.bare
			}
			s.deliverMessage(s.ctx, st, a, c)
		}
	case xmpp.KindPresence:
		switch {
		case st.To.Equal(jid.JID{}):
			if st.Type == "" || st.Type == "unavailable" {
				s.presenceBroadcast(c, st)
			}
		case d == destServer || d == destService:
			s.h.HandleStanza(s.ctx, st)
		case d == destUser:
			s.presenceToUser(c, st, a)
		}
	case xmpp.KindIQ:
		s.routeIQ(c, st, d, a)
	}
}

// errorReply answers st to its sender session (never for an error, nor
// an iq result).
func (c *conn) errorReply(st *xmpp.Stanza, typ, cond string) {
	if st.Type == "error" || (st.Kind == xmpp.KindIQ && st.Type == "result") {
		return
	}
	c.enqueueStanza(xmpp.ErrorReply(st, typ, cond, ""))
}

// errorBack answers st to its sender: a session, or the handler.
func (s *Server) errorBack(st *xmpp.Stanza, from *conn, typ, cond, text string) {
	if from != nil {
		from.errorReply(st, typ, cond)
		return
	}
	s.reportError(st, typ, cond, text)
}

// storable reports whether a message is worth keeping for an offline
// operator: it carries content, not only a chat state or a receipt.
func storable(st *xmpp.Stanza) bool {
	return st.Body != "" || st.Subject != "" || len(st.OOBURLs) > 0
}

// toAvailable queues b to every available session of a with non-negative
// priority, and returns how many.
func (s *Server) toAvailable(a *account, b []byte) int {
	n := 0
	s.mu.RLock()
	for _, t := range a.sessions {
		if t.available && t.priority >= 0 && t.enqueue(b) {
			n++
		}
	}
	s.mu.RUnlock()
	return n
}

// session returns a's session with that resource, or nil.
func (s *Server) session(a *account, res string) *conn {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range a.sessions {
		if t.jid.Resourcepart() == res {
			return t
		}
	}
	return nil
}

// deliverMessage delivers a message to an operator (RFC 6121 8.5): to a
// full JID, that session; to a bare JID (or a full JID whose session is
// gone, for chat and normal messages), every available resource with a
// non-negative priority; with none, stored for the next login. from is the
// sending session, nil for the service.
func (s *Server) deliverMessage(ctx context.Context, st *xmpp.Stanza, a *account, from *conn) {
	if res := st.To.Resourcepart(); res != "" {
		if t := s.session(a, res); t != nil {
			t.enqueueStanza(st)
			return
		}
		switch st.Type {
		case "groupchat":
			s.errorBack(st, from, "cancel", "service-unavailable", "no such session")
			return
		case "headline", "error":
			return
		}
	}
	if st.Type == "groupchat" {
		s.errorBack(st, from, "cancel", "service-unavailable", "not a group chat")
		return
	}
	b := getBuf()
	defer putBuf(b)
	st.AppendXML(b)
	if s.toAvailable(a, b.Bytes()) > 0 {
		return
	}
	if st.Type == "headline" || st.Type == "error" || !storable(st) {
		return
	}
	a.omu.Lock()
	defer a.omu.Unlock()
	if s.toAvailable(a, b.Bytes()) > 0 { // came online meanwhile
		return
	}
	stored := *st
	if stored.Delay == "" {
		stored.Delay = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	}
	b.Reset()
	stored.AppendXML(b)
	if err := s.offline.PutOffline(ctx, a.str, b.Bytes(), s.cfg.MaxOffline); err != nil {
		s.log.Warn("xmpp server: cannot store offline message", "operator", a.str, "error", err)
		s.errorBack(st, from, "wait", "resource-constraint", "the operator is offline and their message store is full")
		return
	}
	s.log.Debug("xmpp server: message stored for offline operator", "operator", a.str)
}

// deliver carries a stanza from the service to an operator (Send).
func (s *Server) deliver(ctx context.Context, st *xmpp.Stanza, a *account) {
	switch st.Kind {
	case xmpp.KindMessage:
		s.deliverMessage(ctx, st, a, nil)
	case xmpp.KindPresence:
		b := getBuf()
		defer putBuf(b)
		st.AppendXML(b)
		res := st.To.Resourcepart()
		s.mu.RLock()
		for _, t := range a.sessions {
			if res == "" || t.jid.Resourcepart() == res {
				t.enqueue(b.Bytes())
			}
		}
		s.mu.RUnlock()
	case xmpp.KindIQ:
		res := st.To.Resourcepart()
		if res != "" {
			if t := s.session(a, res); t != nil {
				t.enqueueStanza(st)
				return
			}
		}
		s.reportError(st, "cancel", "service-unavailable", "no such session")
	}
}

// presenceBroadcast handles a session's broadcast presence (no 'to'):
// available (initial or update) or unavailable. It goes to the user's
// other available sessions, to the available sessions of the colleagues
// in the roster, and to the handler (with an empty To). On initial
// presence, the session receives its colleagues' presence, and the
// messages stored while the operator was offline.
func (s *Server) presenceBroadcast(c *conn, st *xmpp.Stanza) {
	a := c.acct
	if st.Type == "unavailable" {
		s.mu.Lock()
		was := c.available
		c.available = false
		c.presence = nil
		s.mu.Unlock()
		if !was {
			return
		}
		s.broadcast(c, st)
		s.h.HandleStanza(s.ctx, st)
		return
	}
	initial := !c.available // only this goroutine writes it
	if initial && st.Priority >= 0 {
		a.omu.Lock()
		stored, err := s.offline.TakeOffline(s.ctx, a.str)
		if err != nil {
			c.log.Warn("xmpp server: cannot read offline messages", "error", err)
		}
		s.mu.Lock()
		c.available, c.priority, c.presence = true, st.Priority, clonePresence(st)
		for _, m := range stored {
			c.enqueue(m)
		}
		s.mu.Unlock()
		a.omu.Unlock()
		if len(stored) > 0 {
			c.log.Info("xmpp server: delivered offline messages", "count", len(stored))
		}
	} else {
		s.mu.Lock()
		c.available, c.priority, c.presence = true, st.Priority, clonePresence(st)
		s.mu.Unlock()
	}
	s.broadcast(c, st)
	if initial {
		// The colleagues' and own other sessions' current presence.
		for _, p := range s.presencesFor(c) {
			cp := *p
			cp.To = a.bare
			c.enqueueStanza(&cp)
		}
	}
	s.h.HandleStanza(s.ctx, st)
}

// colleagues returns the operators in a's roster (not a).
func (s *Server) colleagues(a *account) []*account {
	var out []*account
	for _, it := range s.cfg.Directory.Roster(a.bare) {
		if o := s.accountOf(it.JID); o != nil && o != a {
			out = append(out, o)
		}
	}
	return out
}

// broadcast sends a session's presence to its own available sessions
// (including itself: RFC 6121 4.2.2 and 4.4.2, which clients such as
// Prosody's users wait for) and its colleagues' available sessions, each
// copy addressed to the recipient's bare JID. An unavailable session is no
// longer available, so it does not get its own unavailable presence.
func (s *Server) broadcast(c *conn, st *xmpp.Stanza) {
	targets := append(s.colleagues(c.acct), c.acct)
	for _, o := range targets {
		cp := *st
		cp.To = o.bare
		b := getBuf()
		cp.AppendXML(b)
		s.mu.RLock()
		for _, t := range o.sessions {
			if t.available {
				t.enqueue(b.Bytes())
			}
		}
		s.mu.RUnlock()
		putBuf(b)
	}
}

// presencesFor returns the current presence of c's own other sessions and
// of its colleagues' sessions.
func (s *Server) presencesFor(c *conn) []*xmpp.Stanza {
	targets := append(s.colleagues(c.acct), c.acct)
	var out []*xmpp.Stanza
	s.mu.RLock()
	for _, o := range targets {
		for _, t := range o.sessions {
			if t != c && t.available && t.presence != nil {
				out = append(out, t.presence)
			}
		}
	}
	s.mu.RUnlock()
	return out
}

// presenceOf returns a's current presence as seen by c: one stanza per
// available session, or one unavailable presence.
func (s *Server) presenceOf(a *account) []*xmpp.Stanza {
	var out []*xmpp.Stanza
	s.mu.RLock()
	for _, t := range a.sessions {
		if t.available && t.presence != nil {
			out = append(out, t.presence)
		}
	}
	s.mu.RUnlock()
	if len(out) == 0 {
		out = append(out, &xmpp.Stanza{Kind: xmpp.KindPresence, Type: "unavailable", From: a.bare})
	}
	return out
}

// presenceToUser handles a session's directed presence to an operator.
// Rosters are fixed by the configuration, with subscription "both":
// a subscription request is approved at once, the other subscription
// states are ignored.
func (s *Server) presenceToUser(c *conn, st *xmpp.Stanza, a *account) {
	switch st.Type {
	case "subscribe":
		c.enqueueStanza(&xmpp.Stanza{Kind: xmpp.KindPresence, Type: "subscribed", From: a.bare, To: c.acct.bare})
		fallthrough
	case "probe":
		for _, p := range s.presenceOf(a) {
			cp := *p
			cp.To = c.acct.bare
			c.enqueueStanza(&cp)
		}
	case "subscribed", "unsubscribe", "unsubscribed":
	default: // directed available, unavailable or error presence
		b := getBuf()
		defer putBuf(b)
		st.AppendXML(b)
		res := st.To.Resourcepart()
		s.mu.RLock()
		for _, t := range a.sessions {
			if (res == "" && t.available) || t.jid.Resourcepart() == res {
				t.enqueue(b.Bytes())
			}
		}
		s.mu.RUnlock()
	}
}

// routeIQ handles an iq from a session. Every get and set gets exactly
// one answer: from the server, from the session it was sent to, or from
// the handler.
func (s *Server) routeIQ(c *conn, st *xmpp.Stanza, d dest, a *account) {
	request := st.Type == "get" || st.Type == "set"
	switch d {
	case destRemote:
		if request {
			c.errorReply(st, "cancel", "remote-server-not-found")
		}
	case destService:
		s.h.HandleStanza(s.ctx, st)
	case destServer:
		switch {
		case request:
			s.serverIQ(c, st)
		case strings.HasPrefix(st.ID, pingPrefix):
			// The answer to our keepalive ping.
		default:
			s.h.HandleStanza(s.ctx, st)
		}
	case destUser:
		if res := st.To.Resourcepart(); res != "" {
			if t := s.session(a, res); t != nil {
				t.enqueueStanza(st)
			} else if request {
				c.errorReply(st, "cancel", "service-unavailable")
			}
			return
		}
		if request {
			s.accountIQ(c, st, a)
		}
	}
}

// iqResult answers st with a result carrying payload.
func (c *conn) iqResult(st *xmpp.Stanza, payload []byte) {
	c.enqueueStanza(&xmpp.Stanza{Kind: xmpp.KindIQ, Type: "result", ID: st.ID, From: st.To, To: st.From, Payload: payload})
}

// Namespaces of the iq payloads the server answers.
const (
	nsVCard    = "vcard-temp"
	nsOffline  = "msgoffline"
	nsBlocking = "urn:xmpp:blocking"
	nsCarbons  = "urn:xmpp:carbons:2"
)

// serverIQ answers a get or set to the domain.
func (s *Server) serverIQ(c *conn, st *xmpp.Stanza) {
	p, ok := payloadName(st.Payload)
	if !ok {
		c.errorReply(st, "modify", "bad-request")
		return
	}
	get := st.Type == "get"
	switch {
	case get && p.Name.Space == xmpp.NSPing:
		c.iqResult(st, nil)
	case get && p.Name.Space == xmpp.NSDiscoInfo:
		if attrOf(p, "node") != "" {
			c.errorReply(st, "cancel", "item-not-found")
			return
		}
		c.iqResult(st, []byte(s.serverDiscoInfo()))
	case get && p.Name.Space == xmpp.NSDiscoItems:
		c.iqResult(st, s.serverDiscoItems(c))
	case get && p.Name.Space == xmpp.NSVersion:
		var b bytes.Buffer
		b.WriteString(`<query xmlns='` + xmpp.NSVersion + `'><name>owlgate</name><version>`)
		xml.EscapeText(&b, []byte(s.cfg.Version))
		b.WriteString(`</version></query>`)
		c.iqResult(st, b.Bytes())
	case !get && p.Name.Space == nsSession:
		c.iqResult(st, nil)
	case get && p.Name.Space == nsVCard:
		c.errorReply(st, "cancel", "item-not-found")
	case p.Name.Space == xmpp.NSRoster:
		s.accountIQ(c, st, c.acct) // some clients address the roster to the server
	default:
		c.errorReply(st, "cancel", "service-unavailable")
	}
}

func (s *Server) serverDiscoInfo() string {
	return `<query xmlns='` + xmpp.NSDiscoInfo + `'><identity category='server' type='im' name='owlgate'/>` +
		`<feature var='` + xmpp.NSDiscoInfo + `'/><feature var='` + xmpp.NSDiscoItems + `'/>` +
		`<feature var='` + xmpp.NSPing + `'/><feature var='` + xmpp.NSVersion + `'/>` +
		`<feature var='` + xmpp.NSChatStates + `'/><feature var='` + xmpp.NSReceipts + `'/>` +
		`<feature var='` + nsOffline + `'/><feature var='` + nsVCard + `'/></query>`
}

// serverDiscoItems lists the JIDs at the domain in the operator's roster
// that are not operators: the queues they staff.
func (s *Server) serverDiscoItems(c *conn) []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns='` + xmpp.NSDiscoItems + `'>`)
	for _, it := range s.cfg.Directory.Roster(c.acct.bare) {
		if it.JID.Domain().Equal(s.domain) && s.accountOf(it.JID) == nil {
			b.WriteString(`<item jid='`)
			escAttr(&b, it.JID.String())
			if it.Name != "" {
				b.WriteString(`' name='`)
				escAttr(&b, it.Name)
			}
			b.WriteString(`'/>`)
		}
	}
	b.WriteString(`</query>`)
	return b.Bytes()
}

// accountIQ answers a get or set to an operator's bare JID (the sender's
// own, or a colleague's), on the account's behalf.
func (s *Server) accountIQ(c *conn, st *xmpp.Stanza, a *account) {
	p, ok := payloadName(st.Payload)
	if !ok {
		c.errorReply(st, "modify", "bad-request")
		return
	}
	own := a == c.acct
	get := st.Type == "get"
	switch ns := p.Name.Space; {
	case ns == xmpp.NSRoster && own:
		if !get {
			c.errorReply(st, "cancel", "not-allowed") // rosters are set by the configuration
			return
		}
		c.iqResult(st, s.rosterPayload(a))
	case ns == nsVCard && get:
		s.mu.RLock()
		v := a.vcard
		s.mu.RUnlock()
		if v == nil {
			v = []byte(`<vCard xmlns='vcard-temp'/>`)
		}
		c.iqResult(st, v)
	case ns == nsVCard && own:
		if len(st.Payload) > 64<<10 {
			c.errorReply(st, "modify", "not-acceptable")
			return
		}
		s.mu.Lock()
		a.vcard = bytes.Clone(st.Payload)
		s.mu.Unlock()
		c.iqResult(st, nil)
	case ns == xmpp.NSPing && get:
		c.iqResult(st, nil)
	case ns == xmpp.NSDiscoInfo && get:
		c.iqResult(st, []byte(`<query xmlns='`+xmpp.NSDiscoInfo+`'><identity category='account' type='registered'/>`+
			`<feature var='`+xmpp.NSDiscoInfo+`'/><feature var='`+xmpp.NSDiscoItems+`'/><feature var='`+nsVCard+`'/></query>`))
	case ns == xmpp.NSDiscoItems && get:
		c.iqResult(st, []byte(`<query xmlns='`+xmpp.NSDiscoItems+`'/>`))
	case ns == nsSession && own && !get:
		c.iqResult(st, nil)
	case ns == nsBind && own:
		c.errorReply(st, "cancel", "not-allowed")
	case ns == nsBlocking || ns == nsCarbons:
		c.errorReply(st, "cancel", "feature-not-implemented")
	default:
		c.errorReply(st, "cancel", "service-unavailable")
	}
}

// rosterPayload is a's roster query result.
func (s *Server) rosterPayload(a *account) []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns='` + xmpp.NSRoster + `'>`)
	for _, it := range s.cfg.Directory.Roster(a.bare) {
		b.WriteString(`<item jid='`)
		escAttr(&b, it.JID.String())
		b.WriteString(`'`)
		if it.Name != "" {
			b.WriteString(` name='`)
			escAttr(&b, it.Name)
			b.WriteString(`'`)
		}
		sub := it.Subscription
		if sub == "" {
			sub = "both"
		}
		b.WriteString(` subscription='`)
		escAttr(&b, sub)
		b.WriteString(`'>`)
		for _, g := range it.Groups {
			b.WriteString(`<group>`)
			xml.EscapeText(&b, []byte(g))
			b.WriteString(`</group>`)
		}
		b.WriteString(`</item>`)
	}
	b.WriteString(`</query>`)
	return b.Bytes()
}

func escAttr(b *bytes.Buffer, v string) {
	xml.EscapeText(b, []byte(v))
}

func attrOf(el xml.StartElement, local string) string {
	for _, a := range el.Attr {
		if a.Name.Local == local && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// clonePresence copies a presence to keep: the handler may change the one
// it is given.
func clonePresence(st *xmpp.Stanza) *xmpp.Stanza {
	p := *st
	p.Payload = bytes.Clone(st.Payload)
	return &p
}
