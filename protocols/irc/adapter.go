package irc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/internal/tcpack"
	"github.com/owlgate/owlgate/protocols"
)

// Network is the network name of IRC accounts.
const Network protocols.Network = "irc"

// Adapter is one IRC account of the library: the nick patrons write to.
type Adapter struct {
	id      protocols.AccountID
	network protocols.Network
	s       *settings
	log     *slog.Logger

	bucket  *bucket
	patrons *patrons
	sendSem chan struct{} // one Send at a time, so that a message's lines stay together
	cur     atomic.Pointer[session]

	replayMu sync.Mutex
	replay   []sentLine // lines a connection that ended did not get confirmed (confirm.go)
	running  atomic.Bool

	// Timings, set by New; the package's tests shorten them.
	backoff    protocols.Backoff
	regTimeout time.Duration // from connecting to the end of registration
	pingIdle   time.Duration // a silent server is sent a PING after this long
	pongWait   time.Duration // and dropped when it does not answer within this
	version    string        // the answer to CTCP VERSION
}

var _ protocols.Adapter = (*Adapter)(nil)

// New is the IRC network's [protocols.Factory]: it decodes and checks the
// account's keys (see [Config]) and does no I/O.
func New(spec protocols.AccountSpec) (protocols.Adapter, error) {
	return newAdapter(spec)
}

func newAdapter(spec protocols.AccountSpec) (*Adapter, error) {
	var c Config
	if err := spec.DecodeInto(&c); err != nil {
		return nil, err
	}
	s, err := c.validate()
	if err != nil {
		return nil, err
	}
	log, network := spec.Logger(), spec.NetworkOr(Network)
	return &Adapter{
		id:         spec.ID,
		network:    network,
		s:          s,
		log:        log,
		bucket:     newBucket(s.rate, s.burst, nil),
		patrons:    newPatrons(),
		sendSem:    make(chan struct{}, 1),
		backoff:    protocols.Backoff{},
		regTimeout: time.Minute,
		pingIdle:   2 * time.Minute,
		pongWait:   time.Minute,
		version:    "owlgate library chat gateway",
	}, nil
}

// Capabilities: IRC has presence (QUIT) and nothing else of the model's.
// MaxTextLength is 0 because Send takes texts of any length and splits them
// itself into lines that fit the 512-byte IRC line.
func (a *Adapter) Capabilities() protocols.Capabilities {
	return protocols.Capabilities{Presence: true}
}

// CurrentNick returns the nick the account has on the server now, or ""
// when it is not online.
func (a *Adapter) CurrentNick() string {
	if s := a.cur.Load(); s != nil {
		return s.currentNick()
	}
	return ""
}

func (a *Adapter) addr(user string) protocols.Address {
	return protocols.Address{Network: a.network, Account: a.id, User: protocols.UserID(user)}
}

// Run connects and stays connected until ctx ends; see [protocols.Adapter].
func (a *Adapter) Run(ctx context.Context, sink protocols.Sink) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("irc: Run called while the account already runs")
	}
	defer a.running.Store(false)
	in := newInbox(sink, a.log)
	go in.run(ctx)
	bo := a.backoff
	for {
		sink.ReportState(protocols.StateReport{State: protocols.AccountConnecting})
		up, err := a.attempt(ctx, sink, in)
		if ctx.Err() != nil {
			in.close()
			a.log.Info("irc: stopped")
			sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
			return nil
		}
		if errors.Is(err, protocols.ErrBadCredentials) {
			in.close()
			a.log.Error("irc: the server refused the account's credentials; not retrying", "err", err)
			sink.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
			return err
		}
		if err == nil {
			err = errors.New("irc: connection closed")
		}
		d := bo.Next(up)
		a.log.Warn("irc: disconnected; retrying", "err", err, "in", d.Round(time.Millisecond))
		sink.ReportState(protocols.StateReport{State: protocols.AccountBackoff, Err: err, Retry: time.Now().Add(d)})
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			in.close()
			sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
			return nil
		}
	}
}

// attempt makes one connection and serves it until it ends. up is how long
// it was online (0 when it never was).
func (a *Adapter) attempt(ctx context.Context, sink protocols.Sink, in *inbox) (up time.Duration, err error) {
	conn, err := a.dial(ctx)
	if err != nil {
		return 0, err
	}
	s := newSession(ctx, a, conn, sink, in)
	stop := context.AfterFunc(ctx, s.quit)
	defer stop()
	err = s.serve()
	a.cur.CompareAndSwap(s, nil)
	if lines := s.unconfirmed(); err != nil {
		a.keepForReplay(lines) // the next connection writes them first
	}
	s.end()
	if !s.onlineAt.IsZero() {
		up = time.Since(s.onlineAt)
	}
	return up, err
}

func (a *Adapter) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", a.s.server)
	if err != nil {
		return nil, fmt.Errorf("irc: connecting to %s: %w", a.s.server, err)
	}
	conn = tcpack.Wrap(conn) // the server's lines are not held up by our delayed acks
	if !a.s.tls {
		return conn, nil
	}
	cfg, err := a.tlsConfig()
	if err != nil {
		conn.Close()
		return nil, err
	}
	tc := tls.Client(conn, cfg)
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("irc: TLS with %s: %w", a.s.server, err)
	}
	return tc, nil
}

