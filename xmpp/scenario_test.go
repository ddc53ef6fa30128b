package xmpp_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/store"
	"github.com/owlgate/owlgate/xmpp"
)

// transport is a fakeTransport, or one built on it.
type transport interface {
	xmpp.Transport
	fake() *fakeTransport
}

func (f *fakeTransport) fake() *fakeTransport { return f }

// system is the whole of owlgate on fakes: the real gateway with a SQLite
// store, the loopback patron network, and the Service over a fake
// transport.
type system struct {
	t   testing.TB
	net *protocoltest.Loopback
	ft  *fakeTransport
	svc *xmpp.Service
	gw  *gateway.Gateway
}

func startSystem(t testing.TB, tr transport) *system {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "owlgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	net := protocoltest.NewLoopback("loop")
	adapter, err := net.Factory()(protocols.AccountSpec{ID: "unc-loop", Network: "loop"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig("localhost")
	ft := tr.fake()
	svc, err := xmpp.NewService(xmpp.ServiceConfig{Domain: j("localhost"), Routing: cfg}, tr)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{
		Routing:  cfg,
		Accounts: []gateway.Account{{ID: "unc-loop", Network: "loop", Queue: "reference", Adapter: adapter}},
		Store:    st,
		Link:     svc,
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- gw.Run(runCtx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway Run: %v", err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("store Close: %v", err)
		}
	})
	select {
	case <-ft.running:
	case <-time.After(20 * time.Second):
		t.Fatal("the operator link did not start")
	}
	return &system{t: t, net: net, ft: ft, svc: svc, gw: gw}
}

func (s *system) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	s.t.Cleanup(cancel)
	return ctx
}

// settle waits until the service handed the transport everything the
// gateway gave it so far.
func (s *system) settle() {
	s.t.Helper()
	if err := s.svc.Wait(s.ctx()); err != nil {
		s.t.Fatal(err)
	}
}

// messagesTo returns the bodies of the messages sent to op from from since
// mark m.
func (s *system) messagesTo(m int, op, from string) []*xmpp.Stanza {
	var out []*xmpp.Stanza
	for _, st := range s.ft.since(m) {
		if st.Kind == xmpp.KindMessage && st.To.String() == op && st.From.String() == from && st.Body != "" {
			out = append(out, st)
		}
	}
	return out
}

func bodies(ss []*xmpp.Stanza) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Body
	}
	return out
}

