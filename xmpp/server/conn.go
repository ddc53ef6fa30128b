package server

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
)

// Namespaces of the stream layer.
const (
	nsStream  = "http://etherx.jabber.org/streams"
	nsClient  = "jabber:client"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
)

// streamError is an RFC 6120 stream error: the stream is closed after it.
type streamError struct {
	cond, text string
}

func (e *streamError) Error() string {
	if e.text != "" {
		return "stream error " + e.cond + ": " + e.text
	}
	return "stream error " + e.cond
}

func (e *streamError) xml() []byte {
	var b bytes.Buffer
	b.WriteString(`<stream:error><` + e.cond + ` xmlns='` + nsStreams + `'/>`)
	if e.text != "" {
		b.WriteString(`<text xmlns='` + nsStreams + `'>`)
		xml.EscapeText(&b, []byte(e.text))
		b.WriteString(`</text>`)
	}
	b.WriteString(`</stream:error></stream:stream>`)
	return b.Bytes()
}

var (
	errTooBig       = errors.New("stanza too large")
	errTooDeep      = errors.New("elements nested too deep")
	errRestricted   = errors.New("comments, processing instructions and DTDs are not allowed")
	errIdle         = errors.New("idle")
	errStreamClosed = errors.New("stream closed by the client")
)

// conn is one client connection, and once bound, one session.
type conn struct {
	s      *Server
	nc     net.Conn  // the TCP connection
	rw     io.Writer // nc, or the TLS connection over it
	tlsOn  bool
	br     byteReader
	g      guard
	d      *xml.Decoder
	log    *slog.Logger
	header bool // our stream header of the current stream was written

	// Set at bind, read-only afterwards.
	acct *account
	jid  jid.JID

	// Guarded by Server.mu; written only by the connection's goroutine.
	available bool
	priority  int
	presence  *xmpp.Stanza // the last broadcast available presence

	// The writer.
	wmu      sync.Mutex
	wbuf     []byte
	writerOn bool
	closing  bool // nothing more is queued; the writer closes after flushing
	wsig     chan struct{}
	done     chan struct{} // closed when the TCP connection is closed
	closeMu  sync.Once

	// The token bucket.
	tokens float64
	last   time.Time
	pinged bool
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{
		s:    s,
		nc:   nc,
		rw:   nc,
		wsig: make(chan struct{}, 1),
		done: make(chan struct{}),
		log:  s.log.With("remote", nc.RemoteAddr().String()),
	}
	c.br.c = c
	c.br.src = nc
	c.br.buf = make([]byte, 4096)
	c.tokens = float64(s.cfg.Burst)
	return c
}

// serve runs the connection to its end.
func (c *conn) serve() {
	defer c.cleanup()
	c.nc.SetDeadline(time.Now().Add(c.s.cfg.NegotiationTimeout))
	if err := c.negotiate(); err != nil {
		var se *streamError
		switch {
		case errors.As(err, &se):
		case errors.Is(err, errStreamClosed):
			c.writeSync([]byte(`</stream:stream>`))
		case errors.Is(err, errStreamClosedTLS):
		default:
			se = c.classify(err)
		}
		if se != nil {
			c.log.Info("xmpp server: negotiation failed", "error", se.cond, "text", se.text)
			if !c.header {
				c.writeHeader()
			}
			c.writeSync(se.xml())
		} else {
			c.log.Debug("xmpp server: connection closed during negotiation", "error", err)
		}
		c.closeConn()
		return
	}
	c.nc.SetDeadline(time.Time{})
	c.br.idle = true
	c.log.Info("xmpp server: session started", "tls", c.tlsOn)

	err := c.readLoop()
	var se *streamError
	switch {
	case err == nil || errors.Is(err, errStreamClosed):
		c.finish(nil)
	case errors.As(err, &se):
		c.finish(se)
	default:
		if se = c.classify(err); se != nil {
			c.finish(se)
		} else {
			c.closeConn()
		}
	}
}

// finish ends a bound session's stream: with a stream error, or with a
// clean close; the writer flushes and closes the connection.
func (c *conn) finish(se *streamError) {
	if se != nil {
		c.log.Warn("xmpp server: closing stream", "error", se.cond, "text", se.text)
		c.fail(se)
	} else {
		c.wmu.Lock()
		if !c.closing {
			c.closing = true
			c.wbuf = append(c.wbuf, `</stream:stream>`...)
		}
		c.wmu.Unlock()
		c.signal()
	}
}

