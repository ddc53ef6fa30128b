package irc

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Lines to patrons are confirmed by the server's answer to a PING sent
// after them: IRC answers nothing to a PRIVMSG that arrives, and a line
// written to a connection the server has just closed (it shut down, or
// dropped us) is accepted by the kernel all the same and lost. A server
// reads its lines in order, so its PONG to a PING written after a line
// says it read the line. Lines not confirmed when a connection ends with
// an error are written again, first, on the next connection, to the
// patron's nick then; a patron who is gone by then gets the usual "no such
// nick" and the operator is told the message was not received. A line may
// so reach a patron twice, never silently not at all (while owlgate runs:
// Send has returned, so the gateway's outbox no longer holds it).
//
// One confirming PING is out at a time, sent right after a line when none
// is out; lines written while one is out wait for the next, sent when its
// PONG comes, so a burst costs a few PINGs. It takes a token of the
// account's bucket like any line, so the server's flood limits hold.

// confirmToken prefixes the PINGs that confirm lines.
const confirmToken = "owlgate-confirm-"

// sentLine is a line written to a patron, kept until confirmed.
type sentLine struct {
	user protocols.UserID // the patron, as the gateway addresses them
	id   protocols.MessageID
	text string
}

// confirmer is a session's lines awaiting confirmation.
type confirmer struct {
	mu      sync.Mutex
	lines   []sentLine
	seq     uint64 // the last confirming PING's number
	out     bool   // a confirming PING is out (or due)
	covered int    // lines[:covered] are confirmed by the PING out
}

// sent notes a line written to the server and, when no confirming PING is
// out, has one sent shortly.
func (s *session) sent(l sentLine) {
	c := &s.confirm
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, l)
	if !c.out {
		c.out = true
		go s.pingToConfirm()
	}
}

// pingToConfirm writes the PING that confirms the lines written so far.
func (s *session) pingToConfirm() {
	if s.a.bucket.Wait(s.ctx) != nil {
		return
	}
	c := &s.confirm
	c.mu.Lock()
	c.seq++
	c.covered = len(c.lines)
	token := confirmToken + strconv.FormatUint(c.seq, 10)
	c.mu.Unlock()
	s.writeRaw("PING :" + token)
}

// pong takes the server's answer to a PING; it reports whether it was a
// confirming one.
func (s *session) pong(token string) bool {
	n, ok := strings.CutPrefix(token, confirmToken)
	if !ok {
		return false
	}
	c := &s.confirm
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.out || n != strconv.FormatUint(c.seq, 10) {
		return true // an old one
	}
	clear(c.lines[:c.covered])
	c.lines = c.lines[c.covered:]
	c.covered = 0
	c.out = false
	if len(c.lines) > 0 {
		c.out = true
		go s.pingToConfirm()
	}
	return true
}

// unconfirmed stops the confirmations and returns the lines the server
// did not confirm.
func (s *session) unconfirmed() []sentLine {
	c := &s.confirm
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines
	c.lines, c.out = nil, false
	return lines
}

// hasReplay reports whether lines wait to be written again.
func (a *Adapter) hasReplay() bool {
	a.replayMu.Lock()
	defer a.replayMu.Unlock()
	return len(a.replay) > 0
}

// keepForReplay puts lines the next connection writes first ahead of those
// kept already: they were written before those were (written again, or
// not yet).
func (a *Adapter) keepForReplay(lines []sentLine) {
	if len(lines) == 0 {
		return
	}
	a.replayMu.Lock()
	a.replay = append(lines[:len(lines):len(lines)], a.replay...)
	n := len(a.replay)
	a.replayMu.Unlock()
	a.log.Warn("irc: lines the server did not confirm before the connection ended; writing them again after reconnecting", "lines", n)
}

// writeReplay writes the kept lines, in order, before any new message (the
// caller holds a.sendSem). Lines that cannot be written stay kept.
func (s *session) writeReplay() {
	a := s.a
	a.replayMu.Lock()
	lines := a.replay
	a.replay = nil
	a.replayMu.Unlock()
	for i, l := range lines {
		if a.bucket.Wait(s.ctx) != nil {
			a.keepAfterReplay(lines[i:])
			return
		}
		nick := a.patrons.outbound(string(l.user), l.id, time.Now())
		if err := s.write("PRIVMSG", nick, l.text); err != nil {
			a.keepAfterReplay(lines[i:])
			return
		}
		s.sent(l)
	}
}

// keepAfterReplay keeps lines a replay could not write. The session's own
// unconfirmed lines (written before these) are put ahead of them when it
// ends (keepForReplay).
func (a *Adapter) keepAfterReplay(lines []sentLine) {
	a.replayMu.Lock()
	a.replay = append(a.replay, lines...)
	a.replayMu.Unlock()
}
