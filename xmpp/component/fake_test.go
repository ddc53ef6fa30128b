package component_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
	"github.com/owlgate/owlgate/xmpp/component"
)

// fakeServer is the server side of XEP-0114, in-process, for the tests
// that need no real server: it checks the handshake and then lets the test
// write raw XML and read what the component wrote.
type fakeServer struct {
	t      testing.TB
	ln     net.Listener
	domain string
	secret string
	conns  chan *fakeConn
	n      int
	// drain makes the connections accepted from now on read everything
	// at once (fakeConn.drain).
	drain atomic.Bool
}

type fakeConn struct {
	t      testing.TB
	conn   net.Conn
	dec    *xml.Decoder
	reader io.Reader // after drain: what was read, in memory
}

func startFake(t testing.TB, domain, secret string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, domain: domain, secret: secret, conns: make(chan *fakeConn, 16)}
	t.Cleanup(func() { ln.Close() })
	go f.accept()
	return f
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) accept() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.n++
		go f.handshake(conn, fmt.Sprintf("stream-%d", f.n))
	}
}

// handshake answers one connection as Prosody does.
func (f *fakeServer) handshake(conn net.Conn, id string) {
	conn.SetDeadline(time.Now().Add(wait))
	dec := xml.NewDecoder(conn)
	start, err := nextStart(dec)
	if err != nil || start.Name.Local != "stream" || start.Name.Space != "http://etherx.jabber.org/streams" {
		conn.Close()
		return
	}
	to, ns := "", ""
	for _, a := range start.Attr {
		switch {
		case a.Name.Local == "to":
			to = a.Value
		case a.Name.Local == "xmlns" && a.Name.Space == "":
			ns = a.Value
		}
	}
	fmt.Fprintf(conn, `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='%s' from='%s'>`, id, to)
	if ns != component.NSComponent || to != f.domain {
		io.WriteString(conn, `<stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
		conn.Close()
		return
	}
	el, err := nextStart(dec)
	if err != nil || el.Name.Local != "handshake" {
		conn.Close()
		return
	}
	var got string
	dec.DecodeElement(&got, &el)
	sum := sha1.Sum([]byte(id + f.secret))
	if got != hex.EncodeToString(sum[:]) {
		io.WriteString(conn, `<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>Given token does not match calculated token</text></stream:error></stream:stream>`)
		conn.Close()
		return
	}
	io.WriteString(conn, `<handshake/>`)
	conn.SetDeadline(time.Time{})
	fc := &fakeConn{t: f.t, conn: conn, dec: dec}
	if f.drain.Load() {
		fc.drain()
	}
	f.conns <- fc
}

// next waits for the next connection that completed the handshake.
func (f *fakeServer) next(t testing.TB) *fakeConn {
	t.Helper()
	select {
	case c := <-f.conns:
		t.Cleanup(func() { c.conn.Close() })
		return c
	case <-time.After(wait):
		t.Fatalf("no component connected to the fake server within %v", wait)
		return nil
	}
}

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
			return xml.StartElement{}, io.EOF
		}
	}
}

// drain reads the connection in the background into memory, which the
// decoder then reads: the parsing, slow under the race detector, then
// does not hold back the component's writes.
func (c *fakeConn) drain() {
	chunks := make(chan []byte, 1<<16)
	go func() {
		defer close(chunks)
		for {
			b := make([]byte, 64<<10)
			n, err := c.conn.Read(b)
			if n > 0 {
				chunks <- b[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	c.reader = &chanReader{c: chunks}
	c.dec = xml.NewDecoder(c.reader)
}

type chanReader struct {
	c    chan []byte
	left []byte
}

func (r *chanReader) Read(p []byte) (int, error) {
	if len(r.left) == 0 {
		b, ok := <-r.c
		if !ok {
			return 0, io.EOF
		}
		r.left = b
	}
	n := copy(p, r.left)
	r.left = r.left[n:]
	return n, nil
}

func (c *fakeConn) write(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.conn, raw); err != nil {
		c.t.Fatalf("fake server writing: %v", err)
	}
}

// read returns the next stanza the component wrote, parsed by the codec.
func (c *fakeConn) read(t testing.TB) *xmpp.Stanza {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(wait))
	el, err := nextStart(c.dec)
	if err != nil {
		t.Fatalf("fake server reading: %v", err)
	}
	s, err := xmpp.ParseStanza(c.dec, el)
	if err != nil {
		t.Fatalf("fake server parsing <%s>: %v", el.Name.Local, err)
	}
	return s
}

const fakeDomain = "owlgate.example.edu"

func fakeConfig(t testing.TB, f *fakeServer) component.Config {
	return component.Config{Domain: mustJID(t, fakeDomain), Addr: f.addr(), Secret: "s3cret", Log: testLog(t), Backoff: fastBackoff}
}

func TestNewChecksConfig(t *testing.T) {
	ok := component.Config{Domain: mustJID(t, fakeDomain), Addr: "127.0.0.1:5347", Secret: "x"}
	for _, tc := range []struct {
		name string
		edit func(*component.Config)
		want string
	}{
		{"no domain", func(c *component.Config) { c.Domain = jid.JID{} }, "xmpp.domain"},
		{"a localpart", func(c *component.Config) { c.Domain = mustJID(t, "q@"+fakeDomain) }, "xmpp.domain"},
		{"no address", func(c *component.Config) { c.Addr = "" }, "xmpp.connect"},
		{"no port", func(c *component.Config) { c.Addr = "localhost" }, "xmpp.connect"},
		{"no secret", func(c *component.Config) { c.Secret = "" }, "xmpp.secret"},
	} {
		cfg := ok
		tc.edit(&cfg)
		if _, err := component.New(cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	c, err := component.New(ok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Domain().String() != fakeDomain || c.State().Phase != component.PhaseIdle {
		t.Errorf("Domain %v, State %+v", c.Domain(), c.State())
	}
}

func TestSendChecks(t *testing.T) {
	c, err := component.New(component.Config{Domain: mustJID(t, fakeDomain), Addr: "127.0.0.1:5347", Secret: "x", MaxQueue: 2, MaxStanza: 10000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	op := mustJID(t, "alice@example.edu")
	for _, tc := range []struct {
		name string
		s    *xmpp.Stanza
	}{
		{"from another domain", &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "q@example.edu"), To: op}},
		{"from a subdomain", &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "q@x."+fakeDomain), To: op}},
		{"without from", &xmpp.Stanza{Kind: xmpp.KindMessage, To: op}},
		{"without to", &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "q@"+fakeDomain)}},
		{"no kind", &xmpp.Stanza{From: mustJID(t, "q@"+fakeDomain), To: op}},
		{"too large", &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "q@"+fakeDomain), To: op, Body: strings.Repeat("x", 10000)}},
	} {
		if err := c.Send(ctx, tc.s); !errors.Is(err, component.ErrBadStanza) {
			t.Errorf("Send %s = %v, want ErrBadStanza", tc.name, err)
		}
	}
	good := &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "guest-1@"+fakeDomain), To: op, Body: "hi"}
	for i := range 2 {
		if err := c.Send(ctx, good); err != nil {
			t.Fatalf("Send %d before Run: %v", i, err)
		}
	}
	if err := c.Send(ctx, good); !errors.Is(err, component.ErrQueueFull) {
		t.Errorf("Send past MaxQueue = %v, want ErrQueueFull", err)
	}
	if q := c.State().Queued; q != 2 {
		t.Errorf("Queued = %d, want 2", q)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Send(canceled, good); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a canceled context = %v", err)
	}
}

// TestFakeServer covers the reading side: what reaches the handler, what
// is skipped, and stanzas queued before Run.
func TestFakeServer(t *testing.T) {
	f := startFake(t, fakeDomain, "s3cret")
	cfg := fakeConfig(t, f)
	c, err := component.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	op := mustJID(t, "alice@example.edu/desk")
	early := &xmpp.Stanza{Kind: xmpp.KindPresence, From: mustJID(t, "reference@"+fakeDomain), To: op.Bare(), Type: "probe"}
	if err := c.Send(context.Background(), early); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec) }()
	fc := f.next(t)
	defer func() {
		cancel()
		fc.conn.Close()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	rec.expectKind(t, "connected")
	if s := fc.read(t); s.Kind != xmpp.KindPresence || s.Type != "probe" || s.From.String() != "reference@"+fakeDomain {
		t.Errorf("first stanza written: %+v, want the probe queued before Run", s)
	}

	fc.write(`<message from='alice@example.edu/desk' to='reference@` + fakeDomain + `' type='chat' id='a1'><body>one &amp; two</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	fc.write("\n \n")                                                                                            // whitespace keepalive
	fc.write(`<message from='alice@example.edu/desk' to='reference@elsewhere.example'><body>x</body></message>`) // not ours
	fc.write(`<message from='a@b@c' to='reference@` + fakeDomain + `'><body>x</body></message>`)                 // malformed JID
	fc.write(`<unknown xmlns='urn:example'><deep/></unknown>`)                                                   // not a stanza
	fc.write(`<presence from='alice@example.edu/desk' to='reference@` + fakeDomain + `'><show>dnd</show></presence>`)

	e := rec.expect(t, "the first message", func(e event) bool { return e.s != nil })
	if e.s.Kind != xmpp.KindMessage || !e.s.From.Equal(op) || e.s.Body != "one & two" || e.s.ChatState != "active" || e.s.ID != "a1" {
		t.Errorf("handler got %s", e)
	}
	e = rec.expect(t, "the presence", func(e event) bool { return e.s != nil })
	if e.s.Kind != xmpp.KindPresence || e.s.PresenceShow != "dnd" {
		t.Errorf("after the skipped elements the handler got %s, want the dnd presence", e)
	}

	c.Send(context.Background(), &xmpp.Stanza{Kind: xmpp.KindMessage, From: mustJID(t, "guest-3@"+fakeDomain), To: op, Type: "chat", Body: "<hello>"})
	if s := fc.read(t); s.Body != "<hello>" || !s.To.Equal(op) || s.From.String() != "guest-3@"+fakeDomain {
		t.Errorf("fake server read %+v", s)
	}
	if st := c.State(); st.Phase != component.PhaseConnected || st.StreamID != "stream-1" || st.Connects != 1 {
		t.Errorf("State = %+v", st)
	}
	if err := c.Run(ctx, rec); err == nil {
		t.Error("a second Run did not fail")
	}
}

// TestFakeWrongSecret: the refusal is a configuration error naming the key.
func TestFakeWrongSecret(t *testing.T) {
	f := startFake(t, fakeDomain, "the real one")
	c, err := component.New(fakeConfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	err = c.Run(ctx, newRecorder())
	if !errors.Is(err, component.ErrNotAuthorized) || !strings.Contains(err.Error(), "xmpp.secret") ||
		!strings.Contains(err.Error(), "Given token does not match") {
		t.Fatalf("Run = %v", err)
	}
	cfg := fakeConfig(t, f)
	cfg.Domain = mustJID(t, "other.example.edu")
	c, _ = component.New(cfg)
	if err := c.Run(ctx, newRecorder()); !errors.Is(err, component.ErrHostUnknown) || !strings.Contains(err.Error(), "xmpp.domain") {
		t.Fatalf("Run with an unknown domain = %v", err)
	}
}

// TestMaxStanza: an oversized stanza ends the connection with a
// policy-violation stream error; the component reconnects. One just under
// the limit passes.
func TestMaxStanza(t *testing.T) {
	f := startFake(t, fakeDomain, "s3cret")
	cfg := fakeConfig(t, f)
	cfg.MaxStanza = 10000
	c := runComponent(t, cfg)
	fc := f.next(t)
	c.rec.expectKind(t, "connected")
	msg := func(n int) string {
		return `<message from='a@example.edu/r' to='q@` + fakeDomain + `'><body>` + strings.Repeat("x", n) + `</body></message>`
	}
	fc.write(msg(9800))
	if e := c.rec.expect(t, "the message under the limit", func(e event) bool { return e.s != nil }); len(e.s.Body) != 9800 {
		t.Errorf("body of %d bytes", len(e.s.Body))
	}
	go io.WriteString(fc.conn, msg(50000)) // the component stops reading: do not block
	fc.conn.SetReadDeadline(time.Now().Add(wait))
	rest, _ := io.ReadAll(fc.conn)
	if !strings.Contains(string(rest), "<policy-violation") || !strings.Contains(string(rest), "</stream:stream>") {
		t.Errorf("the component wrote %q, want a policy-violation stream error", rest)
	}
	c.rec.expectKind(t, "disconnected")
	f.next(t)
	c.rec.expectKind(t, "connected")
	if st := c.State(); !strings.Contains(fmt.Sprint(st.LastError), "xmpp.max_stanza") {
		t.Errorf("LastError = %v", st.LastError)
	}
}

// TestShutdownFlushes: stanzas sent before Run's context ends are written
// before the stream is closed, and Run returns once the server closed its
// side.
func TestShutdownFlushes(t *testing.T) {
	f := startFake(t, fakeDomain, "s3cret")
	c, err := component.New(fakeConfig(t, f))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := newRecorder()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, rec) }()
	fc := f.next(t)
	rec.expectKind(t, "connected")
	for i := range 50 {
		bye := &xmpp.Stanza{Kind: xmpp.KindPresence, From: mustJID(t, fmt.Sprintf("guest-%d@%s", i, fakeDomain)),
			To: mustJID(t, "alice@example.edu"), Type: "unavailable"}
		if err := c.Send(ctx, bye); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	for i := range 50 {
		if s := fc.read(t); s.From.Localpart() != fmt.Sprintf("guest-%d", i) {
			t.Fatalf("stanza %d from %v", i, s.From)
		}
	}
	fc.conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := nextStart(fc.dec); err != io.EOF {
		t.Fatalf("after the stanzas: %v, want the end of the stream", err)
	}
	start := time.Now()
	fc.write(`</stream:stream>`)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Run returned %v after the server closed its stream", took)
	}
	rec.expectNone(t, "disconnected")
	if st := c.State(); st.Phase != component.PhaseStopped {
		t.Errorf("State = %+v", st)
	}
}

// TestWriteTimeoutRequeues: a server that stops reading is treated as lost
// after WriteTimeout; what was not written whole goes out, in order, on
// the next connection. (What sat in the dead socket's buffers is lost, as
// the package documentation says.)
func TestWriteTimeoutRequeues(t *testing.T) {
	f := startFake(t, fakeDomain, "s3cret")
	cfg := fakeConfig(t, f)
	cfg.WriteTimeout = 500 * time.Millisecond
	cfg.MaxQueue = 100000
	c := runComponent(t, cfg)
	f.next(t) // never read: the component's writes block once the socket buffers are full
	f.drain.Store(true)
	c.rec.expectKind(t, "connected")
	const n = 5000 // 20 MB: more than the socket buffers hold
	pad := strings.Repeat("p", 4000)
	from, to := mustJID(t, "guest-1@"+fakeDomain), mustJID(t, "alice@example.edu")
	for i := range n {
		s := &xmpp.Stanza{Kind: xmpp.KindMessage, From: from, To: to, ID: fmt.Sprint(i), Body: pad}
		if err := c.Send(context.Background(), s); err != nil {
			t.Fatalf("Send %d: %v", i, err)
		}
	}
	c.rec.expectKind(t, "disconnected")
	if st := c.State(); !strings.Contains(fmt.Sprint(st.LastError), "timeout") {
		t.Errorf("LastError = %v, want a write timeout", st.LastError)
	}
	fc := f.next(t) // read as fast as the component writes
	c.rec.expectKind(t, "connected")
	// The stanzas' ids, from the raw stream (parsing 16 MB of XML is slow
	// under the race detector).
	idRE := regexp.MustCompile(`<message [^>]*id="(\d+)"`)
	var ids []int
	var buf []byte
	chunk := make([]byte, 64<<10)
	for len(ids) == 0 || ids[len(ids)-1] != n-1 {
		k, err := fc.reader.Read(chunk)
		if err != nil {
			t.Fatalf("after ids %v…: %v", ids[max(0, len(ids)-3):], err)
		}
		buf = append(buf, chunk[:k]...)
		last := 0
		for _, m := range idRE.FindAllSubmatchIndex(buf, -1) {
			id, _ := strconv.Atoi(string(buf[m[2]:m[3]]))
			ids = append(ids, id)
			last = m[1]
		}
		buf = buf[last:]
	}
	if ids[0] == 0 {
		t.Fatal("the first stanza on the new connection is the first sent: nothing was written before the timeout?")
	}
	t.Logf("%d stanzas went into the dead socket; %d on the new connection", ids[0], n-ids[0])
	for i, id := range ids {
		if id != ids[0]+i {
			t.Fatalf("stanza %d on the new connection has id %d, want %d", i, id, ids[0]+i)
		}
	}
	if q := c.State().Queued; q != 0 {
		t.Errorf("Queued = %d after the flush", q)
	}
}
