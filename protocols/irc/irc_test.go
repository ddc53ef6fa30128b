package irc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
)

const account protocols.AccountID = "unc-irc"

// wait bounds every wait of these tests: a liveness bound, not a speed
// check.
const wait = 20 * time.Second

// testLog is a logger at debug level whose output is printed when the
// test fails.
func testLog(t *testing.T) *slog.Logger {
	var mu sync.Mutex
	var buf bytes.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("adapter log:\n%s", buf.String())
			mu.Unlock()
		}
	})
	return slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// newTestAdapter builds an adapter from cfg as the factory would, with a
// short backoff.
func newTestAdapter(t *testing.T, cfg Config) *Adapter {
	t.Helper()
	spec := protocols.AccountSpec{ID: account, Network: Network, Log: testLog(t),
		Decode: func(v any) error { *v.(*Config) = cfg; return nil }}
	a, err := newAdapter(spec)
	if err != nil {
		t.Fatalf("newAdapter: %v", err)
	}
	a.backoff = protocols.Backoff{Min: 200 * time.Millisecond, Max: time.Second}
	return a
}

func plain(server, nick string) Config {
	no := false
	return Config{Server: server, TLS: &no, Nick: nick}
}

func ptr[T any](v T) *T { return &v }

func poll(d time.Duration) *config.Duration { return ptr(config.Duration(d)) }

// running is an adapter whose Run goroutine runs.
type running struct {
	a    *Adapter
	sink *protocoltest.Sink
	stop context.CancelFunc
	done chan error
}

// run starts a.Run; it is stopped when the test ends.
func run(t *testing.T, a *Adapter) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, sink: protocoltest.NewSink(), stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx, r.sink) }()
	t.Cleanup(func() { r.halt(t) })
	return r
}

// runOnline starts a.Run and waits until it is online.
func runOnline(t *testing.T, a *Adapter) *running {
	t.Helper()
	r := run(t, a)
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatalf("not online: %v (last %+v)", err, r.sink.LastState())
	}
	return r
}

