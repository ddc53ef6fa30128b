package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/daemon"
	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/xmpp/server"
)

// trustFile is a TLS config that trusts only the PEM certificate in path.
func trustFile(t *testing.T, path, name string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("owlgate's certificate: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("no certificate in %s", path)
	}
	return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}
}

// wait bounds every wait for a stanza: a liveness bound, not a speed check.
const wait = 15 * time.Second

// owlgate is a running daemon for a test, with its patrons' network.
type owlgate struct {
	stop   func() // shuts owlgate down as SIGTERM does; called again at the end of the test
	d      *daemon.Daemon
	net    *protocoltest.Loopback
	domain string
}

// startOwlgate runs owlgate (runOwlgate) with the loopback network "loop"
// for patrons: net, or a new one when net is nil.
func startOwlgate(t *testing.T, cfgYAML string, net *protocoltest.Loopback) *owlgate {
	t.Helper()
	if net == nil {
		net = protocoltest.NewLoopback("loop")
	}
	og := runOwlgate(t, cfgYAML, map[string]protocols.Factory{"loop": net.Factory()})
	og.net = net
	return og
}

// runOwlgateServing is runOwlgate, returning once owlgate's HTTP server
// listens (for networks that reach owlgate over HTTP).
func runOwlgateServing(t *testing.T, cfgYAML string, networks map[string]protocols.Factory) *owlgate {
	t.Helper()
	og := runOwlgate(t, cfgYAML, networks)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := og.d.HTTPAddr(ctx); err != nil {
		t.Fatalf("owlgate's HTTP server: %v", err)
	}
	return og
}

// runOwlgate writes cfgYAML to a file, loads it as `owlgate run` does and
// runs the daemon in the test's process with the given networks until the
// test ends (or og.stop).
func runOwlgate(t *testing.T, cfgYAML string, networks map[string]protocols.Factory) *owlgate {
	t.Helper()
	path := filepath.Join(t.TempDir(), "owlgate.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatalf("config: %v\n%s", err, cfgYAML)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{Config: cfg, Networks: networks, Log: testLogger(t), Version: "e2e"})
	if err != nil {
		cancel()
		t.Fatalf("daemon: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	og := &owlgate{d: d, domain: cfg.XMPP.Domain}
	og.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("owlgate stopped with %v", err)
				}
			case <-time.After(wait):
				t.Errorf("owlgate did not stop within %v", wait)
			}
		})
	}
	t.Cleanup(og.stop)
	return og
}

// operator is a librarian's XMPP client.
type operator struct {
	t    *testing.T
	name string
	c    *testenv.Client
}

func (o *operator) say(to, text string) {
	o.c.Send(fmt.Sprintf(`<message type="chat" to=%q><body>%s</body></message>`, to, xmlText(text)))
}

// expectFrom waits for a message from the bare JID from whose body contains
// want, and returns the body.
func (o *operator) expectFrom(from, want string) string {
	o.t.Helper()
	s := o.c.Expect(wait, fmt.Sprintf("%s: a message from %s containing %q", o.name, from, want), func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == from && strings.Contains(s.Body, want)
	})
	return s.Body
}

// expectOnline waits for the queue's JID to show available.
func (o *operator) expectOnline(queue string) {
	o.t.Helper()
	o.c.Expect(wait, o.name+": "+queue+" online", func(s *testenv.ClientStanza) bool {
		return s.Name == "presence" && bareOf(s.From) == queue && s.Type == ""
	})
}

func bareOf(j string) string {
	b, _, _ := strings.Cut(j, "/")
	return b
}

