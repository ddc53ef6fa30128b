package irc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
	"github.com/ergochat/irc-go/ircutils"
	"github.com/owlgate/owlgate/protocols"
)

// wantedCaps are the IRCv3 capabilities requested when the server offers
// them: msgid tags (message-tags), the time a message was sent
// (server-time), and echo-message, whose echoes of our own lines are
// ignored. sasl is requested separately when the account uses it.
var wantedCaps = []string{"message-tags", "server-time", "echo-message"}

// failureWindow is how long after a message was sent an error numeric about
// its target is taken as its delivery failure.
const failureWindow = 2 * time.Minute

// presenceWindow: patrons quiet for longer are no longer polled for.
const presenceWindow = 2 * time.Hour

// identifyWindow: NickServ notices this long after IDENTIFY are checked for
// a refused password.
const identifyWindow = time.Minute

// session is one connection to the server, from dialling to its end.
type session struct {
	a    *Adapter
	conn net.Conn
	sink protocols.Sink
	in   *inbox
	ctx  context.Context // ends with the session
	stop context.CancelFunc

	wmu      sync.Mutex
	quitting atomic.Bool

	mu     sync.Mutex // guards the fields below, shared with Send and the poller
	nick   string     // our nick now; "" before RPL_WELCOME
	cm     casemapping
	joined map[string]bool // folded channel names
	ison   [][]string      // ISON queries awaiting their reply, in order

	// The read loop's own.
	welcomed   bool // RPL_WELCOME came
	registered bool // registration ended (end of MOTD)
	nickTry    int  // 0: nick, 1: alt_nick
	capLS      map[string]string
	capPending int
	caps       map[string]bool
	saslDone   bool
	identified time.Time // when NickServ IDENTIFY was sent
	onlineAt   time.Time
	pingOut    bool

	confirm confirmer // lines to patrons the server has not confirmed yet (confirm.go)
}

// errBadCredentials makes an error wrapping protocols.ErrBadCredentials.
func errBadCredentials(format string, args ...any) error {
	return fmt.Errorf("irc: %s: %w", fmt.Sprintf(format, args...), protocols.ErrBadCredentials)
}

func newSession(ctx context.Context, a *Adapter, conn net.Conn, sink protocols.Sink, in *inbox) *session {
	s := &session{a: a, conn: conn, sink: sink, in: in, joined: map[string]bool{},
		capLS: map[string]string{}, caps: map[string]bool{}}
	s.ctx, s.stop = context.WithCancel(context.WithoutCancel(ctx))
	return s
}

// end closes the connection and stops the session's goroutines.
func (s *session) end() {
	s.stop()
	s.conn.Close()
}

// quit says goodbye to the server as owlgate stops; the read loop ends when
// the server closes the connection, or 2 seconds later.
func (s *session) quit() {
	if s.quitting.Swap(true) {
		return
	}
	s.writeRaw("QUIT :Library chat closing")
	time.AfterFunc(2*time.Second, func() { s.conn.Close() })
}

func (s *session) currentNick() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nick
}

func (s *session) casemap() casemapping {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cm
}

func (s *session) isMe(nick string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nick != "" && s.cm.fold(nick) == s.cm.fold(s.nick)
}

// lineBudget is how many bytes of text fit in one PRIVMSG to target, as the
// server relays it: ":nick!user@host PRIVMSG target :text\r\n" within 512
// bytes, counting room for the longest user (12) and host (63) servers show.
func (s *session) lineBudget(target string) int {
	s.mu.Lock()
	nickLen := max(len(s.nick), len(s.a.s.nick), len(s.a.s.altNick))
	s.mu.Unlock()
	prefix := 1 + nickLen + 1 + 12 + 1 + 63 + 1
	n := 512 - 2 - prefix - len("PRIVMSG ") - len(target) - len(" :")
	if s.a.s.maxLine > 0 {
		n = min(n, s.a.s.maxLine)
	}
	return max(n, 32)
}

// write sends one IRC line made of command and params.
func (s *session) write(command string, params ...string) error {
	m := ircmsg.MakeMessage(nil, "", command, params...)
	switch command {
	case "PRIVMSG", "NOTICE", "USER", "PONG":
		m.ForceTrailing() // text after a colon, even one word: what every server expects
	}
	b, err := m.LineBytes()
	if err != nil {
		return fmt.Errorf("irc: composing %s: %w", command, err)
	}
	return s.writeBytes(b)
}

