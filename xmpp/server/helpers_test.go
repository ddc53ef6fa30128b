package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	mxmpp "mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
)

const testDomain = "localhost"

// The test operators and their passwords.
var testUsers = map[string]string{
	"alice@localhost": "alice-pw",
	"bob@localhost":   "bob-pw",
	"carol@localhost": "carol-pw",
	"dave@localhost":  "dave-pw", // in no one's roster
}

// recHandler is a fake service: it records what the server hands it.
type recHandler struct {
	ch        chan *xmpp.Stanza
	connected chan struct{}
	once      sync.Once
	// echoOn makes the handler answer each message with a body with a
	// message back to its sender, through the server's Send.
	echoOn bool
	echo   *Server
}

func newRecHandler() *recHandler {
	return &recHandler{ch: make(chan *xmpp.Stanza, 10000), connected: make(chan struct{})}
}

func (h *recHandler) HandleStanza(ctx context.Context, st *xmpp.Stanza) {
	if h.echo != nil && st.Kind == xmpp.KindMessage && st.Body != "" {
		h.echo.Send(ctx, &xmpp.Stanza{Kind: xmpp.KindMessage, Type: "chat", From: st.To, To: st.From.Bare(), Body: st.Body})
		return
	}
	select {
	case h.ch <- st:
	default:
	}
}

func (h *recHandler) Connected(context.Context) { h.once.Do(func() { close(h.connected) }) }

func (h *recHandler) Disconnected(context.Context) {}

// next waits for the next stanza matching ok.
func (h *recHandler) next(t testing.TB, what string, ok func(*xmpp.Stanza) bool) *xmpp.Stanza {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st := <-h.ch:
			if ok(st) {
				return st
			}
		case <-timeout:
			t.Fatalf("handler: no %s within 5s", what)
			return nil
		}
	}
}

// fakeDir is a fake directory: alice, bob and carol are colleagues and
// staff the queue reference@localhost; dave is alone.
type fakeDir struct{}

func (fakeDir) Operator(bare jid.JID) (string, bool) {
	_, ok := testUsers[bare.String()]
	return strings.ToUpper(bare.Localpart()[:1]) + bare.Localpart()[1:], ok
}

func (fakeDir) Roster(op jid.JID) []xmpp.RosterItem {
	if op.Localpart() == "dave" {
		return nil
	}
	items := []xmpp.RosterItem{{JID: jid.MustParse("reference@localhost"), Name: "Reference", Groups: []string{"Queues"}, Subscription: "both"}}
	for _, u := range []string{"alice", "bob", "carol"} {
		if u != op.Localpart() {
			items = append(items, xmpp.RosterItem{JID: jid.MustParse(u + "@localhost"), Name: u, Groups: []string{"Colleagues"}, Subscription: "both"})
		}
	}
	return items
}

// testLog is a logger for tests: quiet unless OWLGATE_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("OWLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startServer runs a server on a free loopback port until the test ends.
func startServer(t testing.TB, h *recHandler, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Domain:          jid.MustParse(testDomain),
		Listen:          "127.0.0.1:0",
		Users:           testUsers,
		Directory:       fakeDir{},
		Log:             testLog(),
		ScramIterations: 4096,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if h.echoOn {
		h.echo = s
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, h) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("server not ready")
	}
	<-h.connected
	return s
}

// ---- A mellium client ----

// mclient is a mellium.im/xmpp client session, with the stanzas it
// receives parsed.
type mclient struct {
	t    testing.TB
	sess *mxmpp.Session
	in   chan *xmpp.Stanza
	done chan error
}

