// Package rawxmpp is a minimal XMPP client for load tools and benchmarks:
// PLAIN login (over STARTTLS or not), bind, and a reader that scans the byte
// stream for whole top-level elements and cuts out the attributes and the
// body, so that clients sharing the machine's cores with the servers under
// test cost little. It relies on the servers writing attributes and text
// escaped (owlgate and Prosody do): it is not a general XML parser.
package rawxmpp

import (
	"bytes"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Conn is a raw XMPP client connection.
type Conn struct {
	nc  net.Conn // the TCP connection, or TLS over it
	buf []byte   // read, not yet consumed: buf[r:]
	r   int
	wmu sync.Mutex
	JID string // the bound full JID

	domain string
}

// Options says how Dial logs in.
type Options struct {
	// StartTLS negotiates TLS first (not verifying the certificate: these
	// are load clients on loopback).
	StartTLS bool
	// Session fetches the roster, sends initial presence and waits until
	// the server handled both (a ping's answer) before Dial returns.
	Session bool
}

// Dial logs in as user (a bare JID) with PLAIN, binds a resource, and
// starts a session as opts says.
func Dial(addr, user, pass string, opts Options) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(user, "@")
	c := &Conn{nc: nc, buf: make([]byte, 0, 16<<10), domain: domain}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.login(user, pass, opts); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	c.nc.SetDeadline(time.Time{}) // the login's deadline ends with it
	return c, nil
}

