package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// xconn is an operator's raw XMPP client connection (the e2e benchmarks'
// client, e2e/benchhelpers_test.go, without TLS): PLAIN over plain text on
// loopback, bind, initial presence. It scans the byte stream for whole
// top-level elements and cuts out the attributes and the body, so that the
// clients, which share the machine's cores with the servers, cost little.
type xconn struct {
	nc  net.Conn
	buf []byte
	r   int
	wmu sync.Mutex
	JID string
}

type stanza struct {
	Name string
	From string // full JID as sent
	ID   string
	Type string
	Body string
	Raw  string
}

func dialXMPP(addr, user, pass string) (*xconn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c := &xconn{nc: nc, buf: make([]byte, 0, 16<<10)}
	nc.SetDeadline(time.Now().Add(60 * time.Second))
	if err := c.login(user, pass); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", user, err)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func (c *xconn) open() error {
	if err := c.Write([]byte(`<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`)); err != nil {
		return err
	}
	_, err := c.until("</stream:features>")
	return err
}

func (c *xconn) login(user, pass string) error {
	if err := c.open(); err != nil {
		return fmt.Errorf("stream: %w", err)
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
	return nil
}

// Write writes b whole; it may be called from several goroutines.
func (c *xconn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

func (c *xconn) Close() { c.nc.Close() }

func (c *xconn) fill() error {
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

func (c *xconn) until(marker string) (string, error) {
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

// Next reads the next top-level element; a stream error or the stream's
// end is an error.
func (c *xconn) Next() (stanza, error) {
	for {
		st, ok, err := c.parse()
		if err != nil || ok {
			return st, err
		}
		if err := c.fill(); err != nil {
			return stanza{}, err
		}
	}
}

// parse cuts the next whole element out of the buffer. Servers write
// attributes and text escaped, so the first '>' ends a start tag; a stanza
// holds no element of its own name.
func (c *xconn) parse() (stanza, bool, error) {
	b := c.buf[c.r:]
	s := 0
	for s < len(b) && (b[s] == ' ' || b[s] == '\n' || b[s] == '\r' || b[s] == '\t') {
		s++
	}
	if s == len(b) {
		c.r += s
		return stanza{}, false, nil
	}
	if b[s] != '<' {
		return stanza{}, false, fmt.Errorf("stream: unexpected %q", trunc(b[s:], 80))
	}
	gt := bytes.IndexByte(b[s:], '>')
	if gt < 0 {
		return stanza{}, false, nil
	}
	gt += s
	tag := b[s : gt+1]
	if bytes.HasPrefix(tag, []byte("</stream:stream")) {
		return stanza{}, false, io.EOF
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
			return stanza{}, false, nil
		}
		end = gt + 1 + i + len(closing)
	}
	el := b[s:end]
	c.r += end
	st := stanza{Name: string(name), Raw: string(el)}
	if local, ok := bytes.CutPrefix(name, []byte("stream:")); ok {
		return st, true, fmt.Errorf("stream %s: %s", local, st.Raw)
	}
	st.From = xattr(tag, "from")
	st.ID = xattr(tag, "id")
	st.Type = xattr(tag, "type")
	if i := bytes.Index(el, []byte("<body>")); i >= 0 {
		if j := bytes.Index(el[i:], []byte("</body>")); j >= 0 {
			st.Body = xunescape(string(el[i+len("<body>") : i+j]))
		}
	}
	return st, true, nil
}

func trunc(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func xattr(tag []byte, name string) string {
	for _, q := range []string{`'`, `"`} {
		key := " " + name + "=" + q
		if i := bytes.Index(tag, []byte(key)); i >= 0 {
			v := tag[i+len(key):]
			if j := bytes.Index(v, []byte(q)); j >= 0 {
				return xunescape(string(v[:j]))
			}
		}
	}
	return ""
}

var xunescaper = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#39;", "'", "&#34;", `"`, "&amp;", "&")

func xunescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	return xunescaper.Replace(s)
}

// appendMessage appends a chat message to to; bodies here need no escaping.
func appendMessage(dst []byte, to, body string) []byte {
	dst = append(dst, `<message type='chat' to='`...)
	dst = append(dst, to...)
	dst = append(dst, `'><body>`...)
	dst = append(dst, body...)
	return append(dst, `</body></message>`...)
}

func bare(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}
