package testenv

import (
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
)

// Namespaces the client reads and writes.
const (
	nsStream   = "http://etherx.jabber.org/streams"
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession  = "urn:ietf:params:xml:ns:xmpp-session"
	nsRoster   = "jabber:iq:roster"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	loginLimit = 15 * time.Second
)

// Client is a small XMPP client for tests: an operator logged in to a real
// server over STARTTLS with SCRAM, who sends raw XML and waits for stanzas.
//
// It is written here against RFC 6120/6121 with encoding/xml rather than
// with mellium's client: mellium.im/xmpp's root package imports
// mellium.im/sasl, which go.mod does not require, and this package may not
// change go.mod. It also makes the client independent of the code under
// test. It answers the server's iq get/set (roster pushes: result; anything
// else: service-unavailable) by itself, and hands every stanza to Expect.
type Client struct {
	JID       string // the bound full JID
	Mechanism string // the SASL mechanism used, like SCRAM-SHA-1

	t       testing.TB
	conn    net.Conn
	wmu     sync.Mutex
	in      chan *ClientStanza
	bmu     sync.Mutex      // serialises Expect calls
	backlog []*ClientStanza // received, not yet matched by an Expect
	closed  chan struct{}
	done    chan struct{} // the reader ended; readErr says why
	readErr error
	close   sync.Once
	nextID  int
	dec     *xml.Decoder
}

// ClientStanza is a stanza the client received: its attributes, the parts
// tests look at, and the names of its other children.
type ClientStanza struct {
	Name     string // message, presence or iq
	From     string
	To       string
	ID       string
	Type     string
	Body     string
	Show     string
	Status   string
	Error    string // the defined condition of an error stanza
	Children []xml.Name
}

func (s *ClientStanza) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<%s from=%q to=%q type=%q", s.Name, s.From, s.To, s.Type)
	if s.Body != "" {
		fmt.Fprintf(&b, " body=%q", s.Body)
	}
	if s.Show != "" {
		fmt.Fprintf(&b, " show=%q", s.Show)
	}
	if s.Error != "" {
		fmt.Fprintf(&b, " error=%q", s.Error)
	}
	b.WriteString(">")
	return b.String()
}

// Has reports whether the stanza has a child element with the namespace
// and local name.
func (s *ClientStanza) Has(space, local string) bool {
	for _, n := range s.Children {
		if n.Space == space && n.Local == local {
			return true
		}
	}
	return false
}

// ClientOptions configures Login. The zero value is usable.
type ClientOptions struct {
	Resource string      // default "test"
	TLS      *tls.Config // default ClientTLS(domain of the JID)
	// NoPresence leaves out what a client does after binding: fetch the
	// roster and send its initial presence. Without initial presence the
	// server delivers nothing for the bare JID to this session.
	NoPresence bool
}

// Login connects to addr (a server's C2SAddr), negotiates STARTTLS, logs in
// as user (a bare JID) with SCRAM, binds a resource, fetches the roster and
// sends its initial presence. It fails the test on error and logs out when
// the test ends.
func Login(t testing.TB, addr, user, password string, opts ClientOptions) *Client {
	t.Helper()
	c, err := Dial(t, addr, user, password, opts)
	if err != nil {
		t.Fatalf("testenv: %s logging in at %s: %v", user, addr, err)
	}
	return c
}

// Dial is Login returning the error instead of failing the test (for tests
// that expect a refusal).
func Dial(t testing.TB, addr, user, password string, opts ClientOptions) (*Client, error) {
	t.Helper()
	j, err := jid.Parse(user)
	if err != nil {
		return nil, err
	}
	if opts.Resource == "" {
		opts.Resource = "test"
	}
	if opts.TLS == nil {
		opts.TLS = ClientTLS(j.Domainpart())
	}
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Client{t: t, in: make(chan *ClientStanza, 1024), closed: make(chan struct{}), done: make(chan struct{})}
	if err := c.negotiate(conn, j, password, opts); err != nil {
		if c.conn != nil {
			c.conn.Close()
		}
		conn.Close()
		return nil, err
	}
	t.Cleanup(c.Close)
	go c.read()
	if !opts.NoPresence {
		id := c.id()
		c.Send(fmt.Sprintf(`<iq type='get' id='%s'><query xmlns='%s'/></iq>`, id, nsRoster))
		if _, err := c.expect(loginLimit, func(s *ClientStanza) bool { return s.Name == "iq" && s.ID == id }); err != nil {
			c.Close()
			return nil, fmt.Errorf("roster: %w", err)
		}
		// The server reflects initial presence to the session itself:
		// once it has, stanzas for the bare JID reach this session.
		c.Send(`<presence/>`)
		if _, err := c.expect(loginLimit, func(s *ClientStanza) bool {
			return s.Name == "presence" && s.From == c.JID && s.Type == ""
		}); err != nil {
			c.Close()
			return nil, fmt.Errorf("initial presence: %w", err)
		}
	}
	return c, nil
}

