package xmpp

import (
	"bytes"
	"encoding/xml"
	"reflect"
	"strings"
	"testing"
)

func parse(t testing.TB, s string) *Stanza {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(`<stream xmlns="jabber:client">` + s + `</stream>`))
	if _, err := d.Token(); err != nil {
		t.Fatal(err)
	}
	tok, err := d.Token()
	if err != nil {
		t.Fatal(err)
	}
	st, err := ParseStanza(d, tok.(xml.StartElement))
	if err != nil {
		t.Fatalf("ParseStanza(%s): %v", s, err)
	}
	return st
}

func TestParseStanza(t *testing.T) {
	m := parse(t, `<message from="alice@localhost/desk" to="guest-1001@localhost" id="m1" type="chat" xml:lang="en">`+
		`<body>Hi &amp; welcome</body><composing xmlns="http://jabber.org/protocol/chatstates"/>`+
		`<request xmlns="urn:xmpp:receipts"/><nick xmlns="http://jabber.org/protocol/nick">Alice</nick>`+
		`<x xmlns="jabber:x:oob"><url>https://example.edu/a.pdf</url></x>`+
		`<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="1"/></encrypted></message>`)
	if m.Kind != KindMessage || m.From.String() != "alice@localhost/desk" || m.To.String() != "guest-1001@localhost" ||
		m.ID != "m1" || m.Type != "chat" || m.Lang != "en" || m.Body != "Hi & welcome" || m.ChatState != "composing" ||
		!m.ReceiptReq || m.Nick != "Alice" || !reflect.DeepEqual(m.OOBURLs, []string{"https://example.edu/a.pdf"}) {
		t.Errorf("parsed %+v", m)
	}
	if got := string(m.Payload); got != `<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="1"></header></encrypted>` {
		t.Errorf("payload %s", got)
	}
	p := parse(t, `<presence><show>away</show><status>lunch</status><priority>5</priority></presence>`)
	if p.Kind != KindPresence || p.PresenceShow != "away" || p.Status != "lunch" || p.Priority != 5 {
		t.Errorf("parsed %+v", p)
	}
	e := parse(t, `<message type="error" id="x"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">gone</text></error></message>`)
	if e.ErrorType != "cancel" || e.ErrorCond != "item-not-found" || e.ErrorText != "gone" {
		t.Errorf("parsed %+v", e)
	}
}

func TestStanzaRoundTrip(t *testing.T) {
	for _, in := range []string{
		`<message from="guest-1001@localhost" to="alice@localhost" id="a&amp;b" type="chat"><body>&lt;hi&gt; &amp; "bye"</body><nick xmlns="http://jabber.org/protocol/nick">Guest 1001</nick><active xmlns="http://jabber.org/protocol/chatstates"/><received xmlns="urn:xmpp:receipts" id="r1"/></message>`,
		`<presence from="reference@localhost" to="alice@localhost"><show>dnd</show><status>2 waiting</status><priority>-1</priority></presence>`,
		`<iq from="localhost" to="alice@localhost/desk" id="p1" type="result"><query xmlns="jabber:iq:version"><name>owlgate</name></query></iq>`,
		`<iq to="alice@localhost/desk" id="e1" type="error"><error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`,
	} {
		s := parse(t, in)
		var b bytes.Buffer
		s.AppendXML(&b)
		again := parse(t, b.String())
		if !reflect.DeepEqual(s, again) {
			t.Errorf("round trip of %s\n wrote %s\n  got %+v\n want %+v", in, b.String(), again, s)
		}
	}
}

func TestParseStanzaErrors(t *testing.T) {
	for _, in := range []string{
		`<message to="a@b@c"/>`,
		`<foo/>`,
	} {
		d := xml.NewDecoder(strings.NewReader(in))
		tok, _ := d.Token()
		if _, err := ParseStanza(d, tok.(xml.StartElement)); err == nil {
			t.Errorf("ParseStanza(%s) succeeded", in)
		}
	}
}

func FuzzStanzaRoundTrip(f *testing.F) {
	f.Add(`<message to="a@b" type="chat"><body>x</body></message>`)
	f.Add(`<presence><show>away</show></presence>`)
	f.Add(`<iq type="get" id="1"><query xmlns="jabber:iq:roster"/></iq>`)
	f.Fuzz(func(t *testing.T, in string) {
		d := xml.NewDecoder(strings.NewReader(`<stream xmlns="jabber:client">` + in + `</stream>`))
		if _, err := d.Token(); err != nil {
			return
		}
		tok, err := d.Token()
		start, ok := tok.(xml.StartElement)
		if err != nil || !ok {
			return
		}
		s, err := ParseStanza(d, start)
		if err != nil {
			return
		}
		var b bytes.Buffer
		s.AppendXML(&b)
		d = xml.NewDecoder(strings.NewReader(`<stream xmlns="jabber:client">` + b.String() + `</stream>`))
		d.Token()
		tok, err = d.Token()
		if err != nil {
			t.Fatalf("re-reading %q: %v", b.String(), err)
		}
		again, err := ParseStanza(d, tok.(xml.StartElement))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		var b2 bytes.Buffer
		again.AppendXML(&b2)
		if b.String() != b2.String() {
			t.Fatalf("not stable:\n%s\n%s", b.String(), b2.String())
		}
	})
}