func (r *running) halt(t *testing.T) error {
	r.stop()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(wait):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent returns the next inbound event of type T, skipping others.
func nextEvent[T protocols.Inbound](t *testing.T, s *protocoltest.Sink) T {
	t.Helper()
	ctx := ctxFor(t)
	for {
		ev, err := s.NextEvent(ctx)
		if err != nil {
			var zero T
			t.Fatalf("waiting for a %T: %v", zero, err)
		}
		if v, ok := ev.(T); ok {
			return v
		}
	}
}

// ircPatron is a patron on ngircd: a raw IRC client writing to the
// library's nick.
type ircPatron struct {
	c   *testenv.IRCClient
	lib string
}

func (p *ircPatron) ID() protocols.UserID { return protocols.UserID(p.c.Nick) }
func (p *ircPatron) Say(ctx context.Context, text string) error {
	p.c.Privmsg(p.lib, text)
	return nil
}
func (p *ircPatron) Next(ctx context.Context) (string, error) {
	l, err := p.c.Next(ctx, testenv.PrivmsgFrom(p.lib))
	if err != nil {
		return "", err
	}
	return l.Text(), nil
}
func (p *ircPatron) Leave(ctx context.Context) error {
	p.c.Quit("bye now")
	return nil
}

var patronCount atomic.Int64

func newPatronClient(t *testing.T, srv *testenv.Ngircd) *testenv.IRCClient {
	t.Helper()
	return testenv.ConnectIRC(t, srv.Addr, fmt.Sprintf("patron%d", patronCount.Add(1)), testenv.IRCClientOptions{})
}

// TestConformance runs the protocols conformance suite on ngircd, with
// patrons as raw IRC clients who share no channel with the library (so
// their leaving is seen by polling).
func TestConformance(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	var libs atomic.Int64
	var lib atomic.Value
	protocoltest.Run(t, protocoltest.Harness{
		Network: Network,
		Account: account,
		NewAdapter: func(t *testing.T) protocols.Adapter {
			// A nick per subtest: the last one's may linger a moment.
			nick := fmt.Sprintf("Lib%d", libs.Add(1))
			lib.Store(nick)
			cfg := plain(srv.Addr, nick)
			cfg.PresencePoll = poll(time.Second)
			return newTestAdapter(t, cfg)
		},
		NewPatron: func(t *testing.T, ctx context.Context) protocoltest.Patron {
			return &ircPatron{c: newPatronClient(t, srv), lib: lib.Load().(string)}
		},
		Timeout: wait,
	})
}

// TestTLS connects to ngircd's TLS port: verified with the test CA, refused
// without it, and accepted unverified only with tls_insecure.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	t.Run("VerifiedWithCA", func(t *testing.T) {
		r := runOnline(t, newTestAdapter(t, Config{Server: srv.TLSAddr, Nick: "TLSLib", TLSCA: srv.CAFile}))
		p := &ircPatron{c: newPatronClient(t, srv), lib: "TLSLib"}
		p.Say(nil, "over TLS?")
		m := nextEvent[protocols.Message](t, r.sink)
		if m.Text != "over TLS?" {
			t.Errorf("message %q", m.Text)
		}
	})
	t.Run("RefusedWithoutCA", func(t *testing.T) {
		r := run(t, newTestAdapter(t, Config{Server: srv.TLSAddr, Nick: "TLSLib2"}))
		if err := r.sink.WaitState(ctxFor(t), protocols.AccountBackoff); err != nil {
			t.Fatal(err)
		}
		st := r.sink.LastState()
		if st.Err == nil || !strings.Contains(st.Err.Error(), "certificate") || st.Retry.IsZero() {
			t.Errorf("backoff report %+v: want a certificate error and a retry time", st)
		}
		for _, s := range r.sink.States() {
			if s == protocols.AccountOnline {
				t.Error("online with an unverifiable certificate")
			}
		}
	})
	t.Run("InsecureByChoice", func(t *testing.T) {
		runOnline(t, newTestAdapter(t, Config{Server: srv.TLSAddr, Nick: "TLSLib3", TLSInsecure: true}))
	})
}

// TestServerPassword: the right server password logs in; a wrong one is
// bad credentials, and Run stops retrying.
func TestServerPassword(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{Password: "owls-only", NoFloodPenalties: true})
	cfg := plain(srv.Addr, "PassLib")
	cfg.Password = config.NewSecret("owls-only")
	runOnline(t, newTestAdapter(t, cfg))

	cfg = plain(srv.Addr, "PassLib2")
	cfg.Password = config.NewSecret("wrong-password")
	r := run(t, newTestAdapter(t, cfg))
	select {
	case err := <-r.done:
		r.done <- err
		if !errors.Is(err, protocols.ErrBadCredentials) {
			t.Errorf("Run = %v, want ErrBadCredentials", err)
		}
		if strings.Contains(err.Error(), "wrong-password") {
			t.Errorf("the error shows the password: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not stop on a wrong password")
	}
	if st := r.sink.LastState(); st.State != protocols.AccountBadCredentials || !errors.Is(st.Err, protocols.ErrBadCredentials) {
		t.Errorf("last state %+v, want bad-credentials", st)
	}
}