// DialComponent connects to a server's XEP-0114 component port as domain,
// with the shared secret. The load tool uses it to measure the server
// alone, with a component that does nothing but send and count.
func DialComponent(addr, domain, secret string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &Conn{nc: nc, buf: make([]byte, 0, 16<<10), domain: domain, JID: domain}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	if err := c.Write([]byte(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='` + domain + `'>`)); err != nil {
		nc.Close()
		return nil, err
	}
	_, err = c.until("<stream:stream")
	head, err2 := c.until(">")
	if err = errors.Join(err, err2); err != nil {
		nc.Close()
		return nil, fmt.Errorf("component %s: stream: %w", domain, err)
	}
	id := attr([]byte(head), "id")
	sum := sha1.Sum([]byte(id + secret))
	if err := c.Write([]byte(`<handshake>` + hex.EncodeToString(sum[:]) + `</handshake>`)); err != nil {
		nc.Close()
		return nil, err
	}
	st, err := c.Next()
	if err != nil || st.Name != "handshake" {
		nc.Close()
		return nil, fmt.Errorf("component %s: handshake refused: %v %s", domain, err, st.Raw)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *Conn) open() error {
	if err := c.Write([]byte(`<?xml version='1.0'?><stream:stream to='` + c.domain + `' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`)); err != nil {
		return err
	}
	_, err := c.until("</stream:features>")
	return err
}

func (c *Conn) login(user, pass string, opts Options) error {
	if err := c.open(); err != nil {
		return fmt.Errorf("stream: %w", err)
	}
	if opts.StartTLS {
		if err := c.Write([]byte(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)); err != nil {
			return err
		}
		if _, err := c.until("<proceed"); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
		c.discard(len(c.buf) - c.r)
		tc := tls.Client(c.nc, &tls.Config{ServerName: c.domain, InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		c.nc = tc
		if err := c.open(); err != nil {
			return fmt.Errorf("stream over tls: %w", err)
		}
	}
	local, _, _ := strings.Cut(user, "@")
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + local + "\x00" + pass))
	if err := c.Write([]byte(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>` + auth + `</auth>`)); err != nil {
		return err
	}
	st, err := c.Next()
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	if st.Name != "success" {
		return fmt.Errorf("auth: %s", st.Raw)
	}
	if err := c.open(); err != nil {
		return fmt.Errorf("stream after auth: %w", err)
	}
	if err := c.Write([]byte(`<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>`)); err != nil {
		return err
	}
	st, err = c.Next()
	if err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	i, j := strings.Index(st.Raw, "<jid>"), strings.Index(st.Raw, "</jid>")
	if st.Name != "iq" || i < 0 || j < i {
		return fmt.Errorf("bind: %s", st.Raw)
	}
	c.JID = st.Raw[i+len("<jid>") : j]
	if !opts.Session {
		return nil
	}
	if err := c.Write([]byte(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq><presence/><iq type='get' id='sync' to='` + c.domain + `'><ping xmlns='urn:xmpp:ping'/></iq>`)); err != nil {
		return err
	}
	for {
		st, err := c.Next()
		if err != nil {
			return fmt.Errorf("initial presence: %w", err)
		}
		if st.Name == "iq" && st.ID == "sync" {
			return nil
		}
	}
}

// Write writes b whole; it may be called from several goroutines.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// fill reads more bytes into the buffer.
func (c *Conn) fill() error {
	if c.r > 0 && c.r == len(c.buf) {
		c.buf, c.r = c.buf[:0], 0
	} else if c.r > cap(c.buf)/2 {
		n := copy(c.buf, c.buf[c.r:])
		c.buf, c.r = c.buf[:n], 0
	}
	if len(c.buf) == cap(c.buf) {
		c.buf = append(c.buf, make([]byte, cap(c.buf))...)[:len(c.buf)]
	}
	n, err := c.nc.Read(c.buf[len(c.buf):cap(c.buf)])
	c.buf = c.buf[:len(c.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

func (c *Conn) discard(n int) { c.r += n }

// until reads up to and including marker and consumes it.
func (c *Conn) until(marker string) (string, error) {
	for {
		if i := bytes.Index(c.buf[c.r:], []byte(marker)); i >= 0 {
			s := string(c.buf[c.r : c.r+i+len(marker)])
			c.r += i + len(marker)
			return s, nil
		}
		if err := c.fill(); err != nil {
			return "", err
		}
	}
}

// Stanza is a top-level element of the stream, with what the
// load clients look at cut out of it.
type Stanza struct {
	Name string // message, presence, iq, success...
	From string // as sent: a bare or full JID
	ID   string
	Type string
	Body string // unescaped
	Raw  string
}

// Next reads the next top-level element. A stream error or the end of the
// stream is an error.
func (c *Conn) Next() (Stanza, error) {
	for {
		st, ok, err := c.parse()
		if err != nil || ok {
			return st, err
		}
		if err := c.fill(); err != nil {
			return Stanza{}, err
		}
	}
}

// parse cuts the next whole element out of the buffer, if there is one.
// owlgate writes attributes and text escaped, so the first '>' ends a
// start tag, and a stanza holds no element of its own name.
func (c *Conn) parse() (Stanza, bool, error) {
	b := c.buf[c.r:]
	s := 0
	for s < len(b) && (b[s] == ' ' || b[s] == '\n' || b[s] == '\r' || b[s] == '\t') {
		s++
	}
	if s == len(b) {
		c.r += s
		return Stanza{}, false, nil
	}
	if b[s] != '<' {
		return Stanza{}, false, fmt.Errorf("stream: unexpected %q", truncate(b[s:], 80))
	}
	gt := bytes.IndexByte(b[s:], '>')
	if gt < 0 {
		return Stanza{}, false, nil
	}
	gt += s
	tag := b[s : gt+1]
	if bytes.HasPrefix(tag, []byte("</stream:stream")) {
		return Stanza{}, false, io.EOF
	}
	ne := 1
	for ne < len(tag) && tag[ne] != ' ' && tag[ne] != '>' && tag[ne] != '/' && tag[ne] != '\n' && tag[ne] != '\t' {
		ne++
	}
	name := tag[1:ne]
	end := gt + 1
	if tag[len(tag)-2] != '/' {
		closing := make([]byte, 0, len(name)+3)
		closing = append(append(append(closing, "</"...), name...), '>')
		i := bytes.Index(b[gt+1:], closing)
		if i < 0 {
			return Stanza{}, false, nil
		}
		end = gt + 1 + i + len(closing)
	}
	el := b[s:end]
	c.r += end
	st := Stanza{Name: string(name), Raw: string(el)}
	if local, ok := bytes.CutPrefix(name, []byte("stream:")); ok {
		return st, true, fmt.Errorf("stream %s: %s", local, st.Raw)
	}
	st.From = attr(tag, "from")
	st.ID = attr(tag, "id")
	st.Type = attr(tag, "type")
	if i := bytes.Index(el, []byte("<body>")); i >= 0 {
		if j := bytes.Index(el[i:], []byte("</body>")); j >= 0 {
			st.Body = unescape(string(el[i+len("<body>") : i+j]))
		}
	}
	return st, true, nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// attr returns the value of the attribute name in a start tag.
func attr(tag []byte, name string) string {
	for _, q := range []string{`'`, `"`} {
		key := " " + name + "=" + q
		if i := bytes.Index(tag, []byte(key)); i >= 0 {
			v := tag[i+len(key):]
			if j := bytes.Index(v, []byte(q)); j >= 0 {
				return unescape(string(v[:j]))
			}
		}
	}
	return ""
}

var unescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#39;", "'", "&#34;", `"`, "&amp;", "&")

func unescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	return unescaper.Replace(s)
}

// Message is a chat message from an operator.
func Message(dst []byte, to, body string) []byte {
	dst = append(dst, `<message type='chat' to='`...)
	dst = append(dst, to...)
	dst = append(dst, `'><body>`...)
	dst = append(dst, body...) // load bodies need no escaping
	return append(dst, `</body></message>`...)
}

// SetDeadline sets the connection's read and write deadline.
func (c *Conn) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Bare returns the bare JID of j.
func Bare(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}
