package component

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/internal/tcpack"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/xmpp"
)

// Defaults of the Config fields left zero.
const (
	DefaultMaxStanza    = 262144 // the same as config.DefaultMaxStanza (xmpp.max_stanza)
	DefaultMaxQueue     = 10000  // stanzas
	DefaultDialTimeout  = 10 * time.Second
	DefaultWriteTimeout = 30 * time.Second

	// handshakeTimeout bounds the stream header exchange and handshake.
	handshakeTimeout = 15 * time.Second
	// closeTimeout bounds the goodbye when Run's context ends: flushing
	// what is queued, then waiting for the server to close its stream.
	closeTimeout = 3 * time.Second
	// readSlack is how far the reader's buffer may read ahead of the
	// decoder: MaxStanza is enforced to within this many bytes.
	readSlack = 4096
	// maxBatch and maxBatchBytes bound one write.
	maxBatch      = 1024
	maxBatchBytes = 256 << 10
)

// Namespaces of the component protocol.
const (
	NSComponent   = "jabber:component:accept" // XEP-0114 stream namespace
	nsStream      = "http://etherx.jabber.org/streams"
	nsStreamError = "urn:ietf:params:xml:ns:xmpp-streams"
)

// Errors of the component. Run returns ErrNotAuthorized and ErrHostUnknown
// (wrapped, with what to fix); Send returns the others.
var (
	// ErrNotAuthorized: the server refused the handshake; xmpp.secret
	// differs from the component's secret in the server's config.
	ErrNotAuthorized = errors.New("component: the server refused the secret (not-authorized)")

	// ErrHostUnknown: the server has no component named xmpp.domain.
	ErrHostUnknown = errors.New("component: the server has no component of that name (host-unknown)")

	// ErrQueueFull: MaxQueue stanzas wait to be written (the link has
	// been down for a while, or the server reads slower than owlgate
	// writes). The stanza was not queued.
	ErrQueueFull = errors.New("component: send queue full")

	// ErrStopped: Run has returned; nothing more will be written.
	ErrStopped = errors.New("component: stopped")

	// ErrBadStanza: the stanza cannot be sent through this component (its
	// from is not at the component's domain, it has no to, or it is
	// larger than MaxStanza).
	ErrBadStanza = errors.New("component: stanza not sendable")
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Config is what a Component is built from.
type Config struct {
	// Domain is the component's subdomain (xmpp.domain), a bare domain
	// JID like owlgate.example.edu.
	Domain jid.JID

	// Addr is host:port of the server's component port (xmpp.connect).
	Addr string

	// Secret is the shared secret (xmpp.secret).
	Secret string

	// Log receives connection events; nil uses slog.Default(). Stanza
	// contents are never logged.
	Log *slog.Logger

	// Backoff paces reconnections (zero value: 1s doubling to 5m, reset
	// after a minute connected).
	Backoff protocols.Backoff

	// MaxStanza is the largest stanza read or sent, in bytes (xmpp.max_stanza;
	// zero: DefaultMaxStanza). A larger one from the server ends the
	// connection with a policy-violation stream error (to within 4 KiB:
	// the read buffer), and the component reconnects.
	MaxStanza int

	// MaxQueue is how many stanzas Send holds while they wait to be
	// written, across disconnections (zero: DefaultMaxQueue).
	MaxQueue int

	// DialTimeout bounds each TCP connection attempt (zero:
	// DefaultDialTimeout); WriteTimeout bounds each write (zero:
	// DefaultWriteTimeout): a server that stops reading for that long is
	// treated as lost.
	DialTimeout  time.Duration
	WriteTimeout time.Duration
}

// Phase is where a Component's connection stands.
type Phase string

// The phases, as State reports them.
const (
	PhaseIdle       Phase = "idle"       // Run not called yet
	PhaseConnecting Phase = "connecting" // dialling, or in the handshake
	PhaseConnected  Phase = "connected"  // handshake done; stanzas flow
	PhaseBackoff    Phase = "backoff"    // waiting before the next attempt
	PhaseFailed     Phase = "failed"     // Run returned a configuration error
	PhaseStopped    Phase = "stopped"    // Run returned after its context ended
)

// State is a snapshot of a Component's connection, for /status and
// metrics.
type State struct {
	Phase       Phase
	Since       time.Time // when Phase began
	Addr        string    // the server's component address
	StreamID    string    // the current (or last) stream's id
	LastError   error     // why the last connection or attempt ended; nil if none did
	LastErrorAt time.Time
	NextAttempt time.Time // in PhaseBackoff: when the next attempt starts
	Connects    int       // successful handshakes since Run began
	Queued      int       // stanzas waiting to be written
}

// Component is owlgate's XEP-0114 external component: an xmpp.Transport
// over one TCP connection to the operators' XMPP server. See the package
// documentation.
type Component struct {
	cfg     Config
	log     *slog.Logger
	backoff protocols.Backoff // used by Run's goroutine only
	running atomic.Bool

	wake chan struct{} // cap 1: something was queued

	mu      sync.Mutex // guards what follows
	queue   [][]byte   // rendered stanzas waiting to be written, in order
	state   State
	stopped bool
}

var _ xmpp.Transport = (*Component)(nil)

// New checks cfg and returns a Component; it does no I/O.
func New(cfg Config) (*Component, error) {
	d := cfg.Domain
	if d.Domainpart() == "" || d.Localpart() != "" || d.Resourcepart() != "" {
		return nil, fmt.Errorf("component: the domain must be a bare domain like owlgate.example.edu, not %q (xmpp.domain)", d.String())
	}
	if cfg.Addr == "" {
		return nil, errors.New("component: no server address (xmpp.connect)")
	}
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("component: server address %q: %v (xmpp.connect is host:port)", cfg.Addr, err)
	}
	if cfg.Secret == "" {
		return nil, errors.New("component: no secret (xmpp.secret)")
	}
	if cfg.MaxStanza < 0 || cfg.MaxQueue < 0 {
		return nil, errors.New("component: negative MaxStanza or MaxQueue")
	}
	if cfg.MaxStanza == 0 {
		cfg.MaxStanza = DefaultMaxStanza
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	c := &Component{
		cfg:     cfg,
		log:     log.With("component", d.String(), "server", cfg.Addr),
		backoff: cfg.Backoff,
		wake:    make(chan struct{}, 1),
	}
	c.state = State{Phase: PhaseIdle, Since: time.Now(), Addr: cfg.Addr}
	return c, nil
}

// Domain is the component's subdomain: D.
func (c *Component) Domain() jid.JID { return c.cfg.Domain }

// State returns a snapshot of the connection.
func (c *Component) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.state
	s.Queued = len(c.queue)
	return s
}