// TestNickInUseThenRegain: with the nick taken, the account comes online
// on alt_nick, and takes the nick back when its holder quits: seen by
// polling (no shared channel), or at once from a shared channel.
func TestNickInUseThenRegain(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	for _, shared := range []bool{false, true} {
		name := map[bool]string{false: "ByPolling", true: "ByQuitInChannel"}[shared]
		t.Run(name, func(t *testing.T) {
			nick := "Regain" + name[:4]
			holder := testenv.ConnectIRC(t, srv.Addr, nick, testenv.IRCClientOptions{})
			cfg := plain(srv.Addr, nick)
			if shared {
				holder.Send("JOIN #regain")
				holder.Expect(wait, "JOIN", func(l *testenv.IRCLine) bool { return l.Command == "366" })
				cfg.Channels = []string{"#regain"}
				cfg.PresencePoll = poll(0)
			} else {
				cfg.PresencePoll = poll(time.Second)
			}
			a := newTestAdapter(t, cfg)
			r := runOnline(t, a)
			if got := a.CurrentNick(); got != nick+"_" {
				t.Fatalf("nick %q, want alt_nick %q", got, nick+"_")
			}
			p := &ircPatron{c: newPatronClient(t, srv), lib: nick + "_"}
			p.Say(nil, "to the alt nick")
			if m := nextEvent[protocols.Message](t, r.sink); m.Text != "to the alt nick" {
				t.Errorf("message %q", m.Text)
			}
			if shared {
				holder.Expect(wait, "the library joining", func(l *testenv.IRCLine) bool {
					return l.Command == "JOIN" && l.Nick == nick+"_"
				})
			}
			holder.Quit("freeing the nick")
			deadline := time.Now().Add(wait)
			for a.CurrentNick() != nick {
				if time.Now().After(deadline) {
					t.Fatalf("nick %q: not regained", a.CurrentNick())
				}
				time.Sleep(50 * time.Millisecond)
			}
			p.lib = nick
			p.Say(nil, "to the regained nick")
			if m := nextEvent[protocols.Message](t, r.sink); m.Text != "to the regained nick" || m.From.User != p.ID() {
				t.Errorf("message %+v", m)
			}
			if err := a.Send(ctxFor(t), protocols.OutMessage{To: a.addr(string(p.ID())), Text: "from the regained nick"}); err != nil {
				t.Fatal(err)
			}
			if got, err := p.Next(ctxFor(t)); err != nil || got != "from the regained nick" {
				t.Errorf("patron got %q, %v", got, err)
			}
		})
	}
}

// TestCTCPAndFormatting: VERSION and PING are answered with NOTICEs,
// ACTION becomes "* text", other CTCP is ignored, and formatting is
// stripped.
func TestCTCPAndFormatting(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	a := newTestAdapter(t, plain(srv.Addr, "CTCPLib"))
	r := runOnline(t, a)
	c := newPatronClient(t, srv)
	notice := func(prefix string) func(*testenv.IRCLine) bool {
		return func(l *testenv.IRCLine) bool {
			return l.Command == "NOTICE" && l.Nick == "CTCPLib" && strings.HasPrefix(l.Text(), prefix)
		}
	}
	c.Privmsg("CTCPLib", "\x01VERSION\x01")
	if l := c.Expect(wait, "a VERSION reply", notice("\x01VERSION ")); !strings.Contains(l.Text(), "owlgate") || !strings.HasSuffix(l.Text(), "\x01") {
		t.Errorf("VERSION reply %q", l.Text())
	}
	c.Privmsg("CTCPLib", "\x01PING 1234567890\x01")
	if l := c.Expect(wait, "a PING reply", notice("\x01PING")); l.Text() != "\x01PING 1234567890\x01" {
		t.Errorf("PING reply %q", l.Text())
	}
	c.Privmsg("CTCPLib", "\x01TIME\x01")
	c.Privmsg("CTCPLib", "\x01ACTION waves \x02hello\x02\x01")
	if m := nextEvent[protocols.Message](t, r.sink); m.Text != "* waves hello" || m.From.User != protocols.UserID(c.Nick) {
		t.Errorf("ACTION arrived as %+v", m)
	}
	c.Send("NOTICE CTCPLib :\x0304,12Red\x03 \x02bold\x0f \x1ditalic\x1d \x1funder\x1f \x16rev\x16 \x11mono\x11 \x04FF8800hex\x04 done")
	if m := nextEvent[protocols.Message](t, r.sink); m.Text != "Red bold italic under rev mono hex done" {
		t.Errorf("formatted NOTICE arrived as %q", m.Text)
	}
	// TIME produced nothing: the ACTION was the first event, and no
	// reply came.
	time.Sleep(200 * time.Millisecond)
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if l, err := c.Next(short, notice("\x01TIME")); err == nil {
		t.Errorf("TIME was answered: %q", l.Raw)
	}
}

