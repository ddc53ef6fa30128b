package component_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/xmpp"
	"github.com/owlgate/owlgate/xmpp/component"
)

// servers are the real XMPP servers the component is tested against.
var servers = []struct {
	name  string
	start func(t *testing.T) testenv.Server
}{
	{"prosody", func(t *testing.T) testenv.Server { return testenv.StartProsody(t, testenv.ProsodyOptions{}) }},
	{"ejabberd", func(t *testing.T) testenv.Server { return testenv.StartEjabberd(t, testenv.EjabberdOptions{}) }},
}

// TestWithServers runs the component against a real Prosody and a real
// ejabberd, whose own users play the operators: messages both ways,
// presence subscription, presence updates and probes, a wrong secret, an
// unknown component name, a cut connection with stanzas queued meanwhile,
// and a server restart. The server is started once per server kind; the
// subtests run in order (the restart last).
func TestWithServers(t *testing.T) {
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			srv := sv.start(t)
			info := srv.Info()
			cfg := func() component.Config {
				return component.Config{
					Domain: mustJID(t, info.ComponentDomain),
					Addr:   info.ComponentAddr,
					Secret: info.ComponentSecret,
				}
			}
			t.Run("Scenario", func(t *testing.T) { scenario(t, srv, cfg()) })
			t.Run("GoSendxmpp", func(t *testing.T) { goSendxmpp(t, srv, cfg()) })
			t.Run("WrongSecret", func(t *testing.T) { wrongSecret(t, cfg()) })
			t.Run("UnknownDomain", func(t *testing.T) { unknownDomain(t, cfg()) })
			t.Run("LinkCut", func(t *testing.T) { linkCut(t, srv, cfg()) })
			t.Run("ServerRestart", func(t *testing.T) { serverRestart(t, srv, cfg()) })
			t.Logf("%s: all subtests took %v", sv.name, time.Since(start).Round(time.Millisecond))
		})
	}
}

// scenario: an operator (a user of the server) and the component exchange
// messages, and the component learns the operator's presence through a
// subscription and a probe.
func scenario(t *testing.T, srv testenv.Server, cfg component.Config) {
	info := srv.Info()
	d := info.ComponentDomain
	alice := srv.AddUser("alice", "alice pw")
	c := runComponent(t, cfg)
	c.rec.expectKind(t, "connected")
	if st := c.State(); st.Phase != component.PhaseConnected || st.Connects != 1 || st.StreamID == "" {
		t.Errorf("State after connecting = %+v", st)
	}
	op := testenv.Login(t, info.C2SAddr, alice, "alice pw", testenv.ClientOptions{Resource: "desk"})

	// Operator → queue: the handler gets it from the operator's full JID.
	op.Send(fmt.Sprintf(`<message to='reference@%s' type='chat' id='m1'><body>hello queue</body></message>`, d))
	e := c.rec.expect(t, "alice's message to the queue", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindMessage
	})
	if e.s.From.String() != op.JID || e.s.To.String() != "reference@"+d || e.s.Body != "hello queue" || e.s.Type != "chat" || e.s.ID != "m1" {
		t.Errorf("handler got %s id=%q, want from %s to reference@%s body \"hello queue\"", e, e.s.ID, op.JID, d)
	}

	// Patron JID → operator (bare JID), with a chat state.
	c.send(t, &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "guest-1001@"+d), To: mustJID(t, alice),
		Type: "chat", Body: "I need a book <about> XML & co", ChatState: "active"})
	m := op.Expect(wait, "the guest's message", func(s *testenv.ClientStanza) bool { return s.Name == "message" })
	if m.From != "guest-1001@"+d || m.Body != "I need a book <about> XML & co" || !m.Has(xmpp.NSChatStates, "active") {
		t.Errorf("operator got %v (children %v)", m, m.Children)
	}

	// Subscription: the queue asks, the operator accepts, the operator's
	// presence then reaches the component.
	queue := mustJID(t, "reference@"+d)
	c.send(t, &xmpp.Stanza{Kind: xmpp.KindPresence, From: queue, To: mustJID(t, alice), Type: "subscribe", Nick: "Reference"})
	op.Expect(wait, "the queue's subscription request", func(s *testenv.ClientStanza) bool {
		return s.Name == "presence" && s.Type == "subscribe" && s.From == queue.String()
	})
	op.Send(fmt.Sprintf(`<presence to='%s' type='subscribed'/>`, queue))
	c.rec.expect(t, "alice's available presence after she accepted", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindPresence && e.s.From.String() == op.JID && e.s.Type == ""
	})

	// A presence change is broadcast to the queue.
	op.Send(`<presence><show>away</show><status>at lunch</status></presence>`)
	e = c.rec.expect(t, "alice's away presence", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindPresence && e.s.From.String() == op.JID && e.s.PresenceShow == "away"
	})
	if e.s.Status != "at lunch" || e.s.To.String() != queue.String() {
		t.Errorf("away presence: %s status %q", e, e.s.Status)
	}

	// A probe gets her current presence.
	c.send(t, &xmpp.Stanza{Kind: xmpp.KindPresence, From: queue, To: mustJID(t, alice), Type: "probe"})
	c.rec.expect(t, "the answer to the probe", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindPresence && e.s.From.String() == op.JID && e.s.PresenceShow == "away"
	})

	// Her going offline reaches the queue too.
	op.Send(`<presence type='unavailable'/>`)
	c.rec.expect(t, "alice's unavailable presence", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindPresence && e.s.From.String() == op.JID && e.s.Type == "unavailable"
	})
}