func (s *session) writeRaw(line string) error { return s.writeBytes([]byte(line + "\r\n")) }

func (s *session) writeBytes(b []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.ctx.Err() != nil {
		return errors.New("irc: connection closed")
	}
	s.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(b); err != nil {
		s.conn.Close() // the read loop ends and the session with it
		return err
	}
	return nil
}

// serve registers and then handles the server's lines until the connection
// ends. It returns nil when owlgate quit, else why the connection ended.
func (s *session) serve() error {
	st := s.a.s
	if st.password != "" {
		s.write("PASS", st.password)
	}
	s.writeRaw("CAP LS 302")
	s.write("NICK", st.nick)
	s.write("USER", st.user, "0", "*", st.realname)

	var r ircreader.Reader
	r.Initialize(s.conn, 1024, 512+ircmsg.MaxlenTags+2)
	s.conn.SetReadDeadline(time.Now().Add(s.a.regTimeout))
	var lastDeadline time.Time
	for {
		line, err := r.ReadLine()
		if err != nil {
			if s.quitting.Load() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				switch {
				case !s.registered:
					return fmt.Errorf("irc: %s did not complete registration within %v", st.server, s.a.regTimeout)
				case s.pingOut:
					return fmt.Errorf("irc: %s did not answer a PING within %v", st.server, s.a.pongWait)
				}
				s.pingOut = true
				s.writeRaw("PING :owlgate")
				s.conn.SetReadDeadline(time.Now().Add(s.a.pongWait))
				continue
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("irc: %s closed the connection", st.server)
			}
			return fmt.Errorf("irc: reading from %s: %w", st.server, err)
		}
		if s.registered && !s.quitting.Load() && (s.pingOut || time.Since(lastDeadline) > time.Second) {
			s.pingOut = false
			lastDeadline = time.Now()
			s.conn.SetReadDeadline(lastDeadline.Add(s.a.pingIdle))
		}
		msg, err := ircmsg.ParseLine(string(line))
		if err != nil {
			continue
		}
		if err := s.handle(msg); err != nil {
			if errors.Is(err, protocols.ErrBadCredentials) {
				s.writeRaw("QUIT")
			}
			return err
		}
	}
}

