package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"
)

// iconn is a patron's raw IRC client: it registers, answers PING and hands
// every PRIVMSG or NOTICE to a callback from its reader goroutine.
type iconn struct {
	Nick string
	nc   net.Conn
	wmu  sync.Mutex
	r    *bufio.Reader
}

// ircLine is what the patrons look at in a line.
type ircLine struct {
	Nick    string // of the source
	Command string
	Params  []string
}

func (l ircLine) text() string {
	if len(l.Params) == 0 {
		return ""
	}
	return l.Params[len(l.Params)-1]
}

func parseIRC(raw string) ircLine {
	var l ircLine
	s := raw
	if strings.HasPrefix(s, "@") {
		_, s, _ = strings.Cut(s, " ")
	}
	if strings.HasPrefix(s, ":") {
		var src string
		src, s, _ = strings.Cut(s[1:], " ")
		l.Nick, _, _ = strings.Cut(src, "!")
	}
	l.Command, s, _ = strings.Cut(s, " ")
	for s != "" {
		if strings.HasPrefix(s, ":") {
			l.Params = append(l.Params, s[1:])
			break
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		if p != "" {
			l.Params = append(l.Params, p)
		}
	}
	return l
}

// dialIRC connects and registers as nick, waiting for RPL_WELCOME. ngircd's
// listen backlog is 10, so a refused or reset connection is retried a few
// times with a growing pause.
func dialIRC(ctx context.Context, addr, nick string) (*iconn, error) {
	var err error
	for attempt := range 8 {
		var c *iconn
		c, err = dialIRCOnce(addr, nick)
		if err == nil {
			return c, nil
		}
		if strings.Contains(err.Error(), "registration refused") {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
	return nil, err
}

func dialIRCOnce(addr, nick string) (*iconn, error) {
	nc, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("irc %s: %w", nick, err)
	}
	c := &iconn{Nick: nick, nc: nc, r: bufio.NewReaderSize(nc, 8192)}
	nc.SetDeadline(time.Now().Add(30 * time.Second))
	c.Send("NICK " + nick + "\r\nUSER " + strings.ToLower(nick) + " 0 * :owlgate-bench patron")
	for {
		l, err := c.readLine()
		if err != nil {
			nc.Close()
			return nil, fmt.Errorf("irc %s: registering: %w", nick, err)
		}
		switch l.Command {
		case "001":
			nc.SetDeadline(time.Time{})
			return c, nil
		case "432", "433", "436", "437", "464", "465", "ERROR":
			nc.Close()
			return nil, fmt.Errorf("irc %s: registration refused: %s %v", nick, l.Command, l.Params)
		}
	}
}

func (c *iconn) readLine() (ircLine, error) {
	for {
		b, err := c.r.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				continue // an overlong line: skip it
			}
			return ircLine{}, err
		}
		raw := strings.TrimRight(string(b), "\r\n")
		l := parseIRC(raw)
		if l.Command == "PING" {
			c.Send("PONG :" + l.text())
			continue
		}
		return l, nil
	}
}

// Send writes raw lines (CRLF added at the end).
func (c *iconn) Send(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write([]byte(line + "\r\n"))
	return err
}

// Write writes b whole (lines with their CRLF).
func (c *iconn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write(b)
	return err
}

// serve reads until the connection ends, calling f for each PRIVMSG and
// NOTICE and each RPL_ISON.
func (c *iconn) serve(f func(c *iconn, l ircLine)) {
	for {
		l, err := c.readLine()
		if err != nil {
			return
		}
		switch l.Command {
		case "PRIVMSG", "NOTICE", "303":
			f(c, l)
		}
	}
}

func (c *iconn) Close() { c.nc.Close() }

func appendPrivmsg(dst []byte, to, text string) []byte {
	dst = append(dst, "PRIVMSG "...)
	dst = append(dst, to...)
	dst = append(dst, " :"...)
	dst = append(dst, text...)
	return append(dst, "\r\n"...)
}
