package xmpp_test

import (
	"context"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/xmpp"
)

func TestJIDMapping(t *testing.T) {
	server := newHarness(t, "localhost", "localhost")
	comp := newHarness(t, "owlgate.localhost", "localhost")
	for _, tc := range []struct {
		svc  *xmpp.Service
		jid  string
		peer routing.Peer
		ok   bool
	}{
		{server.svc, "reference@localhost", routing.QueuePeer("reference"), true},
		{server.svc, "Reference@LocalHost/anything", routing.QueuePeer("reference"), true},
		{server.svc, "duke-ref@localhost", routing.QueuePeer("duke-ref"), true},
		{server.svc, "guest-1042@localhost", routing.GuestPeer("guest-1042"), true},
		{server.svc, "alice@localhost", routing.OperatorPeer("alice@localhost"), true},
		{server.svc, "alice@localhost/desk", routing.OperatorPeer("alice@localhost"), true},
		{server.svc, "localhost", routing.Peer{}, false},
		{server.svc, "nobody@localhost", routing.Peer{}, false},
		{server.svc, "guest-@localhost", routing.Peer{}, false},
		{server.svc, "reference@example.org", routing.Peer{}, false},
		{server.svc, "guest-1@example.org", routing.Peer{}, false},
		{comp.svc, "reference@owlgate.localhost", routing.QueuePeer("reference"), true},
		{comp.svc, "guest-7@owlgate.localhost/x", routing.GuestPeer("guest-7"), true},
		{comp.svc, "alice@localhost/laptop", routing.OperatorPeer("alice@localhost"), true},
		{comp.svc, "reference@localhost", routing.Peer{}, false},
		{comp.svc, "alice@owlgate.localhost", routing.Peer{}, false},
		{comp.svc, "owlgate.localhost", routing.Peer{}, false},
	} {
		p, ok := tc.svc.PeerOf(j(tc.jid))
		if p != tc.peer || ok != tc.ok {
			t.Errorf("%s: PeerOf(%s) = %+v, %v; want %+v, %v", tc.svc.Domain(), tc.jid, p, ok, tc.peer, tc.ok)
		}
		if !ok {
			continue
		}
		back, err := tc.svc.PeerJID(p)
		if err != nil || !back.Equal(j(tc.jid).Bare()) {
			t.Errorf("%s: PeerJID(%+v) = %s, %v; want %s", tc.svc.Domain(), p, back, err, j(tc.jid).Bare())
		}
	}
	for _, p := range []routing.Peer{routing.QueuePeer("nope"), routing.OperatorPeer("zed@localhost"),
		routing.GuestPeer("1042"), {Kind: 9, ID: "x"}} {
		if got, err := server.svc.PeerJID(p); err == nil {
			t.Errorf("PeerJID(%+v) = %s, want an error", p, got)
		}
	}
}

func TestNewServiceRefuses(t *testing.T) {
	ft := newFakeTransport("localhost")
	for name, mutate := range map[string]func(*routing.Config){
		"queue JID is an operator's": func(c *routing.Config) {
			c.Operators = append(c.Operators, routing.Operator{ID: "science@localhost", Library: "unc"})
		},
		"operator is not a bare JID": func(c *routing.Config) {
			c.Operators = append(c.Operators, routing.Operator{ID: "zed@localhost/desk", Library: "unc"})
		},
		"operator has no local part": func(c *routing.Config) {
			c.Operators = append(c.Operators, routing.Operator{ID: "localhost", Library: "unc"})
		},
		"queue id is a guest's": func(c *routing.Config) {
			c.Queues = append(c.Queues, routing.Queue{ID: "guest-1", Library: "unc"})
		},
		"queue names an unknown operator": func(c *routing.Config) {
			c.Queues[0].Operators = append(c.Queues[0].Operators, "zed@localhost")
		},
	} {
		cfg := testConfig("localhost")
		mutate(&cfg)
		if _, err := xmpp.NewService(xmpp.ServiceConfig{Domain: j("localhost"), Routing: cfg}, ft); err == nil {
			t.Errorf("%s: NewService succeeded", name)
		}
	}
	if svc, err := xmpp.NewService(xmpp.ServiceConfig{Routing: testConfig("localhost")}, ft); err != nil || svc.Domain().String() != "localhost" {
		t.Errorf("NewService without a domain: %v; want the transport's", err)
	}
	if _, err := xmpp.NewService(xmpp.ServiceConfig{Domain: j("example.org"), Routing: testConfig("localhost")}, ft); err == nil {
		t.Error("NewService for another domain than the transport's succeeded")
	}
}

func op(o, res string, show routing.Show) routing.OperatorPresence {
	return routing.OperatorPresence{Operator: routing.OperatorID(o), Resource: routing.ResourceID(res), Show: show}
}