// streamFeatures is what negotiate needs of <stream:features/>.
type streamFeatures struct {
	StartTLS   *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-tls starttls"`
	Mechanisms []string  `xml:"urn:ietf:params:xml:ns:xmpp-sasl mechanisms>mechanism"`
	Bind       *struct{} `xml:"urn:ietf:params:xml:ns:xmpp-bind bind"`
	Session    *struct {
		Optional *struct{} `xml:"optional"`
	} `xml:"urn:ietf:params:xml:ns:xmpp-session session"`
}

// openStream writes a stream header and reads the server's header and
// features.
func openStream(w io.Writer, d *xml.Decoder, domain string) (*streamFeatures, error) {
	_, err := fmt.Fprintf(w, `<?xml version='1.0'?><stream:stream to='%s' version='1.0' xmlns='jabber:client' xmlns:stream='%s'>`, domain, nsStream)
	if err != nil {
		return nil, err
	}
	for {
		el, err := nextElement(d)
		if err != nil {
			return nil, err
		}
		switch {
		case el.Name.Space == nsStream && el.Name.Local == "stream":
			continue
		case el.Name.Space == nsStream && el.Name.Local == "features":
			var f streamFeatures
			if err := d.DecodeElement(&f, &el); err != nil {
				return nil, err
			}
			return &f, nil
		default:
			return nil, unexpected(d, el)
		}
	}
}

// nextElement returns the next start element, skipping character data.
func nextElement(d *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, fmt.Errorf("the server closed the stream")
		}
	}
}

// unexpected describes an element the negotiation did not expect (a
// stream error, usually).
func unexpected(d *xml.Decoder, el xml.StartElement) error {
	var x struct {
		Any []struct {
			XMLName xml.Name
			Text    string `xml:",chardata"`
		} `xml:",any"`
	}
	_ = d.DecodeElement(&x, &el)
	var parts []string
	for _, a := range x.Any {
		parts = append(parts, strings.TrimSpace(a.XMLName.Local+" "+a.Text))
	}
	return fmt.Errorf("unexpected <%s> %s", el.Name.Local, strings.Join(parts, ", "))
}

func (c *Client) negotiate(conn net.Conn, user jid.JID, password string, opts ClientOptions) error {
	conn.SetDeadline(time.Now().Add(loginLimit))
	d := xml.NewDecoder(conn)
	f, err := openStream(conn, d, user.Domainpart())
	if err != nil {
		return err
	}
	if f.StartTLS == nil {
		return errors.New("the server offers no STARTTLS")
	}
	if _, err := fmt.Fprintf(conn, `<starttls xmlns='%s'/>`, nsTLS); err != nil {
		return err
	}
	el, err := nextElement(d)
	if err != nil {
		return err
	}
	if el.Name.Local != "proceed" {
		return unexpected(d, el)
	}
	tc := tls.Client(conn, opts.TLS)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS: %w", err)
	}
	c.conn = tc
	d = xml.NewDecoder(tc)
	if f, err = openStream(tc, d, user.Domainpart()); err != nil {
		return err
	}
	m := pickSCRAM(f.Mechanisms)
	if m == nil {
		return fmt.Errorf("the server offers no SCRAM mechanism the client knows: %v", f.Mechanisms)
	}
	c.Mechanism = m.name
	if err := scramLogin(tc, d, m, user.Localpart(), password); err != nil {
		return err
	}
	d = xml.NewDecoder(tc)
	if f, err = openStream(tc, d, user.Domainpart()); err != nil {
		return err
	}
	if f.Bind == nil {
		return errors.New("the server offers no resource binding")
	}
	if _, err := fmt.Fprintf(tc, `<iq type='set' id='bind'><bind xmlns='%s'><resource>%s</resource></bind></iq>`, nsBind, xmlEscape(opts.Resource)); err != nil {
		return err
	}
	var bound struct {
		Type string `xml:"type,attr"`
		JID  string `xml:"urn:ietf:params:xml:ns:xmpp-bind bind>jid"`
	}
	if el, err = nextElement(d); err != nil {
		return err
	}
	if el.Name.Local != "iq" {
		return unexpected(d, el)
	}
	if err := d.DecodeElement(&bound, &el); err != nil {
		return err
	}
	if bound.Type != "result" || bound.JID == "" {
		return fmt.Errorf("binding a resource: iq type %q", bound.Type)
	}
	c.JID = bound.JID
	if f.Session != nil && f.Session.Optional == nil {
		if _, err := fmt.Fprintf(tc, `<iq type='set' id='sess'><session xmlns='%s'/></iq>`, nsSession); err != nil {
			return err
		}
		if el, err = nextElement(d); err != nil {
			return err
		}
		if err := d.Skip(); err != nil {
			return err
		}
	}
	tc.SetDeadline(time.Time{})
	c.dec = d
	return nil
}

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// wireStanza is a stanza as the client decodes it.
type wireStanza struct {
	XMLName xml.Name
	From    string `xml:"from,attr"`
	To      string `xml:"to,attr"`
	ID      string `xml:"id,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"`
	Show    string `xml:"show"`
	Status  string `xml:"status"`
	Error   *struct {
		Any []struct{ XMLName xml.Name } `xml:",any"`
	} `xml:"error"`
	Any []struct{ XMLName xml.Name } `xml:",any"`
}

