package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	mxmpp "mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/store"
	"github.com/owlgate/owlgate/xmpp"
)

var _ OfflineStore = (*store.SQLite)(nil)

func TestLoginMellium(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain, sasl.ScramSha256Plus} {
		t.Run(m.Name, func(t *testing.T) {
			res := "desk-" + strings.ToLower(m.Name)
			if m.Name == sasl.ScramSha256Plus.Name {
				// A client that would use channel binding falls back to
				// SCRAM-SHA-256 without it ("y" flag).
				c, err := dialMellium(t, s, "alice@localhost", "alice-pw", res, sasl.ScramSha256Plus)
				if err == nil {
					c.close()
					t.Fatal("SCRAM-SHA-256-PLUS alone: logged in without the mechanism being offered")
				}
				c, err = dialMellium(t, s, "alice@localhost", "alice-pw", res, sasl.ScramSha256Plus, sasl.ScramSha256)
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				c.close()
				return
			}
			c, err := dialMellium(t, s, "alice@localhost", "alice-pw", res, m)
			if err != nil {
				t.Fatalf("login: %v", err)
			}
			// mellium asks for a server-generated resource.
			full := c.sess.LocalAddr().String()
			if !strings.HasPrefix(full, "alice@localhost/") || full == "alice@localhost/" {
				t.Errorf("bound JID %q, want alice@localhost/<resource>", full)
			}
			if c.sess.State()&mxmpp.Secure == 0 {
				t.Error("session not secure")
			}
			c.available()
			st := h.next(t, "alice's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })
			if st.From.String() != full || !st.To.Equal(jid.JID{}) || st.Type != "" {
				t.Errorf("presence from %s to %q type %q, want from the full JID, no to, available", st.From, st.To, st.Type)
			}
			c.close()
			st = h.next(t, "alice's unavailable presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })
			if st.Type != "unavailable" || st.From.String() != full {
				t.Errorf("after disconnect: presence %q from %s, want unavailable from the full JID", st.Type, st.From)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	for _, m := range []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain} {
		for _, u := range []struct{ user, pass string }{
			{"alice@localhost", "wrong"},
			{"nobody@localhost", "alice-pw"},
		} {
			_, err := dialMellium(t, s, u.user, u.pass, "x", m)
			if err == nil || !strings.Contains(err.Error(), "not-authorized") {
				t.Errorf("%s %s with a wrong password: err = %v, want not-authorized", m.Name, u.user, err)
			}
		}
	}
	// A retry on the same stream may succeed; too many failures close it.
	c := rawStream(t, s, true)
	for range 2 {
		c.write(plainAuth("alice", "wrong"))
		if el, _ := c.element(); !strings.Contains(el, "not-authorized") {
			t.Fatalf("wrong password: %s", el)
		}
	}
	c.write(plainAuth("alice", "alice-pw"))
	if el, _ := c.element(); !strings.Contains(el, "success") {
		t.Fatalf("retry with the right password: %s", el)
	}
	c.close()

	c = rawStream(t, s, true)
	for range DefaultMaxAuthFailures - 1 {
		c.write(plainAuth("alice", "wrong"))
		c.element()
	}
	c.write(plainAuth("alice", "wrong"))
	c.element()
	c.expectStreamError(t, "policy-violation")
}

func TestTwoResourcesGetBareMessages(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	desk := mustMellium(t, s, "alice@localhost", "desk")
	laptop := mustMellium(t, s, "alice@localhost", "laptop")
	bob := mustMellium(t, s, "bob@localhost", "pidgin")
	desk.available()
	laptop.available()
	bob.available()
	// Everyone has seen everyone's presence once bob's arrived at both.
	desk.next("bob's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" })
	laptop.next("bob's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" })

	bob.send(tmsg{To: "alice@localhost", Type: "chat", ID: "m1", Body: "hello both",
		Extra: &tExtra{Attr: "x", Inner: "kept"}})
	for _, c := range []*mclient{desk, laptop} {
		st := c.next("bob's message", isMessage("hello both"))
		if !st.From.Equal(bob.sess.LocalAddr()) || st.To.String() != "alice@localhost" || st.ID != "m1" {
			t.Errorf("message from %s to %s id %s", st.From, st.To, st.ID)
		}
		if !strings.Contains(string(st.Payload), `<extra xmlns="urn:example:extension" a="x"><inner>kept</inner></extra>`) {
			t.Errorf("unknown extension not forwarded as is: %s", st.Payload)
		}
	}
	// To a full JID: that session only.
	bob.send(tmsg{To: laptop.sess.LocalAddr().String(), Type: "chat", Body: "laptop only"})
	laptop.next("the laptop's message", isMessage("laptop only"))
	desk.none("the laptop's message", 200*time.Millisecond, isMessage("laptop only"))

	// A resource already bound: the second session gets another one, the
	// first stays.
	r1, err := dialRaw(t, s.Addr().String(), "alice@localhost", "alice-pw", "phone", true)
	if err != nil {
		t.Fatal(err)
	}
	defer r1.close()
	r2, err := dialRaw(t, s.Addr().String(), "alice@localhost", "alice-pw", "phone", true)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.close()
	if r1.jid != "alice@localhost/phone" || !strings.HasPrefix(r2.jid, "alice@localhost/phone-") {
		t.Errorf("same resource twice bound as %q and %q, want phone and phone-<random>", r1.jid, r2.jid)
	}
	bob.send(tmsg{To: "alice@localhost/phone", Type: "chat", Body: "to the first phone"})
	if st, err := r1.stanza(); err != nil || st.Body != "to the first phone" {
		t.Errorf("first phone got %+v, %v", st, err)
	}
}

func TestPresenceToHandlerAndColleagues(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	alice := mustMellium(t, s, "alice@localhost", "desk")
	alice.available()
	h.next(t, "alice's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })

	bob := mustMellium(t, s, "bob@localhost", "gajim")
	bob.available()
	// Bob is told alice is there; alice is told bob came.
	bob.next("alice's presence", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.From.Equal(alice.sess.LocalAddr()) && st.Type == ""
	})
	alice.next("bob's presence", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.From.Equal(bob.sess.LocalAddr()) && st.Type == ""
	})
	// Dave is nobody's colleague: he sees no one, and no one sees him.
	dave := mustMellium(t, s, "dave@localhost", "x")
	dave.available()
	h.next(t, "dave's presence", func(st *xmpp.Stanza) bool { return st.From.Localpart() == "dave" })

	for _, show := range []string{"away", "chat", "dnd", "xa"} {
		bob.send(tpres{Show: show, Status: "at lunch", Priority: 5})
		st := h.next(t, "bob's "+show, func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" })
		if st.PresenceShow != show || st.Status != "at lunch" || st.Priority != 5 || st.Type != "" {
			t.Errorf("presence show %q status %q priority %d, want %s", st.PresenceShow, st.Status, st.Priority, show)
		}
		alice.next("bob's "+show, func(st *xmpp.Stanza) bool {
			return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" && st.PresenceShow == show
		})
	}
	bob.send(tpres{Type: "unavailable"})
	h.next(t, "bob's unavailable", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" && st.Type == "unavailable"
	})
	alice.next("bob's unavailable", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" && st.Type == "unavailable"
	})
	alice.none("dave's presence", 100*time.Millisecond, func(st *xmpp.Stanza) bool { return st.From.Localpart() == "dave" })

	// Directed presence to a queue goes to the handler, from the full JID.
	alice.send(tpres{To: "reference@localhost", Type: "subscribe"})
	st := h.next(t, "a subscription to the queue", func(st *xmpp.Stanza) bool { return st.Type == "subscribe" })
	if st.To.String() != "reference@localhost" || !st.From.Equal(alice.sess.LocalAddr()) {
		t.Errorf("subscribe from %s to %s", st.From, st.To)
	}
	// A subscription request to a colleague is approved by the server.
	alice.send(tpres{To: "carol@localhost", Type: "subscribe"})
	alice.next("carol's approval", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.Type == "subscribed" && st.From.String() == "carol@localhost"
	})
}

