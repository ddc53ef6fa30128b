package irc

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
)

// ngircd offers neither SASL nor the IRCv3 capabilities owlgate asks for,
// so these tests play the server's side of those exchanges by hand, with
// lines as Ergo and Libera send them.

type fakeServer struct {
	t  *testing.T
	ln net.Listener
}

type fakeConn struct {
	t     *testing.T
	c     net.Conn
	lines chan string
}

func startFake(t *testing.T, tlsCfg *tls.Config) *fakeServer {
	t.Helper()
	var ln net.Listener
	var err error
	if tlsCfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeServer{t: t, ln: ln}
}

func (f *fakeServer) addr() string { return f.ln.Addr().String() }

func (f *fakeServer) accept() *fakeConn {
	f.t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := f.ln.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			f.t.Fatal(r.err)
		}
		fc := &fakeConn{t: f.t, c: r.c, lines: make(chan string, 100)}
		f.t.Cleanup(func() { r.c.Close() })
		go func() {
			defer close(fc.lines)
			sc := bufio.NewScanner(r.c)
			for sc.Scan() {
				fc.lines <- strings.TrimRight(sc.Text(), "\r")
			}
		}()
		return fc
	case <-time.After(wait):
		f.t.Fatal("the adapter did not connect")
		return nil
	}
}

// expect returns the next line from the adapter, which must start with
// prefix.
// expect reads the adapter's next line, which must start with prefix. The
// PINGs that confirm lines to patrons (confirm.go) are passed over unless
// prefix asks for one.
func (fc *fakeConn) expect(prefix string) string {
	fc.t.Helper()
	for {
		select {
		case l, ok := <-fc.lines:
			if !ok {
				fc.t.Fatalf("connection closed; want %q", prefix)
			}
			if strings.HasPrefix(l, "PING :"+confirmToken) && !strings.HasPrefix(prefix, "PING :"+confirmToken) {
				continue
			}
			if !strings.HasPrefix(l, prefix) {
				fc.t.Fatalf("adapter sent %q; want %q", l, prefix)
			}
			return l
		case <-time.After(wait):
			fc.t.Fatalf("adapter sent nothing; want %q", prefix)
			return ""
		}
	}
}

func (fc *fakeConn) send(lines ...string) {
	for _, l := range lines {
		fc.c.Write([]byte(l + "\r\n"))
	}
}

// register plays registration after the CAP exchange: welcome, ISUPPORT,
// end of MOTD.
func (fc *fakeConn) welcome(nick string) {
	fc.send(":fake.test 001 "+nick+" :Welcome to the fake network "+nick,
		":fake.test 005 "+nick+" CASEMAPPING=ascii NICKLEN=30 :are supported by this server",
		":fake.test 376 "+nick+" :End of /MOTD command")
}

// openCAP reads the adapter's opening lines and offers caps.
func (fc *fakeConn) openCAP(caps ...string) {
	fc.expect("CAP LS 302")
	fc.expect("NICK ")
	fc.expect("USER ")
	fc.send(":fake.test CAP * LS * :multi-prefix "+caps[0], ":fake.test CAP * LS :"+strings.Join(caps[1:], " "))
}