// dialMellium logs in with mellium over STARTTLS.
func dialMellium(t testing.TB, s *Server, user, pass, resource string, mechs ...sasl.Mechanism) (*mclient, error) {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	origin := jid.MustParse(user)
	if resource != "" {
		origin, _ = origin.WithResource(resource)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sess, err := mxmpp.NewClientSession(ctx, origin, conn,
		mxmpp.StartTLS(&tls.Config{ServerName: "localhost", InsecureSkipVerify: true}),
		mxmpp.SASL("", pass, mechs...),
		mxmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &mclient{t: t, sess: sess, in: make(chan *xmpp.Stanza, 1000), done: make(chan error, 1)}
	go func() {
		c.done <- sess.Serve(mxmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			d := xml.NewTokenDecoder(&prefixReader{first: *start, r: r})
			if _, err := d.Token(); err != nil {
				return err
			}
			st, err := xmpp.ParseStanza(d, *start)
			if err != nil {
				return err
			}
			select {
			case c.in <- st:
			default:
			}
			if st.Kind == xmpp.KindIQ && (st.Type == "get" || st.Type == "set") {
				// Answer like a client that knows nothing.
				return r.Encode(struct {
					XMLName xml.Name `xml:"jabber:client iq"`
					ID      string   `xml:"id,attr"`
					To      string   `xml:"to,attr,omitempty"`
					Type    string   `xml:"type,attr"`
				}{ID: st.ID, To: st.From.String(), Type: "result"})
			}
			return nil
		}))
	}()
	t.Cleanup(func() { c.close() })
	return c, nil
}

func mustMellium(t testing.TB, s *Server, user, resource string) *mclient {
	t.Helper()
	c, err := dialMellium(t, s, user, testUsers[user], resource, sasl.ScramSha256)
	if err != nil {
		t.Fatalf("%s/%s: login: %v", user, resource, err)
	}
	return c
}

func (c *mclient) close() {
	c.sess.Close()
	c.sess.Conn().Close()
}

// prefixReader returns first, then r's tokens.
type prefixReader struct {
	first xml.StartElement
	sent  bool
	r     xml.TokenReader
}

func (p *prefixReader) Token() (xml.Token, error) {
	if !p.sent {
		p.sent = true
		return p.first, nil
	}
	return p.r.Token()
}

// tmsg is a message as the test clients write it with encoding/xml.
type tmsg struct {
	XMLName   xml.Name  `xml:"jabber:client message"`
	To        string    `xml:"to,attr,omitempty"`
	ID        string    `xml:"id,attr,omitempty"`
	Type      string    `xml:"type,attr,omitempty"`
	Body      string    `xml:"body,omitempty"`
	Composing *struct{} `xml:"http://jabber.org/protocol/chatstates composing"`
	Active    *struct{} `xml:"http://jabber.org/protocol/chatstates active"`
	Request   *struct{} `xml:"urn:xmpp:receipts request"`
	Received  *tRecv    `xml:"urn:xmpp:receipts received"`
	Extra     *tExtra   `xml:"urn:example:extension extra"`
}

type tRecv struct {
	ID string `xml:"id,attr"`
}

type tExtra struct {
	Attr  string `xml:"a,attr"`
	Inner string `xml:"inner"`
}

// tpres is a presence.
type tpres struct {
	XMLName  xml.Name `xml:"jabber:client presence"`
	To       string   `xml:"to,attr,omitempty"`
	Type     string   `xml:"type,attr,omitempty"`
	Show     string   `xml:"show,omitempty"`
	Status   string   `xml:"status,omitempty"`
	Priority int      `xml:"priority,omitempty"`
}

func (c *mclient) send(v any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.sess.Encode(ctx, v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// available sends initial presence.
func (c *mclient) available() { c.send(tpres{}) }

// next waits for the next received stanza matching ok.
func (c *mclient) next(what string, ok func(*xmpp.Stanza) bool) *xmpp.Stanza {
	c.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case st := <-c.in:
			if ok(st) {
				return st
			}
		case err := <-c.done:
			c.t.Fatalf("%s: stream ended (%v) before %s", c.sess.LocalAddr(), err, what)
		case <-timeout:
			c.t.Fatalf("%s: no %s within 5s", c.sess.LocalAddr(), what)
			return nil
		}
	}
}

// none checks that nothing matching ok arrives within d.
func (c *mclient) none(what string, d time.Duration, ok func(*xmpp.Stanza) bool) {
	c.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case st := <-c.in:
			if ok(st) {
				c.t.Fatalf("%s: unexpected %s: %+v", c.sess.LocalAddr(), what, st)
			}
		case <-timeout:
			return
		}
	}
}

func isMessage(body string) func(*xmpp.Stanza) bool {
	return func(st *xmpp.Stanza) bool { return st.Kind == xmpp.KindMessage && st.Body == body }
}

// ---- A raw client, for what a library would not send, and for load ----