func (c *Client) read() {
	defer close(c.done)
	for {
		el, err := nextElement(c.dec)
		if err != nil {
			c.readErr = err
			return
		}
		var w wireStanza
		if err := c.dec.DecodeElement(&w, &el); err != nil {
			c.readErr = err
			return
		}
		if w.XMLName.Space == nsStream && w.XMLName.Local == "error" {
			c.readErr = fmt.Errorf("stream error %v", w.Any)
			return
		}
		s := &ClientStanza{Name: w.XMLName.Local, From: w.From, To: w.To, ID: w.ID, Type: w.Type,
			Body: w.Body, Show: w.Show, Status: w.Status}
		for _, a := range w.Any {
			s.Children = append(s.Children, a.XMLName)
		}
		if w.Error != nil {
			for _, a := range w.Error.Any {
				if a.XMLName.Space == nsStanzas && a.XMLName.Local != "text" {
					s.Error = a.XMLName.Local
				}
			}
		}
		if s.Name == "iq" && (s.Type == "get" || s.Type == "set") {
			if s.Has(nsRoster, "query") && s.Type == "set" {
				c.send(fmt.Sprintf(`<iq type='result' id='%s'/>`, xmlEscape(s.ID)))
			} else {
				c.send(fmt.Sprintf(`<iq type='error' id='%s' to='%s'><error type='cancel'><service-unavailable xmlns='%s'/></error></iq>`,
					xmlEscape(s.ID), xmlEscape(s.From), nsStanzas))
			}
		}
		select {
		case c.in <- s:
		case <-c.closed:
			return
		}
	}
}

// Send writes raw XML (one or more stanzas in the jabber:client namespace,
// which needs no xmlns) and fails the test on error.
func (c *Client) Send(raw string) {
	c.t.Helper()
	if err := c.send(raw); err != nil {
		c.t.Fatalf("testenv: %s sending %s: %v", c.JID, raw, err)
	}
}

func (c *Client) send(raw string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(c.conn, raw)
	return err
}

func (c *Client) id() string {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nextID++
	return fmt.Sprintf("c%d", c.nextID)
}

// Expect waits up to timeout for a stanza that match accepts and returns
// it. Stanzas that do not match are kept, in order, for later calls: a
// stanza that arrives before the test looks for it is not lost. It fails
// the test, naming what was awaited (what) and what arrived instead, when
// none comes.
func (c *Client) Expect(timeout time.Duration, what string, match func(*ClientStanza) bool) *ClientStanza {
	c.t.Helper()
	s, err := c.expect(timeout, match)
	if err != nil {
		c.t.Fatalf("testenv: %s waiting for %s: %v", c.JID, what, err)
	}
	return s
}

func (c *Client) expect(timeout time.Duration, match func(*ClientStanza) bool) (*ClientStanza, error) {
	c.bmu.Lock()
	defer c.bmu.Unlock()
	var seen []string
	for i, s := range c.backlog {
		if match(s) {
			c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
			return s, nil
		}
		seen = append(seen, s.String())
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case s := <-c.in:
			if match(s) {
				return s, nil
			}
			c.backlog = append(c.backlog, s)
			seen = append(seen, s.String())
		case <-c.done:
			// Drain what was read before the end.
			select {
			case s := <-c.in:
				if match(s) {
					return s, nil
				}
				c.backlog = append(c.backlog, s)
				seen = append(seen, s.String())
				continue
			default:
			}
			return nil, fmt.Errorf("the connection ended (%v); received instead: %v", c.readErr, seen)
		case <-timer.C:
			return nil, fmt.Errorf("nothing within %v; received instead: %v", timeout, seen)
		}
	}
}

// Close ends the stream and the connection. Calling it again does nothing.
func (c *Client) Close() {
	c.close.Do(func() {
		close(c.closed)
		c.send(`<presence type='unavailable'/></stream:stream>`)
		select {
		case <-c.done:
		case <-time.After(2 * time.Second):
		}
		c.conn.Close()
		<-c.done
	})
}

// Done is closed when the client's connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }
