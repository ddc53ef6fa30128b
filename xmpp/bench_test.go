package xmpp_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlgate/owlgate/xmpp"
)

// countingTransport counts the messages the service sends instead of
// keeping them, and signals each on out.
type countingTransport struct {
	*fakeTransport
	messages atomic.Int64
	out      chan struct{}
}

func (c *countingTransport) Send(ctx context.Context, s *xmpp.Stanza) error {
	if s.Kind != xmpp.KindMessage {
		return nil
	}
	c.messages.Add(1)
	select {
	case c.out <- struct{}{}:
	default:
	}
	return nil
}

// BenchmarkStanzaRoundTrip: an operator's message in (alice to
// bob@localhost), through the gateway's loop and the engine, and the
// relayed message out to bob, one at a time: the latency of the path.
func BenchmarkStanzaRoundTrip(b *testing.B) {
	ct := &countingTransport{fakeTransport: newFakeTransport("localhost"), out: make(chan struct{}, 1)}
	startSystem(b, ct)
	in := chat("alice@localhost/desk", "bob@localhost", "m", "Can you take the 3 o'clock desk shift?")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		ct.fakeTransport.inject(in)
		<-ct.out
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if ct.messages.Load() < int64(b.N) {
		b.Fatalf("%d messages out for %d in", ct.messages.Load(), b.N)
	}
}

// BenchmarkStanzaRoundTripParallel: the same with many operators' stanzas
// in flight at once, as from many connections: the throughput.
func BenchmarkStanzaRoundTripParallel(b *testing.B) {
	ct := &countingTransport{fakeTransport: newFakeTransport("localhost"), out: make(chan struct{}, 1)}
	s := startSystem(b, ct)
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		in := chat("alice@localhost/desk", "bob@localhost", "m", "Can you take the 3 o'clock desk shift?")
		for pb.Next() {
			ct.fakeTransport.inject(in)
		}
	})
	s.settle()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	if ct.messages.Load() < int64(b.N) {
		b.Fatalf("%d messages out for %d in", ct.messages.Load(), b.N)
	}
}

// BenchmarkQueueCommand: /status to a queue and its answer from the queue's
// JID; the engine renders the status each time.
func BenchmarkQueueCommand(b *testing.B) {
	ct := &countingTransport{fakeTransport: newFakeTransport("localhost"), out: make(chan struct{}, 1)}
	s := startSystem(b, ct)
	ct.fakeTransport.inject(presence("alice@localhost/desk", "", "", ""))
	s.settle()
	for len(ct.out) > 0 {
		<-ct.out
	}
	in := chat("alice@localhost/desk", "reference@localhost", "m", "/status")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		ct.fakeTransport.inject(in)
		<-ct.out
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkOperatorToPatronAndBack: the holder writes to the patron, the
// patron (loopback network) answers, and the answer goes out to the
// holder; both messages are stored (SQLite, synchronous=FULL), so the
// store's commits dominate.
func BenchmarkOperatorToPatronAndBack(b *testing.B) {
	ft := newFakeTransport("localhost")
	s := startSystem(b, ft)
	ft.inject(presence("alice@localhost/desk", "", "", ""))
	if err := s.net.WaitOnline(s.ctx(), "unc-loop"); err != nil {
		b.Fatal(err)
	}
	patron := s.net.Patron("unc-loop", "p1")
	if err := patron.Say(s.ctx(), "hello"); err != nil {
		b.Fatal(err)
	}
	offer := ft.waitFor(b, 0, "the offer", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindMessage && st.Body == "hello"
	})
	guest := offer.From.String()
	in := chat("alice@localhost/desk", guest, "m", "Second floor.")
	ft.inject(in)
	if _, err := patron.Next(s.ctx()); err != nil {
		b.Fatal(err)
	}
	ctx := s.ctx()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		ft.inject(in)
		if _, err := patron.Next(ctx); err != nil {
			b.Fatal(err)
		}
		if err := patron.Say(ctx, "thanks"); err != nil {
			b.Fatal(err)
		}
	}
	s.settle()
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "msgs/s")
	if n := len(s.messagesTo(0, "alice@localhost", guest)); n < b.N {
		b.Fatalf("%d messages to alice", n)
	}
}