func TestPresence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		domain string // operators are at localhost
		in     []*xmpp.Stanza
		want   []routing.Event
	}{
		{"available", "localhost", []*xmpp.Stanza{presence("alice@localhost/desk", "", "", "")},
			[]routing.Event{op("alice@localhost", "desk", routing.ShowAvailable)}},
		{"every show", "localhost", []*xmpp.Stanza{
			presence("alice@localhost/desk", "", "", "chat"),
			presence("alice@localhost/desk", "", "", "away"),
			presence("alice@localhost/desk", "", "", "xa"),
			presence("alice@localhost/desk", "", "", "dnd"),
			presence("alice@localhost/desk", "", "", "bogus"),
			presence("alice@localhost/desk", "", "unavailable", ""),
		}, []routing.Event{
			op("alice@localhost", "desk", routing.ShowChat),
			op("alice@localhost", "desk", routing.ShowAway),
			op("alice@localhost", "desk", routing.ShowXA),
			op("alice@localhost", "desk", routing.ShowDND),
			op("alice@localhost", "desk", routing.ShowAvailable),
			op("alice@localhost", "desk", routing.ShowOffline),
		}},
		{"two resources", "localhost", []*xmpp.Stanza{
			presence("alice@localhost/desk", "", "", ""),
			presence("alice@localhost/phone", "", "", "away"),
			presence("alice@localhost/desk", "", "unavailable", ""),
		}, []routing.Event{
			op("alice@localhost", "desk", routing.ShowAvailable),
			op("alice@localhost", "phone", routing.ShowAway),
			op("alice@localhost", "desk", routing.ShowOffline),
		}},
		{"component copies are deduplicated", "owlgate.localhost", []*xmpp.Stanza{
			presence("alice@localhost/desk", "reference@owlgate.localhost", "", ""),
			presence("alice@localhost/desk", "science@owlgate.localhost", "", ""),
			presence("alice@localhost/desk", "owlgate.localhost", "", ""),
			presence("alice@localhost/desk", "reference@owlgate.localhost", "", "away"),
			presence("alice@localhost/desk", "science@owlgate.localhost", "", "away"),
		}, []routing.Event{
			op("alice@localhost", "desk", routing.ShowAvailable),
			op("alice@localhost", "desk", routing.ShowAway),
		}},
		{"server mode: directed presence is not availability", "localhost", []*xmpp.Stanza{
			presence("alice@localhost/desk", "", "", ""),
			presence("alice@localhost/desk", "reference@localhost", "unavailable", ""),
			presence("bob@localhost/desk", "guest-4@localhost", "", ""),
		}, []routing.Event{op("alice@localhost", "desk", routing.ShowAvailable)}},
		{"unavailable of an unknown resource", "localhost", []*xmpp.Stanza{
			presence("alice@localhost/desk", "", "unavailable", ""),
		}, nil},
		{"unavailable from the bare JID", "owlgate.localhost", []*xmpp.Stanza{
			presence("bob@localhost/a", "reference@owlgate.localhost", "", ""),
			presence("bob@localhost/b", "reference@owlgate.localhost", "", "dnd"),
			presence("bob@localhost", "reference@owlgate.localhost", "unavailable", ""),
		}, []routing.Event{
			op("bob@localhost", "a", routing.ShowAvailable),
			op("bob@localhost", "b", routing.ShowDND),
			// then both offline, in any order: checked below
		}},
		{"not an operator", "localhost", []*xmpp.Stanza{
			presence("mallory@localhost/x", "", "", ""),
			presence("alice@example.org/x", "", "", ""),
		}, nil},
		{"presence error", "owlgate.localhost", []*xmpp.Stanza{
			presence("alice@localhost", "reference@owlgate.localhost", "error", ""),
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.domain, "localhost")
			for _, s := range tc.in {
				h.in(s)
			}
			got := h.rec.take()
			if tc.name == "unavailable from the bare JID" {
				if len(got) != 4 {
					t.Fatalf("posted %+v", got)
				}
				offline := map[routing.Event]bool{got[2]: true, got[3]: true}
				if !offline[op("bob@localhost", "a", routing.ShowOffline)] || !offline[op("bob@localhost", "b", routing.ShowOffline)] {
					t.Errorf("posted %+v", got)
				}
				got = got[:2]
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("posted %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestWelcome: a new session is shown its queues' presence at once.
func TestWelcome(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	h.send(routing.Action{Kind: routing.QueuePresence, Queue: "reference", Online: true})
	out := h.in(presence("alice@localhost/desk", "", "", ""))
	if len(out) != 1 || out[0].Kind != xmpp.KindPresence || out[0].From.String() != "reference@localhost" ||
		out[0].To.String() != "alice@localhost/desk" || out[0].Type != "" {
		t.Fatalf("sent %s", dump(out))
	}
	if out := h.in(presence("alice@localhost/desk", "", "", "away")); len(out) != 0 {
		t.Errorf("a known session's change sent %s", dump(out))
	}
}

func TestSubscriptions(t *testing.T) {
	h := newHarness(t, "owlgate.localhost", "localhost")
	type want struct{ from, to, typ string }
	check := func(name string, out []*xmpp.Stanza, ws ...want) {
		t.Helper()
		if len(out) != len(ws) {
			t.Fatalf("%s: sent %d stanzas, want %d:\n%s", name, len(out), len(ws), dump(out))
		}
		for i, w := range ws {
			s := out[i]
			if s.Kind != xmpp.KindPresence || s.From.String() != w.from || s.To.String() != w.to || s.Type != w.typ {
				t.Errorf("%s: stanza %d is %s, want presence from %s to %s type %q", name, i, xmlOf(s), w.from, w.to, w.typ)
			}
		}
	}
	check("subscribe to an offline queue",
		h.in(presence("alice@localhost/desk", "reference@owlgate.localhost", "subscribe", "")),
		want{"reference@owlgate.localhost", "alice@localhost", "subscribed"},
		want{"reference@owlgate.localhost", "alice@localhost", "unavailable"})
	h.send(routing.Action{Kind: routing.QueuePresence, Queue: "reference", Online: true})
	check("probe of an online queue",
		h.in(presence("alice@localhost/desk", "reference@owlgate.localhost", "probe", "")),
		want{"reference@owlgate.localhost", "alice@localhost/desk", ""})
	check("subscribe from a stranger",
		h.in(presence("mallory@localhost", "reference@owlgate.localhost", "subscribe", "")),
		want{"reference@owlgate.localhost", "mallory@localhost", "unsubscribed"})
	check("subscribe to nobody",
		h.in(presence("alice@localhost", "nobody@owlgate.localhost", "subscribe", "")),
		want{"nobody@owlgate.localhost", "alice@localhost", "unsubscribed"})
	check("probe of nobody",
		h.in(presence("alice@localhost", "nobody@owlgate.localhost", "probe", "")),
		want{"nobody@owlgate.localhost", "alice@localhost", "unsubscribed"})
	check("probe from a stranger", h.in(presence("mallory@localhost", "reference@owlgate.localhost", "probe", "")))
	check("subscribe to the domain",
		h.in(presence("alice@localhost", "owlgate.localhost", "subscribe", "")),
		want{"owlgate.localhost", "alice@localhost", "subscribed"},
		want{"owlgate.localhost", "alice@localhost", ""})
	check("subscribe to a guest with no chat",
		h.in(presence("alice@localhost", "guest-5@owlgate.localhost", "subscribe", "")),
		want{"guest-5@owlgate.localhost", "alice@localhost", "subscribed"},
		want{"guest-5@owlgate.localhost", "alice@localhost", "unavailable"})
	h.send(routing.Action{Kind: routing.SendOperator, Operator: "alice@localhost", From: routing.GuestPeer("guest-5"),
		Chat: 3, Patron: patronAddr("p5"), Queue: "reference", Text: "hello"})
	check("probe of a guest in a chat",
		h.in(presence("alice@localhost/desk", "guest-5@owlgate.localhost", "probe", "")),
		want{"guest-5@owlgate.localhost", "alice@localhost/desk", ""})
	check("unsubscribe",
		h.in(presence("alice@localhost", "reference@owlgate.localhost", "unsubscribe", "")),
		want{"reference@owlgate.localhost", "alice@localhost", "unavailable"})
	check("subscribed and unsubscribed are noted only",
		append(h.in(presence("alice@localhost", "reference@owlgate.localhost", "subscribed", "")),
			h.in(presence("alice@localhost", "reference@owlgate.localhost", "unsubscribed", ""))...))
	if ev := h.rec.take(); len(ev) != 0 {
		t.Errorf("subscription stanzas posted %+v", ev)
	}
}

func iq(from, to, id, typ, payload string) *xmpp.Stanza {
	s := &xmpp.Stanza{Kind: xmpp.KindIQ, From: j(from), ID: id, Type: typ, Payload: []byte(payload)}
	if to != "" {
		s.To = j(to)
	}
	return s
}

func TestIQ(t *testing.T) {
	const (
		info    = `<query xmlns="http://jabber.org/protocol/disco#info"/>`
		items   = `<query xmlns="http://jabber.org/protocol/disco#items"/>`
		ping    = `<ping xmlns="urn:xmpp:ping"/>`
		version = `<query xmlns="jabber:iq:version"/>`
		vcard   = `<vCard xmlns="vcard-temp"/>`
	)
	server := newHarness(t, "localhost", "localhost")
	comp := newHarness(t, "owlgate.localhost", "localhost")
	for _, tc := range []struct {
		name     string
		h        *harness
		in       *xmpp.Stanza
		typ      string   // of the answer; "" for none
		cond     string   // for errors
		contains []string // in the answer's XML
		lacks    []string
	}{
		{"disco#info of the server", server, iq("alice@localhost/desk", "localhost", "1", "get", info), "result", "",
			[]string{`category="server" type="im" name="owlgate"`, `var="urn:xmpp:ping"`, `var="jabber:iq:version"`, `var="http://jabber.org/protocol/disco#items"`}, nil},
		{"disco#info of the component", comp, iq("alice@localhost/desk", "owlgate.localhost", "2", "get", info), "result", "",
			[]string{`category="component" type="generic" name="owlgate"`, `from="owlgate.localhost"`}, nil},
		{"disco#info of a queue", server, iq("alice@localhost/desk", "reference@localhost", "3", "get", info), "result", "",
			[]string{`category="client" type="bot" name="Reference (UNC)"`, `var="http://jabber.org/protocol/chatstates"`,
				`var="urn:xmpp:receipts"`, `var="http://jabber.org/protocol/nick"`, `from="reference@localhost"`, `to="alice@localhost/desk"`}, nil},
		{"disco#info of a guest", server, iq("alice@localhost/desk", "guest-42@localhost", "4", "get", info), "result", "",
			[]string{`category="account" type="registered" name="Guest 42"`}, nil},
		{"disco#info with a node", server, iq("alice@localhost/desk", "localhost", "5", "get",
			`<query xmlns="http://jabber.org/protocol/disco#info" node="x"/>`), "error", "item-not-found", nil, nil},
		{"disco#items of the server", server, iq("alice@localhost/desk", "localhost", "6", "get", items), "result", "",
			[]string{`<item jid="reference@localhost" name="Reference (UNC)"/>`, `<item jid="duke-ref@localhost" name="Ask Duke (Duke)"/>`}, nil},
		{"disco#items for a stranger", comp, iq("mallory@localhost/x", "owlgate.localhost", "7", "get", items), "result", "",
			nil, []string{"<item"}},
		{"disco#items of a queue", server, iq("alice@localhost/desk", "reference@localhost", "8", "get", items), "result", "",
			nil, []string{"<item"}},
		{"ping", server, iq("alice@localhost/desk", "localhost", "9", "get", ping), "result", "", nil, []string{"<ping"}},
		{"ping a queue", comp, iq("alice@localhost/desk", "science@owlgate.localhost", "10", "get", ping), "result", "", nil, nil},
		{"version", server, iq("alice@localhost/desk", "localhost", "11", "get", version), "result", "",
			[]string{`<name>owlgate</name><version>v1.2.3</version>`}, nil},
		{"no to", server, iq("alice@localhost/desk", "", "12", "get", ping), "result", "", []string{`from="localhost"`}, nil},
		{"vcard", server, iq("alice@localhost/desk", "reference@localhost", "13", "get", vcard), "error", "service-unavailable", nil, nil},
		{"set", server, iq("alice@localhost/desk", "localhost", "14", "set", version), "error", "service-unavailable", nil, nil},
		{"unknown namespace", comp, iq("alice@localhost/desk", "owlgate.localhost", "15", "get", `<query xmlns="urn:example:x"/>`),
			"error", "service-unavailable", nil, nil},
		{"nobody at D", server, iq("alice@localhost/desk", "nobody@localhost", "16", "get", ping), "error", "service-unavailable",
			[]string{`from="nobody@localhost"`}, nil},
		{"no payload", server, iq("alice@localhost/desk", "localhost", "17", "get", ""), "error", "bad-request", nil, nil},
		{"result", server, iq("alice@localhost/desk", "localhost", "18", "result", ""), "", "", nil, nil},
		{"error", server, iq("alice@localhost/desk", "localhost", "19", "error", ""), "", "", nil, nil},
	} {
		out := tc.h.in(tc.in)
		if tc.typ == "" {
			if len(out) != 0 {
				t.Errorf("%s: answered %s", tc.name, dump(out))
			}
			continue
		}
		if len(out) != 1 {
			t.Errorf("%s: %d answers, want exactly one:\n%s", tc.name, len(out), dump(out))
			continue
		}
		a := out[0]
		x := xmlOf(a)
		if a.Kind != xmpp.KindIQ || a.Type != tc.typ || a.ID != tc.in.ID || !a.To.Equal(tc.in.From) || a.ErrorCond != tc.cond {
			t.Errorf("%s: answered %s", tc.name, x)
		}
		for _, c := range tc.contains {
			if !strings.Contains(x, c) {
				t.Errorf("%s: answer lacks %s: %s", tc.name, c, x)
			}
		}
		for _, c := range tc.lacks {
			if strings.Contains(x, c) {
				t.Errorf("%s: answer has %s: %s", tc.name, c, x)
			}
		}
	}
}

func TestMessages(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	withOOB := chat("alice@localhost/desk", "guest-9@localhost", "m2", " https://up.example/a.pdf ")
	withOOB.OOBURLs = []string{"https://up.example/a.pdf"}
	textAndOOB := chat("alice@localhost/desk", "guest-9@localhost", "m3", "the map")
	textAndOOB.OOBURLs = []string{"https://up.example/map.png"}
	typing := &xmpp.Stanza{Kind: xmpp.KindMessage, From: j("alice@localhost/desk"), To: j("guest-9@localhost"), Type: "chat", ChatState: "composing"}
	gone := &xmpp.Stanza{Kind: xmpp.KindMessage, From: j("alice@localhost/desk"), To: j("bob@localhost"), Type: "chat", ChatState: "gone"}
	receipt := &xmpp.Stanza{Kind: xmpp.KindMessage, From: j("alice@localhost/desk"), To: j("guest-9@localhost"), ReceiptFor: "og1"}
	errMsg := chat("alice@localhost/desk", "guest-9@localhost", "m4", "x")
	errMsg.Type = "error"
	headline := chat("alice@localhost/desk", "guest-9@localhost", "m5", "x")
	headline.Type = "headline"
	omemo := chat("alice@localhost/desk", "guest-9@localhost", "m6", "I sent you an OMEMO encrypted message")
	omemo.Payload = []byte(`<encrypted xmlns="eu.siacs.conversations.axolotl"><header sid="1"></header></encrypted>`)
	otr := chat("alice@localhost/desk", "guest-9@localhost", "m7", "?OTRv23?")
	toQueue := chat("alice@localhost/desk", "reference@localhost", "m8", "/status")
	toQueue.ReceiptReq = true
	normal := chat("alice@localhost/desk", "guest-9@localhost", "m9", "plain")
	normal.Type = ""
	for _, tc := range []struct {
		name  string
		in    *xmpp.Stanza
		want  []routing.Event
		reply string // a substring of the one stanza sent back, "" for none
	}{
		{"text to a guest", chat("alice@localhost/desk", "guest-9@localhost", "m1", "Hello & welcome"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "m1", Text: "Hello & welcome"}}, ""},
		{"type normal", normal,
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "m9", Text: "plain"}}, ""},
		{"upload: the body is the link", withOOB,
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "m2",
				Attachments: []protocols.Attachment{{URL: "https://up.example/a.pdf"}}}}, ""},
		{"text and a link", textAndOOB,
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "m3", Text: "the map",
				Attachments: []protocols.Attachment{{URL: "https://up.example/map.png"}}}}, ""},
		{"command to a queue, with a receipt", toQueue,
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.QueuePeer("reference"), ID: "m8", Text: "/status"}},
			`<received xmlns="urn:xmpp:receipts" id="m8"/>`},
		{"to an operator", chat("alice@localhost/desk", "bob@localhost", "", "lunch?"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.OperatorPeer("bob@localhost"), Text: "lunch?"}}, ""},
		{"/transfer to a queue's JID", chat("alice@localhost/desk", "guest-9@localhost", "t1", "/transfer Science@LocalHost"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "t1", Text: "/transfer science"}}, ""},
		{"/transfer to an operator's URI", chat("alice@localhost/desk", "guest-9@localhost", "t2", "/TRANSFER xmpp:Carol@localhost"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "t2", Text: "/TRANSFER carol@localhost"}}, ""},
		{"/transfer to a queue id", chat("alice@localhost/desk", "guest-9@localhost", "t3", "/transfer science"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "t3", Text: "/transfer science"}}, ""},
		{"/transfer to nobody", chat("alice@localhost/desk", "guest-9@localhost", "t4", "/transfer zed@localhost"),
			[]routing.Event{routing.OperatorMessage{From: "alice@localhost", To: routing.GuestPeer("guest-9"), ID: "t4", Text: "/transfer zed@localhost"}}, ""},
		{"typing", typing, []routing.Event{routing.OperatorChatState{From: "alice@localhost", To: routing.GuestPeer("guest-9"), State: protocols.Composing}}, ""},
		{"gone to an operator", gone, []routing.Event{routing.OperatorChatState{From: "alice@localhost", To: routing.OperatorPeer("bob@localhost"), State: protocols.Gone}}, ""},
		{"receipt", receipt, nil, ""},
		{"error", errMsg, nil, ""},
		{"headline", headline, nil, ""},
		{"OMEMO", omemo, nil, `<not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`},
		{"OTR", otr, nil, `turn encryption off`},
		{"from a stranger", chat("mallory@localhost/x", "guest-9@localhost", "s1", "hi"), nil,
			`type="error"><error type="cancel"><service-unavailable`},
		{"typing from a stranger", &xmpp.Stanza{Kind: xmpp.KindMessage, From: j("mallory@localhost/x"), To: j("reference@localhost"), ChatState: "composing"}, nil, ""},
		{"to nobody at D", chat("alice@localhost/desk", "nobody@localhost", "n1", "hi"), nil,
			`<item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">There is no queue or patron nobody@localhost. Your queues: reference@localhost.</text>`},
		{"to D", chat("alice@localhost/desk", "localhost", "d1", "hi"), nil, `Write to a queue (like reference@localhost)`},
	} {
		out := h.in(tc.in)
		if got := h.rec.take(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: posted %+v\nwant %+v", tc.name, got, tc.want)
		}
		switch {
		case tc.reply == "" && len(out) != 0:
			t.Errorf("%s: sent %s", tc.name, dump(out))
		case tc.reply != "" && (len(out) != 1 || !strings.Contains(xmlOf(out[0]), tc.reply) || !out[0].To.Equal(tc.in.From)):
			t.Errorf("%s: sent %s, want one stanza with %s", tc.name, dump(out), tc.reply)
		}
	}
}