func TestChatStatesAndReceipts(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	alice := mustMellium(t, s, "alice@localhost", "desk")
	bob := mustMellium(t, s, "bob@localhost", "phone")
	alice.available()
	bob.available()
	alice.next("bob's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence && st.From.Localpart() == "bob" })

	bob.send(tmsg{To: "alice@localhost", Type: "chat", Composing: &struct{}{}})
	st := alice.next("composing", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage })
	if st.ChatState != "composing" || st.Body != "" {
		t.Errorf("chat state %q body %q, want composing", st.ChatState, st.Body)
	}
	bob.send(tmsg{To: "alice@localhost", Type: "chat", ID: "r1", Body: "did you get this?", Active: &struct{}{}, Request: &struct{}{}})
	st = alice.next("the message", isMessage("did you get this?"))
	if !st.ReceiptReq || st.ChatState != "active" || st.ID != "r1" {
		t.Errorf("receipt request %v, chat state %q, id %q", st.ReceiptReq, st.ChatState, st.ID)
	}
	alice.send(tmsg{To: st.From.String(), ID: "r2", Received: &tRecv{ID: "r1"}})
	st = bob.next("the receipt", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage && st.ReceiptFor != "" })
	if st.ReceiptFor != "r1" || !st.From.Equal(alice.sess.LocalAddr()) {
		t.Errorf("receipt for %q from %s", st.ReceiptFor, st.From)
	}

	// To a guest: the handler gets the chat state and the receipt request.
	bob.send(tmsg{To: "guest-1042@localhost", Type: "chat", ID: "g1", Body: "hi patron", Request: &struct{}{}, Active: &struct{}{}})
	st = h.next(t, "the message to the guest", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage })
	if st.To.String() != "guest-1042@localhost" || !st.From.Equal(bob.sess.LocalAddr()) || !st.ReceiptReq || st.ChatState != "active" {
		t.Errorf("handler got %+v", st)
	}
}

