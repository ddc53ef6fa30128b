package xmpp_test

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/xmpp"
)

// fakeTransport is an in-memory Transport: it records what the service
// sends, and lets a test hand stanzas to the service as if read from an
// operator.
type fakeTransport struct {
	domain jid.JID

	mu      sync.Mutex
	h       xmpp.Handler
	ctx     context.Context
	sent    []*xmpp.Stanza
	changed chan struct{}
	running chan struct{}
}

func newFakeTransport(domain string) *fakeTransport {
	return &fakeTransport{domain: jid.MustParse(domain), changed: make(chan struct{}), running: make(chan struct{})}
}

func (f *fakeTransport) Run(ctx context.Context, h xmpp.Handler) error {
	f.mu.Lock()
	f.h, f.ctx = h, ctx
	f.mu.Unlock()
	h.Connected(ctx)
	close(f.running)
	<-ctx.Done()
	return nil
}

func (f *fakeTransport) Send(ctx context.Context, s *xmpp.Stanza) error {
	// Keep a copy, as a real transport writes the stanza and forgets it.
	c := *s
	c.Payload = bytes.Clone(s.Payload)
	f.mu.Lock()
	f.sent = append(f.sent, &c)
	close(f.changed)
	f.changed = make(chan struct{})
	f.mu.Unlock()
	return nil
}

func (f *fakeTransport) Domain() jid.JID { return f.domain }

// inject hands s to the service, as the transport does with what it reads.
func (f *fakeTransport) inject(s *xmpp.Stanza) {
	f.mu.Lock()
	h, ctx := f.h, f.ctx
	f.mu.Unlock()
	h.HandleStanza(ctx, s)
}

func (f *fakeTransport) handler() (xmpp.Handler, context.Context) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.h, f.ctx
}

// mark returns how many stanzas were sent so far.
func (f *fakeTransport) mark() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sent)
}

// since returns the stanzas sent after mark m.
func (f *fakeTransport) since(m int) []*xmpp.Stanza {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*xmpp.Stanza(nil), f.sent[m:]...)
}

// waitFor blocks until a stanza matching ok was sent after mark m, and
// returns it.
func (f *fakeTransport) waitFor(t testing.TB, m int, what string, ok func(*xmpp.Stanza) bool) *xmpp.Stanza {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		f.mu.Lock()
		for _, s := range f.sent[m:] {
			if ok(s) {
				f.mu.Unlock()
				return s
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("no %s among the stanzas sent:\n%s", what, dump(f.since(m)))
		}
	}
}

func dump(ss []*xmpp.Stanza) string {
	var b bytes.Buffer
	for _, s := range ss {
		s.AppendXML(&b)
		b.WriteByte('\n')
	}
	return b.String()
}

// xmlOf is a stanza as written on the wire.
func xmlOf(s *xmpp.Stanza) string {
	var b bytes.Buffer
	s.AppendXML(&b)
	return b.String()
}

// recorder is a gateway.PostFunc that records the events.
type recorder struct {
	mu     sync.Mutex
	events []routing.Event
}

func (r *recorder) post(ctx context.Context, ev routing.Event) error {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
	return nil
}

// take returns the events posted since the last take.
func (r *recorder) take() []routing.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// testConfig has two libraries in a collaboration and one outside it; in
// server mode every operator is at localhost.
func testConfig(opDomain string) routing.Config {
	op := func(local string) routing.OperatorID { return routing.OperatorID(local + "@" + opDomain) }
	return routing.Config{
		Libraries: []routing.Library{
			{ID: "unc", Name: "UNC", Collaborations: []routing.CollaborationID{"nightowl"}},
			{ID: "duke", Name: "Duke", Collaborations: []routing.CollaborationID{"nightowl"}},
			{ID: "ncsu", Name: "NC State"},
		},
		Operators: []routing.Operator{
			{ID: op("alice"), Name: "Alice", Library: "unc"},
			{ID: op("bob"), Name: "Bob", Library: "unc"},
			{ID: op("carol"), Name: "Carol", Library: "unc"},
			{ID: op("dave"), Name: "Dave", Library: "duke"},
			{ID: op("erin"), Name: "Erin", Library: "ncsu"},
			{ID: op("frank"), Name: "Frank", Library: "unc"}, // in no queue
		},
		Queues: []routing.Queue{
			{ID: "reference", Name: "Reference", Library: "unc",
				Operators: []routing.OperatorID{op("alice"), op("bob")},
				Accounts:  []routing.Account{{ID: "unc-loop", Network: "loop"}}},
			{ID: "science", Name: "Science", Library: "unc", Operators: []routing.OperatorID{op("carol")}},
			{ID: "duke-ref", Name: "Ask Duke", Library: "duke", Operators: []routing.OperatorID{op("dave")}},
			{ID: "ncsu", Library: "ncsu", Operators: []routing.OperatorID{op("erin")}},
		},
	}
}

// harness is a running Service over a fakeTransport, posting to a recorder.
type harness struct {
	t   testing.TB
	ft  *fakeTransport
	svc *xmpp.Service
	rec *recorder
}

// newHarness runs a service for domain with operators at opDomain (the
// same for server mode, another for component mode).
func newHarness(t testing.TB, domain, opDomain string) *harness {
	t.Helper()
	ft := newFakeTransport(domain)
	svc, err := xmpp.NewService(xmpp.ServiceConfig{Domain: jid.MustParse(domain), Routing: testConfig(opDomain), Version: "v1.2.3"}, ft)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ft: ft, svc: svc, rec: &recorder{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx, h.rec.post) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ft.running:
	case <-time.After(20 * time.Second):
		t.Fatal("transport not started")
	}
	h.settle()
	return h
}

// settle waits until everything the service queued was handed to the
// transport.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.svc.Wait(ctx); err != nil {
		h.t.Fatal(err)
	}
}

// in injects a stanza and waits for what it made the service send.
func (h *harness) in(s *xmpp.Stanza) []*xmpp.Stanza {
	h.t.Helper()
	m := h.ft.mark()
	h.ft.inject(s)
	h.settle()
	return h.ft.since(m)
}

// send hands actions to the service and returns the stanzas they made.
func (h *harness) send(as ...routing.Action) []*xmpp.Stanza {
	h.t.Helper()
	m := h.ft.mark()
	for _, a := range as {
		h.svc.Send(a)
	}
	h.settle()
	return h.ft.since(m)
}

func j(s string) jid.JID { return jid.MustParse(s) }

func presence(from, to string, typ, show string) *xmpp.Stanza {
	s := &xmpp.Stanza{Kind: xmpp.KindPresence, From: j(from), Type: typ, PresenceShow: show}
	if to != "" {
		s.To = j(to)
	}
	return s
}

func chat(from, to, id, body string) *xmpp.Stanza {
	return &xmpp.Stanza{Kind: xmpp.KindMessage, From: j(from), To: j(to), ID: id, Type: "chat", Body: body}
}

func patronAddr(user string) protocols.Address {
	return protocols.Address{Network: "irc", Account: "unc-loop", User: protocols.UserID(user)}
}