func sendOp(to string, from routing.Peer, chatID routing.ChatID, text string) routing.Action {
	a := routing.Action{Kind: routing.SendOperator, Operator: routing.OperatorID(to), From: from, Chat: chatID, Text: text}
	if from.Kind == routing.PeerGuest && chatID != 0 {
		a.Patron, a.Queue = patronAddr("p"), "reference"
	}
	return a
}

func TestSendOperator(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	g := routing.GuestPeer("guest-1042")
	out := h.send(sendOp("alice@localhost", g, 7, "Where are the atlases?"), sendOp("alice@localhost", g, 7, "a note"))
	if len(out) != 3 {
		t.Fatalf("sent %s", dump(out))
	}
	if p := out[0]; p.Kind != xmpp.KindPresence || p.From.String() != "guest-1042@localhost" || p.To.String() != "alice@localhost" ||
		p.Type != "" || p.Status != "IRC · Reference" {
		t.Errorf("first the guest's presence; sent %s", xmlOf(p))
	}
	m := out[1]
	if m.Kind != xmpp.KindMessage || m.Type != "chat" || m.From.String() != "guest-1042@localhost" || m.To.String() != "alice@localhost" ||
		m.Body != "Where are the atlases?" || m.ID == "" || m.Nick != "Guest 1042 (IRC · Reference)" {
		t.Errorf("first message %s", xmlOf(m))
	}
	if !strings.Contains(xmlOf(m), `<nick xmlns="http://jabber.org/protocol/nick">Guest 1042 (IRC · Reference)</nick>`) {
		t.Errorf("no XEP-0172 nick in %s", xmlOf(m))
	}
	if n := out[2]; n.Nick != "" || n.Body != "a note" || n.Type != "chat" || n.ID == m.ID {
		t.Errorf("second message %s", xmlOf(n))
	}
	// Another operator gets presence and nick once too; a new chat of the
	// same patron brings the nick again, not the presence.
	out = h.send(sendOp("bob@localhost", g, 7, "Where are the atlases?"), sendOp("alice@localhost", g, 9, "back again"))
	if len(out) != 3 || out[0].Kind != xmpp.KindPresence || out[1].Nick == "" || out[1].To.String() != "bob@localhost" ||
		out[2].Nick != "Guest 1042 (IRC · Reference)" || out[2].To.String() != "alice@localhost" {
		t.Errorf("sent %s", dump(out))
	}
	// A refusal about a guest with no chat: from the guest, no presence.
	out = h.send(sendOp("alice@localhost", routing.GuestPeer("guest-5"), 0, "Not delivered: guest-5 has no open chat."))
	if len(out) != 1 || out[0].From.String() != "guest-5@localhost" || out[0].Nick != "" {
		t.Errorf("sent %s", dump(out))
	}
	// From a queue: its name as nick, on the first message only.
	q := routing.QueuePeer("reference")
	out = h.send(sendOp("alice@localhost", q, 0, "status 1"), sendOp("alice@localhost", q, 0, "status 2"))
	if len(out) != 2 || out[0].From.String() != "reference@localhost" || out[0].Nick != "Reference" || out[1].Nick != "" {
		t.Errorf("sent %s", dump(out))
	}
	// Between operators (server mode): from the colleague's JID.
	out = h.send(sendOp("bob@localhost", routing.OperatorPeer("alice@localhost"), 0, "lunch?"))
	if len(out) != 1 || out[0].From.String() != "alice@localhost" || out[0].To.String() != "bob@localhost" || out[0].Nick != "Alice" {
		t.Errorf("sent %s", dump(out))
	}
	// Unknown operators and peers are dropped.
	if out = h.send(sendOp("zed@localhost", g, 7, "x"), sendOp("alice@localhost", routing.QueuePeer("nope"), 0, "x")); len(out) != 0 {
		t.Errorf("sent %s", dump(out))
	}
}