func TestSASLPlainAndCaps(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	cfg := plain(f.addr(), "SaslLib")
	cfg.SASL, cfg.SASLUser, cfg.SASLPassword = "plain", "unc", config.NewSecret("sasl-pw")
	a := newTestAdapter(t, cfg)
	r := run(t, a)
	fc := f.accept()
	fc.openCAP("sasl=PLAIN,EXTERNAL", "account-notify", "server-time", "message-tags", "echo-message", "labeled-response")
	fc.expect("CAP REQ :sasl")
	if l := fc.expect("CAP REQ "); l != "CAP REQ :message-tags server-time echo-message" {
		t.Errorf("requested %q", l)
	}
	fc.send(":fake.test CAP * ACK :sasl", ":fake.test CAP * ACK :message-tags server-time echo-message")
	fc.expect("AUTHENTICATE PLAIN")
	fc.send("AUTHENTICATE +")
	payload := strings.TrimPrefix(fc.expect("AUTHENTICATE "), "AUTHENTICATE ")
	if raw, err := base64.StdEncoding.DecodeString(payload); err != nil || string(raw) != "unc\x00unc\x00sasl-pw" {
		t.Errorf("PLAIN payload %q (%v)", raw, err)
	}
	fc.send(":fake.test 900 SaslLib SaslLib!owlgate@h unc :You are now logged in as unc",
		":fake.test 903 SaslLib :SASL authentication successful")
	fc.expect("CAP END")
	fc.welcome("SaslLib")
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatal(err)
	}
	// server-time and msgid; an echo of our own line is ignored.
	fc.send("@time=2026-03-04T05:06:07.089Z;msgid=m-1 :Pat!~pat@host PRIVMSG SaslLib :hello with tags",
		"@time=2026-03-04T05:06:08.000Z;msgid=m-2 :SaslLib!~owlgate@host PRIVMSG Pat :an echo of ours",
		":Pat!~pat@host PRIVMSG SaslLib :second")
	m := nextEvent[protocols.Message](t, r.sink)
	want := time.Date(2026, 3, 4, 5, 6, 7, 89e6, time.UTC)
	if m.Text != "hello with tags" || !m.Sent.Equal(want) || m.ID != "m-1" || m.From != a.addr("Pat") {
		t.Errorf("message %+v", m)
	}
	if m := nextEvent[protocols.Message](t, r.sink); m.Text != "second" || !m.Sent.IsZero() {
		t.Errorf("after the echo: %+v", m)
	}
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: a.addr("Pat"), Text: "reply"}); err != nil {
		t.Fatal(err)
	}
	fc.expect("PRIVMSG Pat :reply")
	// ERR_NOSUCHNICK after a send (as the server tags it with nothing).
	fc.send(":fake.test 401 SaslLib Pat :No such nick/channel")
	if f := nextEvent[protocols.DeliveryFailure](t, r.sink); f.To != a.addr("Pat") || f.Reason != "no such nick" {
		t.Errorf("failure %+v", f)
	}
	// A server PING is answered.
	fc.send("PING :keepalive-42")
	fc.expect("PONG :keepalive-42")
	r.stop()
	fc.expect("QUIT ")
}

func TestSASLFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		script func(fc *fakeConn)
		want   string
	}{
		{"PlainRefused", func(fc *fakeConn) {
			fc.openCAP("sasl", "server-time")
			fc.expect("CAP REQ :sasl")
			fc.expect("CAP REQ :server-time")
			fc.send(":fake.test CAP * ACK :sasl", ":fake.test CAP * NAK :server-time")
			fc.expect("AUTHENTICATE PLAIN")
			fc.send("AUTHENTICATE +")
			fc.expect("AUTHENTICATE ")
			fc.send(":fake.test 904 SaslLib :SASL authentication failed")
		}, "SASL PLAIN login refused"},
		{"NoSASLOffered", func(fc *fakeConn) {
			fc.openCAP("server-time", "message-tags")
		}, "offers no SASL"},
		{"MechanismNotOffered", func(fc *fakeConn) {
			fc.openCAP("sasl=EXTERNAL", "message-tags")
		}, "does not offer SASL PLAIN"},
		{"NoCAPAtAll", func(fc *fakeConn) {
			fc.expect("CAP LS 302")
			fc.send(":fake.test 421 * CAP :Unknown command")
			fc.expect("NICK ")
			fc.expect("USER ")
			fc.welcome("SaslLib")
		}, "offers no SASL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, nil)
			cfg := plain(f.addr(), "SaslLib")
			cfg.SASL, cfg.SASLUser, cfg.SASLPassword = "plain", "unc", config.NewSecret("sasl-pw")
			r := run(t, newTestAdapter(t, cfg))
			tc.script(f.accept())
			select {
			case err := <-r.done:
				r.done <- err
				if !errors.Is(err, protocols.ErrBadCredentials) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "sasl-pw") {
					t.Errorf("Run = %v; want bad credentials, %q", err, tc.want)
				}
			case <-time.After(wait):
				t.Fatal("Run did not stop")
			}
			if st := r.sink.LastState(); st.State != protocols.AccountBadCredentials {
				t.Errorf("last state %+v", st)
			}
		})
	}
}

