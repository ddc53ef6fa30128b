package sms

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/protocols/sms/twiliotest"
)

const (
	account = protocols.AccountID("unc-sms")
	library = "+15555550100" // the library's number
	patron  = "+15555550123" // a patron's
)

// wait bounds every wait of these tests: a liveness bound, not a speed
// check.
const wait = 20 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// logBuffer is the adapter's log, at debug level, printed when the test
// fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines logged at level or above.
func (l *logBuffer) lines(level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	for sc.Scan() {
		line := sc.Text()
		for _, lv := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			if lv >= level && strings.Contains(line, " level="+lv.String()+" ") {
				out = append(out, line)
			}
		}
	}
	return out
}

func newLog(t *testing.T) (*slog.Logger, *logBuffer) {
	lb := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			lb.mu.Lock()
			t.Logf("adapter log:\n%s", lb.buf.String())
			lb.mu.Unlock()
		}
	})
	h := slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug})
	return slog.New(h).With("network", "sms", "account", string(account)), lb
}

// instantClock is time that never waits: each After returns at once, moves
// the clock on by its duration and is recorded.
type instantClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newInstantClock() *instantClock {
	return &instantClock{now: time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC)}
}

func (c *instantClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *instantClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

func (c *instantClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// taken returns the waits asked for so far and forgets them.
func (c *instantClock) taken() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waits
	c.waits = nil
	return w
}

// gatedClock is time the test moves: every After is handed to the test on
// waits, and fires when the test says, moving the clock on.
type gatedClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan gatedWait
}

type gatedWait struct {
	d  time.Duration
	ch chan time.Time
}

func newGatedClock() *gatedClock {
	return &gatedClock{now: time.Date(2026, 12, 4, 21, 0, 0, 0, time.UTC), waits: make(chan gatedWait, 16)}
}

func (c *gatedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *gatedClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- gatedWait{d: d, ch: ch}
	return ch
}

// next returns the next wait asked for.
func (c *gatedClock) next(t *testing.T) gatedWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(wait):
		t.Fatal("no wait was asked for")
		return gatedWait{}
	}
}

// fire moves the clock on by w's duration and ends w.
func (c *gatedClock) fire(w gatedWait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

// fixture is an adapter on a fake Twilio, with its webhooks served as
// owlgate's HTTP server would.
type fixture struct {
	api   *twiliotest.API
	hooks *twiliotest.Hooks
	a     *Adapter
	log   *logBuffer
	dir   string
	clock *instantClock
	cfg   Config
}

// newFixture builds an adapter (not running) with config cfg changed by
// change; its clock is an instantClock.
func newFixture(t *testing.T, change func(*Config)) *fixture {
	t.Helper()
	f := &fixture{api: twiliotest.NewAPI(t), hooks: twiliotest.NewHooks(t), dir: t.TempDir()}
	f.cfg = Config{
		Provider:   "twilio",
		AccountSID: config.NewSecret(f.api.AccountSID),
		AuthToken:  config.NewSecret(f.api.AuthToken),
		From:       library,
		PublicURL:  f.hooks.URL,
		APIBase:    f.api.URL,
	}
	if change != nil {
		change(&f.cfg)
	}
	f.a = f.build(t)
	return f
}

// build makes a new adapter from the fixture's config and data folder
// (as after a restart of owlgate), mounted on the hooks.
func (f *fixture) build(t *testing.T) *Adapter {
	t.Helper()
	log, lb := newLog(t)
	f.log = lb
	cfg := f.cfg
	a, err := newAdapter(protocols.AccountSpec{ID: account, Network: Network, DataDir: f.dir, Log: log,
		Decode: func(v any) error { *v.(*Config) = cfg; return nil }})
	if err != nil {
		t.Fatalf("newAdapter: %v", err)
	}
	f.clock = newInstantClock()
	a.setClock(f.clock)
	a.retry.Rand = func() float64 { return 0.5 }
	a.backoff.Rand = func() float64 { return 0.5 }
	f.hooks.Mount(account, a.HTTPRoutes())
	return a
}

// setClock gives the adapter (and its pacer) another time.
func (a *Adapter) setClock(c clock) {
	a.clock = c
	a.pace = newPacer(a.s.rate, c)
}

// running is an adapter whose Run goroutine runs.
type running struct {
	a    *Adapter
	sink *protocoltest.Sink
	stop context.CancelFunc
	done chan error
}

// run starts a.Run with a recording sink (or sink, when given) and waits
// until it is online; it stops when the test ends.
func run(t *testing.T, a *Adapter) *running {
	t.Helper()
	r := start(t, a, protocoltest.NewSink())
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatalf("not online: %v (last %+v)", err, r.sink.LastState())
	}
	return r
}

func start(t *testing.T, a *Adapter, sink *protocoltest.Sink) *running {
	t.Helper()
	return startWith(t, a, sink, sink)
}

// startWith runs a with as its sink, recording states in rec.
func startWith(t *testing.T, a *Adapter, as protocols.Sink, rec *protocoltest.Sink) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{a: a, sink: rec, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx, as) }()
	t.Cleanup(func() { r.halt(t) })
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

// next returns the next inbound event of type T, skipping others.
func next[T protocols.Inbound](t *testing.T, s *protocoltest.Sink) T {
	t.Helper()
	for {
		ev, err := s.NextEvent(ctxFor(t))
		if err != nil {
			var zero T
			t.Fatalf("waiting for a %T: %v", zero, err)
		}
		if v, ok := ev.(T); ok {
			return v
		}
	}
}

// nothingYet checks that the sink has no event not yet taken.
func nothingYet(t *testing.T, s *protocoltest.Sink) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if ev, err := s.NextEvent(ctx); err == nil {
		t.Fatalf("unexpected event %#v", ev)
	}
}

// phone is a patron's phone texting the fixture's number.
func (f *fixture) phone(number string) *twiliotest.Phone {
	return f.api.Phone(number, library, f.a.WebhookURL())
}

// text has p text body and checks that owlgate answered 200.
func text(t *testing.T, p *twiliotest.Phone, body string, media ...twiliotest.Media) {
	t.Helper()
	status, err := p.Text(ctxFor(t), body, media...)
	if err != nil || status != 200 {
		t.Fatalf("texting %q: status %d, %v", body, status, err)
	}
}

// to addresses the patron at number on the fixture's account.
func to(number string) protocols.Address {
	return protocols.Address{Network: Network, Account: account, User: protocols.UserID(number)}
}

// refusingSink is a recording sink that can refuse deliveries for a while.
type refusingSink struct {
	*protocoltest.Sink
	mu     sync.Mutex
	refuse error
}

func (s *refusingSink) set(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = err
}

func (s *refusingSink) Deliver(ctx context.Context, ev protocols.Inbound) error {
	s.mu.Lock()
	err := s.refuse
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Sink.Deliver(ctx, ev)
}

var errRefused = errors.New("test: the store is full")
