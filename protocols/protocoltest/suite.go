package protocoltest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/owlgate/owlgate/protocols"
)

// Harness is what an adapter's test gives the suite.
type Harness struct {
	// Network and Account are what the adapter reports in addresses.
	Network protocols.Network
	Account protocols.AccountID

	// NewAdapter returns a fresh adapter for the account under test,
	// pointed at the test's server. It is called once per subtest.
	NewAdapter func(t *testing.T) protocols.Adapter

	// NewPatron returns a new patron on the same network, connected and
	// ready to write to the account (with a user id no other patron of the
	// run has). It is called after the adapter is online.
	NewPatron func(t *testing.T, ctx context.Context) Patron

	// Timeout bounds each wait of the suite; it is a liveness bound, not
	// a speed check. Zero means 30 seconds.
	Timeout time.Duration
}

// Patron is a patron's client on the network under test.
type Patron interface {
	// ID is the patron's id as the adapter reports it in Address.User.
	ID() protocols.UserID
	// Say sends text to the library's account.
	Say(ctx context.Context, text string) error
	// Next returns the text of the next message the patron received from
	// the account.
	Next(ctx context.Context) (string, error)
}

// Leaver is a [Patron] that can leave (quit, close the page). The suite
// checks Left events only for patrons that implement it, on networks whose
// capabilities declare presence.
type Leaver interface {
	Leave(ctx context.Context) error
}

// running is an adapter under test, with its sink and a way to stop it.
type running struct {
	adapter protocols.Adapter
	sink    *Sink
	stop    context.CancelFunc
	done    chan error
}

func (h *Harness) timeout() time.Duration {
	if h.Timeout > 0 {
		return h.Timeout
	}
	return 30 * time.Second
}

func (h *Harness) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout())
	t.Cleanup(cancel)
	return ctx
}

// start runs a new adapter and waits until it is online.
func (h *Harness) start(t *testing.T) *running {
	t.Helper()
	r := &running{adapter: h.NewAdapter(t), sink: NewSink(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- r.adapter.Run(ctx, r.sink) }()
	t.Cleanup(func() { r.halt(t) })
	if err := r.sink.WaitState(h.ctx(t), protocols.AccountOnline); err != nil {
		t.Fatalf("adapter did not come online: %v (last report %+v)", err, r.sink.LastState())
	}
	return r
}

// halt stops the adapter and returns what Run returned; calling it twice
// is harmless.
func (r *running) halt(t *testing.T) error {
	r.stop()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
		return nil
	}
}

// nextMessage waits for the next protocols.Message, skipping chat states
// and receipts.
func nextMessage(ctx context.Context, s *Sink) (protocols.Message, error) {
	for {
		ev, err := s.NextEvent(ctx)
		if err != nil {
			return protocols.Message{}, err
		}
		if m, ok := ev.(protocols.Message); ok {
			return m, nil
		}
	}
}

// Run runs the conformance suite as subtests of t.
func Run(t *testing.T, h Harness) {
	t.Run("ReportsOnlineThenStopsOnCancel", h.testLifecycle)
	t.Run("PatronMessageArrivesWithAddress", h.testInbound)
	t.Run("ReplyReachesPatron", h.testOutbound)
	t.Run("UnicodeBothWays", h.testUnicode)
	t.Run("LongTextSplitWithinLimit", h.testLongText)
	t.Run("SendWhileStoppedIsRetryable", h.testSendStopped)
	t.Run("ChatStateNeverFails", h.testChatState)
	t.Run("ConcurrentSends", h.testConcurrentSends)
	t.Run("PatronLeftReported", h.testLeft)
}

func (h *Harness) testLifecycle(t *testing.T) {
	r := h.start(t)
	caps := r.adapter.Capabilities()
	if caps.MaxTextLength < 0 || caps.IdleTimeout < 0 {
		t.Errorf("Capabilities() = %+v: negative limits", caps)
	}
	if err := r.halt(t); err != nil {
		t.Errorf("Run returned %v after cancel, want nil", err)
	}
	states := r.sink.States()
	if len(states) == 0 || states[0] != protocols.AccountConnecting {
		t.Errorf("states %v: want connecting first", states)
	}
	if last := states[len(states)-1]; last != protocols.AccountStopped {
		t.Errorf("states %v: want stopped last", states)
	}
}

func (h *Harness) testInbound(t *testing.T) {
	r := h.start(t)
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	const text = "Do you have the 1987 edition of Gray's Anatomy?"
	if err := p.Say(ctx, text); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	want := protocols.Address{Network: h.Network, Account: h.Account, User: p.ID()}
	if m.From != want {
		t.Errorf("message from %v, want %v", m.From, want)
	}
	if m.Text != text {
		t.Errorf("message text %q, want %q", m.Text, text)
	}
}