// rawClient speaks XMPP by hand: it logs in with PLAIN (over STARTTLS
// unless plain is set), and reads stanzas with ParseStanza.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	d    *xml.Decoder
	jid  string
}

func dialRaw(t testing.TB, addr, user, pass, resource string, useTLS bool) (*rawClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &rawClient{t: t, conn: nc}
	if err := c.login(user, pass, resource, useTLS); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *rawClient) write(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c.conn, s)
	return err
}

func (c *rawClient) open() error {
	c.d = xml.NewDecoder(c.conn)
	if err := c.write(`<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`); err != nil {
		return err
	}
	for {
		tok, err := c.d.Token()
		if err != nil {
			return err
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "stream" {
			break
		}
	}
	_, err := c.element() // features
	return err
}

// element reads the next stream child as raw XML.
func (c *rawClient) element() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		tok, err := c.d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var b bytes.Buffer
			e := xml.NewEncoder(&b)
			e.EncodeToken(t)
			depth := 1
			for depth > 0 {
				tok, err := c.d.Token()
				if err != nil {
					return "", err
				}
				switch tok.(type) {
				case xml.StartElement:
					depth++
				case xml.EndElement:
					depth--
				}
				e.EncodeToken(xml.CopyToken(tok))
			}
			e.Flush()
			return b.String(), nil
		case xml.EndElement:
			return "", io.EOF
		}
	}
}

func (c *rawClient) login(user, pass, resource string, useTLS bool) error {
	if err := c.open(); err != nil {
		return err
	}
	if useTLS {
		c.write(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
		if el, err := c.element(); err != nil || !strings.Contains(el, "proceed") {
			return fmt.Errorf("starttls: %q %v", el, err)
		}
		tc := tls.Client(c.conn, &tls.Config{ServerName: "localhost", InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return err
		}
		c.conn = tc
		if err := c.open(); err != nil {
			return err
		}
	}
	local := strings.Split(user, "@")[0]
	c.write(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` +
		base64.StdEncoding.EncodeToString([]byte("\x00"+local+"\x00"+pass)) + `</auth>`)
	el, err := c.element()
	if err != nil {
		return err
	}
	if !strings.Contains(el, "success") {
		return fmt.Errorf("auth: %s", el)
	}
	if err := c.open(); err != nil {
		return err
	}
	c.write(`<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>` + resource + `</resource></bind></iq>`)
	el, err = c.element()
	if err != nil {
		return err
	}
	i, j := strings.Index(el, "<jid"), strings.Index(el, "</jid>")
	if i < 0 || j < 0 {
		return fmt.Errorf("bind: %s", el)
	}
	c.jid = el[i+strings.Index(el[i:], ">")+1 : j]
	c.conn.SetReadDeadline(time.Time{})
	return nil
}

// stanza reads the next stanza.
func (c *rawClient) stanza() (*xmpp.Stanza, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		tok, err := c.d.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "error" && t.Name.Space == nsStream {
				el := streamErrorCond(c.d)
				return nil, &streamError{cond: el}
			}
			return xmpp.ParseStanza(c.d, t)
		case xml.EndElement:
			return nil, io.EOF
		}
	}
}

// streamErrorCond reads a stream error's condition.
func streamErrorCond(d *xml.Decoder) string {
	cond := ""
	for {
		tok, err := d.Token()
		if err != nil {
			return cond
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == nsStreams && t.Name.Local != "text" && cond == "" {
				cond = t.Name.Local
			}
		case xml.EndElement:
			if t.Name.Local == "error" {
				return cond
			}
		}
	}
}

// expectStreamError reads until a stream error and the end of the
// connection.
func (c *rawClient) expectStreamError(t testing.TB, cond string) {
	t.Helper()
	for {
		_, err := c.stanza()
		var se *streamError
		if errors.As(err, &se) {
			if se.cond != cond {
				t.Fatalf("stream error %q, want %q", se.cond, cond)
			}
			// The server closes the connection after the error.
			c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.Copy(io.Discard, c.conn); err != nil && !errors.Is(err, io.EOF) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("connection not closed after the stream error")
				}
			}
			return
		}
		if err != nil {
			t.Fatalf("no stream error %q: %v", cond, err)
		}
	}
}

func (c *rawClient) close() { c.conn.Close() }