func (c *Component) setPhase(p Phase, next time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.Phase, c.state.Since, c.state.NextAttempt = p, time.Now(), next
}

func (c *Component) setError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.state.LastError, c.state.LastErrorAt = err, time.Now()
}

// Send queues s to be written to the server, in order, and returns without
// waiting for the network. While the connection is down the stanza waits
// and is written after the next handshake. It returns an error, and queues
// nothing, when s is not sendable (ErrBadStanza: from must be D or a JID at
// D, to must be set), when MaxQueue stanzas already wait (ErrQueueFull),
// and after Run returned (ErrStopped). Safe for concurrent use.
func (c *Component) Send(ctx context.Context, s *xmpp.Stanza) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s == nil || s.Kind < xmpp.KindMessage || s.Kind > xmpp.KindIQ {
		return fmt.Errorf("%w: not a message, presence or iq", ErrBadStanza)
	}
	if !s.From.Domain().Equal(c.cfg.Domain) {
		return fmt.Errorf("%w: from %q is not at %s", ErrBadStanza, s.From.String(), c.cfg.Domain.String())
	}
	if s.To.Domainpart() == "" {
		return fmt.Errorf("%w: no to", ErrBadStanza)
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	s.AppendXML(buf)
	raw := append([]byte(nil), buf.Bytes()...)
	if buf.Cap() <= 64<<10 {
		bufPool.Put(buf)
	}
	if len(raw) > c.cfg.MaxStanza {
		return fmt.Errorf("%w: %d bytes, more than %d (xmpp.max_stanza)", ErrBadStanza, len(raw), c.cfg.MaxStanza)
	}

	c.mu.Lock()
	switch {
	case c.stopped:
		c.mu.Unlock()
		return ErrStopped
	case len(c.queue) >= c.cfg.MaxQueue:
		phase := c.state.Phase
		c.mu.Unlock()
		return fmt.Errorf("%w (%d stanzas wait; connection %s)", ErrQueueFull, c.cfg.MaxQueue, phase)
	}
	c.queue = append(c.queue, raw)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// Run connects to the server, completes the XEP-0114 handshake, calls
// h.Connected, and hands h every stanza the server routes to D, one at a
// time in the order read (HandleStanza, Connected and Disconnected are
// all called from Run's goroutine, never concurrently). When the
// connection is lost it calls h.Disconnected, waits (Config.Backoff) and
// reconnects; stanzas queued meanwhile are written after the next
// handshake, before what h.Connected sends.
//
// When ctx ends, Run writes what is queued (within a few seconds), closes
// the stream and returns nil; it does not call h.Disconnected then. It
// returns an error, without retrying, when the server refuses the
// handshake: ErrNotAuthorized (fix xmpp.secret) or ErrHostUnknown (fix
// xmpp.domain, or declare the component in the server). Network errors
// and every other refusal are retried forever; State reports them.
func (c *Component) Run(ctx context.Context, h xmpp.Handler) error {
	if !c.running.CompareAndSwap(false, true) {
		return errors.New("component: Run called twice")
	}
	err := c.run(ctx, h)
	c.mu.Lock()
	c.stopped = true
	left := len(c.queue)
	c.mu.Unlock()
	if err != nil {
		c.setError(err)
		c.setPhase(PhaseFailed, time.Time{})
		c.log.Error("component stopped: configuration error", "err", err)
	} else {
		c.setPhase(PhaseStopped, time.Time{})
	}
	if left > 0 {
		c.log.Warn("component stopped with stanzas unwritten", "count", left)
	}
	return err
}

func (c *Component) run(ctx context.Context, h xmpp.Handler) error {
	for {
		c.setPhase(PhaseConnecting, time.Time{})
		l, err := c.connect(ctx)
		if ctx.Err() != nil {
			if l != nil {
				l.conn.Close()
			}
			return nil
		}
		var up time.Duration
		msg := "component: connecting failed; retrying"
		lost := false
		if err != nil {
			if errors.Is(err, ErrNotAuthorized) || errors.Is(err, ErrHostUnknown) {
				return err
			}
			c.setError(err)
		} else {
			start := time.Now()
			err = c.serve(ctx, h, l)
			up = time.Since(start)
			if ctx.Err() != nil {
				return nil
			}
			c.setError(err)
			msg = "component: connection lost; reconnecting"
			lost = true
		}
		delay := c.backoff.Next(up)
		// The state says backoff before the handler hears of the loss, so
		// that what it sees of State agrees with what it was told.
		c.setPhase(PhaseBackoff, time.Now().Add(delay))
		if lost {
			h.Disconnected(ctx)
		}
		c.log.Warn(msg, "err", err, "in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// link is one connection to the server.
type link struct {
	conn     net.Conn
	dec      *xml.Decoder
	lim      *limitReader
	streamID string

	wmu sync.Mutex // serialises writes to conn
	dmu sync.Mutex // serialises setting the write deadline

	dead chan struct{}         // closed when the reader ended
	werr atomic.Pointer[error] // the writer's error that ended the link
}

// fail ends the link from the writer's side.
func (l *link) fail(err error) {
	l.werr.CompareAndSwap(nil, &err)
	l.conn.Close()
}

// write writes b whole, under the write lock, with a deadline.
func (l *link) write(b []byte, timeout time.Duration) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := l.conn.Write(b)
	return err
}

// connect dials the server and completes the handshake.
func (c *Component) connect(ctx context.Context) (*link, error) {
	d := net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("component: connecting to %s: %w", c.cfg.Addr, err)
	}
	conn = tcpack.Wrap(conn) // Prosody keeps Nagle on: see package tcpack
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	l, err := c.handshake(conn)
	if err != nil {
		conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if !stop() {
		conn.Close()
		return nil, ctx.Err()
	}
	conn.SetDeadline(time.Time{})
	return l, nil
}

// handshake runs XEP-0114's stream header exchange and handshake on conn.
func (c *Component) handshake(conn net.Conn) (*link, error) {
	lim := &limitReader{r: conn}
	dec := xml.NewDecoder(bufio.NewReaderSize(lim, readSlack))
	l := &link{conn: conn, dec: dec, lim: lim, dead: make(chan struct{})}
	lim.setLimit(int64(c.cfg.MaxStanza) + readSlack)

	domain := c.cfg.Domain.String()
	header := fmt.Sprintf(`<?xml version='1.0'?><stream:stream xmlns='%s' xmlns:stream='%s' to='%s'>`,
		NSComponent, nsStream, xmlEscape(domain))
	if _, err := io.WriteString(conn, header); err != nil {
		return nil, fmt.Errorf("component: writing the stream header to %s: %w", c.cfg.Addr, err)
	}
	start, err := nextStart(dec)
	if err != nil {
		return nil, fmt.Errorf("component: reading the stream header from %s: %w", c.cfg.Addr, err)
	}
	if start.Name.Space != nsStream || start.Name.Local != "stream" {
		return nil, fmt.Errorf("component: %s did not answer with an XMPP stream (<%s xmlns=%q>): is xmpp.connect the server's component port?",
			c.cfg.Addr, start.Name.Local, start.Name.Space)
	}
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "id" {
			l.streamID = a.Value
		}
	}
	// A server that does not serve the domain may close the stream right
	// away, with or without an id.
	if l.streamID == "" {
		if el, err := nextStart(dec); err == nil && isStreamError(el) {
			return nil, c.streamError(dec, el, true)
		}
		return nil, fmt.Errorf("component: %s sent a stream header without an id", c.cfg.Addr)
	}
	sum := sha1.Sum([]byte(l.streamID + c.cfg.Secret))
	if _, err := fmt.Fprintf(conn, "<handshake>%s</handshake>", hex.EncodeToString(sum[:])); err != nil {
		return nil, fmt.Errorf("component: writing the handshake to %s: %w", c.cfg.Addr, err)
	}
	el, err := nextStart(dec)
	if err != nil {
		return nil, fmt.Errorf("component: waiting for the handshake answer from %s: %w", c.cfg.Addr, err)
	}
	switch {
	case el.Name.Local == "handshake" && el.Name.Space == NSComponent:
		if err := dec.Skip(); err != nil {
			return nil, fmt.Errorf("component: reading the handshake answer from %s: %w", c.cfg.Addr, err)
		}
		return l, nil
	case isStreamError(el):
		return nil, c.streamError(dec, el, true)
	default:
		return nil, fmt.Errorf("component: %s answered the handshake with <%s xmlns=%q>", c.cfg.Addr, el.Name.Local, el.Name.Space)
	}
}

// nextStart returns the next start element, skipping the XML declaration
// and whitespace.
func nextStart(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errors.New("the server closed the stream")
		}
	}
}