func xmlText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// runScenario is the scenario of issue #3, on any operator link: alice and
// bob staff the reference queue, carol another queue of the same library.
// A patron writes; alice and bob get the three-line offer; bob replies and
// takes the chat; alice is told, and her message to the patron is refused
// with a notice; /transfer to carol brings her the conversation so far; the
// patron leaves and carol, the holder, is told.
func runScenario(t *testing.T, og *owlgate, alice, bob, carol *operator) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	d := og.domain
	reference, guest := "reference@"+d, "guest-1001@"+d
	alice.expectOnline(reference)
	bob.expectOnline(reference)
	if err := og.net.WaitOnline(ctx, "unc-loop"); err != nil {
		t.Fatalf("the patrons' account did not log in with its queue online: %v", err)
	}

	patron := og.net.Patron("unc-loop", "patron-ada")
	const question = "Do you have maps of Chapel Hill from 1850?"
	if err := patron.Say(ctx, question); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*operator{alice, bob} {
		o.expectFrom(guest, question)
		o.expectFrom(guest, "guest-1001 · loop · Reference")
		o.expectFrom(guest, "Reply to take this chat")
	}

	const answer = "Yes: the North Carolina Collection has them, fourth floor."
	bob.say(guest, answer)
	if got, err := patron.Next(ctx); err != nil || got != answer {
		t.Fatalf("the patron received %q, %v; want bob's answer", got, err)
	}
	alice.expectFrom(guest, "Bob took this chat.")

	alice.say(guest, "I can help too!")
	alice.expectFrom(guest, "Not delivered: Bob has this chat.")

	bob.say(guest, "/transfer carol@"+carolDomain(carol))
	context := carol.expectFrom(guest, "Conversation so far")
	for _, want := range []string{question, answer} {
		if !strings.Contains(context, want) {
			t.Errorf("carol's transfer context lacks %q:\n%s", want, context)
		}
	}
	if strings.Contains(context, "I can help too") {
		t.Errorf("alice's refused message is in the transfer context:\n%s", context)
	}
	bob.expectFrom(guest, "Transferred to Carol")
	// The patron's next message is the transfer note: alice's refused
	// message never reached them.
	if got, err := patron.Next(ctx); err != nil || !strings.Contains(got, "transferred") {
		t.Fatalf("the patron received %q, %v; want the transfer note", got, err)
	}

	carol.say(guest, "Hello, I'm Carol, the maps librarian.")
	if got, err := patron.Next(ctx); err != nil || !strings.Contains(got, "Carol") {
		t.Fatalf("the patron received %q, %v; want carol's message", got, err)
	}
	if err := patron.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	carol.expectFrom(guest, "The patron left")
}

// carolDomain is the domain of carol's JID.
func carolDomain(carol *operator) string {
	_, domain, _ := strings.Cut(bareOf(carol.c.JID), "@")
	return domain
}

// libraryYAML is the libraries, operators and queues of the scenario;
// passwords only in server mode.
func libraryYAML(operatorDomain string, withPasswords bool) string {
	var ops strings.Builder
	for _, o := range []string{"alice", "bob", "carol"} {
		fmt.Fprintf(&ops, "  - jid: %s@%s\n    name: %s\n    library: unc\n", o, operatorDomain, strings.ToUpper(o[:1])+o[1:])
		if withPasswords {
			fmt.Fprintf(&ops, "    password: ${%s_PASSWORD}\n", strings.ToUpper(o))
		}
	}
	return fmt.Sprintf(`libraries:
  - id: unc
    name: UNC
operators:
%squeues:
  - id: reference
    name: Reference
    library: unc
    operators: [alice@%[2]s, bob@%[2]s]
    accounts:
      - id: unc-loop
        network: loop
  - id: maps
    name: Maps
    library: unc
    operators: [carol@%[2]s]
`, ops.String(), operatorDomain)
}

// embeddedYAML sets the scenario's operators' passwords (alice-secret-pw,
// ...) and returns the top of a config with owlgate as their XMPP server,
// on free ports, its http section last.
func embeddedYAML(t *testing.T, dataDir string) string {
	for _, o := range []string{"ALICE", "BOB", "CAROL"} {
		t.Setenv(o+"_PASSWORD", strings.ToLower(o)+"-secret-pw")
	}
	return fmt.Sprintf(`data_dir: %s
xmpp:
  mode: server
  domain: localhost
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
`, dataDir)
}