// classify maps a read error to the stream error it calls for, or nil
// when the connection just broke.
func (c *conn) classify(err error) *streamError {
	var syn *xml.SyntaxError
	switch {
	case errors.Is(err, errTooBig):
		return &streamError{cond: "policy-violation", text: "stanza larger than " + strconv.Itoa(c.s.cfg.MaxStanza) + " bytes"}
	case errors.Is(err, errTooDeep):
		return &streamError{cond: "policy-violation", text: "elements nested deeper than " + strconv.Itoa(c.s.cfg.MaxDepth)}
	case errors.Is(err, errRestricted):
		return &streamError{cond: "restricted-xml"}
	case errors.Is(err, errIdle):
		return &streamError{cond: "connection-timeout"}
	case c.br.err != nil:
		return nil // the connection broke, or the peer went away
	case errors.As(err, &syn):
		return &streamError{cond: "not-well-formed"}
	}
	return &streamError{cond: "bad-format"}
}

// cleanup runs when the reader is done: the session leaves, its presence
// goes unavailable, and the connection is closed once flushed.
func (c *conn) cleanup() {
	if c.acct != nil {
		c.s.unbind(c)
	}
	c.wmu.Lock()
	writerOn := c.writerOn
	if !c.closing {
		c.closing = true
	}
	c.wmu.Unlock()
	if writerOn {
		c.signal()
		t := time.NewTimer(c.s.cfg.WriteTimeout)
		select {
		case <-c.done:
		case <-t.C:
		}
		t.Stop()
	}
	c.closeConn()
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	if c.acct != nil {
		c.log.Info("xmpp server: session ended")
	}
}

