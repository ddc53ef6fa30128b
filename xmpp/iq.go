package xmpp

import (
	"bytes"
	"encoding/xml"
	"runtime"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/routing"
)

// Features answered in disco#info, for D and for the queue and patron JIDs.
var (
	domainFeatures = []string{NSDiscoInfo, NSDiscoItems, NSPing, NSVersion}
	peerFeatures   = []string{NSDiscoInfo, NSPing, NSVersion, NSChatStates, NSReceipts, NSNick}
)

// payloadElement returns the name and node attribute of the first element
// of an iq's payload.
func payloadElement(p []byte) (name xml.Name, node string, ok bool) {
	d := xml.NewDecoder(bytes.NewReader(p))
	for {
		tok, err := d.RawToken()
		if err != nil {
			return xml.Name{}, "", false
		}
		if se, isStart := tok.(xml.StartElement); isStart {
			// RawToken leaves the namespace in the xmlns attribute.
			name.Local = se.Name.Local
			for _, a := range se.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					name.Space = a.Value
				case a.Name.Space == "" && a.Name.Local == "node":
					node = a.Value
				}
			}
			return name, node, true
		}
	}
}

// handleIQ answers every get and set exactly once (RFC 6120 8.2.3); results
// and errors are not answered.
func (s *Service) handleIQ(st *Stanza) {
	if st.Type != "get" && st.Type != "set" {
		return
	}
	self := st.To
	if self.Equal(jid.JID{}) {
		self = s.domain
	}
	to := s.resolve(self)
	answer := func(payload []byte) {
		s.enqueue(job{kind: jobStanza, stanza: &Stanza{Kind: KindIQ, From: self, To: st.From, ID: st.ID,
			Type: "result", Payload: payload}})
	}
	fail := func(typ, cond string) {
		e := ErrorReply(st, typ, cond, "")
		e.From = self
		s.enqueue(job{kind: jobStanza, stanza: e})
	}
	name, node, ok := payloadElement(st.Payload)
	if !ok {
		fail("modify", "bad-request")
		return
	}
	switch to.kind {
	case jidDomain, jidQueue, jidGuest:
	default:
		// Nobody at D (operators at D are the server's to answer).
		fail("cancel", "service-unavailable")
		return
	}
	if st.Type == "set" {
		fail("cancel", "service-unavailable")
		return
	}
	switch name.Space {
	case NSDiscoInfo:
		if node != "" {
			fail("cancel", "item-not-found")
			return
		}
		answer(s.discoInfo(to))
	case NSDiscoItems:
		if node != "" {
			fail("cancel", "item-not-found")
			return
		}
		answer(s.discoItems(to, s.resolve(st.From).kind == jidOperator))
	case NSPing:
		answer(nil)
	case NSVersion:
		answer(s.versionPayload())
	default:
		fail("cancel", "service-unavailable")
	}
}

func (s *Service) discoInfo(to addr) []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns="` + NSDiscoInfo + `">`)
	features := peerFeatures
	switch to.kind {
	case jidDomain:
		if s.component {
			writeIdentity(&b, "component", "generic", "owlgate")
		} else {
			writeIdentity(&b, "server", "im", "owlgate")
		}
		features = domainFeatures
	case jidQueue:
		// An automated contact: it answers /status and /help.
		writeIdentity(&b, "client", "bot", to.q.label)
	case jidGuest:
		writeIdentity(&b, "account", "registered", guestNick(routing.GuestID(to.peer.ID), "", ""))
	}
	for _, f := range features {
		b.WriteString(`<feature`)
		writeAttr(&b, "var", f)
		b.WriteString(`/>`)
	}
	b.WriteString(`</query>`)
	return b.Bytes()
}

func writeIdentity(b *bytes.Buffer, category, typ, name string) {
	b.WriteString(`<identity`)
	writeAttr(b, "category", category)
	writeAttr(b, "type", typ)
	writeAttr(b, "name", name)
	b.WriteString(`/>`)
}

// discoItems lists the queues as D's items, to operators only.
func (s *Service) discoItems(to addr, operator bool) []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns="` + NSDiscoItems + `">`)
	if to.kind == jidDomain && operator {
		for _, q := range s.queueList {
			b.WriteString(`<item`)
			writeAttr(&b, "jid", q.jid.String())
			writeAttr(&b, "name", q.label)
			b.WriteString(`/>`)
		}
	}
	b.WriteString(`</query>`)
	return b.Bytes()
}

func (s *Service) versionPayload() []byte {
	var b bytes.Buffer
	b.WriteString(`<query xmlns="` + NSVersion + `">`)
	for _, kv := range [][2]string{{"name", "owlgate"}, {"version", s.version}, {"os", runtime.GOOS}} {
		b.WriteString("<" + kv[0] + ">")
		xml.EscapeText(&b, []byte(kv[1]))
		b.WriteString("</" + kv[0] + ">")
	}
	b.WriteString(`</query>`)
	return b.Bytes()
}