// handle acts on one line from the server. An error ends the connection.
func (s *session) handle(m ircmsg.Message) error {
	st := s.a.s
	switch m.Command {
	case "PING":
		return s.write("PONG", m.Params...)
	case "PONG":
		s.pong(lastParam(m))
		return nil
	case "CAP":
		return s.handleCAP(m)
	case "AUTHENTICATE":
		if param(m, 0) == "+" {
			var raw []byte
			if st.sasl == "PLAIN" {
				raw = []byte(st.saslUser + "\x00" + st.saslUser + "\x00" + st.saslPassword)
			}
			for _, chunk := range ircutils.EncodeSASLResponse(raw) {
				s.write("AUTHENTICATE", chunk)
			}
		}
	case "903", "907": // RPL_SASLSUCCESS, ERR_SASLALREADY
		s.saslDone = true
		s.writeRaw("CAP END")
	case "902", "904", "905": // ERR_NICKLOCKED, ERR_SASLFAIL, ERR_SASLTOOLONG
		return errBadCredentials("SASL %s login refused by %s (%s %s)", st.sasl, st.server, m.Command, param(m, 1))
	case "906": // ERR_SASLABORTED
		return fmt.Errorf("irc: SASL aborted by %s", st.server)
	case "464": // ERR_PASSWDMISMATCH
		return errBadCredentials("%s refused the server password", st.server)
	case "465": // ERR_YOUREBANNEDCREEP
		return fmt.Errorf("irc: %s says the account is banned: %s", st.server, lastParam(m))
	case "ERROR":
		text := lastParam(m)
		if !s.welcomed && st.password != "" && strings.Contains(strings.ToLower(text), "password") {
			return errBadCredentials("%s refused the server password (%s)", st.server, text)
		}
		if s.quitting.Load() {
			return nil
		}
		return fmt.Errorf("irc: %s closed the connection: %s", st.server, text)
	case "001": // RPL_WELCOME
		s.welcomed = true
		s.mu.Lock()
		s.nick = param(m, 0)
		s.mu.Unlock()
	case "005": // RPL_ISUPPORT
		if len(m.Params) < 3 {
			return nil
		}
		for _, tok := range m.Params[1 : len(m.Params)-1] {
			if v, ok := strings.CutPrefix(tok, "CASEMAPPING="); ok {
				s.mu.Lock()
				s.cm = parseCasemapping(v)
				s.mu.Unlock()
			}
		}
	case "376", "422": // RPL_ENDOFMOTD, ERR_NOMOTD
		if !s.registered {
			return s.online()
		}
	case "432", "433", "436", "437": // nick erroneous, in use, collision, unavailable
		if s.welcomed {
			return nil // regaining the nick failed: stay on the one we have
		}
		if s.nickTry == 0 {
			s.nickTry++
			s.a.log.Info("irc: nick unavailable; taking alt_nick", "nick", st.nick, "alt_nick", st.altNick, "numeric", m.Command)
			return s.write("NICK", st.altNick)
		}
		return fmt.Errorf("irc: neither nick %s nor alt_nick %s is available on %s (%s)", st.nick, st.altNick, st.server, m.Command)
	case "PRIVMSG", "NOTICE":
		return s.handleMessage(m)
	case "QUIT":
		s.handleQuit(m)
	case "NICK":
		s.handleNick(m)
	case "JOIN", "PART", "KICK":
		s.handleMembership(m)
	case "303": // RPL_ISON
		s.handleISON(m)
	case "401", "406": // ERR_NOSUCHNICK, ERR_WASNOSUCHNICK
		s.failure(m, "no such nick")
	case "403": // ERR_NOSUCHCHANNEL
		s.failure(m, "no such channel")
	case "404": // ERR_CANNOTSENDTOCHAN
		s.failure(m, "cannot send to that user")
	case "486", "492", "716", "531": // +R only, no CTCP, caller-id, ERR_CANTSENDTOUSER
		s.failure(m, "the patron does not accept these messages")
	}
	return nil
}

// online ends registration: the account is online.
func (s *session) online() error {
	st := s.a.s
	if st.sasl != "" && !s.saslDone {
		return errBadCredentials("%s offers no SASL; the account cannot log in with sasl: %s", st.server, strings.ToLower(st.sasl))
	}
	s.registered = true
	s.onlineAt = time.Now()
	s.a.patrons.setCasemapping(s.casemap())
	s.conn.SetReadDeadline(time.Now().Add(s.a.pingIdle))
	replaying := s.a.hasReplay()
	if replaying {
		// Lines the last connection did not get confirmed go first:
		// new messages wait until afterRegistration wrote them.
		s.a.sendSem <- struct{}{}
	}
	s.a.cur.Store(s)
	nick := s.currentNick()
	s.a.log.Info("irc: online", "server", st.server, "nick", nick, "caps", strings.Join(capList(s.caps), " "))
	s.sink.ReportState(protocols.StateReport{State: protocols.AccountOnline})
	if st.nickserv != "" {
		s.identified = time.Now()
	}
	go s.afterRegistration(replaying)
	if st.presencePoll > 0 {
		go s.pollLoop(st.presencePoll)
	}
	return nil
}

func capList(m map[string]bool) []string {
	var out []string
	for _, c := range append(wantedCaps, "sasl") {
		if m[c] {
			out = append(out, c)
		}
	}
	return out
}

// afterRegistration identifies to NickServ, writes the lines the last
// connection did not get confirmed (when replaying, holding a.sendSem,
// which it releases), and joins the channels, paced.
func (s *session) afterRegistration(replaying bool) {
	st := s.a.s
	identified := true
	if st.nickserv != "" {
		if identified = s.a.bucket.Wait(s.ctx) == nil; identified {
			// The password is on this line: it is never logged.
			s.write("PRIVMSG", "NickServ", "IDENTIFY "+st.nick+" "+st.nickserv)
		}
	}
	if replaying {
		if identified {
			s.writeReplay()
		}
		<-s.a.sendSem
	}
	if !identified {
		return
	}
	for _, ch := range st.channels {
		if s.a.bucket.Wait(s.ctx) != nil {
			return
		}
		s.write("JOIN", ch)
	}
}