func isStreamError(el xml.StartElement) bool {
	return el.Name.Space == nsStream && el.Name.Local == "error"
}

// streamError reads a <stream:error/> and returns it as an error; during
// the handshake, the refusals that configuration must fix are
// ErrNotAuthorized and ErrHostUnknown, wrapped with what to change.
func (c *Component) streamError(d *xml.Decoder, el xml.StartElement, handshake bool) error {
	var se struct {
		Any []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	if err := d.DecodeElement(&se, &el); err != nil {
		return fmt.Errorf("component: reading a stream error from %s: %w", c.cfg.Addr, err)
	}
	var cond, text string
	for _, a := range se.Any {
		if a.XMLName.Space != nsStreamError {
			continue
		}
		if a.XMLName.Local == "text" {
			text = strings.TrimSpace(a.Text)
		} else if cond == "" {
			cond = a.XMLName.Local
		}
	}
	if cond == "" {
		cond = "undefined-condition"
	}
	detail := cond
	if text != "" {
		detail += ": " + text
	}
	if handshake {
		switch cond {
		case "not-authorized":
			return fmt.Errorf("%w: the server at %s refused the handshake of %s (%s); xmpp.secret must equal the component's secret in the server's config (Prosody: component_secret in the Component %q block; ejabberd: password of %s under the ejabberd_service listener's hosts, and ejabberd also answers so when xmpp.domain is not listed there)",
				ErrNotAuthorized, c.cfg.Addr, c.cfg.Domain.String(), detail, c.cfg.Domain.String(), c.cfg.Domain.String())
		case "host-unknown", "improper-addressing":
			return fmt.Errorf("%w: the server at %s does not serve %s as a component (%s); check xmpp.domain, and declare the component in the server (Prosody: Component %q; ejabberd: %s under the ejabberd_service listener's hosts)",
				ErrHostUnknown, c.cfg.Addr, c.cfg.Domain.String(), detail, c.cfg.Domain.String(), c.cfg.Domain.String())
		case "invalid-namespace":
			return fmt.Errorf("component: %s does not speak the component protocol (%s): is xmpp.connect the server's component port, not its client port?", c.cfg.Addr, detail)
		}
		return fmt.Errorf("component: the server at %s refused the handshake: %s", c.cfg.Addr, detail)
	}
	return fmt.Errorf("component: the server at %s closed the stream: %s", c.cfg.Addr, detail)
}

// serve carries stanzas over l until it breaks or ctx ends.
func (c *Component) serve(ctx context.Context, h xmpp.Handler, l *link) error {
	c.mu.Lock()
	c.state.Connects++
	c.state.StreamID = l.streamID
	connects := c.state.Connects
	c.mu.Unlock()
	c.setPhase(PhaseConnected, time.Time{})
	c.log.Info("component connected", "stream", l.streamID, "connects", connects)

	// When ctx ends, a write in progress gets closeTimeout to finish.
	defer context.AfterFunc(ctx, func() {
		l.dmu.Lock()
		l.conn.SetWriteDeadline(time.Now().Add(closeTimeout))
		l.dmu.Unlock()
	})()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop(ctx, l)
	}()
	h.Connected(ctx)
	err := c.readLoop(ctx, h, l)
	close(l.dead)
	l.conn.Close()
	<-writerDone
	return err
}