// roundTrip has a patron say something, then answers it, and checks both.
func (h *Harness) roundTrip(t *testing.T, r *running, in, out string) {
	t.Helper()
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	if err := p.Say(ctx, in); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	if m.Text != in {
		t.Errorf("inbound text %q, want %q", m.Text, in)
	}
	if err := r.adapter.Send(ctx, protocols.OutMessage{To: m.From, ID: "conformance-1", Text: out}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got, err := p.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got != out {
		t.Errorf("patron received %q, want %q", got, out)
	}
}

func (h *Harness) testOutbound(t *testing.T) {
	h.roundTrip(t, h.start(t), "hello?", "Hello! The 1987 edition is on the third floor.")
}

func (h *Harness) testUnicode(t *testing.T) {
	h.roundTrip(t, h.start(t), "Où est la bibliothèque? 📚 日本語", "Ici: ½ étage — 🦉 ✓ 中文")
}

func (h *Harness) testLongText(t *testing.T) {
	r := h.start(t)
	limit := r.adapter.Capabilities().MaxTextLength
	if limit == 0 {
		t.Skip("the network declares no text length limit")
	}
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	if err := p.Say(ctx, "long answer please"); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; b.Len() < 3*limit; i++ {
		fmt.Fprintf(&b, "word%d é🦉 ", i)
	}
	text := strings.TrimSpace(b.String())
	if err := r.adapter.Send(ctx, protocols.OutMessage{To: m.From, ID: "conformance-long", Text: text}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	var parts []string
	for got := 0; got < len(strings.Fields(text)); {
		part, err := p.Next(ctx)
		if err != nil {
			t.Fatalf("after %d parts: %v", len(parts), err)
		}
		if len(part) > limit {
			t.Errorf("part %d is %d bytes, over the limit %d", len(parts), len(part), limit)
		}
		if !utf8.ValidString(part) {
			t.Errorf("part %d is not valid UTF-8: %q", len(parts), part)
		}
		parts = append(parts, part)
		got = len(strings.Fields(strings.Join(parts, "")))
	}
	// Splitting may cut inside a word or drop the space at a cut, so
	// compare the words, joining pieces both ways.
	joined := strings.Join(parts, "")
	spaced := strings.Join(parts, " ")
	if strings.Join(strings.Fields(joined), " ") != strings.Join(strings.Fields(text), " ") &&
		strings.Join(strings.Fields(spaced), " ") != strings.Join(strings.Fields(text), " ") {
		t.Errorf("the %d parts do not add up to the text sent", len(parts))
	}
}

func (h *Harness) testSendStopped(t *testing.T) {
	r := h.start(t)
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	if err := p.Say(ctx, "are you there?"); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.halt(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	err = r.adapter.Send(ctx, protocols.OutMessage{To: m.From, ID: "conformance-stopped", Text: "late"})
	if err == nil {
		t.Fatal("Send after Run returned succeeded; want a retryable error")
	}
	if !protocols.Retryable(err) {
		t.Errorf("Send after stop: %v is not retryable; wrap protocols.ErrNotConnected", err)
	}
}

func (h *Harness) testChatState(t *testing.T) {
	r := h.start(t)
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	if err := p.Say(ctx, "hi"); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []protocols.ChatState{protocols.Composing, protocols.Paused, protocols.StateActive} {
		if err := r.adapter.Send(ctx, protocols.OutState{To: m.From, State: st}); err != nil {
			t.Errorf("Send(%s): %v; networks without typing return nil", st, err)
		}
	}
	// The chat still works after chat states.
	if err := r.adapter.Send(ctx, protocols.OutMessage{To: m.From, ID: "after-states", Text: "done typing"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if got, err := p.Next(ctx); err != nil || got != "done typing" {
		t.Errorf("patron received %q, %v; want %q", got, err, "done typing")
	}
}

func (h *Harness) testConcurrentSends(t *testing.T) {
	r := h.start(t)
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	if err := p.Say(ctx, "many answers please"); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	m, err := nextMessage(ctx, r.sink)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("answer %02d", i)
		wg.Go(func() {
			id := protocols.MessageID(fmt.Sprintf("concurrent-%d", i))
			errs <- r.adapter.Send(ctx, protocols.OutMessage{To: m.From, ID: id, Text: want[i]})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Send: %v", err)
		}
	}
	got := make([]string, 0, n)
	for range n {
		s, err := p.Next(ctx)
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		got = append(got, s)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("patron received %q, want %q in any order", got, want)
	}
}

func (h *Harness) testLeft(t *testing.T) {
	r := h.start(t)
	if !r.adapter.Capabilities().Presence {
		t.Skip("the network declares no presence")
	}
	ctx := h.ctx(t)
	p := h.NewPatron(t, ctx)
	l, ok := p.(Leaver)
	if !ok {
		t.Skip("the harness's patron cannot leave")
	}
	if err := p.Say(ctx, "bye soon"); err != nil {
		t.Fatalf("patron Say: %v", err)
	}
	if _, err := nextMessage(ctx, r.sink); err != nil {
		t.Fatal(err)
	}
	if err := l.Leave(ctx); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	for {
		ev, err := r.sink.NextEvent(ctx)
		if err != nil {
			t.Fatalf("no Left event: %v", err)
		}
		if left, ok := ev.(protocols.Left); ok {
			if left.From.User != p.ID() {
				t.Errorf("Left from %v, want user %v", left.From, p.ID())
			}
			return
		}
	}
}