func (s *session) handleCAP(m ircmsg.Message) error {
	if len(m.Params) < 3 || s.welcomed {
		return nil
	}
	st := s.a.s
	switch strings.ToUpper(m.Params[1]) {
	case "LS":
		for tok := range strings.FieldsSeq(lastParam(m)) {
			name, val, _ := strings.Cut(tok, "=")
			s.capLS[name] = val
		}
		if len(m.Params) >= 4 && m.Params[2] == "*" {
			return nil // more to come
		}
		var want []string
		for _, c := range wantedCaps {
			if _, ok := s.capLS[c]; ok {
				want = append(want, c)
			}
		}
		if st.sasl != "" {
			mechs, ok := s.capLS["sasl"]
			if !ok {
				return errBadCredentials("%s offers no SASL; the account cannot log in with sasl: %s", st.server, strings.ToLower(st.sasl))
			}
			if mechs != "" && !containsFold(strings.Split(mechs, ","), st.sasl) {
				return errBadCredentials("%s does not offer SASL %s (it offers %s)", st.server, st.sasl, mechs)
			}
			s.capPending++
			s.writeRaw("CAP REQ :sasl")
		}
		if len(want) > 0 {
			s.capPending++
			s.writeRaw("CAP REQ :" + strings.Join(want, " "))
		}
		if s.capPending == 0 {
			s.writeRaw("CAP END")
		}
	case "ACK", "NAK":
		ack := strings.ToUpper(m.Params[1]) == "ACK"
		for tok := range strings.FieldsSeq(lastParam(m)) {
			if ack && !strings.HasPrefix(tok, "-") {
				s.caps[tok] = true
			}
		}
		if s.capPending--; s.capPending > 0 {
			return nil
		}
		if st.sasl == "" {
			s.writeRaw("CAP END")
			return nil
		}
		if !s.caps["sasl"] {
			return errBadCredentials("%s refused the sasl capability", st.server)
		}
		s.write("AUTHENTICATE", st.sasl)
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(strings.TrimSpace(v), s) {
			return true
		}
	}
	return false
}

// services are nicks whose messages are never a patron's.
var services = map[string]bool{
	"nickserv": true, "chanserv": true, "memoserv": true, "operserv": true, "hostserv": true,
	"botserv": true, "saslserv": true, "infoserv": true, "helpserv": true, "statserv": true,
	"global": true, "alis": true,
}

func (s *session) handleMessage(m ircmsg.Message) error {
	if len(m.Params) < 2 || !strings.Contains(m.Source, "!") {
		return nil // from a server
	}
	from := m.Nick()
	target, text := m.Params[0], m.Params[1]
	if s.isMe(from) {
		return nil // echo-message: our own line
	}
	if services[strings.ToLower(from)] {
		if strings.EqualFold(from, "NickServ") && m.Command == "NOTICE" {
			return s.nickServNotice(text)
		}
		return nil
	}
	cm := s.casemap()
	if !s.isMe(target) {
		// A channel: only lines addressed to us, and no CTCP.
		s.mu.Lock()
		joined := s.joined[cm.fold(target)]
		me := s.nick
		s.mu.Unlock()
		if !joined || m.Command != "PRIVMSG" {
			return nil
		}
		if _, _, ok := parseCTCP(text); ok {
			return nil
		}
		rest, ok := addressedTo(text, cm, me, s.a.s.nick)
		if !ok {
			return nil
		}
		text = rest
	} else if cmd, args, ok := parseCTCP(text); ok {
		if m.Command == "NOTICE" {
			return nil // a CTCP reply
		}
		switch cmd {
		case "ACTION":
			// "/me waves" reaches the operator as "* waves": the nick
			// is the patron's id, which operators are not shown.
			text = "* " + args
			if strings.TrimSpace(args) == "" {
				return nil
			}
		case "VERSION":
			s.ctcpReply(from, "VERSION "+s.a.version)
			return nil
		case "PING":
			if len(args) > 64 {
				args = args[:64]
			}
			s.ctcpReply(from, strings.TrimSpace("PING "+stripControls(args)))
			return nil
		default:
			return nil
		}
	}
	text = strings.TrimSpace(stripFormatting(text))
	if text == "" {
		return nil
	}
	now := time.Now()
	id, evicted := s.a.patrons.inbound(from, now)
	if evicted != nil {
		s.in.push(protocols.Left{From: s.a.addr(evicted.id), Reason: "changed nick; another user took the old one"})
	}
	ev := protocols.Message{From: s.a.addr(id), Text: text}
	if ok, v := m.GetTag("msgid"); ok {
		ev.ID = protocols.MessageID(v)
	}
	if ok, v := m.GetTag("time"); ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			ev.Sent = t
		}
	}
	s.a.log.Debug("irc: message from a patron", "patron", id, "bytes", len(text))
	s.in.push(ev)
	return nil
}