// writeLoop writes queued stanzas to l as they come, until the reader
// ends or ctx ends (then it writes what is queued, and closes the stream).
func (c *Component) writeLoop(ctx context.Context, l *link) {
	for {
		if err := c.flush(ctx, l); err != nil {
			l.fail(fmt.Errorf("component: writing to %s: %w", c.cfg.Addr, err))
			return
		}
		select {
		case <-c.wake:
		case <-l.dead:
			return
		case <-ctx.Done():
			if err := c.flush(ctx, l); err != nil {
				l.fail(err)
				return
			}
			l.write([]byte("</stream:stream>"), closeTimeout)
			// The reader returns at the server's </stream:stream>, or at
			// this deadline.
			l.conn.SetReadDeadline(time.Now().Add(closeTimeout))
			return
		}
	}
}

// flush writes everything queued. Stanzas not written whole when a write
// fails go back to the head of the queue, to be written after the next
// handshake; a stanza written whole to the socket counts as sent (XEP-0114
// has no acknowledgements: one the server had not read when the
// connection broke is lost, as with any component).
// Each write may take WriteTimeout, or closeTimeout once ctx has ended.
func (c *Component) flush(ctx context.Context, l *link) error {
	for {
		// A batch at a time, so that WriteTimeout bounds the wait for
		// progress, not for a whole backlog.
		c.mu.Lock()
		k, size := 0, 0
		for k < len(c.queue) && k < maxBatch && (k == 0 || size+len(c.queue[k]) <= maxBatchBytes) {
			size += len(c.queue[k])
			k++
		}
		batch := c.queue[:k:k]
		if c.queue = c.queue[k:]; len(c.queue) == 0 {
			c.queue = nil
		}
		c.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		bufs := append(net.Buffers(nil), batch...) // WriteTo consumes bufs
		l.wmu.Lock()
		l.dmu.Lock()
		timeout := c.cfg.WriteTimeout
		if ctx.Err() != nil {
			timeout = closeTimeout
		}
		l.conn.SetWriteDeadline(time.Now().Add(timeout))
		l.dmu.Unlock()
		n, err := bufs.WriteTo(l.conn)
		l.wmu.Unlock()
		if err == nil {
			continue
		}
		// Requeue from the first stanza not written whole.
		k = 0
		for k < len(batch) && n >= int64(len(batch[k])) {
			n -= int64(len(batch[k]))
			k++
		}
		c.mu.Lock()
		c.queue = append(batch[k:len(batch):len(batch)], c.queue...)
		c.mu.Unlock()
		return err
	}
}