func TestChatStatesAndReceipts(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	g := routing.GuestPeer("guest-3")
	out := h.send(
		routing.Action{Kind: routing.SendOperatorState, Operator: "alice@localhost", From: g, Chat: 1, State: protocols.Composing},
		routing.Action{Kind: routing.SendOperatorReceipt, Operator: "alice@localhost", From: g, Chat: 1, ID: "purple42"},
		routing.Action{Kind: routing.SendOperatorReceipt, Operator: "alice@localhost", From: g, Chat: 1, ID: ""},
	)
	if len(out) != 2 {
		t.Fatalf("sent %s", dump(out))
	}
	if x := xmlOf(out[0]); x != `<message from="guest-3@localhost" to="alice@localhost" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>` {
		t.Errorf("chat state: %s", x)
	}
	if x := xmlOf(out[1]); x != `<message from="guest-3@localhost" to="alice@localhost" type="chat"><received xmlns="urn:xmpp:receipts" id="purple42"/></message>` {
		t.Errorf("receipt: %s", x)
	}
}

func TestQueuePresenceAndConnected(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		h := newHarness(t, "localhost", "localhost")
		// Connected (at start) sent every queue's presence to its
		// operators, and nothing else.
		at := h.ft.since(0)
		if len(at) != 5 {
			t.Fatalf("at start: %s", dump(at))
		}
		for _, s := range at {
			if s.Kind != xmpp.KindPresence || s.Type != "unavailable" {
				t.Errorf("at start: %s", xmlOf(s))
			}
		}
		out := h.send(routing.Action{Kind: routing.QueuePresence, Queue: "reference", Online: true})
		if len(out) != 2 || out[0].To.String() != "alice@localhost" || out[1].To.String() != "bob@localhost" {
			t.Fatalf("sent %s", dump(out))
		}
		for _, s := range out {
			if s.From.String() != "reference@localhost" || s.Type != "" || s.Status != "Online" {
				t.Errorf("sent %s", xmlOf(s))
			}
		}
		out = h.send(routing.Action{Kind: routing.QueuePresence, Queue: "reference", Online: false})
		if len(out) != 2 || out[0].Type != "unavailable" || out[1].Type != "unavailable" {
			t.Errorf("sent %s", dump(out))
		}
	})
	t.Run("component", func(t *testing.T) {
		h := newHarness(t, "owlgate.localhost", "localhost")
		at := h.ft.since(0)
		type key struct{ from, to, typ string }
		got := map[key]int{}
		for _, s := range at {
			got[key{s.From.String(), s.To.String(), s.Type}]++
		}
		for _, q := range []struct{ queue, op string }{
			{"reference", "alice"}, {"reference", "bob"}, {"science", "carol"}, {"duke-ref", "dave"}, {"ncsu", "erin"},
		} {
			for _, typ := range []string{"unavailable", "subscribe", "probe"} {
				k := key{q.queue + "@owlgate.localhost", q.op + "@localhost", typ}
				if got[k] != 1 {
					t.Errorf("%d × %+v", got[k], k)
				}
			}
		}
		// Frank is in no queue: D asks for his presence.
		for _, typ := range []string{"subscribe", "probe"} {
			if k := (key{"owlgate.localhost", "frank@localhost", typ}); got[k] != 1 {
				t.Errorf("%d × %+v", got[k], k)
			}
		}
		if len(at) != 5*3+2 {
			t.Errorf("at start %d stanzas:\n%s", len(at), dump(at))
		}
		for _, s := range at {
			if s.Type == "subscribe" && s.From.String() == "reference@owlgate.localhost" && s.Nick != "Reference (UNC)" {
				t.Errorf("subscription request without the queue's nick: %s", xmlOf(s))
			}
		}
		// A reconnection announces again, with the current state.
		h.send(routing.Action{Kind: routing.QueuePresence, Queue: "science", Online: true})
		hd, ctx := h.ft.handler()
		m := h.ft.mark()
		hd.Connected(ctx)
		h.settle()
		again := h.ft.since(m)
		if len(again) != len(at) {
			t.Errorf("reconnected: %s", dump(again))
		}
		found := false
		for _, s := range again {
			if s.From.String() == "science@owlgate.localhost" && s.Type == "" {
				found = true
			}
		}
		if !found {
			t.Errorf("science's presence not available after the reconnection: %s", dump(again))
		}
	})
}