// TestLongTextSplit: a 2,000-byte multi-byte text arrives complete, in
// lines the server relays within 512 bytes.
func TestLongTextSplit(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	cfg := plain(srv.Addr, "SplitLibrary")
	cfg.Rate, cfg.Burst = ptr(50.0), ptr(20)
	a := newTestAdapter(t, cfg)
	r := runOnline(t, a)
	c := testenv.ConnectIRC(t, srv.Addr, "patron-with-a-long-nick-29ch", testenv.IRCClientOptions{User: "longuser"})
	c.Privmsg("SplitLibrary", "a long answer please")
	m := nextEvent[protocols.Message](t, r.sink)
	var b strings.Builder
	for i := 0; b.Len() < 2000; i++ {
		fmt.Fprintf(&b, "mot%d é🦉日本語 ", i)
	}
	text := strings.TrimSpace(b.String())
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: m.From, ID: "long-1", Text: text}); err != nil {
		t.Fatal(err)
	}
	noSpace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
	var got strings.Builder
	lines := 0
	for noSpace(got.String()) != noSpace(text) {
		l := c.Expect(wait, fmt.Sprintf("line %d of the long text", lines+1), testenv.PrivmsgFrom("SplitLibrary"))
		lines++
		if n := len(l.Raw) + 2; n > 512 {
			t.Errorf("line %d is %d bytes as relayed: %q", lines, n, l.Raw)
		}
		if !utf8.ValidString(l.Text()) {
			t.Errorf("line %d is not valid UTF-8", lines)
		}
		got.WriteString(l.Text())
		if got.Len() > 2*len(text) {
			t.Fatal("more text than was sent")
		}
	}
	if lines < 5 {
		t.Errorf("%d bytes arrived in %d lines", len(text), lines)
	}
	t.Logf("%d bytes in %d lines", len(text), lines)
}