func (a *Adapter) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		ServerName:         a.s.host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: a.s.tlsInsecure, // only by the account's explicit tls_insecure: true
	}
	if a.s.tlsCA != "" {
		pem, err := os.ReadFile(a.s.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("irc: tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("irc: tls_ca: %s holds no PEM certificate", a.s.tlsCA)
		}
		cfg.RootCAs = pool
	}
	if a.s.clientCert != nil {
		cfg.Certificates = []tls.Certificate{*a.s.clientCert}
	}
	return cfg, nil
}

// Send delivers one outbound event; see [protocols.Adapter]. Texts are sent
// as one PRIVMSG per line, each split to fit the IRC line limit, paced by
// the account's token bucket. It is safe for concurrent use.
func (a *Adapter) Send(ctx context.Context, out protocols.Outbound) error {
	switch o := out.(type) {
	case protocols.OutState:
		return nil // IRC has no typing notifications
	case protocols.OutMessage:
		return a.sendText(ctx, o.To, o.ID, o.Text)
	case protocols.OutAttachment:
		if o.Attachment.URL == "" {
			return fmt.Errorf("irc: an attachment without a URL: %w", protocols.ErrRejected)
		}
		text := o.Attachment.URL
		if o.Caption != "" {
			text = o.Caption + "\n" + text
		}
		return a.sendText(ctx, o.To, o.ID, text)
	default:
		return fmt.Errorf("irc: %T: %w", out, protocols.ErrUnsupported)
	}
}

func (a *Adapter) sendText(ctx context.Context, to protocols.Address, id protocols.MessageID, text string) error {
	if to.Account != a.id || to.Network != a.network || !validNick(string(to.User)) {
		return fmt.Errorf("irc %s: not a patron of this account: %w", a.id, protocols.ErrUnknownPatron)
	}
	if a.cur.Load() == nil {
		return fmt.Errorf("irc %s: %w", a.id, protocols.ErrNotConnected)
	}
	select {
	case a.sendSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("irc %s: %w (%w)", a.id, protocols.ErrTimeout, ctx.Err())
	}
	defer func() { <-a.sendSem }()
	s := a.cur.Load()
	if s == nil {
		return fmt.Errorf("irc %s: %w", a.id, protocols.ErrNotConnected)
	}
	nick := a.patrons.outbound(string(to.User), id, time.Now())
	lines := outboundLines(text, s.lineBudget(nick))
	for i, line := range lines {
		if err := a.bucket.Wait(ctx); err != nil {
			return fmt.Errorf("irc %s: %d of %d lines sent: %w (%w)", a.id, i, len(lines), protocols.ErrTimeout, err)
		}
		if s = a.cur.Load(); s == nil {
			return fmt.Errorf("irc %s: %d of %d lines sent: %w", a.id, i, len(lines), protocols.ErrNotConnected)
		}
		if err := s.write("PRIVMSG", nick, line); err != nil {
			return fmt.Errorf("irc %s: %d of %d lines sent: %w (%w)", a.id, i, len(lines), protocols.ErrNotConnected, err)
		}
		s.sent(sentLine{user: to.User, id: id, text: line})
	}
	return nil
}

// inbox hands inbound events to the sink in order, from a goroutine of its
// own, so that a slow sink does not hold up the connection (PINGs), and
// retries an event the sink refused.
type inbox struct {
	sink protocols.Sink
	log  *slog.Logger
	ch   chan protocols.Inbound
	done chan struct{}
}

func newInbox(sink protocols.Sink, log *slog.Logger) *inbox {
	return &inbox{sink: sink, log: log, ch: make(chan protocols.Inbound, 256), done: make(chan struct{})}
}

// push queues ev; it blocks while the queue is full.
func (in *inbox) push(ev protocols.Inbound) { in.ch <- ev }

func (in *inbox) run(ctx context.Context) {
	defer close(in.done)
	for ev := range in.ch {
		in.deliver(ctx, ev)
	}
}

// close stops taking events and waits until those queued were delivered.
func (in *inbox) close() {
	close(in.ch)
	<-in.done
}

func (in *inbox) deliver(ctx context.Context, ev protocols.Inbound) {
	delay := 100 * time.Millisecond
	for {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if ctx.Err() != nil {
			// Stopping: what the network already gave us is still handed
			// over, with a bound.
			dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		}
		var err error
		if q, ok := in.sink.(protocols.Enqueuer); ok {
			// IRC has nothing to acknowledge: let the gateway write a
			// burst to disk in groups (see protocols.Enqueuer).
			err = q.Enqueue(dctx, ev)
		} else {
			err = in.sink.Deliver(dctx, ev)
		}
		cancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			in.log.Error("irc: an inbound event was lost while stopping", "event", fmt.Sprintf("%T", ev), "err", err)
			return
		}
		in.log.Warn("irc: the gateway refused an inbound event; retrying", "event", fmt.Sprintf("%T", ev), "err", err, "in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
		}
		delay = min(2*delay, 5*time.Second)
	}
}