func TestLimitsCloseOnlyThatStream(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, func(c *Config) {
		c.MaxStanza = 4096
		c.MaxDepth = 8
		c.Rate = 10
		c.Burst = 20
	})
	alice := mustMellium(t, s, "alice@localhost", "desk")
	alice.available()
	bob := mustMellium(t, s, "bob@localhost", "x")
	bob.available()

	check := func(name string) {
		t.Helper()
		bob.send(tmsg{To: "alice@localhost", Type: "chat", Body: "still here after " + name})
		alice.next("the message after "+name, isMessage("still here after "+name))
	}
	cases := []struct {
		name, send, cond string
	}{
		{"malformed", `<message to='alice@localhost'><body>x</bdy></message>`, "not-well-formed"},
		{"oversized", `<message to='alice@localhost'><body>` + strings.Repeat("x", 5000) + `</body></message>`, "policy-violation"},
		{"deep", `<message to='alice@localhost'>` + strings.Repeat("<a>", 10) + strings.Repeat("</a>", 10) + `</message>`, "policy-violation"},
		{"flood", strings.Repeat(`<message to='guest-1@localhost'><body>x</body></message>`, 40), "policy-violation"},
		{"comment", `<message to='alice@localhost'><!-- hi --></message>`, "restricted-xml"},
		{"unknown element", `<foo xmlns='jabber:client'/>`, "unsupported-stanza-type"},
		{"wrong namespace", `<message xmlns='jabber:server' to='alice@localhost'/>`, "invalid-namespace"},
		{"text", `hello<presence/>`, "bad-format"},
	}
	for _, tc := range cases {
		c, err := dialRaw(t, s.Addr().String(), "carol@localhost", "carol-pw", "raw", true)
		if err != nil {
			t.Fatalf("%s: login: %v", tc.name, err)
		}
		c.write(tc.send)
		c.expectStreamError(t, tc.cond)
		c.close()
		check(tc.name)
	}
	// The same before authentication, and a header that is not a stream.
	nc := rawStream(t, s, true)
	nc.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + strings.Repeat("A", 5000) + `</auth>`)
	nc.expectStreamError(t, "policy-violation")
	check("oversized auth")
}

