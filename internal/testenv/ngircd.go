package testenv

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"
)

// NgircdOptions configures StartNgircd. The zero value is usable.
type NgircdOptions struct {
	// Password is the server password clients must send (PASS); empty for
	// none. It may not hold spaces or line breaks.
	Password string
	// NoFloodPenalties sets MaxPenaltyTime = 0, turning ngircd's flood
	// penalties off, as for load tests. By default ngircd throttles a
	// client to about a line a second after a short burst (it slows it
	// down; it does not disconnect it).
	NoFloodPenalties bool
	// MaxNickLength is ngircd's nick length limit; default 30.
	MaxNickLength int
}

// Ngircd is a running (or stopped) ngircd started by StartNgircd.
type Ngircd struct {
	Dir     string // its folder: config, certificate, log
	Addr    string // plain-text client connections, 127.0.0.1:port
	TLSAddr string // TLS client connections (LocalhostCert), 127.0.0.1:port
	Name    string // the server's name, "irc.localhost"
	CAFile  string // PEM file of the CA that signed its certificate (LocalhostCert itself)

	t    testing.TB
	bin  string
	cfg  string
	proc *process
}

// ngircdConfig is /work/shared/testenv/ngircd.conf (the recipe the project
// was given), with the test's ports, a TLS port and options.
var ngircdConfig = template.Must(template.New("ngircd.conf").Parse(`# Made by owlgate's internal/testenv. Run: ngircd -n -f <this>
# No PidFile: with one, ngircd run as root drops to nobody before writing it.
[Global]
	Name = irc.localhost
	Info = ngircd for owlgate's tests
	AdminInfo1 = CI
	AdminInfo2 = CI
	AdminEMail = ci@localhost
	Listen = 127.0.0.1
	Ports = {{.Port}}
	MotdPhrase = owlgate test server
{{- if .Password}}
	Password = {{.Password}}
{{- end}}
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = {{.MaxNickLength}}
{{- if .NoFloodPenalties}}
	MaxPenaltyTime = 0
{{- end}}
	PingTimeout = 300
	PongTimeout = 60
[Options]
	DNS = no
	Ident = no
	PAM = no
[SSL]
	CertFile = {{.Dir}}/certs/localhost.crt
	KeyFile = {{.Dir}}/certs/localhost.key
	Ports = {{.TLSPort}}
`))

// StartNgircd starts an ngircd for the test on free loopback ports (one
// plain, one TLS), ready when both accept connections, and stops it when the
// test ends. It skips the test when ngircd is not installed (see the package
// doc).
func StartNgircd(t testing.TB, opts NgircdOptions) *Ngircd {
	t.Helper()
	bin := lookBinary(t, "ngircd", "ngircd")
	if strings.ContainsAny(opts.Password, " \t\r\n") {
		t.Fatalf("testenv: ngircd password %q holds spaces", opts.Password)
	}
	if opts.MaxNickLength == 0 {
		opts.MaxNickLength = 30
	}
	dir := t.TempDir()
	ports := FreePorts(t, 2)
	n := &Ngircd{
		Dir:     dir,
		Addr:    "127.0.0.1:" + strconv.Itoa(ports[0]),
		TLSAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		Name:    "irc.localhost",
		CAFile:  filepath.Join(dir, "certs", "ca.crt"),
		t:       t,
		bin:     bin,
		cfg:     filepath.Join(dir, "ngircd.conf"),
	}
	cert, err := LocalhostCert()
	if err != nil {
		t.Fatalf("testenv: certificate: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: preparing ngircd in %s: %v", dir, err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "certs"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "certs", "localhost.crt"), cert.CertPEM, 0o644))
	must(os.WriteFile(filepath.Join(dir, "certs", "localhost.key"), cert.KeyPEM, 0o600))
	must(os.WriteFile(n.CAFile, cert.CertPEM, 0o644))
	var cfg bytes.Buffer
	must(ngircdConfig.Execute(&cfg, map[string]any{
		"Dir": dir, "Port": ports[0], "TLSPort": ports[1], "Password": opts.Password,
		"NoFloodPenalties": opts.NoFloodPenalties, "MaxNickLength": opts.MaxNickLength,
	}))
	must(os.WriteFile(n.cfg, cfg.Bytes(), 0o644))
	logDump(t, "ngircd", func() []string { return []string{filepath.Join(dir, "ngircd.log")} })
	t.Cleanup(n.Stop)
	n.Start()
	return n
}