// TestPacedSendsKeepOrder: many multi-line messages, some sent
// concurrently, through the token bucket (a burst of 2, then 20 lines a
// second) and ngircd's own flood penalties: every line arrives, each
// message's lines together and in order, and the account stays online.
func TestPacedSendsKeepOrder(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{}) // ngircd's flood penalties on
	cfg := plain(srv.Addr, "PacedLib")
	cfg.Rate, cfg.Burst = ptr(20.0), ptr(2)
	a := newTestAdapter(t, cfg)
	r := runOnline(t, a)
	p := &ircPatron{c: newPatronClient(t, srv), lib: "PacedLib"}
	p.Say(nil, "go")
	m := nextEvent[protocols.Message](t, r.sink)
	const msgs, linesPer = 6, 5
	var wg sync.WaitGroup
	for i := range msgs {
		wg.Go(func() {
			var lines []string
			for j := range linesPer {
				lines = append(lines, fmt.Sprintf("m%d line%d", i, j))
			}
			if err := a.Send(ctxFor(t), protocols.OutMessage{To: m.From, ID: protocols.MessageID(fmt.Sprint(i)), Text: strings.Join(lines, "\n")}); err != nil {
				t.Errorf("Send %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	seen := map[int]bool{}
	for range msgs {
		var first int
		for j := range linesPer {
			got, err := p.Next(ctxFor(t))
			if err != nil {
				t.Fatal(err)
			}
			var i, k int
			if _, err := fmt.Sscanf(got, "m%d line%d", &i, &k); err != nil {
				t.Fatalf("line %q", got)
			}
			if j == 0 {
				first = i
				if seen[i] {
					t.Fatalf("message %d twice", i)
				}
				seen[i] = true
			}
			if i != first || k != j {
				t.Fatalf("got %q: want m%d line%d (lines of one message together, in order)", got, first, j)
			}
		}
	}
	if st := r.sink.LastState(); st.State != protocols.AccountOnline {
		t.Errorf("state %+v after the burst", st)
	}
}

// TestNoSuchNick: a message to a nick that is not on the network is
// reported as a delivery failure of that message.
func TestNoSuchNick(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	a := newTestAdapter(t, plain(srv.Addr, "FailLib"))
	r := runOnline(t, a)
	to := a.addr("gone-patron")
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: to, ID: "lost-1", Text: "line one\nline two"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	f := nextEvent[protocols.DeliveryFailure](t, r.sink)
	if f.To != to || f.ID != "lost-1" || f.Reason != "no such nick" {
		t.Errorf("failure %+v", f)
	}
	// One failure for the message, not one per line: the next event is
	// the failure of the next message.
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: to, ID: "lost-2", Text: "again"}); err != nil {
		t.Fatal(err)
	}
	if f := nextEvent[protocols.DeliveryFailure](t, r.sink); f.ID != "lost-2" {
		t.Errorf("second failure %+v", f)
	}
	// Not a patron of this account: permanent.
	err := a.Send(ctxFor(t), protocols.OutMessage{To: protocols.Address{Network: Network, Account: "other", User: "x"}, Text: "x"})
	if !errors.Is(err, protocols.ErrUnknownPatron) || protocols.Retryable(err) {
		t.Errorf("Send to another account's patron: %v", err)
	}
}

// TestChannelAndNickChange: a line in a joined channel addressed to the
// nick opens a chat answered in private; the patron's nick change is
// followed (same UserID both ways); their QUIT is reported with its
// message.
func TestChannelAndNickChange(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	cfg := plain(srv.Addr, "ChanLib")
	cfg.Channels = []string{"#Library"}
	cfg.PresencePoll = poll(0) // what is seen comes from the channel
	a := newTestAdapter(t, cfg)
	r := runOnline(t, a)
	c := testenv.ConnectIRC(t, srv.Addr, "Pat", testenv.IRCClientOptions{})
	c.Send("JOIN #library")
	c.Expect(wait, "the library in the channel", func(l *testenv.IRCLine) bool {
		return l.Command == "353" && strings.Contains(l.Text(), "ChanLib") || l.Command == "JOIN" && l.Nick == "ChanLib"
	})
	c.Privmsg("#library", "hello everyone")
	c.Privmsg("#library", "chanlib, where are the \x02maps\x02?")
	m := nextEvent[protocols.Message](t, r.sink)
	if m.Text != "where are the maps?" || m.From != a.addr("Pat") {
		t.Fatalf("addressed channel line arrived as %+v", m)
	}
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: m.From, ID: "r1", Text: "Third floor."}); err != nil {
		t.Fatal(err)
	}
	if l := c.Expect(wait, "the private answer", testenv.PrivmsgFrom("ChanLib")); l.Params[0] != "Pat" || l.Text() != "Third floor." {
		t.Errorf("answer %q: want it in private", l.Raw)
	}

	c.Send("NICK Pat_away")
	c.Expect(wait, "the nick change", func(l *testenv.IRCLine) bool { return l.Command == "NICK" })
	c.Nick = "Pat_away"
	c.Privmsg("ChanLib", "still me")
	if m := nextEvent[protocols.Message](t, r.sink); m.From != a.addr("Pat") || m.Text != "still me" {
		t.Errorf("after NICK, message %+v: want it from Pat", m)
	}
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: a.addr("Pat"), ID: "r2", Text: "Found you."}); err != nil {
		t.Fatal(err)
	}
	if l := c.Expect(wait, "the answer at the new nick", testenv.PrivmsgFrom("ChanLib")); l.Params[0] != "Pat_away" || l.Text() != "Found you." {
		t.Errorf("answer %q", l.Raw)
	}
	c.Quit("gone home")
	left := nextEvent[protocols.Left](t, r.sink)
	if left.From != a.addr("Pat") || !strings.HasPrefix(left.Reason, "quit: ") || !strings.Contains(left.Reason, "gone home") {
		t.Errorf("Left %+v", left)
	}
}