// TestScenario: two operators online, a patron writes, both get the
// three-line offer from the patron's JID, the second replies and takes the
// chat, the first is told and then refused, /transfer to a third operator
// brings the conversation so far, and the patron leaving is told to the
// holder.
func TestScenario(t *testing.T) {
	s := startSystem(t, newFakeTransport("localhost"))
	const (
		alice = "alice@localhost"
		bob   = "bob@localhost"
		carol = "carol@localhost"
	)
	s.ft.inject(presence(alice+"/desk", "", "", ""))
	s.ft.inject(presence(bob+"/laptop", "", "", "chat"))
	s.ft.inject(presence(carol+"/pc", "", "", ""))
	if err := s.net.WaitOnline(s.ctx(), "unc-loop"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	s.ft.waitFor(t, 0, "the queue online", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindPresence && st.From.String() == "reference@localhost" && st.To.String() == alice && st.Type == ""
	})

	// A patron writes: alice and bob are offered the chat, three lines
	// each, from the patron's guest JID.
	m := s.ft.mark()
	patron := s.net.Patron("unc-loop", "patron1")
	if err := patron.Say(s.ctx(), "Where are the atlases?"); err != nil {
		t.Fatal(err)
	}
	s.settle()
	first := s.ft.waitFor(t, m, "the offer to alice", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindMessage && st.To.String() == alice && st.Body == "Where are the atlases?"
	})
	guest := first.From.String()
	if !strings.HasPrefix(guest, "guest-") || !strings.HasSuffix(guest, "@localhost") {
		t.Fatalf("the offer comes from %s, want a guest JID", guest)
	}
	guestID := strings.TrimSuffix(guest, "@localhost")
	for _, op := range []string{alice, bob} {
		offer := s.messagesTo(m, op, guest)
		if len(offer) != 3 {
			t.Fatalf("%s was offered %q, want three lines", op, bodies(offer))
		}
		if offer[0].Body != "Where are the atlases?" ||
			offer[1].Body != guestID+" · loop · Reference (UNC) — new chat" ||
			!strings.HasPrefix(offer[2].Body, "Reply to take this chat") {
			t.Errorf("%s was offered %q", op, bodies(offer))
		}
		want := "Guest " + strings.TrimPrefix(guestID, "guest-") + " (loop · Reference)"
		if offer[0].Nick != want || offer[1].Nick != "" || offer[2].Nick != "" {
			t.Errorf("%s: nicks %q, %q, %q; want %q on the first line only", op, offer[0].Nick, offer[1].Nick, offer[2].Nick, want)
		}
		for _, l := range offer {
			if l.Type != "chat" {
				t.Errorf("%s: offer line of type %q", op, l.Type)
			}
		}
		s.ft.waitFor(t, m, "the guest's presence to "+op, func(st *xmpp.Stanza) bool {
			return st.Kind == xmpp.KindPresence && st.From.String() == guest && st.To.String() == op && st.Type == ""
		})
	}
	if got := s.messagesTo(m, carol, guest); len(got) != 0 {
		t.Errorf("carol, not in the queue, was offered %q", bodies(got))
	}

	// Bob replies first: the patron gets it, alice is told.
	m = s.ft.mark()
	s.ft.inject(chat(bob+"/laptop", guest, "b1", "Second floor, by the windows."))
	if got, err := patron.Next(s.ctx()); err != nil || got != "Second floor, by the windows." {
		t.Fatalf("patron received %q, %v", got, err)
	}
	s.settle()
	if got := bodies(s.messagesTo(m, alice, guest)); len(got) != 1 || got[0] != "Bob took this chat." {
		t.Errorf("alice was told %q", got)
	}
	if got := bodies(s.messagesTo(m, bob, guest)); len(got) != 0 {
		t.Errorf("bob was told %q", got)
	}

	// Alice's message to the patron is refused with a notice.
	m = s.ft.mark()
	s.ft.inject(chat(alice+"/desk", guest, "a1", "I can help too!"))
	s.settle()
	if got := bodies(s.messagesTo(m, alice, guest)); len(got) != 1 || got[0] != "Not delivered: Bob has this chat." {
		t.Errorf("alice was told %q", got)
	}

	// Bob transfers the chat to carol, who gets the conversation so far.
	m = s.ft.mark()
	s.ft.inject(chat(bob+"/laptop", guest, "b2", "/transfer "+carol))
	s.settle()
	toCarol := s.messagesTo(m, carol, guest)
	if len(toCarol) != 2 {
		t.Fatalf("carol was sent %q", bodies(toCarol))
	}
	ctxNote := toCarol[0].Body
	for _, want := range []string{"Transferred from Reference (UNC) by Bob.", "Conversation so far:",
		guestID + ": Where are the atlases?", "Bob: Second floor, by the windows."} {
		if !strings.Contains(ctxNote, want) {
			t.Errorf("carol's context lacks %q:\n%s", want, ctxNote)
		}
	}
	if strings.Contains(ctxNote, "I can help too") {
		t.Errorf("alice's refused text is in the conversation:\n%s", ctxNote)
	}
	if !strings.HasPrefix(toCarol[1].Body, "You have this chat now") || toCarol[0].Nick == "" {
		t.Errorf("carol was sent %q (nick %q)", bodies(toCarol), toCarol[0].Nick)
	}
	if got := bodies(s.messagesTo(m, bob, guest)); len(got) != 1 || got[0] != "Transferred to Carol." {
		t.Errorf("bob was told %q", got)
	}
	// The patron's next message is the transfer note: alice's refused
	// text never reached them.
	if got, err := patron.Next(s.ctx()); err != nil || !strings.HasPrefix(got, "You are being transferred") {
		t.Fatalf("patron received %q, %v", got, err)
	}

	// Carol holds the chat now.
	s.ft.inject(chat(carol+"/pc", guest, "c1", "Hi, Carol here."))
	if got, err := patron.Next(s.ctx()); err != nil || got != "Hi, Carol here." {
		t.Fatalf("patron received %q, %v", got, err)
	}

	// The patron leaves: the holder is told, nobody else.
	m = s.ft.mark()
	if err := patron.Leave(s.ctx()); err != nil {
		t.Fatal(err)
	}
	s.settle()
	if got := bodies(s.messagesTo(m, carol, guest)); len(got) != 1 || got[0] != "The patron left (quit)." {
		t.Errorf("carol was told %q", got)
	}
	for _, op := range []string{alice, bob} {
		if got := s.messagesTo(m, op, guest); len(got) != 0 {
			t.Errorf("%s was told %q", op, bodies(got))
		}
	}
}