func TestDisconnected(t *testing.T) {
	h := newHarness(t, "owlgate.localhost", "localhost")
	h.in(presence("alice@localhost/desk", "reference@owlgate.localhost", "", ""))
	h.in(presence("alice@localhost/phone", "reference@owlgate.localhost", "", "away"))
	h.in(presence("carol@localhost/pc", "science@owlgate.localhost", "", "chat"))
	h.rec.take()
	hd, ctx := h.ft.handler()
	hd.Disconnected(ctx)
	got := map[routing.Event]bool{}
	for _, ev := range h.rec.take() {
		got[ev] = true
	}
	want := map[routing.Event]bool{
		op("alice@localhost", "desk", routing.ShowOffline):  true,
		op("alice@localhost", "phone", routing.ShowOffline): true,
		op("carol@localhost", "pc", routing.ShowOffline):    true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("posted %v, want %v", got, want)
	}
	// After the reconnection the same presence counts again.
	h.in(presence("alice@localhost/desk", "reference@owlgate.localhost", "", ""))
	if ev := h.rec.take(); !reflect.DeepEqual(ev, []routing.Event{op("alice@localhost", "desk", routing.ShowAvailable)}) {
		t.Errorf("posted %+v", ev)
	}
}

func TestChatEndedMakesGuestUnavailable(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	g := routing.GuestPeer("guest-8")
	h.send(sendOp("alice@localhost", g, 4, "hi"), sendOp("bob@localhost", g, 4, "hi"))
	// A record that is not ended, or of another chat, changes nothing.
	out := h.send(
		routing.Action{Kind: routing.SaveChat, Chat: 4, Record: routing.ChatRecord{ID: 4, Guest: "guest-8", Status: routing.ChatHeld}},
		routing.Action{Kind: routing.SaveChat, Chat: 3, Record: routing.ChatRecord{ID: 3, Guest: "guest-8", Status: routing.ChatEnded}},
	)
	if len(out) != 0 {
		t.Fatalf("sent %s", dump(out))
	}
	out = h.send(routing.Action{Kind: routing.SaveChat, Chat: 4, Record: routing.ChatRecord{ID: 4, Guest: "guest-8", Status: routing.ChatEnded}})
	to := map[string]bool{}
	for _, s := range out {
		if s.Kind != xmpp.KindPresence || s.Type != "unavailable" || s.From.String() != "guest-8@localhost" {
			t.Errorf("sent %s", xmlOf(s))
		}
		to[s.To.String()] = true
	}
	if len(out) != 2 || !to["alice@localhost"] || !to["bob@localhost"] {
		t.Errorf("sent %s", dump(out))
	}
	if out := h.in(presence("alice@localhost", "guest-8@localhost", "probe", "")); len(out) != 1 || out[0].Type != "unavailable" {
		t.Errorf("probe after the end: %s", dump(out))
	}
}