// errStreamEnd: the server closed its stream.
var errStreamEnd = errors.New("closed the stream")

// readLoop reads stanzas from l and hands them to h until the stream or
// the connection ends.
func (c *Component) readLoop(ctx context.Context, h xmpp.Handler, l *link) error {
	max := int64(c.cfg.MaxStanza)
	for {
		l.lim.setLimit(l.dec.InputOffset() + max + readSlack)
		tok, err := l.dec.Token()
		if err != nil {
			return c.readError(l, err)
		}
		switch t := tok.(type) {
		case xml.CharData, xml.Comment:
			// Whitespace keepalives.
		case xml.EndElement:
			return fmt.Errorf("component: %s %w", c.cfg.Addr, errStreamEnd)
		case xml.ProcInst, xml.Directive:
			l.write(streamErrorXML("restricted-xml", ""), closeTimeout)
			return fmt.Errorf("component: the server at %s sent a processing instruction or DTD", c.cfg.Addr)
		case xml.StartElement:
			if isStreamError(t) {
				return c.streamError(l.dec, t, false)
			}
			off := l.dec.InputOffset()
			s, err := xmpp.ParseStanza(l.dec, t)
			if err != nil {
				if l.dec.InputOffset() != off {
					return c.readError(l, err)
				}
				// Refused on its start tag alone (not a stanza, or a
				// malformed JID): skip it and carry on.
				c.log.Warn("component: skipping an element from the server", "element", t.Name.Local, "err", err)
				if err := l.dec.Skip(); err != nil {
					return c.readError(l, err)
				}
				continue
			}
			if !s.To.Domain().Equal(c.cfg.Domain) || s.From.Domainpart() == "" {
				c.log.Warn("component: skipping a stanza not addressed to the component, or without from",
					"kind", s.Kind.String(), "to", s.To.String(), "from", s.From.String())
				continue
			}
			h.HandleStanza(ctx, s)
		}
	}
}