// ctcpReply answers a CTCP request with a NOTICE, when the token bucket has
// room: a flood of CTCP requests must not get the account disconnected.
func (s *session) ctcpReply(to, body string) {
	if !s.a.bucket.TryTake() {
		return
	}
	s.write("NOTICE", to, "\x01"+body+"\x01")
}

// nickServNotice looks for NickServ refusing the password sent with
// IDENTIFY. The wording differs between services packages; these are
// Atheme's and Anope's.
func (s *session) nickServNotice(text string) error {
	if s.identified.IsZero() || time.Since(s.identified) > identifyWindow {
		return nil
	}
	t := strings.ToLower(stripFormatting(text))
	for _, refusal := range []string{"invalid password", "password incorrect", "incorrect password", "password is incorrect", "authentication failed"} {
		if strings.Contains(t, refusal) {
			return errBadCredentials("NickServ refused nickserv_password")
		}
	}
	return nil
}

// handleQuit reports a patron's QUIT (seen when they share a channel with
// the account) and regains the nick when its holder quits.
func (s *session) handleQuit(m ircmsg.Message) {
	from := m.Nick()
	if s.isMe(from) {
		return
	}
	if serverQuit(lastParam(m)) {
		// The server is going down, or split: the patron did not leave.
		// If they are gone for good, the presence poll finds it after
		// the reconnect.
		return
	}
	if p := s.a.patrons.gone(from); p != nil {
		reason := "quit"
		if r := strings.TrimSpace(stripFormatting(lastParam(m))); r != "" && len(m.Params) > 0 {
			reason = "quit: " + r
		}
		s.a.log.Debug("irc: patron quit", "patron", p.id)
		s.in.push(protocols.Left{From: s.a.addr(p.id), Reason: reason})
	}
	s.maybeRegain(from)
}

// serverQuit reports whether a QUIT reason is the server's doing, not the
// user's: a shutdown (ngircd sends "Server going down" to every client's
// channels before it stops) or a netsplit ("irc.a.net irc.b.net").
func serverQuit(reason string) bool {
	r := strings.TrimSpace(stripFormatting(reason))
	switch strings.ToLower(r) {
	case "server going down", "server shutdown", "server shutting down", "server terminating":
		return true
	}
	a, b, ok := strings.Cut(r, " ")
	isHost := func(h string) bool {
		return strings.Contains(h, ".") && !strings.ContainsAny(h, " :/@!")
	}
	return ok && isHost(a) && isHost(b)
}

// handleNick follows nick changes: ours, a patron's (the chat follows the
// new nick, keeping the patron's UserID) and the holder of our nick's.
func (s *session) handleNick(m ircmsg.Message) {
	from, to := m.Nick(), param(m, 0)
	if to == "" {
		return
	}
	if s.isMe(from) {
		s.mu.Lock()
		s.nick = to
		regained := s.cm.fold(to) == s.cm.fold(s.a.s.nick)
		s.mu.Unlock()
		if regained {
			s.a.log.Info("irc: regained the nick", "nick", to)
		}
		return
	}
	if s.a.patrons.rename(from, to) {
		s.a.log.Debug("irc: patron changed nick", "from", from, "to", to)
	}
	s.maybeRegain(from)
}

// maybeRegain takes the configured nick back when freed is it and we are on
// the alternate.
func (s *session) maybeRegain(freed string) {
	s.mu.Lock()
	want := s.a.s.nick
	on := s.nick != "" && s.cm.fold(s.nick) != s.cm.fold(want) && s.cm.fold(freed) == s.cm.fold(want)
	s.mu.Unlock()
	if on {
		s.a.bucket.TryTake() // counted, but never skipped
		s.write("NICK", want)
	}
}