func TestStartTLSRequired(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	c := rawStream(t, s, false)
	c.write(plainAuth("alice", "alice-pw"))
	c.expectStreamError(t, "policy-violation")

	// Plaintext allowed on loopback.
	h2 := newRecHandler()
	s2 := startServer(t, h2, func(c *Config) { c.AllowPlaintext = true })
	rc, err := dialRaw(t, s2.Addr().String(), "alice@localhost", "alice-pw", "plain", false)
	if err != nil {
		t.Fatalf("plaintext login with allow_plaintext on loopback: %v", err)
	}
	rc.write(`<message to='guest-7@localhost'><body>plain</body></message>`)
	h2.next(t, "the message", func(st *xmpp.Stanza) bool { return st.Body == "plain" })
	rc.close()
}

func TestOfflineMessages(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "sqlite"
		}
		t.Run(name, func(t *testing.T) {
			h := newRecHandler()
			var st *store.SQLite
			mod := func(c *Config) {}
			if durable {
				var err error
				st, err = store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "owlgate.db"))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				mod = func(c *Config) { c.Offline = st }
			}
			s := startServer(t, h, mod)
			alice := mustMellium(t, s, "alice@localhost", "desk")
			alice.available()
			// Carol has never logged in; the service also writes to her.
			alice.send(tmsg{To: "carol@localhost", Type: "chat", ID: "o1", Body: "while you were out"})
			alice.send(tmsg{To: "carol@localhost", Type: "chat", Composing: &struct{}{}}) // not stored
			time.Sleep(100 * time.Millisecond)
			if err := s.Send(context.Background(), &xmpp.Stanza{Kind: xmpp.KindMessage, Type: "chat",
				From: jid.MustParse("guest-1042@localhost"), To: jid.MustParse("carol@localhost"), Body: "a patron wrote"}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)

			carol := mustMellium(t, s, "carol@localhost", "laptop")
			carol.none("a stored message before presence", 100*time.Millisecond, func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage })
			carol.available()
			m1 := carol.next("alice's stored message", isMessage("while you were out"))
			if !m1.From.Equal(alice.sess.LocalAddr()) || m1.Delay == "" || m1.ID != "o1" {
				t.Errorf("stored message from %s, delay %q, id %q", m1.From, m1.Delay, m1.ID)
			}
			if _, err := time.Parse(time.RFC3339, m1.Delay); err != nil {
				t.Errorf("delay stamp %q: %v", m1.Delay, err)
			}
			m2 := carol.next("the patron's stored message", isMessage("a patron wrote"))
			if m2.From.String() != "guest-1042@localhost" {
				t.Errorf("from %s", m2.From)
			}
			carol.none("a stored chat state", 100*time.Millisecond, func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage })
			carol.close()
			// Nothing twice.
			carol2 := mustMellium(t, s, "carol@localhost", "laptop")
			carol2.available()
			carol2.none("a message delivered twice", 200*time.Millisecond, func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage })
		})
	}
}

