package component_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/xmpp"
	"github.com/owlgate/owlgate/xmpp/component"
)

// wait bounds every wait for an event in these tests.
const wait = 15 * time.Second

// event is one call the transport made on the handler.
type event struct {
	kind string // "stanza", "connected" or "disconnected"
	s    *xmpp.Stanza
}

func (e event) String() string {
	if e.s == nil {
		return e.kind
	}
	return fmt.Sprintf("<%s from=%q to=%q type=%q body=%q show=%q>", e.s.Kind, e.s.From.String(), e.s.To.String(), e.s.Type, e.s.Body, e.s.PresenceShow)
}

// recorder is an xmpp.Handler that records every call on a channel.
type recorder struct {
	events chan event
}

func newRecorder() *recorder { return &recorder{events: make(chan event, 4096)} }

func (r *recorder) HandleStanza(_ context.Context, s *xmpp.Stanza) { r.events <- event{"stanza", s} }
func (r *recorder) Connected(context.Context)                      { r.events <- event{kind: "connected"} }
func (r *recorder) Disconnected(context.Context)                   { r.events <- event{kind: "disconnected"} }

// expect waits for an event that match accepts, dropping the others, and
// fails the test, saying what it waited for and what came, if none does.
func (r *recorder) expect(t testing.TB, what string, match func(event) bool) event {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var seen []string
	for {
		select {
		case e := <-r.events:
			if match(e) {
				return e
			}
			seen = append(seen, e.String())
		case <-timer.C:
			t.Fatalf("the handler did not see %s within %v; it saw: %v", what, wait, seen)
		}
	}
}

func (r *recorder) expectKind(t testing.TB, kind string) {
	t.Helper()
	r.expect(t, kind, func(e event) bool { return e.kind == kind })
}

// expectNone fails when an event of the kind is recorded (it checks what
// arrived so far, without waiting).
func (r *recorder) expectNone(t testing.TB, kind string) {
	t.Helper()
	for {
		select {
		case e := <-r.events:
			if e.kind == kind {
				t.Fatalf("unexpected %s", e)
			}
		default:
			return
		}
	}
}

// testLog is a logger writing to the test's log.
func testLog(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// fastBackoff reconnects within a few hundred milliseconds.
var fastBackoff = protocols.Backoff{Min: 50 * time.Millisecond, Max: 400 * time.Millisecond}

// running is a component whose Run runs in a goroutine until the test
// ends.
type running struct {
	*component.Component
	rec  *recorder
	done chan error
}

// runComponent starts Run, and at the end of the test stops it and checks
// that it returned nil.
func runComponent(t testing.TB, cfg component.Config) *running {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = testLog(t)
	}
	if cfg.Backoff.Min == 0 && cfg.Backoff.Max == 0 {
		cfg.Backoff = fastBackoff
	}
	c, err := component.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Component: c, rec: newRecorder(), done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx, r.rec) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run returned %v after its context ended, want nil", err)
			}
		case <-time.After(wait):
			t.Errorf("Run did not return within %v of its context ending", wait)
		}
	})
	return r
}

// send sends a stanza through the component and fails the test on error.
func (r *running) send(t testing.TB, s *xmpp.Stanza) {
	t.Helper()
	if err := r.Send(context.Background(), s); err != nil {
		t.Fatalf("Send %s: %v", s.Kind, err)
	}
}

func mustJID(t testing.TB, s string) jid.JID {
	t.Helper()
	j, err := jid.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// proxy is a TCP forwarder between the component and the server whose
// connections a test can cut, and which can refuse new ones.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func startProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.cut(true)
	})
	go p.accept()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		go pipe(in, out)
		go pipe(out, in)
	}
}

// cut closes every forwarded connection; while down, new connections are
// closed as soon as they are accepted.
func (p *proxy) cut(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}