func (s *session) handleMembership(m ircmsg.Message) {
	ch := param(m, 0)
	mine := s.isMe(m.Nick())
	if m.Command == "KICK" {
		mine = s.isMe(param(m, 1))
	}
	if !mine || ch == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Command == "JOIN" {
		s.joined[s.cm.fold(ch)] = true
	} else {
		delete(s.joined, s.cm.fold(ch))
	}
}

// failure reports a delivery failure for the target of an error numeric
// (params: our nick, target, text), when owlgate recently wrote there.
func (s *session) failure(m ircmsg.Message, reason string) {
	target := param(m, 1)
	if target == "" {
		return
	}
	id, msg, ok := s.a.patrons.failed(target, time.Now(), failureWindow)
	if !ok {
		return
	}
	s.a.log.Debug("irc: message not delivered", "patron", id, "numeric", m.Command)
	s.in.push(protocols.DeliveryFailure{To: s.a.addr(id), ID: msg, Reason: reason})
}

// pollLoop asks the server every interval which of the patrons (and our
// nick, while we are on alt_nick) are still online.
func (s *session) pollLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.poll()
		}
	}
}

// isonMaxNicks is the most nicks in one ISON query: servers read at most
// 15 parameters of a line (RFC 1459 2.3), so ngircd answered only the first
// 15 nicks of a longer query, and the rest looked as if they had quit.
const isonMaxNicks = 15

// isonQueries groups nicks into ISON queries of at most isonMaxNicks nicks
// and about 400 bytes each.
func isonQueries(nicks []string) [][]string {
	var out [][]string
	for len(nicks) > 0 {
		var q []string
		n := 0
		for len(nicks) > 0 && (len(q) == 0 || n+1+len(nicks[0]) <= 400 && len(q) < isonMaxNicks) {
			n += 1 + len(nicks[0])
			q = append(q, nicks[0])
			nicks = nicks[1:]
		}
		out = append(out, q)
	}
	return out
}

// poll sends ISON queries for the patrons active lately (most recent
// first) and rejoins channels we were kicked from, as far as the token
// bucket has room without waiting: polling never delays answers.
func (s *session) poll() {
	st := s.a.s
	s.mu.Lock()
	var nicks []string
	if s.cm.fold(s.nick) != s.cm.fold(st.nick) {
		nicks = append(nicks, st.nick)
	}
	var rejoin []string
	for _, ch := range st.channels {
		if !s.joined[s.cm.fold(ch)] {
			rejoin = append(rejoin, ch)
		}
	}
	s.mu.Unlock()
	for _, ch := range rejoin {
		if !s.a.bucket.TryTake() {
			return
		}
		s.write("JOIN", ch)
	}
	nicks = append(nicks, s.a.patrons.nicks(time.Now(), presenceWindow)...)
	for _, q := range isonQueries(nicks) {
		if !s.a.bucket.TryTake() {
			return
		}
		s.mu.Lock()
		s.ison = append(s.ison, q)
		s.mu.Unlock()
		if s.write("ISON", q...) != nil {
			return
		}
	}
}

// handleISON takes the reply to the oldest ISON query: a patron of the
// query not online left (quit, or changed nick unseen); our nick not online
// is taken back.
func (s *session) handleISON(m ircmsg.Message) {
	s.mu.Lock()
	if len(s.ison) == 0 {
		s.mu.Unlock()
		return
	}
	q := s.ison[0]
	s.ison = s.ison[1:]
	cm := s.cm
	s.mu.Unlock()
	online := map[string]bool{}
	for n := range strings.FieldsSeq(lastParam(m)) {
		online[cm.fold(n)] = true
	}
	for _, n := range q {
		if online[cm.fold(n)] {
			continue
		}
		if cm.fold(n) == cm.fold(s.a.s.nick) {
			s.maybeRegain(n)
			continue
		}
		if p := s.a.patrons.gone(n); p != nil {
			s.a.log.Debug("irc: patron no longer online", "patron", p.id)
			s.in.push(protocols.Left{From: s.a.addr(p.id), Reason: "offline"})
		}
	}
}

func param(m ircmsg.Message, i int) string {
	if i < len(m.Params) {
		return m.Params[i]
	}
	return ""
}

func lastParam(m ircmsg.Message) string {
	if len(m.Params) == 0 {
		return ""
	}
	return m.Params[len(m.Params)-1]
}