func (c *conn) closeConn() {
	c.closeMu.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// fail closes the stream with a stream error, from any goroutine.
func (c *conn) fail(se *streamError) {
	c.wmu.Lock()
	if c.closing {
		c.wmu.Unlock()
		if se.cond == "system-shutdown" {
			c.closeConn()
		}
		return
	}
	c.closing = true
	writerOn := c.writerOn
	if writerOn {
		c.wbuf = append(c.wbuf, se.xml()...)
		if se.cond == "system-shutdown" {
			c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		}
	}
	c.wmu.Unlock()
	if writerOn {
		c.signal()
	} else {
		// Negotiating: the reader goroutine owns the writes; just close.
		c.closeConn()
	}
}

// writeSync writes during negotiation, from the reader goroutine.
func (c *conn) writeSync(b []byte) error {
	_, err := c.rw.Write(b)
	return err
}

func (c *conn) writeHeader() {
	var b bytes.Buffer
	b.WriteString(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='` + nsStream + `' id='`)
	b.WriteString(randomString(16))
	b.WriteString(`' from='`)
	xml.EscapeText(&b, []byte(c.s.domainStr))
	b.WriteString(`' version='1.0' xml:lang='en'>`)
	c.writeSync(b.Bytes())
	c.header = true
}

// startWriter starts the writer goroutine: from then on every write is
// queued.
func (c *conn) startWriter() {
	c.wmu.Lock()
	c.writerOn = true
	c.wmu.Unlock()
	go c.writeLoop()
}

func (c *conn) signal() {
	select {
	case c.wsig <- struct{}{}:
	default:
	}
}

// enqueue queues b for the client. It never blocks on the network: a
// client that lets more than MaxQueue bytes pile up is disconnected.
func (c *conn) enqueue(b []byte) bool {
	c.wmu.Lock()
	if c.closing || !c.writerOn {
		c.wmu.Unlock()
		return false
	}
	if len(c.wbuf)+len(b) > c.s.cfg.MaxQueue {
		c.closing = true
		c.wmu.Unlock()
		c.log.Warn("xmpp server: client too slow, disconnecting", "queued", len(c.wbuf))
		c.closeConn()
		return false
	}
	c.wbuf = append(c.wbuf, b...)
	c.wmu.Unlock()
	c.signal()
	return true
}

// enqueueStanza serializes st and queues it.
func (c *conn) enqueueStanza(st *xmpp.Stanza) bool {
	b := getBuf()
	st.AppendXML(b)
	ok := c.enqueue(b.Bytes())
	putBuf(b)
	return ok
}

func (c *conn) writeLoop() {
	var spare []byte
	for {
		select {
		case <-c.wsig:
		case <-c.done:
			return
		}
		c.wmu.Lock()
		buf := c.wbuf
		c.wbuf = spare[:0]
		closing := c.closing
		c.wmu.Unlock()
		if len(buf) > 0 {
			d := c.s.cfg.WriteTimeout
			if closing {
				d = min(d, 5*time.Second)
			}
			c.nc.SetWriteDeadline(time.Now().Add(d))
			if _, err := c.rw.Write(buf); err != nil {
				c.closeConn()
				return
			}
		}
		if cap(buf) <= 64<<10 {
			spare = buf
		} else {
			spare = nil
		}
		if closing {
			c.wmu.Lock()
			rest := len(c.wbuf)
			c.wmu.Unlock()
			if rest == 0 {
				c.closeConn()
				return
			}
			c.signal()
		}
	}
}

// allow takes a token from the connection's bucket.
func (c *conn) allow() bool {
	cfg := &c.s.cfg
	if cfg.Rate < 0 {
		return true
	}
	now := time.Now()
	if !c.last.IsZero() {
		c.tokens = min(float64(cfg.Burst), c.tokens+now.Sub(c.last).Seconds()*cfg.Rate)
	}
	c.last = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// sendPing pings an idle client (XEP-0199).
func (c *conn) sendPing() {
	if c.acct == nil {
		return
	}
	st := &xmpp.Stanza{Kind: xmpp.KindIQ, Type: "get", From: c.s.domain, To: c.jid,
		ID: pingPrefix + strconv.FormatUint(c.s.pingSeq.Add(1), 10), Payload: []byte(`<ping xmlns='urn:xmpp:ping'/>`)}
	c.enqueueStanza(st)
}

const pingPrefix = "owlgate-ping-"

// newDecoder starts reading a new stream from the byte reader.
func (c *conn) newDecoder() {
	c.g = guard{raw: xml.NewDecoder(&c.br), max: c.s.cfg.MaxDepth}
	c.d = xml.NewTokenDecoder(&c.g)
	c.header = false
}

// nextElement returns the next child of the stream, skipping whitespace
// (keepalives). The client's </stream:stream> is errStreamClosed.
func (c *conn) nextElement() (xml.StartElement, error) {
	for {
		c.br.mark(c.s.cfg.MaxStanza)
		tok, err := c.d.Token()
		if err != nil {
			return xml.StartElement{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return t, nil
		case xml.EndElement:
			return xml.StartElement{}, errStreamClosed
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return xml.StartElement{}, &streamError{cond: "bad-format", text: "text outside of stanzas"}
			}
		}
	}
}

// openStream reads the client's stream header and answers with ours.
func (c *conn) openStream() error {
	c.newDecoder()
	c.br.mark(c.s.cfg.MaxStanza)
	var start xml.StartElement
	for {
		tok, err := c.d.Token()
		if err != nil {
			return err
		}
		if t, ok := tok.(xml.StartElement); ok {
			start = t
			break
		}
		if t, ok := tok.(xml.CharData); ok && len(bytes.TrimSpace(t)) != 0 {
			return &streamError{cond: "bad-format"}
		}
	}
	c.writeHeader()
	if start.Name.Space != nsStream || start.Name.Local != "stream" {
		return &streamError{cond: "invalid-namespace"}
	}
	var version, to string
	defNS := ""
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			defNS = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			version = a.Value
		case a.Name.Space == "" && a.Name.Local == "to":
			to = a.Value
		}
	}
	if defNS != nsClient {
		return &streamError{cond: "invalid-namespace", text: "only jabber:client streams are served"}
	}
	if major, _, _ := strings.Cut(version, "."); major == "" || major == "0" {
		return &streamError{cond: "unsupported-version"}
	}
	if to != "" {
		j, err := jid.Parse(to)
		if err != nil || !j.Equal(c.s.domain) {
			return &streamError{cond: "host-unknown"}
		}
	}
	return nil
}

// negotiate runs STARTTLS, SASL and resource binding, restarting the
// stream after each of the first two. It returns once a resource is bound
// (the writer is then running).
func (c *conn) negotiate() error {
	failures := 0
	for {
		if err := c.openStream(); err != nil {
			return err
		}
		var f strings.Builder
		f.WriteString(`<stream:features>`)
		switch {
		case c.acct != nil:
			f.WriteString(`<bind xmlns='` + nsBind + `'/><session xmlns='` + nsSession + `'><optional/></session>`)
		case !c.tlsOn:
			f.WriteString(`<starttls xmlns='` + nsTLS + `'>`)
			if !c.s.plaintext {
				f.WriteString(`<required/>`)
			}
			f.WriteString(`</starttls>`)
			if c.s.plaintext {
				f.WriteString(mechanismsFeature)
			}
		default:
			f.WriteString(mechanismsFeature)
		}
		f.WriteString(`</stream:features>`)
		if err := c.writeSync([]byte(f.String())); err != nil {
			return err
		}

	stream:
		for {
			start, err := c.nextElement()
			if err != nil {
				return err
			}
			switch {
			case start.Name.Space == nsTLS && start.Name.Local == "starttls" && !c.tlsOn && c.acct == nil:
				if err := c.d.Skip(); err != nil {
					return err
				}
				if !c.br.discardSpace() {
					// Bytes sent after <starttls/> before the handshake
					// would be read as if they came over TLS.
					return &streamError{cond: "policy-violation", text: "data after starttls"}
				}
				if err := c.writeSync([]byte(`<proceed xmlns='` + nsTLS + `'/>`)); err != nil {
					return err
				}
				tc := tls.Server(c.nc, c.s.tlsConf)
				if err := tc.Handshake(); err != nil {
					c.log.Debug("xmpp server: TLS handshake failed", "error", err)
					return errStreamClosedTLS
				}
				c.tlsOn = true
				c.rw = tc
				c.br.src = tc
				break stream
			case start.Name.Space == nsSASL && c.acct == nil:
				if !c.tlsOn && !c.s.plaintext {
					return &streamError{cond: "policy-violation", text: "STARTTLS is required"}
				}
				ok, err := c.sasl(start)
				if err != nil {
					return err
				}
				if ok {
					break stream
				}
				failures++
				if failures >= c.s.cfg.MaxAuthFailures {
					return &streamError{cond: "policy-violation", text: "too many failed authentication attempts"}
				}
			case c.acct != nil && start.Name.Space == nsClient && start.Name.Local == "iq":
				bound, err := c.bindIQ(start)
				if err != nil || bound {
					return err
				}
			case !c.tlsOn && !c.s.plaintext:
				return &streamError{cond: "policy-violation", text: "STARTTLS is required"}
			default:
				return &streamError{cond: "not-authorized"}
			}
		}
	}
}

// errStreamClosedTLS ends a connection whose TLS handshake failed: no
// stream error can be written.
var errStreamClosedTLS = errors.New("TLS handshake failed")

const mechanismsFeature = `<mechanisms xmlns='` + nsSASL + `'><mechanism>SCRAM-SHA-256</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>`

// readText reads the text content of start, which must have no child
// elements.
func (c *conn) readText(start xml.StartElement) (string, error) {
	var b strings.Builder
	for {
		tok, err := c.d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.StartElement:
			// <abort/> and the like have no text; an element inside
			// an auth, response or success is malformed.
			return "", &streamError{cond: "bad-format", text: "unexpected <" + t.Name.Local + "> in <" + start.Name.Local + ">"}
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

func (c *conn) saslFailure(cond string) error {
	return c.writeSync([]byte(`<failure xmlns='` + nsSASL + `'><` + cond + `/></failure>`))
}

// saslData decodes a SASL element's base64 text: "" is no data, "=" empty
// data.
func saslData(text string) (data []byte, present bool, err error) {
	text = strings.TrimSpace(text)
	switch text {
	case "":
		return nil, false, nil
	case "=":
		return []byte{}, true, nil
	}
	data, err = base64.StdEncoding.DecodeString(text)
	return data, true, err
}

// saslResponse sends a challenge and reads the client's response. ok is
// false when the exchange ended (abort, or a failure already sent).
func (c *conn) saslResponse(challenge []byte) (resp []byte, ok bool, err error) {
	ch := `<challenge xmlns='` + nsSASL + `'>`
	if len(challenge) > 0 {
		ch += base64.StdEncoding.EncodeToString(challenge)
	}
	ch += `</challenge>`
	if err := c.writeSync([]byte(ch)); err != nil {
		return nil, false, err
	}
	start, err := c.nextElement()
	if err != nil {
		return nil, false, err
	}
	text, err := c.readText(start)
	if err != nil {
		return nil, false, err
	}
	switch {
	case start.Name.Space == nsSASL && start.Name.Local == "abort":
		return nil, false, c.saslFailure("aborted")
	case start.Name.Space != nsSASL || start.Name.Local != "response":
		return nil, false, c.saslFailure("malformed-request")
	}
	data, _, err := saslData(text)
	if err != nil {
		return nil, false, c.saslFailure("incorrect-encoding")
	}
	return data, true, nil
}

// sasl runs one SASL exchange that starts with start. It reports whether
// the client authenticated; a failure has been answered when it did not.
func (c *conn) sasl(start xml.StartElement) (bool, error) {
	text, err := c.readText(start)
	if err != nil {
		return false, err
	}
	switch start.Name.Local {
	case "auth":
	case "abort":
		return false, c.saslFailure("aborted")
	default:
		return false, c.saslFailure("malformed-request")
	}
	var mech string
	for _, a := range start.Attr {
		if a.Name.Local == "mechanism" && a.Name.Space == "" {
			mech = a.Value
		}
	}
	msg, present, err := saslData(text)
	if err != nil {
		return false, c.saslFailure("incorrect-encoding")
	}
	var h scramHash
	switch mech {
	case "PLAIN":
		if !present {
			var ok bool
			if msg, ok, err = c.saslResponse(nil); !ok || err != nil {
				return false, err
			}
		}
		authzid, user, pass, ok := parsePlain(msg)
		if !ok {
			return false, c.saslFailure("malformed-request")
		}
		a := c.s.lookupUser(user)
		if a == nil {
			// Spend the time a known user costs.
			newCredentials(pass, c.s.cfg.ScramIterations)
			c.log.Info("xmpp server: authentication failed", "mechanism", mech, "reason", "unknown user")
			return false, c.saslFailure("not-authorized")
		}
		if !a.creds.checkPlain(pass) || (authzid != "" && authzid != a.str) {
			c.log.Info("xmpp server: authentication failed", "mechanism", mech, "operator", a.str)
			return false, c.saslFailure("not-authorized")
		}
		return true, c.saslSuccess(a, mech, nil)
	case scramSHA256.name:
		h = scramSHA256
	case scramSHA1.name:
		h = scramSHA1
	default:
		return false, c.saslFailure("invalid-mechanism")
	}
	if !present {
		var ok bool
		if msg, ok, err = c.saslResponse(nil); !ok || err != nil {
			return false, err
		}
	}
	sc := &scramServer{h: h}
	user, authzid, err := sc.parseClientFirst(string(msg))
	if err != nil {
		c.log.Info("xmpp server: authentication failed", "mechanism", mech, "reason", err.Error())
		return false, c.saslFailure("malformed-request")
	}
	a := c.s.lookupUser(user)
	if a != nil && (authzid == "" || authzid == a.str) {
		sc.creds = a.creds.forHash(h)
		sc.known = true
	} else {
		sc.creds = c.s.fakeCreds(user)
	}
	final, ok, err := c.saslResponse([]byte(sc.serverFirst()))
	if !ok || err != nil {
		return false, err
	}
	srvFinal, err := sc.clientFinal(string(final))
	if err != nil {
		c.log.Info("xmpp server: authentication failed", "mechanism", mech, "user", user)
		return false, c.saslFailure("not-authorized")
	}
	return true, c.saslSuccess(a, mech, []byte(srvFinal))
}

func (c *conn) saslSuccess(a *account, mech string, data []byte) error {
	c.acct = a
	c.log.Debug("xmpp server: authenticated", "operator", a.str, "mechanism", mech)
	s := `<success xmlns='` + nsSASL + `'>`
	if len(data) > 0 {
		s += base64.StdEncoding.EncodeToString(data)
	}
	return c.writeSync([]byte(s + `</success>`))
}

// lookupUser finds the account of a SASL username: a localpart, or a bare
// JID at the domain.
func (s *Server) lookupUser(user string) *account {
	var j jid.JID
	var err error
	if strings.Contains(user, "@") {
		j, err = jid.Parse(user)
	} else {
		j, err = jid.New(user, s.domainStr, "")
	}
	if err != nil || j.Resourcepart() != "" {
		return nil
	}
	return s.accountOf(j)
}

// fakeCreds are credentials for an unknown user, stable per name, so that
// SCRAM does not tell unknown users from wrong passwords.
func (s *Server) fakeCreds(user string) *scramCreds {
	salt := hmacSum(scramSHA256.new, s.fakeKey, []byte(user))[:16]
	return &scramCreds{salt: salt, iter: s.cfg.ScramIterations,
		storedKey: hmacSum(scramSHA256.new, s.fakeKey, []byte("stored"+user)),
		serverKey: hmacSum(scramSHA256.new, s.fakeKey, []byte("server"+user))}
}

// readStanza reads a stanza whose start element was just read, and stamps
// its sender. A stanza whose 'to' is not a JID is answered with
// jid-malformed and nil is returned.
func (c *conn) readStanza(start xml.StartElement) (*xmpp.Stanza, error) {
	if start.Name.Space != nsClient {
		return nil, &streamError{cond: "invalid-namespace", text: "stanzas must be in jabber:client"}
	}
	var kind xmpp.Kind
	switch start.Name.Local {
	case "message":
		kind = xmpp.KindMessage
	case "presence":
		kind = xmpp.KindPresence
	case "iq":
		kind = xmpp.KindIQ
	default:
		return nil, &streamError{cond: "unsupported-stanza-type", text: "<" + start.Name.Local + ">"}
	}
	attrs := start.Attr[:0:0]
	badTo := false
	var id, typ string
	for _, a := range start.Attr {
		if a.Name.Space == "" {
			switch a.Name.Local {
			case "from":
				continue // stamped below, whatever it said
			case "to":
				if _, err := jid.Parse(a.Value); err != nil {
					badTo = true
				}
			case "id":
				id = a.Value
			case "type":
				typ = a.Value
			}
		}
		attrs = append(attrs, a)
	}
	if badTo {
		if err := c.d.Skip(); err != nil {
			return nil, err
		}
		if typ != "error" && !(kind == xmpp.KindIQ && typ == "result") && c.jid.Localpart() != "" {
			c.enqueueStanza(&xmpp.Stanza{Kind: kind, From: c.s.domain, To: c.jid, ID: id, Type: "error",
				ErrorType: "modify", ErrorCond: "jid-malformed"})
		}
		return nil, nil
	}
	start.Attr = attrs
	st, err := xmpp.ParseStanza(c.d, start)
	if err != nil {
		return nil, err
	}
	st.From = c.jid
	return st, nil
}

// bindIQ handles an iq before a resource is bound: resource binding, or an
// error.
func (c *conn) bindIQ(start xml.StartElement) (bool, error) {
	st, err := c.readStanza(start)
	if err != nil || st == nil {
		return false, err
	}
	reply := func(e *xmpp.Stanza) error {
		e.From = jid.JID{}
		e.To = jid.JID{}
		b := getBuf()
		defer putBuf(b)
		e.AppendXML(b)
		return c.writeSync(b.Bytes())
	}
	child, ok := payloadName(st.Payload)
	if st.Type != "set" || !ok || child.Name.Space != nsBind || child.Name.Local != "bind" {
		if st.Type == "get" || st.Type == "set" {
			return false, reply(xmpp.ErrorReply(st, "auth", "not-authorized", "bind a resource first"))
		}
		return false, nil
	}
	var b struct {
		Resource string `xml:"resource"`
	}
	if err := xml.Unmarshal(st.Payload, &b); err != nil {
		return false, reply(xmpp.ErrorReply(st, "modify", "bad-request", ""))
	}
	res := strings.TrimSpace(b.Resource)
	if res == "" {
		res = "owlgate-" + randomString(8)
	}
	full, err := jid.New(c.acct.bare.Localpart(), c.s.domainStr, res)
	if err != nil {
		return false, reply(xmpp.ErrorReply(st, "modify", "bad-request", "invalid resource"))
	}
	if !c.s.bind(c, full, st.ID) {
		return false, reply(xmpp.ErrorReply(st, "wait", "resource-constraint", "too many sessions for this operator"))
	}
	return true, nil
}

// bindResult is the answer to a bind request.
func bindResult(id string, full jid.JID) []byte {
	var p bytes.Buffer
	p.WriteString(`<bind xmlns='` + nsBind + `'><jid>`)
	xml.EscapeText(&p, []byte(full.String()))
	p.WriteString(`</jid></bind>`)
	res := &xmpp.Stanza{Kind: xmpp.KindIQ, Type: "result", ID: id, Payload: p.Bytes()}
	var b bytes.Buffer
	res.AppendXML(&b)
	return b.Bytes()
}

// payloadName returns the first element of an iq's payload.
func payloadName(p []byte) (xml.StartElement, bool) {
	if len(p) == 0 {
		return xml.StartElement{}, false
	}
	d := xml.NewDecoder(bytes.NewReader(p))
	for {
		tok, err := d.Token()
		if err != nil {
			return xml.StartElement{}, false
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t.Copy(), true
		}
	}
}

// guard sits between the raw tokenizer and the namespace-aware decoder:
// it limits nesting depth and refuses comments, processing instructions
// (but the XML declaration) and DTDs.
type guard struct {
	raw     *xml.Decoder
	depth   int
	max     int
	started bool
}

func (g *guard) Token() (xml.Token, error) {
	t, err := g.raw.RawToken()
	if err != nil {
		return t, err
	}
	switch tt := t.(type) {
	case xml.StartElement:
		g.started = true
		g.depth++
		if g.depth > g.max {
			return nil, errTooDeep
		}
	case xml.EndElement:
		g.depth--
	case xml.ProcInst:
		if g.started || tt.Target != "xml" {
			return nil, errRestricted
		}
	case xml.Comment, xml.Directive:
		return nil, errRestricted
	}
	return t, nil
}

// byteReader feeds the tokenizer byte by byte from its own buffer, so
// that the stanza size limit is exact, and pings an idle client.
type byteReader struct {
	c      *conn
	src    io.Reader
	buf    []byte
	r, w   int
	n      int64 // bytes consumed
	limit  int64 // n may not reach it
	err    error
	idle   bool // ping on idle (bound sessions)
	lastDL time.Time
}

func (b *byteReader) mark(max int) { b.limit = b.n + int64(max) }

// discardSpace drops buffered whitespace, and reports whether nothing
// else is buffered.
func (b *byteReader) discardSpace() bool {
	for b.r < b.w {
		switch b.buf[b.r] {
		case ' ', '\t', '\r', '\n':
			b.r++
			b.n++
		default:
			return false
		}
	}
	return true
}

func (b *byteReader) ReadByte() (byte, error) {
	if b.r >= b.w {
		if err := b.fill(); err != nil {
			return 0, err
		}
	}
	if b.n >= b.limit {
		b.err = errTooBig
		return 0, errTooBig
	}
	x := b.buf[b.r]
	b.r++
	b.n++
	return x, nil
}

// Read makes byteReader an io.Reader; the decoder uses ReadByte.
func (b *byteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	x, err := b.ReadByte()
	if err != nil {
		return 0, err
	}
	p[0] = x
	return 1, nil
}

func (b *byteReader) fill() error {
	if b.err != nil {
		return b.err
	}
	for {
		if b.idle {
			d := b.c.s.cfg.IdleTimeout
			if b.c.pinged {
				d = b.c.s.cfg.PingTimeout
			}
			now := time.Now()
			// Moving the deadline costs little, but not nothing: at most
			// once a second.
			if b.c.pinged || now.Sub(b.lastDL) > time.Second {
				b.c.nc.SetReadDeadline(now.Add(d))
				b.lastDL = now
			}
		}
		n, err := b.src.Read(b.buf)
		if n > 0 {
			b.r, b.w = 0, n
			if b.c.pinged {
				b.c.pinged = false
				b.lastDL = time.Time{}
			}
			return nil
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if b.idle && errors.As(err, &ne) && ne.Timeout() {
			if !b.c.pinged {
				b.c.pinged = true
				b.c.sendPing()
				continue
			}
			err = errIdle
		}
		b.err = err
		return err
	}
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > 64<<10 {
		return
	}
	b.Reset()
	bufPool.Put(b)
}
