package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/irc"
	"github.com/owlgate/owlgate/xmpp/server"
)

// The IRC end-to-end tests' harness: owlgate with a real IRC account on a
// real ngircd, patrons as raw IRC clients (testenv.IRCClient), operators as
// raw XMPP clients (the operator type of scenario_test.go).

// ircNick is the library's nick: ten characters, one more than ngircd's own
// default MaxNickLength of 9 (see ircStartNgircd).
const (
	ircNick    = "UNCLibrary"
	ircChannel = "#library"
	ircOffline = "Ask a Librarian is closed; email ask@example.edu."
)

// ircConfig shapes the config of an IRC end-to-end owlgate.
type ircConfig struct {
	DataDir string
	// XMPP is the xmpp section's body (indented by two spaces), without
	// the "xmpp:" line.
	XMPP string
	// OperatorDomain is the operators' domain; Passwords, when set, gives
	// each operator a password from a file (server mode).
	OperatorDomain string
	Passwords      map[string]string // name → password file
	IRCServer      string            // ngircd's plain address
	OfflineGrace   string            // the reference queue's offline_grace; "" for the default
}

// ircConfigYAML is the config: alice and bob staff the reference queue,
// which owns the IRC account (joining #library); carol staffs maps.
func ircConfigYAML(c ircConfig) string {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %q\n", c.DataDir)
	level := "info"
	if testing.Verbose() {
		level = "debug"
	}
	fmt.Fprintf(&b, "log: {level: %s}\n", level)
	fmt.Fprintf(&b, "xmpp:\n%s", c.XMPP)
	b.WriteString("http:\n  listen: 127.0.0.1:0\n")
	b.WriteString("libraries:\n  - id: unc\n    name: UNC\noperators:\n")
	for _, o := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&b, "  - jid: %s@%s\n    name: %s\n    library: unc\n", o, c.OperatorDomain, strings.ToUpper(o[:1])+o[1:])
		if f, ok := c.Passwords[o]; ok {
			fmt.Fprintf(&b, "    password: file:%s\n", f)
		}
	}
	fmt.Fprintf(&b, `queues:
  - id: reference
    name: Reference
    library: unc
    operators: [alice@%[1]s, bob@%[1]s]
    offline_message: %[2]q
`, c.OperatorDomain, ircOffline)
	if c.OfflineGrace != "" {
		fmt.Fprintf(&b, "    offline_grace: %s\n", c.OfflineGrace)
	}
	fmt.Fprintf(&b, `    accounts:
      - id: unc-irc
        network: irc
        server: %s
        tls: false
        nick: %s
        channels: [%q]
  - id: maps
    name: Maps
    library: unc
    operators: [carol@%s]
`, c.IRCServer, ircNick, ircChannel, c.OperatorDomain)
	return b.String()
}

// ircStartNgircd starts an ngircd for the test with nicks up to 30
// characters (ngircd's own default, 9, is too short for ircNick) and no
// flood penalties (the adapter's token bucket paces the library anyway).
func ircStartNgircd(t *testing.T) *testenv.Ngircd {
	t.Helper()
	return testenv.StartNgircd(t, testenv.NgircdOptions{NoFloodPenalties: true, MaxNickLength: 30})
}