func TestShutdownSendsUnavailable(t *testing.T) {
	ft := newFakeTransport("localhost")
	svc, err := xmpp.NewService(xmpp.ServiceConfig{Domain: j("localhost"), Routing: testConfig("localhost")}, ft)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, (&recorder{}).post) }()
	<-ft.running
	svc.Send(routing.Action{Kind: routing.QueuePresence, Queue: "reference", Online: true})
	svc.Send(sendOp("alice@localhost", routing.GuestPeer("guest-2"), 1, "hi"))
	wctx, wcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer wcancel()
	if err := svc.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	m := ft.mark()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return")
	}
	out := ft.since(m)
	type key struct{ from, to string }
	got := map[key]bool{}
	for _, s := range out {
		if s.Kind != xmpp.KindPresence || s.Type != "unavailable" {
			t.Errorf("at shutdown: %s", xmlOf(s))
		}
		got[key{s.From.String(), s.To.String()}] = true
	}
	for _, k := range []key{{"reference@localhost", "alice@localhost"}, {"reference@localhost", "bob@localhost"},
		{"science@localhost", "carol@localhost"}, {"guest-2@localhost", "alice@localhost"}} {
		if !got[k] {
			t.Errorf("no unavailable presence %+v at shutdown:\n%s", k, dump(out))
		}
	}
	// Sends after shutdown are dropped, not blocked.
	svc.Send(sendOp("alice@localhost", routing.QueuePeer("reference"), 0, "late"))
}