// TestScenarioEmbeddedServer runs the scenario with owlgate as the
// operators' XMPP server: they log in over STARTTLS with SCRAM.
func TestScenarioEmbeddedServer(t *testing.T) {
	dataDir := t.TempDir()
	cfg := embeddedYAML(t, dataDir) + libraryYAML("localhost", true)
	og := startOwlgate(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	login := func(og *owlgate, name string) *operator {
		addr, err := og.d.XMPPAddr(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Operators trust the certificate owlgate made for itself (and
		// keeps across restarts), as a librarian accepts it once.
		tlsConf := trustFile(t, filepath.Join(dataDir, server.SelfSignedCert), "localhost")
		c := testenv.Login(t, addr.String(), name+"@localhost", name+"-secret-pw", testenv.ClientOptions{Resource: "desk", TLS: tlsConf})
		return &operator{t: t, name: name, c: c}
	}
	alice, bob, carol := login(og, "alice"), login(og, "bob"), login(og, "carol")
	runScenario(t, og, alice, bob, carol)

	// A patron still waits when owlgate shuts down: the librarians see the
	// queue and the patron go offline; after a restart the chat is back.
	patron := og.net.Patron("unc-loop", "patron-bea")
	if err := patron.Say(ctx, "Are you open on Sunday?"); err != nil {
		t.Fatal(err)
	}
	alice.expectFrom("guest-1002@localhost", "Are you open on Sunday?")
	og.stop()
	for _, s := range []string{"reference@localhost", "guest-1002@localhost"} {
		alice.c.Expect(wait, "alice: "+s+" unavailable at shutdown", func(st *testenv.ClientStanza) bool {
			return st.Name == "presence" && bareOf(st.From) == s && st.Type == "unavailable"
		})
	}
	alice.c.Close()

	og2 := startOwlgate(t, cfg, og.net)
	alice = login(og2, "alice")
	alice.expectFrom("guest-1002@localhost", "Are you open on Sunday?")
	alice.say("guest-1002@localhost", "Yes, from noon.")
	if got, err := patron.Next(ctx); err != nil || got != "Yes, from noon." {
		t.Fatalf("after the restart the patron received %q, %v", got, err)
	}
}

// TestScenarioComponent runs the scenario with owlgate as an XEP-0114
// component of a real Prosody and a real ejabberd, the operators being
// those servers' own users. Each accepts the queue's one-time subscription
// request, as a librarian does the first time.
func TestScenarioComponent(t *testing.T) {
	servers := map[string]func(t *testing.T) testenv.Server{
		"prosody":  func(t *testing.T) testenv.Server { return testenv.StartProsody(t, testenv.ProsodyOptions{}) },
		"ejabberd": func(t *testing.T) testenv.Server { return testenv.StartEjabberd(t, testenv.EjabberdOptions{}) },
	}
	for name, start := range servers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := start(t)
			info := srv.Info()
			for _, o := range []string{"alice", "bob", "carol"} {
				srv.AddUser(o, o+"-pw")
			}
			// The secret from a file (t.Setenv cannot be used in
			// parallel tests, and this is the other way to write it).
			secret := filepath.Join(t.TempDir(), "component-secret")
			if err := os.WriteFile(secret, []byte(info.ComponentSecret+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			og := startOwlgate(t, fmt.Sprintf(`data_dir: %s
xmpp:
  mode: component
  domain: %s
  connect: %s
  secret: file:%s
http:
  listen: 127.0.0.1:0
`, t.TempDir(), info.ComponentDomain, info.ComponentAddr, secret)+libraryYAML(info.Domain, false), nil)
			login := func(name, queue string) *operator {
				c := testenv.Login(t, info.C2SAddr, name+"@"+info.Domain, name+"-pw", testenv.ClientOptions{Resource: "desk"})
				o := &operator{t: t, name: name, c: c}
				// The first time, the queue asks to see the
				// librarian's presence; the librarian accepts.
				qjid := queue + "@" + info.ComponentDomain
				c.Expect(wait, name+": the subscription request of "+qjid, func(s *testenv.ClientStanza) bool {
					return s.Name == "presence" && s.Type == "subscribe" && bareOf(s.From) == qjid
				})
				c.Send(fmt.Sprintf(`<presence type="subscribed" to=%q/>`, qjid))
				return o
			}
			runScenario(t, og, login("alice", "reference"), login("bob", "reference"), login("carol", "maps"))
		})
	}
}

// referenceYAML is a config with the embedded XMPP server, owlgate's HTTP
// server on httpAddr, and one library whose operators alice and bob staff
// the queue reference; queueKeys (indented for the queue) complete it.
func referenceYAML(t *testing.T, dataDir, httpAddr, queueKeys string) string {
	t.Helper()
	passwords := ircPasswords(t)
	return fmt.Sprintf(`data_dir: %q
xmpp:
%shttp:
  listen: %s
libraries:
  - id: unc
    name: UNC
operators:
  - jid: alice@localhost
    name: Alice
    library: unc
    password: file:%s
  - jid: bob@localhost
    name: Bob
    library: unc
    password: file:%s
queues:
  - id: reference
    name: Reference
    library: unc
    operators: [alice@localhost, bob@localhost]
%s`, dataDir, ircEmbeddedXMPP("127.0.0.1:0"), httpAddr, passwords["alice"], passwords["bob"], queueKeys)
}