// TestSASLExternal logs in with a client certificate over TLS; the server
// checks the certificate was presented.
func TestSASLExternal(t *testing.T) {
	t.Parallel()
	cert, err := testenv.LocalhostCert()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	f := startFake(t, &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, cert.CertPEM, 0o644)
	cfg := Config{Server: f.addr(), Nick: "CertLib", TLSCA: ca, SASL: "external",
		ClientCert: config.NewSecret(string(cert.CertPEM)), ClientKey: config.NewSecret(string(cert.KeyPEM))}
	r := run(t, newTestAdapter(t, cfg))
	fc := f.accept()
	fc.openCAP("sasl=PLAIN,EXTERNAL", "server-time")
	fc.expect("CAP REQ :sasl")
	fc.expect("CAP REQ :server-time")
	fc.send(":fake.test CAP * ACK :sasl", ":fake.test CAP * ACK :server-time")
	fc.expect("AUTHENTICATE EXTERNAL")
	tc := fc.c.(*tls.Conn)
	if peer := tc.ConnectionState().PeerCertificates; len(peer) != 1 || peer[0].Subject.CommonName != "localhost" {
		t.Errorf("client certificates %v", peer)
	}
	fc.send("AUTHENTICATE +")
	fc.expect("AUTHENTICATE +")
	fc.send(":fake.test 903 CertLib :SASL authentication successful")
	fc.expect("CAP END")
	fc.welcome("CertLib")
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatal(err)
	}
}

// TestTimeouts: a server that never completes registration, and one that
// goes silent and does not answer our PING, each end the connection, and
// the account backs off and tries again.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("Registration", func(t *testing.T) {
		f := startFake(t, nil)
		a := newTestAdapter(t, plain(f.addr(), "SlowLib"))
		a.regTimeout = 300 * time.Millisecond
		r := run(t, a)
		f.accept().expect("CAP LS 302")
		if err := r.sink.WaitState(ctxFor(t), protocols.AccountBackoff); err != nil {
			t.Fatal(err)
		}
		if st := r.sink.LastState(); !strings.Contains(st.Err.Error(), "did not complete registration") {
			t.Errorf("backoff %+v", st)
		}
		f.accept() // the next attempt
	})
	t.Run("Ping", func(t *testing.T) {
		f := startFake(t, nil)
		a := newTestAdapter(t, plain(f.addr(), "PingLib"))
		a.pingIdle, a.pongWait = 300*time.Millisecond, 300*time.Millisecond
		r := run(t, a)
		fc := f.accept()
		fc.openCAP("x", "y")
		fc.expect("CAP END")
		fc.welcome("PingLib")
		if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
			t.Fatal(err)
		}
		fc.expect("PING :owlgate")
		if err := r.sink.WaitState(ctxFor(t), protocols.AccountBackoff); err != nil {
			t.Fatal(err)
		}
		if st := r.sink.LastState(); !strings.Contains(st.Err.Error(), "did not answer a PING") {
			t.Errorf("backoff %+v", st)
		}
	})
}

// TestUnconfirmedLinesWrittenAgain: the server confirms the first answer
// (its PONG to the PING after it) and closes the connection after reading
// the second without confirming it: after reconnecting, the adapter writes
// the second again, before anything new, and not the first.
func TestUnconfirmedLinesWrittenAgain(t *testing.T) {
	t.Parallel()
	f := startFake(t, nil)
	a := newTestAdapter(t, plain(f.addr(), "ConfLib"))
	r := run(t, a)
	online := func() *fakeConn {
		fc := f.accept()
		fc.openCAP("x", "y")
		fc.expect("CAP END")
		fc.welcome("ConfLib")
		return fc
	}
	fc := online()
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatal(err)
	}
	ada := protocols.Address{Network: Network, Account: account, User: "ada"}
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: ada, ID: "m1", Text: "first"}); err != nil {
		t.Fatal(err)
	}
	fc.expect("PRIVMSG ada :first")
	ping := fc.expect("PING :" + confirmToken)
	fc.send(":fake.test PONG fake.test :" + strings.TrimPrefix(ping, "PING :"))
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: ada, ID: "m2", Text: "second"}); err != nil {
		t.Fatal(err)
	}
	fc.expect("PRIVMSG ada :second")
	fc.expect("PING :" + confirmToken) // not answered: the server goes away
	fc.send("ERROR :Closing Link: fake.test (Server going down)")
	fc.c.Close()

	fc = online()
	if err := r.sink.WaitStateCount(ctxFor(t), protocols.AccountOnline, 2); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctxFor(t), protocols.OutMessage{To: ada, ID: "m3", Text: "third"}); err != nil {
		t.Fatal(err)
	}
	fc.expect("PRIVMSG ada :second")
	fc.expect("PRIVMSG ada :third")
}