// TestServerRestart: ngircd stopped, the account backs off with a retry
// time; ngircd started again, the account comes back online and the chat
// goes on.
func TestServerRestart(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	a := newTestAdapter(t, plain(srv.Addr, "RestartLib"))
	r := runOnline(t, a)
	srv.Stop()
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountBackoff); err != nil {
		t.Fatal(err)
	}
	if st := r.sink.LastState(); st.Err == nil || st.Retry.IsZero() {
		t.Errorf("backoff report %+v", st)
	}
	err := a.Send(ctxFor(t), protocols.OutMessage{To: a.addr("someone"), Text: "while down"})
	if !errors.Is(err, protocols.ErrNotConnected) || !protocols.Retryable(err) {
		t.Errorf("Send while down: %v, want retryable ErrNotConnected", err)
	}
	n := len(r.sink.States())
	srv.Start()
	ctx := ctxFor(t)
	for {
		states := r.sink.States()
		if len(states) > n && states[len(states)-1] == protocols.AccountOnline {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("not online again: states %v", states)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p := &ircPatron{c: newPatronClient(t, srv), lib: "RestartLib"}
	p.Say(nil, "back?")
	m := nextEvent[protocols.Message](t, r.sink)
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: m.From, Text: "Back."}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Next(ctxFor(t)); got != "Back." || err != nil {
		t.Errorf("patron got %q, %v", got, err)
	}
	t.Logf("states: %v", r.sink.States())
}

// TestNickServ: IDENTIFY goes to NickServ (here a test client of that nick
// on ngircd, which has no services); an accepted password keeps the account
// online, a refused one is bad credentials.
func TestNickServ(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	for _, ok := range []bool{true, false} {
		t.Run(map[bool]string{true: "Accepted", false: "Refused"}[ok], func(t *testing.T) {
			ns := testenv.ConnectIRC(t, srv.Addr, "NickServ", testenv.IRCClientOptions{})
			nick := map[bool]string{true: "NSLibOK", false: "NSLibBad"}[ok]
			cfg := plain(srv.Addr, nick)
			cfg.NickServPassword = config.NewSecret("ns-secret")
			a := newTestAdapter(t, cfg)
			r := runOnline(t, a)
			l := ns.Expect(wait, "IDENTIFY", testenv.PrivmsgFrom(nick))
			if l.Text() != "IDENTIFY "+nick+" ns-secret" {
				t.Errorf("NickServ got %q", l.Text())
			}
			if ok {
				ns.Send("NOTICE " + nick + " :You are now identified for \x02" + nick + "\x02.")
				p := &ircPatron{c: newPatronClient(t, srv), lib: nick}
				p.Say(nil, "after identify")
				if m := nextEvent[protocols.Message](t, r.sink); m.Text != "after identify" {
					t.Errorf("message %q", m.Text)
				}
				if st := r.sink.LastState(); st.State != protocols.AccountOnline {
					t.Errorf("state %+v", st)
				}
			} else {
				ns.Send("NOTICE " + nick + " :Invalid password for \x02" + nick + "\x02.")
				select {
				case err := <-r.done:
					r.done <- err
					if !errors.Is(err, protocols.ErrBadCredentials) || strings.Contains(err.Error(), "ns-secret") {
						t.Errorf("Run = %v", err)
					}
				case <-time.After(wait):
					t.Fatal("Run did not stop after NickServ refused the password")
				}
			}
			ns.Quit("done")
		})
	}
}

// TestRunAgain: the gateway runs an account again after it stopped (its
// queue went offline and came back); a patron's chat goes on.
func TestRunAgain(t *testing.T) {
	t.Parallel()
	srv := testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true})
	a := newTestAdapter(t, plain(srv.Addr, "AgainLib"))
	r := runOnline(t, a)
	p := &ircPatron{c: newPatronClient(t, srv), lib: "AgainLib"}
	p.Say(nil, "first shift")
	m := nextEvent[protocols.Message](t, r.sink)
	if err := r.halt(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if a.CurrentNick() != "" {
		t.Errorf("CurrentNick %q after Run returned", a.CurrentNick())
	}
	r2 := runOnline(t, a)
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: m.From, Text: "second shift"}); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Next(ctxFor(t)); got != "second shift" || err != nil {
		t.Errorf("patron got %q, %v", got, err)
	}
	p.Say(nil, "thanks")
	if m := nextEvent[protocols.Message](t, r2.sink); m.Text != "thanks" {
		t.Errorf("message %q", m.Text)
	}
}