// Start starts a stopped ngircd again on the same ports and folder.
func (n *Ngircd) Start() {
	n.t.Helper()
	if n.proc != nil && !n.proc.exited() {
		return
	}
	start := time.Now()
	proc, err := startProcess("ngircd", n.Dir, filepath.Join(n.Dir, "ngircd.log"), os.Environ(), n.bin, "-n", "-f", n.cfg)
	if err != nil {
		n.t.Fatalf("testenv: %v", err)
	}
	n.proc = proc
	if err := proc.waitReady(15*time.Second, n.Addr, n.TLSAddr); err != nil {
		n.Stop()
		n.t.Fatalf("testenv: %v (logs in %s)", err, n.Dir)
	}
	n.t.Logf("testenv: ngircd (pid %d) ready in %v: %s, TLS %s",
		proc.cmd.Process.Pid, time.Since(start).Round(time.Millisecond), n.Addr, n.TLSAddr)
}

// Stop stops ngircd (SIGTERM to its PID, then SIGKILL after a bound) and
// keeps its folder; stopping a stopped ngircd does nothing.
func (n *Ngircd) Stop() {
	if n.proc == nil || n.proc.exited() {
		return
	}
	took, err := n.proc.stop(0, 10*time.Second)
	if err != nil {
		n.t.Errorf("testenv: %v", err)
		return
	}
	n.t.Logf("testenv: ngircd stopped in %v", took.Round(time.Millisecond))
}

// IRCClientOptions configures DialIRC. The zero value is usable.
type IRCClientOptions struct {
	Password string      // server password (PASS)
	TLS      *tls.Config // connect with TLS; nil for plain text
	User     string      // user name; default the nick, lower case
}

// IRCLine is one line an IRCClient received.
type IRCLine struct {
	Raw     string
	Source  string // nick!user@host or a server name; "" when absent
	Nick    string // the nick of Source (all of Source for a server)
	Command string
	Params  []string
}

// Text returns the last parameter (a message's text).
func (l *IRCLine) Text() string {
	if len(l.Params) == 0 {
		return ""
	}
	return l.Params[len(l.Params)-1]
}

// ParseIRCLine parses an IRC line (without its CRLF); message tags are
// skipped. It is written here from RFC 1459 rather than taken from irc-go,
// so that the test client does not share code with the adapter under test.
func ParseIRCLine(raw string) *IRCLine {
	l := &IRCLine{Raw: raw}
	s := raw
	if strings.HasPrefix(s, "@") {
		_, s, _ = strings.Cut(s, " ")
	}
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, ":") {
		l.Source, s, _ = strings.Cut(s[1:], " ")
		l.Nick, _, _ = strings.Cut(l.Source, "!")
	}
	for s != "" {
		s = strings.TrimLeft(s, " ")
		if s == "" {
			break
		}
		if l.Command == "" {
			l.Command, s, _ = strings.Cut(s, " ")
			l.Command = strings.ToUpper(l.Command)
			continue
		}
		if strings.HasPrefix(s, ":") {
			l.Params = append(l.Params, s[1:])
			break
		}
		var p string
		p, s, _ = strings.Cut(s, " ")
		l.Params = append(l.Params, p)
	}
	return l
}

// IRCClient is a small IRC client for tests, standing for a patron (or
// anyone else on the network): it registers, sends raw lines, answers the
// server's PINGs, and keeps every line it receives for Next and Expect.
type IRCClient struct {
	Nick string

	t    testing.TB
	conn net.Conn
	wmu  sync.Mutex

	mu      sync.Mutex
	backlog []*IRCLine // received, not yet taken by Next or Expect
	changed chan struct{}
	done    chan struct{}
	readErr error
	close   sync.Once
}