func TestRosterAndServerIQs(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, func(c *Config) { c.Version = "1.2.3" })
	c, err := dialRaw(t, s.Addr().String(), "alice@localhost", "alice-pw", "iq", true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	ask := func(iq string) *xmpp.Stanza {
		t.Helper()
		c.write(iq)
		st, err := c.stanza()
		if err != nil {
			t.Fatalf("%s: %v", iq, err)
		}
		return st
	}
	st := ask(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	p := string(st.Payload)
	if st.Type != "result" || st.ID != "r1" || !strings.Contains(p, `jid="reference@localhost"`) && !strings.Contains(p, `jid='reference@localhost'`) {
		t.Fatalf("roster: %s %s", st.Type, p)
	}
	for _, want := range []string{"reference@localhost", "bob@localhost", "carol@localhost", `subscription="both"`, "<group>Queues</group>", `name="Reference"`} {
		if !strings.Contains(p, want) {
			t.Errorf("roster lacks %s: %s", want, p)
		}
	}
	if strings.Contains(p, "alice@localhost") || strings.Contains(p, "dave@localhost") {
		t.Errorf("roster has alice or dave: %s", p)
	}
	st = ask(`<iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='x@localhost'/></query></iq>`)
	if st.Type != "error" || st.ErrorCond != "not-allowed" {
		t.Errorf("roster set: %s %s", st.Type, st.ErrorCond)
	}
	st = ask(`<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if st.Type != "result" || st.ID != "p1" || st.From.String() != "localhost" {
		t.Errorf("ping: %+v", st)
	}
	st = ask(`<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	for _, f := range []string{"urn:xmpp:ping", "jabber:iq:version", "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/chatstates", `category="server"`} {
		if !strings.Contains(string(st.Payload), f) {
			t.Errorf("disco#info lacks %s: %s", f, st.Payload)
		}
	}
	st = ask(`<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(string(st.Payload), "reference@localhost") {
		t.Errorf("disco#items: %s", st.Payload)
	}
	st = ask(`<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>`)
	if !strings.Contains(string(st.Payload), "<version>1.2.3</version>") {
		t.Errorf("version: %s", st.Payload)
	}
	st = ask(`<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`)
	if st.Type != "result" {
		t.Errorf("session: %+v", st)
	}
	st = ask(`<iq type='get' id='vc1'><vCard xmlns='vcard-temp'/></iq>`)
	if st.Type != "result" || !strings.Contains(string(st.Payload), "vCard") {
		t.Errorf("own vcard: %+v", st)
	}
	ask(`<iq type='set' id='vc2'><vCard xmlns='vcard-temp'><FN>Alice A.</FN></vCard></iq>`)
	st = ask(`<iq type='get' id='vc3' to='alice@localhost'><vCard xmlns='vcard-temp'/></iq>`)
	if !strings.Contains(string(st.Payload), "Alice A.") {
		t.Errorf("vcard after set: %s", st.Payload)
	}
	for _, iq := range []string{
		`<iq type='get' id='u1' to='localhost'><query xmlns='urn:example:unknown'/></iq>`,
		`<iq type='set' id='u2'><enable xmlns='urn:xmpp:carbons:2'/></iq>`,
		`<iq type='get' id='u3' to='bob@localhost'><query xmlns='jabber:iq:private'/></iq>`,
		`<iq type='get' id='u4' to='bob@localhost/nowhere'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='get' id='u5' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
	} {
		st = ask(iq)
		if st.Type != "error" || st.ErrorCond == "" {
			t.Errorf("%s: answered %s %s", iq, st.Type, st.ErrorCond)
		}
	}
	// An iq to a queue goes to the handler.
	c.write(`<iq type='get' id='q1' to='reference@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	hst := h.next(t, "the iq to the queue", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindIQ })
	if hst.ID != "q1" || hst.From.String() != c.jid || !strings.Contains(string(hst.Payload), "disco#info") {
		t.Errorf("handler iq: %+v", hst)
	}
	// A 'to' that is not a JID.
	st = ask(`<message to='a@b@c' id='bad'><body>x</body></message>`)
	if st.Type != "error" || st.ErrorCond != "jid-malformed" {
		t.Errorf("bad to: %+v", st)
	}
}

func TestSendFromService(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, nil)
	desk := mustMellium(t, s, "alice@localhost", "desk")
	laptop := mustMellium(t, s, "alice@localhost", "laptop")
	desk.available()
	laptop.available()
	h.next(t, "a presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })
	h.next(t, "another presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })
	queue := jid.MustParse("reference@localhost")
	ctx := context.Background()
	s.Send(ctx, &xmpp.Stanza{Kind: xmpp.KindPresence, From: queue, To: jid.MustParse("alice@localhost"), Status: "2 waiting"})
	s.Send(ctx, &xmpp.Stanza{Kind: xmpp.KindMessage, Type: "chat", From: jid.MustParse("guest-1@localhost"),
		To: jid.MustParse("alice@localhost"), Body: "offer", Nick: "Guest 1 (IRC · reference)"})
	for _, c := range []*mclient{desk, laptop} {
		c.next("the queue's presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence && st.From.Equal(queue) })
		st := c.next("the offer", isMessage("offer"))
		if st.Nick != "Guest 1 (IRC · reference)" || st.From.String() != "guest-1@localhost" {
			t.Errorf("offer: %+v", st)
		}
	}
	s.Send(ctx, &xmpp.Stanza{Kind: xmpp.KindMessage, Type: "chat", From: jid.MustParse("guest-1@localhost"),
		To: laptop.sess.LocalAddr(), Body: "taken"})
	laptop.next("the message to the laptop", isMessage("taken"))
	desk.none("the message to the laptop", 100*time.Millisecond, isMessage("taken"))

	// To someone who is not an operator: an error stanza to the handler.
	s.Send(ctx, &xmpp.Stanza{Kind: xmpp.KindMessage, Type: "chat", ID: "e1", From: jid.MustParse("guest-1@localhost"),
		To: jid.MustParse("mallory@localhost"), Body: "x"})
	st := h.next(t, "the error", func(st *xmpp.Stanza) bool { return st.Type == "error" })
	if st.ID != "e1" || st.To.String() != "guest-1@localhost" || st.ErrorCond == "" {
		t.Errorf("error: %+v", st)
	}
}

func TestEchoThroughService(t *testing.T) {
	h := newRecHandler()
	h.echoOn = true
	s := startServer(t, h, nil)
	c := mustMellium(t, s, "bob@localhost", "x")
	c.available()
	c.send(tmsg{To: "guest-5@localhost", Type: "chat", Body: "ping"})
	st := c.next("the echo", isMessage("ping"))
	if st.From.String() != "guest-5@localhost" {
		t.Errorf("echo from %s", st.From)
	}
}

func TestSelfSignedCertificateKept(t *testing.T) {
	dir := t.TempDir()
	var first []byte
	for i := range 2 {
		h := newRecHandler()
		startServer(t, h, func(c *Config) { c.DataDir = dir; c.Domain = jid.MustParse("owl.example"); c.Users = nil })
		b, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = b
		} else if string(b) != string(first) {
			t.Error("the self-signed certificate was made again on restart")
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cert.DNSNames, ",") != "owl.example,localhost" {
		t.Errorf("SANs %v", cert.DNSNames)
	}
	// What libpurple (Pidgin) offers to accept: a self-signed CA without
	// an extended key usage.
	if !cert.IsCA || len(cert.ExtKeyUsage) != 0 {
		t.Errorf("IsCA %v, extended key usage %v; want a CA without one", cert.IsCA, cert.ExtKeyUsage)
	}
	fi, err := os.Stat(filepath.Join(dir, SelfSignedKey))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v", fi.Mode(), err)
	}
}

func TestNewRejects(t *testing.T) {
	base := Config{Domain: jid.MustParse("localhost"), Listen: "127.0.0.1:0", Directory: fakeDir{}}
	for name, mod := range map[string]func(*Config){
		"user at another domain": func(c *Config) { c.Users = map[string]string{"a@example.org": "x"} },
		"full JID user":          func(c *Config) { c.Users = map[string]string{"a@localhost/r": "x"} },
		"empty password":         func(c *Config) { c.Users = map[string]string{"a@localhost": ""} },
		"domain with localpart":  func(c *Config) { c.Domain = jid.MustParse("a@localhost") },
		"no directory":           func(c *Config) { c.Directory = nil },
	} {
		c := base
		mod(&c)
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

// rawStream opens a stream, over TLS or not, without logging in.
func rawStream(t *testing.T, s *Server, useTLS bool) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawClient{t: t, conn: nc}
	t.Cleanup(func() { rc.close() })
	if err := rc.open(); err != nil {
		t.Fatal(err)
	}
	if useTLS {
		rc.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		rc.element()
		tc := tls.Client(nc, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		rc.conn = tc
		if err := rc.open(); err != nil {
			t.Fatal(err)
		}
	}
	return rc
}

func plainAuth(user, pass string) string {
	return `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + `</auth>`
}

func TestIdlePingAndShutdown(t *testing.T) {
	h := newRecHandler()
	s := startServer(t, h, func(c *Config) {
		c.IdleTimeout = 300 * time.Millisecond
		c.PingTimeout = 300 * time.Millisecond
	})
	// A client that answers the ping stays; one that does not is closed.
	for _, answer := range []bool{true, false} {
		c, err := dialRaw(t, s.Addr().String(), "alice@localhost", "alice-pw", "idle", true)
		if err != nil {
			t.Fatal(err)
		}
		st, err := c.stanza()
		if err != nil || st.Kind != xmpp.KindIQ || st.Type != "get" || !strings.Contains(string(st.Payload), "urn:xmpp:ping") {
			t.Fatalf("no ping from the server: %+v %v", st, err)
		}
		if !answer {
			c.expectStreamError(t, "connection-timeout")
			continue
		}
		c.write(`<iq type='result' id='` + st.ID + `' to='localhost'/>`)
		// Pinged again after another idle period, not closed.
		if st, err = c.stanza(); err != nil || st.Kind != xmpp.KindIQ {
			t.Fatalf("second ping: %+v %v", st, err)
		}
		c.close()
	}
}

func TestShutdownClosesStreams(t *testing.T) {
	h := newRecHandler()
	cfg := Config{Domain: jid.MustParse("localhost"), Listen: "127.0.0.1:0", Users: testUsers, Directory: fakeDir{}, Log: testLog()}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h) }()
	<-s.Ready()
	c, err := dialRaw(t, s.Addr().String(), "alice@localhost", "alice-pw", "x", true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	c.write(`<presence/>`)
	h.next(t, "the presence", func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindPresence })
	cancel()
	c.expectStreamError(t, "system-shutdown")
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if err := s.Send(context.Background(), &xmpp.Stanza{Kind: xmpp.KindMessage, To: jid.MustParse("alice@localhost")}); err != ErrNotRunning {
		t.Errorf("Send after Run: %v", err)
	}
}

// TestOldSelfSignedCertificateMadeAnew: a self-signed pair of an earlier
// owlgate, limited to serverAuth (which Pidgin refuses), is replaced.
func TestOldSelfSignedCertificateMadeAnew(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject:  pkix.Name{CommonName: "owl.example", Organization: []string{"owlgate (self-signed)"}},
		NotAfter: time.Now().AddDate(1, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"owl.example"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, SelfSignedCert), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(filepath.Join(dir, SelfSignedKey), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)

	startServer(t, newRecHandler(), func(c *Config) { c.DataDir = dir; c.Domain = jid.MustParse("owl.example"); c.Users = nil })
	b, err := os.ReadFile(filepath.Join(dir, SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(cert.ExtKeyUsage) != 0 || cert.SerialNumber.Cmp(big.NewInt(1)) == 0 {
		t.Errorf("the old pair was kept: serial %v, extended key usage %v", cert.SerialNumber, cert.ExtKeyUsage)
	}
}