// ircPasswords writes each operator's password (name + "-secret-pw") to a
// file, for `password: file:...` (t.Setenv cannot be used in parallel
// tests).
func ircPasswords(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{}
	for _, o := range []string{"alice", "bob", "carol"} {
		f := filepath.Join(dir, o+"-password")
		if err := os.WriteFile(f, []byte(o+"-secret-pw\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		files[o] = f
	}
	return files
}

// ircEmbeddedXMPP is the xmpp section of server mode on listen.
func ircEmbeddedXMPP(listen string) string {
	return fmt.Sprintf("  mode: server\n  domain: localhost\n  listen: %s\n", listen)
}

// ircStartOwlgate runs owlgate in the test's process, as `owlgate run`
// does, with the networks of the real binary (IRC), until the test ends.
func ircStartOwlgate(t *testing.T, cfgYAML string) *owlgate {
	t.Helper()
	return runOwlgate(t, cfgYAML, map[string]protocols.Factory{"irc": irc.New})
}

// ircLoginEmbedded logs name in to owlgate's embedded server at addr over
// STARTTLS, trusting the certificate owlgate made in dataDir.
func ircLoginEmbedded(t *testing.T, addr, dataDir, name string) *operator {
	t.Helper()
	tlsConf := trustFile(t, filepath.Join(dataDir, server.SelfSignedCert), "localhost")
	c := testenv.Login(t, addr, name+"@localhost", name+"-secret-pw", testenv.ClientOptions{Resource: "desk", TLS: tlsConf})
	return &operator{t: t, name: name, c: c}
}

// ircXMPPAddr is the embedded server's address.
func ircXMPPAddr(t *testing.T, og *owlgate) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	addr, err := og.d.XMPPAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return addr.String()
}

// ircPatron is a patron on IRC: a raw client that shares #library with
// the library's nick, so that both see each other's JOIN and QUIT.
type ircPatron struct {
	*testenv.IRCClient
	t *testing.T
}

// ircConnectPatron connects nick to ngircd at addr and joins #library.
func ircConnectPatron(t *testing.T, addr, nick string) *ircPatron {
	t.Helper()
	p := ircConnectPrivate(t, addr, nick)
	p.Send("JOIN " + ircChannel)
	p.Expect(wait, "the end of #library's names", func(l *testenv.IRCLine) bool {
		return l.Command == "366" && len(l.Params) > 1 && strings.EqualFold(l.Params[1], ircChannel)
	})
	return p
}

// ircConnectPrivate connects nick to ngircd at addr, in no channel: the
// library does not see it quit.
func ircConnectPrivate(t *testing.T, addr, nick string) *ircPatron {
	t.Helper()
	return &ircPatron{IRCClient: testenv.ConnectIRC(t, addr, nick, testenv.IRCClientOptions{}), t: t}
}

// libraryIn reports whether the library's nick was in #library's names
// when the patron joined (its 353 lines).
func (p *ircPatron) libraryIn() bool {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // look at what arrived only
	_, err := p.Next(ctx, func(l *testenv.IRCLine) bool {
		if l.Command != "353" {
			return false
		}
		for n := range strings.FieldsSeq(l.Text()) {
			if strings.EqualFold(strings.TrimLeft(n, "@+%&~"), ircNick) {
				return true
			}
		}
		return false
	})
	return err == nil
}

// expectLibrary waits for the library's nick to do command (JOIN, QUIT,
// PART) where the patron sees it, and returns the line.
func (p *ircPatron) expectLibrary(command string) *testenv.IRCLine {
	p.t.Helper()
	return p.Expect(wait, ircNick+" "+command, func(l *testenv.IRCLine) bool {
		return l.Command == command && strings.EqualFold(l.Nick, ircNick)
	})
}

// expectAnswer waits for a private message from the library and returns
// its text.
func (p *ircPatron) expectAnswer(what string) string {
	p.t.Helper()
	l := p.Expect(wait, what+" from "+ircNick, func(l *testenv.IRCLine) bool {
		return testenv.PrivmsgFrom(ircNick)(l) && strings.EqualFold(l.Params[0], p.Nick)
	})
	return l.Text()
}

// seenFromLibrary returns the lines the patron has received, and not yet
// taken, where the library's nick did command.
func (p *ircPatron) seenFromLibrary(command string) []string {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var seen []string
	for {
		l, err := p.Next(ctx, func(l *testenv.IRCLine) bool {
			return l.Command == command && strings.EqualFold(l.Nick, ircNick)
		})
		if err != nil {
			return seen
		}
		seen = append(seen, l.Raw)
	}
}

// signon asks ngircd (WHOIS) when the library's nick connected, as the
// unix time of RPL_WHOISIDLE (317).
func (p *ircPatron) signon() string {
	p.t.Helper()
	p.Send("WHOIS " + ircNick)
	l := p.Expect(wait, "WHOIS idle of "+ircNick, func(l *testenv.IRCLine) bool {
		return l.Command == "317" && len(l.Params) >= 4 && strings.EqualFold(l.Params[1], ircNick)
	})
	p.Expect(wait, "the end of WHOIS", func(l *testenv.IRCLine) bool { return l.Command == "318" })
	return l.Params[3]
}

// ircOffer waits for the three-line offer of a patron's first message,
// question, from a guest JID of domain, and returns that JID.
func ircOffer(o *operator, domain, question string) string {
	o.t.Helper()
	s := o.c.Expect(wait, o.name+": an offer of "+question, func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && s.Body == question && strings.HasPrefix(s.From, "guest-") &&
			strings.HasSuffix(bareOf(s.From), "@"+domain)
	})
	guest := bareOf(s.From)
	id, _, _ := strings.Cut(guest, "@")
	o.expectFrom(guest, id+" · irc · Reference")
	o.expectFrom(guest, "Reply to take this chat")
	return guest
}

// ircWho asks o's /who about guest's chat and returns the answer.
func ircWho(o *operator, guest string) string {
	o.t.Helper()
	o.say(guest, "/who")
	return o.c.Expect(wait, o.name+": the answer to /who", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == guest && strings.Contains(s.Body, "Started ")
	}).Body
}

// ircNotGiven checks that o, who does not hold guest's chat, was not given
// text: o asks /who, whose answer comes after anything the engine sent o
// about the chat before, and says who holds it; it returns that answer.
func ircNotGiven(o *operator, guest, text string) string {
	o.t.Helper()
	o.say(guest, "/who")
	s := o.c.Expect(wait, o.name+": the answer to /who", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == guest &&
			(strings.Contains(s.Body, text) || strings.Contains(s.Body, "Started "))
	})
	if strings.Contains(s.Body, text) {
		o.t.Fatalf("%s, not the holder, was given the patron's %q", o.name, text)
	}
	return s.Body
}