// DialIRC connects to addr and registers as nick, waiting for RPL_WELCOME.
// The connection is closed when the test ends.
func DialIRC(t testing.TB, addr, nick string, opts IRCClientOptions) (*IRCClient, error) {
	t.Helper()
	var conn net.Conn
	var err error
	d := &net.Dialer{Timeout: 10 * time.Second}
	if opts.TLS != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, opts.TLS)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("irc client %s: %w", nick, err)
	}
	c := &IRCClient{Nick: nick, t: t, conn: conn, changed: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(c.Close)
	go c.read()
	user := opts.User
	if user == "" {
		user = strings.ToLower(nick)
	}
	if opts.Password != "" {
		c.Send("PASS " + opts.Password)
	}
	c.Send("NICK " + nick)
	c.Send("USER " + user + " 0 * :owlgate test client")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	l, err := c.Next(ctx, func(l *IRCLine) bool {
		switch l.Command {
		case "001", "432", "433", "436", "437", "464", "465", "ERROR":
			return true
		}
		return false
	})
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("irc client %s: registering: %w", nick, err)
	}
	if l.Command != "001" {
		c.Close()
		return nil, fmt.Errorf("irc client %s: registration refused: %s", nick, l.Raw)
	}
	return c, nil
}

// ConnectIRC is DialIRC that fails the test on an error.
func ConnectIRC(t testing.TB, addr, nick string, opts IRCClientOptions) *IRCClient {
	t.Helper()
	c, err := DialIRC(t, addr, nick, opts)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}

func (c *IRCClient) read() {
	defer close(c.done)
	buf := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for {
		n, err := c.conn.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for {
			i := bytes.IndexByte(buf, '\n')
			if i < 0 {
				break
			}
			raw := strings.TrimRight(string(buf[:i]), "\r")
			buf = buf[i+1:]
			l := ParseIRCLine(raw)
			if l.Command == "PING" {
				c.Send("PONG :" + l.Text())
				continue
			}
			c.mu.Lock()
			c.backlog = append(c.backlog, l)
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
			return
		}
	}
}

// Send writes one raw line (without CRLF). Errors are ignored: a line to a
// closed connection is lost, as on a real network, and Next reports the
// closed connection.
func (c *IRCClient) Send(line string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	c.conn.Write([]byte(line + "\r\n"))
}

// Privmsg sends text to target.
func (c *IRCClient) Privmsg(target, text string) { c.Send("PRIVMSG " + target + " :" + text) }

// Next returns the oldest received line that match accepts, taking it out
// of the backlog, waiting for one until ctx ends or the connection closes.
func (c *IRCClient) Next(ctx context.Context, match func(*IRCLine) bool) (*IRCLine, error) {
	for {
		c.mu.Lock()
		for i, l := range c.backlog {
			if match(l) {
				c.backlog = append(c.backlog[:i:i], c.backlog[i+1:]...)
				c.mu.Unlock()
				return l, nil
			}
		}
		ch, rerr := c.changed, c.readErr
		c.mu.Unlock()
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				rerr = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("irc client %s: connection closed: %w", c.Nick, rerr)
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("irc client %s: waiting for a line: %w", c.Nick, ctx.Err())
		}
	}
}

// Expect is Next with a timeout that fails the test, saying what was
// expected. Call it from the test's goroutine.
func (c *IRCClient) Expect(timeout time.Duration, what string, match func(*IRCLine) bool) *IRCLine {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	l, err := c.Next(ctx, match)
	if err != nil {
		c.mu.Lock()
		var seen []string
		for _, l := range c.backlog {
			seen = append(seen, l.Raw)
		}
		c.mu.Unlock()
		c.t.Fatalf("%s: expected %s: %v; unmatched lines:\n%s", c.Nick, what, err, strings.Join(seen, "\n"))
	}
	return l
}

// PrivmsgFrom matches a PRIVMSG (not CTCP) from nick to the client.
func PrivmsgFrom(nick string) func(*IRCLine) bool {
	return func(l *IRCLine) bool {
		return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick, nick) && !strings.HasPrefix(l.Text(), "\x01")
	}
}

// Quit sends QUIT with a message and waits (briefly) until the server
// closes the connection.
func (c *IRCClient) Quit(msg string) {
	c.Send("QUIT :" + msg)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
	}
	c.Close()
}

// Done is closed when the connection has ended.
func (c *IRCClient) Done() <-chan struct{} { return c.done }

// Close closes the connection.
func (c *IRCClient) Close() {
	c.close.Do(func() { c.conn.Close() })
}