// blockedTransport never returns from Send until its context ends.
type blockedTransport struct{ *fakeTransport }

func (b blockedTransport) Send(ctx context.Context, s *xmpp.Stanza) error {
	<-ctx.Done()
	return ctx.Err()
}

// TestSendNeverBlocks: with a transport that does not take stanzas, Send
// still returns at once, and shutdown is bounded.
func TestSendNeverBlocks(t *testing.T) {
	ft := blockedTransport{newFakeTransport("localhost")}
	svc, err := xmpp.NewService(xmpp.ServiceConfig{Domain: j("localhost"), Routing: testConfig("localhost"),
		ShutdownTimeout: 50 * time.Millisecond}, ft)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, (&recorder{}).post) }()
	<-ft.running
	for range 10000 {
		svc.Send(sendOp("alice@localhost", routing.GuestPeer("guest-2"), 1, "hi"))
	}
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
}

func TestDirectory(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	if name, ok := h.svc.Operator(j("alice@localhost")); !ok || name != "Alice" {
		t.Errorf("Operator(alice) = %q, %v", name, ok)
	}
	if name, ok := h.svc.Operator(j("Alice@localhost/desk")); !ok || name != "Alice" {
		t.Errorf("Operator(Alice@localhost/desk) = %q, %v", name, ok)
	}
	if _, ok := h.svc.Operator(j("reference@localhost")); ok {
		t.Error("a queue is an operator")
	}
	type item struct{ jid, name, group string }
	var got []item
	for _, it := range h.svc.Roster(j("alice@localhost")) {
		if it.Subscription != "both" || len(it.Groups) != 1 {
			t.Errorf("roster item %+v", it)
		}
		got = append(got, item{it.JID.String(), it.Name, it.Groups[0]})
	}
	want := []item{
		{"reference@localhost", "Reference", "Queues"},
		{"bob@localhost", "Bob", "UNC"},
		{"carol@localhost", "Carol", "UNC"},
		{"frank@localhost", "Frank", "UNC"},
		{"dave@localhost", "Dave", "Duke"}, // nightowl collaboration
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("alice's roster %+v\nwant %+v", got, want)
	}
	if r := h.svc.Roster(j("erin@localhost")); len(r) != 1 || r[0].JID.String() != "ncsu@localhost" {
		t.Errorf("erin's roster %+v", r)
	}
	if r := h.svc.Roster(j("mallory@localhost")); r != nil {
		t.Errorf("a stranger's roster %+v", r)
	}
	var _ jid.JID
}

// TestSendKeepsOrder: actions sent from several goroutines all go out, each
// goroutine's in order, while the sender drains the queue concurrently.
func TestSendKeepsOrder(t *testing.T) {
	h := newHarness(t, "localhost", "localhost")
	const writers, each = 4, 3000
	m := h.ft.mark()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				h.svc.Send(sendOp("alice@localhost", routing.QueuePeer("reference"), 0, fmt.Sprintf("%d %d", w, i)))
				if i%500 == 0 {
					runtime.Gosched()
				}
			}
		})
	}
	wg.Wait()
	h.settle()
	out := h.ft.since(m)
	if len(out) != writers*each {
		t.Fatalf("%d stanzas sent for %d actions", len(out), writers*each)
	}
	next := make([]int, writers)
	for _, s := range out {
		var w, i int
		if _, err := fmt.Sscanf(s.Body, "%d %d", &w, &i); err != nil {
			t.Fatal(err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: got %d, want %d", w, i, next[w])
		}
		next[w]++
	}
}