// goSendxmpp: an independent real client (Debian's go-sendxmpp) sends a
// message to a queue.
func goSendxmpp(t *testing.T, srv testenv.Server, cfg component.Config) {
	bin := testenv.Binary(t, "go-sendxmpp", "go-sendxmpp")
	info := srv.Info()
	dave := srv.AddUser("dave", "dave pw")
	c := runComponent(t, cfg)
	c.rec.expectKind(t, "connected")
	cmd := exec.Command(bin, "-u", dave, "-p", "dave pw", "-j", info.C2SAddr, "-n", "reference@"+info.ComponentDomain)
	cmd.Stdin = strings.NewReader("sent with go-sendxmpp")
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go-sendxmpp: %v\n%s", err, out)
	}
	e := c.rec.expect(t, "go-sendxmpp's message", func(e event) bool { return e.s != nil && e.s.Kind == xmpp.KindMessage })
	if !strings.HasPrefix(e.s.From.String(), dave+"/") || e.s.Body != "sent with go-sendxmpp" {
		t.Errorf("handler got %s", e)
	}
}

// wrongSecret: Run gives up at once with an error naming xmpp.secret.
func wrongSecret(t *testing.T, cfg component.Config) {
	cfg.Secret = "not the secret"
	cfg.Log = testLog(t)
	c, err := component.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = c.Run(ctx, rec)
	if !errors.Is(err, component.ErrNotAuthorized) || !strings.Contains(err.Error(), "xmpp.secret") {
		t.Fatalf("Run with a wrong secret = %v, want ErrNotAuthorized naming xmpp.secret", err)
	}
	t.Logf("the error: %v", err)
	rec.expectNone(t, "connected")
	if st := c.State(); st.Phase != component.PhaseFailed || !errors.Is(st.LastError, component.ErrNotAuthorized) {
		t.Errorf("State = %+v", st)
	}
	err = c.Send(context.Background(), &xmpp.Stanza{Kind: xmpp.KindMessage, From: cfg.Domain, To: mustJID(t, "a@localhost")})
	if !errors.Is(err, component.ErrStopped) {
		t.Errorf("Send after Run failed = %v, want ErrStopped", err)
	}
}

// unknownDomain: a component name the server does not know is a
// configuration error too.
func unknownDomain(t *testing.T, cfg component.Config) {
	cfg.Domain = mustJID(t, "nosuch.localhost")
	cfg.Log = testLog(t)
	c, err := component.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = c.Run(ctx, newRecorder())
	if !errors.Is(err, component.ErrHostUnknown) && !errors.Is(err, component.ErrNotAuthorized) {
		t.Fatalf("Run with an unknown domain = %v, want ErrHostUnknown or ErrNotAuthorized", err)
	}
	t.Logf("the error: %v", err)
}

// linkCut: the component's TCP connection breaks; stanzas sent meanwhile
// wait, and are delivered after the reconnection.
func linkCut(t *testing.T, srv testenv.Server, cfg component.Config) {
	info := srv.Info()
	d := info.ComponentDomain
	bob := srv.AddUser("bob", "bob pw")
	p := startProxy(t, info.ComponentAddr)
	cfg.Addr = p.addr()
	c := runComponent(t, cfg)
	c.rec.expectKind(t, "connected")
	op := testenv.Login(t, info.C2SAddr, bob, "bob pw", testenv.ClientOptions{})

	p.cut(true)
	c.rec.expectKind(t, "disconnected")
	c.send(t, &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "guest-7@"+d), To: mustJID(t, bob), Type: "chat", Body: "sent while down"})
	st := c.State()
	if st.Queued != 1 || (st.Phase != component.PhaseBackoff && st.Phase != component.PhaseConnecting) || st.LastError == nil {
		t.Errorf("State while down = %+v, want 1 queued, backoff or connecting, an error", st)
	}
	t.Logf("while down: phase %s, last error %v", st.Phase, st.LastError)

	p.setDown(false)
	c.rec.expectKind(t, "connected")
	m := op.Expect(wait, "the message queued while the link was down", func(s *testenv.ClientStanza) bool { return s.Name == "message" })
	if m.Body != "sent while down" || m.From != "guest-7@"+d {
		t.Errorf("bob got %v", m)
	}
	if st := c.State(); st.Queued != 0 || st.Connects != 2 || st.Phase != component.PhaseConnected {
		t.Errorf("State after reconnecting = %+v", st)
	}
	op.Send(fmt.Sprintf(`<message to='reference@%s' type='chat'><body>after the cut</body></message>`, d))
	c.rec.expect(t, "bob's message after the reconnection", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindMessage && e.s.Body == "after the cut" && e.s.From.String() == op.JID
	})
}

// serverRestart: the server stops and starts again on the same ports; the
// component reconnects by itself and traffic flows again.
func serverRestart(t *testing.T, srv testenv.Server, cfg component.Config) {
	info := srv.Info()
	d := info.ComponentDomain
	carol := srv.AddUser("carol", "carol pw")
	c := runComponent(t, cfg)
	c.rec.expectKind(t, "connected")

	srv.Stop()
	c.rec.expectKind(t, "disconnected")
	srv.Start()
	c.rec.expectKind(t, "connected")

	op := testenv.Login(t, info.C2SAddr, carol, "carol pw", testenv.ClientOptions{})
	c.send(t, &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "guest-8@"+d), To: mustJID(t, carol), Type: "chat", Body: "after the restart"})
	op.Expect(wait, "the message after the restart", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && s.Body == "after the restart" && s.From == "guest-8@"+d
	})
	op.Send(fmt.Sprintf(`<message to='reference@%s' type='chat'><body>back</body></message>`, d))
	c.rec.expect(t, "carol's message after the restart", func(e event) bool {
		return e.s != nil && e.s.Kind == xmpp.KindMessage && e.s.Body == "back" && e.s.From.String() == op.JID
	})
}