// ircGate is a TCP relay in front of ngircd for owlgate's IRC account,
// which the test can close: while closed, a new connection is accepted but
// not relayed (the account waits in registration) until the gate opens.
// It makes the order of reconnections after a server restart a choice of
// the test rather than a race.
type ircGate struct {
	Addr string

	t        *testing.T
	upstream string
	ln       net.Listener

	mu     sync.Mutex
	open   chan struct{} // closed while the gate is open
	conns  map[net.Conn]bool
	closed bool
	frozen chan struct{} // while not nil and open, ngircd's lines to owlgate wait
}

func ircStartGate(t *testing.T, upstream string) *ircGate {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &ircGate{Addr: ln.Addr().String(), t: t, upstream: upstream, ln: ln, open: make(chan struct{}), conns: map[net.Conn]bool{}}
	close(g.open)
	go g.serve()
	t.Cleanup(g.stop)
	return g
}

// hold closes the gate to new connections.
func (g *ircGate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// release opens the gate: held connections are relayed.
func (g *ircGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// freezeUntilQuit holds ngircd's lines to owlgate, on the connections
// relayed now, until owlgate sends QUIT (as it does when it stops): they
// then reach owlgate while it is stopping.
func (g *ircGate) freezeUntilQuit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.frozen = make(chan struct{})
}

// sawQuit thaws ngircd's lines to owlgate.
func (g *ircGate) sawQuit() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.frozen != nil {
		close(g.frozen)
		g.frozen = nil
	}
}

func (g *ircGate) waitThawed() {
	g.mu.Lock()
	f := g.frozen
	g.mu.Unlock()
	if f != nil {
		<-f
	}
}

func (g *ircGate) track(c net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		c.Close()
		return false
	}
	g.conns[c] = true
	return true
}

func (g *ircGate) stop() {
	g.ln.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for c := range g.conns {
		c.Close()
	}
	if g.frozen != nil {
		close(g.frozen)
		g.frozen = nil
	}
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

func (g *ircGate) serve() {
	for {
		down, err := g.ln.Accept()
		if err != nil {
			return
		}
		if !g.track(down) {
			return
		}
		go g.relay(down)
	}
}

func (g *ircGate) relay(down net.Conn) {
	defer down.Close()
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	<-open
	up, err := net.DialTimeout("tcp", g.upstream, 5*time.Second)
	if err != nil {
		return
	}
	if !g.track(up) {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() {
		// owlgate → ngircd, watching for owlgate's QUIT.
		var line []byte
		buf := make([]byte, 4096)
		for {
			n, err := down.Read(buf)
			for _, b := range buf[:n] {
				if b == '\n' {
					if strings.HasPrefix(string(line), "QUIT") {
						g.sawQuit()
					}
					line = line[:0]
					continue
				}
				line = append(line, b)
			}
			if n > 0 {
				if _, werr := up.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	go func() {
		// ngircd → owlgate, held while frozen.
		buf := make([]byte, 4096)
		for {
			n, err := up.Read(buf)
			if n > 0 {
				g.waitThawed()
				if _, werr := down.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done // either side ended: end both
}

// ircBuildBinary builds owlgate's command, as a user does, into a folder
// of the test.
func ircBuildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "owlgate")
	start := time.Now()
	cmd := exec.Command("go", "build", "-tags", "goolm", "-o", bin, "github.com/owlgate/owlgate/cmd/owlgate")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/owlgate: %v\n%s", err, out)
	}
	t.Logf("built owlgate in %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// ircProcess is the real owlgate binary running `owlgate run`.
type ircProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// ircRunBinary starts `owlgate run --config cfgPath`, its log appended to
// logPath, and waits until its embedded server accepts connections at
// xmppAddr.
func ircRunBinary(t *testing.T, bin, cfgPath, logPath, xmppAddr string) *ircProcess {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("starting owlgate: %v", err)
	}
	p := &ircProcess{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	// Readiness: the port accepts connections (a bounded poll, as testenv
	// does for the servers it starts).
	deadline := time.Now().Add(wait)
	for {
		c, err := net.DialTimeout("tcp", xmppAddr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.done:
			t.Fatalf("owlgate exited before it listened at %s: %v", xmppAddr, p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("owlgate did not listen at %s within %v", xmppAddr, wait)
		}
	}
}

// kill sends SIGKILL and waits for the process to end.
func (p *ircProcess) kill(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(wait):
		t.Errorf("owlgate (pid %d) survived SIGKILL for %v", p.cmd.Process.Pid, wait)
	}
}

// ircDumpLog prints the end of a log file when the test failed.
func ircDumpLog(t *testing.T, name, path string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Logf("%s log: %v", name, err)
			return
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 120 {
			lines = lines[len(lines)-120:]
		}
		t.Logf("%s log (last lines):\n%s", name, strings.Join(lines, "\n"))
	})
}