// readError turns a read error into why the link ended; an oversized
// stanza gets a policy-violation stream error first.
func (c *Component) readError(l *link, err error) error {
	if l.lim.exceeded.Load() {
		text := fmt.Sprintf("stanza larger than %d bytes", c.cfg.MaxStanza)
		l.write(streamErrorXML("policy-violation", text), closeTimeout)
		return fmt.Errorf("component: the server at %s sent a %s (xmpp.max_stanza)", c.cfg.Addr, text)
	}
	if errors.Is(err, io.EOF) || errors.Is(l.lim.err, io.EOF) {
		return fmt.Errorf("component: the server at %s closed the connection", c.cfg.Addr)
	}
	if werr := l.werr.Load(); werr != nil {
		return *werr
	}
	return fmt.Errorf("component: reading from %s: %w", c.cfg.Addr, err)
}

func streamErrorXML(cond, text string) []byte {
	var b strings.Builder
	b.WriteString(`<stream:error><` + cond + ` xmlns='` + nsStreamError + `'/>`)
	if text != "" {
		b.WriteString(`<text xmlns='` + nsStreamError + `'>` + xmlEscape(text) + `</text>`)
	}
	b.WriteString(`</stream:error></stream:stream>`)
	return []byte(b.String())
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// limitReader fails reads past a limit (a position in the stream, in
// bytes), which the reader moves forward at each top-level element.
type limitReader struct {
	r        io.Reader
	n        int64 // bytes read so far
	limit    atomic.Int64
	exceeded atomic.Bool
	err      error // the last error from r
}

// errTooLarge: a stanza went past MaxStanza.
var errTooLarge = errors.New("stanza too large")

func (l *limitReader) setLimit(n int64) { l.limit.Store(n) }

func (l *limitReader) Read(p []byte) (int, error) {
	room := l.limit.Load() - l.n
	if room <= 0 {
		l.exceeded.Store(true)
		return 0, errTooLarge
	}
	if int64(len(p)) > room {
		p = p[:room]
	}
	n, err := l.r.Read(p)
	l.n += int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}
