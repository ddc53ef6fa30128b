package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/owlgate/owlgate/internal/testenv"
)

// The end-to-end tests of issue #4: a patron on a real IRC server (ngircd),
// owlgate with its IRC account, librarians on real XMPP connections. Each
// test runs its own ngircd and owlgate, so they run in parallel.

// TestIRCScenarioEmbedded is DESIGN.md's scenario from a real IRC client to
// real XMPP clients and back, with owlgate as the operators' server.
func TestIRCScenarioEmbedded(t *testing.T) {
	t.Parallel()
	ngircd := ircStartNgircd(t)
	dataDir := t.TempDir()
	og := ircStartOwlgate(t, ircConfigYAML(ircConfig{
		DataDir: dataDir, XMPP: ircEmbeddedXMPP("127.0.0.1:0"), OperatorDomain: "localhost",
		Passwords: ircPasswords(t), IRCServer: ngircd.Addr,
	}))
	addr := ircXMPPAddr(t, og)

	// Nobody staffs the queue yet: the library is not on IRC.
	patron := ircConnectPatron(t, ngircd.Addr, "ada")
	if patron.libraryIn() {
		t.Fatalf("%s is in %s while its queue is offline", ircNick, ircChannel)
	}
	patron.Privmsg(ircNick, "anyone there?")
	patron.Expect(wait, "ERR_NOSUCHNICK for "+ircNick, func(l *testenv.IRCLine) bool {
		return l.Command == "401" && len(l.Params) > 1 && strings.EqualFold(l.Params[1], ircNick)
	})

	// alice and bob come online: the account logs in.
	alice := ircLoginEmbedded(t, addr, dataDir, "alice")
	bob := ircLoginEmbedded(t, addr, dataDir, "bob")
	carol := ircLoginEmbedded(t, addr, dataDir, "carol")
	alice.expectOnline("reference@localhost")
	bob.expectOnline("reference@localhost")
	patron.expectLibrary("JOIN")

	// The patron asks; both get the three-line offer from the guest.
	const question = "Do you have maps of Chapel Hill from 1850? 🗺"
	patron.Privmsg(ircNick, question)
	guest := ircOffer(alice, "localhost", question)
	if g := ircOffer(bob, "localhost", question); g != guest {
		t.Fatalf("alice was offered the chat from %s, bob from %s", guest, g)
	}

	// bob answers and takes the chat; alice is told.
	const answer = "Yes: the North Carolina Collection has them, fourth floor."
	bob.say(guest, answer)
	if got := patron.expectAnswer("bob's answer"); got != answer {
		t.Fatalf("the patron received %q, want %q", got, answer)
	}
	alice.expectFrom(guest, "Bob took this chat.")

	// Formatting and colour codes are stripped for the operators.
	patron.Privmsg(ircNick, "\x02Thanks\x02, \x0304,01that\x03 helps; \x1dcan\x1d I \x1fborrow\x1f \x0312them\x0f?")
	if got := bob.expectFrom(guest, "Thanks"); got != "Thanks, that helps; can I borrow them?" {
		t.Errorf("bob received %q: formatting not stripped", got)
	}

	// A long reply with multibyte characters arrives whole, in several
	// lines, each within IRC's 512 bytes and valid UTF-8.
	long := ircLongText(1500)
	bob.say(guest, long)
	var got strings.Builder
	lines := 0
	for got.Len() < len(long) {
		l := patron.Expect(wait, fmt.Sprintf("line %d of the long reply (%d of %d bytes so far)", lines+1, got.Len(), len(long)),
			testenv.PrivmsgFrom(ircNick))
		lines++
		if len(l.Raw)+2 > 512 {
			t.Errorf("line %d is %d bytes on the wire, over 512", lines, len(l.Raw)+2)
		}
		if !utf8.ValidString(l.Text()) {
			t.Errorf("line %d is not valid UTF-8: %q", lines, l.Text())
		}
		got.WriteString(l.Text())
	}
	if got.String() != long {
		t.Errorf("the long reply arrived as %q,\nwant %q", got.String(), long)
	}
	if lines < 3 {
		t.Errorf("the %d-byte reply came in %d lines; want it split in several", len(long), lines)
	}

	// bob transfers the chat to the maps queue: carol gets the
	// conversation so far, the patron is told to hold on.
	bob.say(guest, "/transfer maps")
	soFar := carol.expectFrom(guest, "Conversation so far")
	for _, want := range []string{question, answer, "Thanks, that helps"} {
		if !strings.Contains(soFar, want) {
			t.Errorf("carol's transfer context lacks %q:\n%s", want, soFar)
		}
	}
	carol.expectFrom(guest, "Reply to take this chat")
	bob.expectFrom(guest, "Transferred to")
	if got := patron.expectAnswer("the transfer note"); !strings.Contains(got, "transferred") {
		t.Fatalf("the patron received %q, want the transfer note", got)
	}
	const carolSays = "Hello, I'm Carol, the maps librarian."
	carol.say(guest, carolSays)
	if got := patron.expectAnswer("carol's message"); got != carolSays {
		t.Fatalf("the patron received %q, want carol's message", got)
	}
	patron.Privmsg(ircNick, "Great, thank you!")
	carol.expectFrom(guest, "Great, thank you!")

	// The patron quits: the holder is told.
	patron.Quit("bye now")
	if left := carol.expectFrom(guest, "The patron left"); !strings.Contains(left, "bye now") {
		t.Errorf("carol was told %q; want the quit message in it", left)
	}
}

// ircLongText is n bytes (or a few less, on a rune boundary) of text with
// multibyte characters and no spaces, so that its IRC lines put back
// together equal it.
func ircLongText(n int) string {
	const unit = "Ünïcödé·€·漢字·🦉·"
	var b strings.Builder
	for b.Len() < n {
		for _, r := range unit {
			if b.Len()+utf8.RuneLen(r) > n {
				return b.String()
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestIRCScenarioComponent runs the core path with owlgate as a component
// of a real Prosody whose users are the operators: a question from IRC is
// offered, answered, received, and the patron's QUIT reaches the holder.
func TestIRCScenarioComponent(t *testing.T) {
	t.Parallel()
	ngircd := ircStartNgircd(t)
	srv := testenv.StartProsody(t, testenv.ProsodyOptions{})
	info := srv.Info()
	for _, o := range []string{"alice", "bob", "carol"} {
		srv.AddUser(o, o+"-pw")
	}
	secret := filepath.Join(t.TempDir(), "component-secret")
	if err := os.WriteFile(secret, []byte(info.ComponentSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ircStartOwlgate(t, ircConfigYAML(ircConfig{
		DataDir: t.TempDir(),
		XMPP: fmt.Sprintf("  mode: component\n  domain: %s\n  connect: %s\n  secret: file:%s\n",
			info.ComponentDomain, info.ComponentAddr, secret),
		OperatorDomain: info.Domain, IRCServer: ngircd.Addr,
	}))
	patron := ircConnectPatron(t, ngircd.Addr, "ada")
	reference := "reference@" + info.ComponentDomain
	login := func(name string) *operator {
		c := testenv.Login(t, info.C2SAddr, name+"@"+info.Domain, name+"-pw", testenv.ClientOptions{Resource: "desk"})
		c.Expect(wait, name+": the subscription request of "+reference, func(s *testenv.ClientStanza) bool {
			return s.Name == "presence" && s.Type == "subscribe" && bareOf(s.From) == reference
		})
		c.Send(fmt.Sprintf(`<presence type="subscribed" to=%q/>`, reference))
		return &operator{t: t, name: name, c: c}
	}
	alice, bob := login("alice"), login("bob")
	alice.expectOnline(reference)
	bob.expectOnline(reference)
	patron.expectLibrary("JOIN")

	const question = "Is the music library open late tonight?"
	patron.Privmsg(ircNick, question)
	guest := ircOffer(alice, info.ComponentDomain, question)
	if g := ircOffer(bob, info.ComponentDomain, question); g != guest {
		t.Fatalf("alice was offered the chat from %s, bob from %s", guest, g)
	}
	const answer = "Until 11 pm, ground floor of Hill Hall."
	bob.say(guest, answer)
	if got := patron.expectAnswer("bob's answer"); got != answer {
		t.Fatalf("the patron received %q, want %q", got, answer)
	}
	alice.expectFrom(guest, "Bob took this chat.")
	patron.Privmsg(ircNick, "\x0304Perfect\x03, thanks!")
	if got := bob.expectFrom(guest, "thanks!"); got != "Perfect, thanks!" {
		t.Errorf("bob received %q", got)
	}
	patron.Quit("off to Hill Hall")
	bob.expectFrom(guest, "The patron left")
}

// TestIRCShiftChange: an account stays logged in through a shift change
// within its queue's grace period, and logs out once the queue stays
// offline past it. The library's nick shares #library with the patron,
// who sees it JOIN and QUIT.
func TestIRCShiftChange(t *testing.T) {
	t.Parallel()

	// alice leaves while she holds a chat and bob comes in, within a
	// 10-minute grace: the account never leaves IRC, and the chat goes on.
	t.Run("within grace", func(t *testing.T) {
		t.Parallel()
		ngircd := ircStartNgircd(t)
		dataDir := t.TempDir()
		og := ircStartOwlgate(t, ircConfigYAML(ircConfig{
			DataDir: dataDir, XMPP: ircEmbeddedXMPP("127.0.0.1:0"), OperatorDomain: "localhost",
			Passwords: ircPasswords(t), IRCServer: ngircd.Addr, OfflineGrace: "10m",
		}))
		addr := ircXMPPAddr(t, og)
		patron := ircConnectPatron(t, ngircd.Addr, "ada")
		alice := ircLoginEmbedded(t, addr, dataDir, "alice")
		alice.expectOnline("reference@localhost")
		patron.expectLibrary("JOIN")
		signon := patron.signon()

		const question = "Can I renew a book twice?"
		patron.Privmsg(ircNick, question)
		guest := ircOffer(alice, "localhost", question)
		alice.say(guest, "Yes, twice online.")
		if got := patron.expectAnswer("alice's answer"); got != "Yes, twice online." {
			t.Fatalf("the patron received %q", got)
		}

		// alice's shift ends: the queue is offline. The patron is told
		// so through the account, which is therefore still logged in.
		alice.c.Close()
		if got := patron.expectAnswer("the offline message"); got != ircOffline {
			t.Fatalf("the patron received %q, want the offline message", got)
		}
		patron.Privmsg(ircNick, "And a third time?")

		// bob's shift starts: he is offered the chat, waiting again.
		bob := ircLoginEmbedded(t, addr, dataDir, "bob")
		bob.expectOnline("reference@localhost")
		if soFar := bob.expectFrom(guest, "Conversation so far"); !strings.Contains(soFar, "And a third time?") {
			t.Errorf("bob's offer lacks the patron's message sent while nobody was there:\n%s", soFar)
		}
		bob.expectFrom(guest, "waiting again")
		bob.say(guest, "A third renewal needs the desk, sorry.")
		if got := patron.expectAnswer("bob's answer"); got != "A third renewal needs the desk, sorry." {
			t.Fatalf("the patron received %q", got)
		}
		patron.Privmsg(ircNick, "OK, thanks.")
		bob.expectFrom(guest, "OK, thanks.")

		// The library's nick never left: no QUIT, PART or new JOIN in
		// the channel, and the same connection (signon time) on ngircd.
		for _, cmd := range []string{"QUIT", "PART", "JOIN"} {
			if seen := patron.seenFromLibrary(cmd); len(seen) > 0 {
				t.Errorf("%s did %s during the shift change: %q", ircNick, cmd, seen)
			}
		}
		if now := patron.signon(); now != signon {
			t.Errorf("%s's signon time changed from %s to %s: it reconnected", ircNick, signon, now)
		}
	})

	// The last operator leaves: after a 1-second grace the account logs
	// out (QUIT), and it logs in again when an operator comes back.
	t.Run("past grace", func(t *testing.T) {
		t.Parallel()
		const grace = time.Second
		ngircd := ircStartNgircd(t)
		dataDir := t.TempDir()
		og := ircStartOwlgate(t, ircConfigYAML(ircConfig{
			DataDir: dataDir, XMPP: ircEmbeddedXMPP("127.0.0.1:0"), OperatorDomain: "localhost",
			Passwords: ircPasswords(t), IRCServer: ngircd.Addr, OfflineGrace: grace.String(),
		}))
		addr := ircXMPPAddr(t, og)
		patron := ircConnectPatron(t, ngircd.Addr, "ada")
		alice := ircLoginEmbedded(t, addr, dataDir, "alice")
		alice.expectOnline("reference@localhost")
		patron.expectLibrary("JOIN")

		left := time.Now()
		alice.c.Close()
		quit := patron.expectLibrary("QUIT")
		if after := time.Since(left); after < grace {
			t.Errorf("%s quit %v after the last operator left, within the %v grace", ircNick, after, grace)
		}
		t.Logf("%s quit: %s", ircNick, quit.Raw)

		bob := ircLoginEmbedded(t, addr, dataDir, "bob")
		bob.expectOnline("reference@localhost")
		patron.expectLibrary("JOIN")
	})
}

// TestIRCServerRestartMidChat stops ngircd while bob holds a chat and starts
// it again: the account reconnects and the chat goes on with the same
// guest.
//
// What bob sent while ngircd was down is delivered after the account
// reconnected: the gateway keeps retrying a message the adapter could not
// send for want of a connection (ErrNotConnected is retryable; the outbox
// keeps it for SendRetryFor, ten minutes), so it is sent once the account
// is back. The patron reconnects before the account (a gate in front of
// ngircd holds the account's new connection until then); were the account
// first, the message would go to a nick not yet back and bob would be told
// "Message not received: no such nick." instead.
//
// The patron writes privately and shares no channel with the library, as
// patrons do: a watcher in #library sees the library come back. (A patron
// sharing a channel with the library would see the chat end: ngircd, shut
// down with SIGTERM, first sends every client the QUIT "Server going down"
// of the others, which the adapter takes for the patron leaving.)
func TestIRCServerRestartMidChat(t *testing.T) {
	t.Parallel()
	ngircd := ircStartNgircd(t)
	gate := ircStartGate(t, ngircd.Addr)
	dataDir := t.TempDir()
	og := ircStartOwlgate(t, ircConfigYAML(ircConfig{
		DataDir: dataDir, XMPP: ircEmbeddedXMPP("127.0.0.1:0"), OperatorDomain: "localhost",
		Passwords: ircPasswords(t), IRCServer: gate.Addr,
	}))
	addr := ircXMPPAddr(t, og)
	watcher := ircConnectPatron(t, ngircd.Addr, "watcher")
	patron := ircConnectPrivate(t, ngircd.Addr, "ada")
	alice := ircLoginEmbedded(t, addr, dataDir, "alice")
	bob := ircLoginEmbedded(t, addr, dataDir, "bob")
	bob.expectOnline("reference@localhost")
	watcher.expectLibrary("JOIN")

	const question = "Where are the theses of 1990?"
	patron.Privmsg(ircNick, question)
	guest := ircOffer(bob, "localhost", question)
	ircOffer(alice, "localhost", question)
	const answer = "In the basement, let me check the shelf mark."
	bob.say(guest, answer)
	patron.expectAnswer("bob's answer")
	alice.expectFrom(guest, "Bob took this chat.")

	// ngircd goes down; new connections from owlgate wait at the gate.
	gate.hold()
	ngircd.Stop()
	for _, c := range []*ircPatron{patron, watcher} {
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatalf("%s's connection outlived ngircd", c.Nick)
		}
	}
	const meanwhile = "Shelf mark TH-1990-042, second aisle."
	bob.say(guest, meanwhile)
	// /who is answered after the engine handled the message before it:
	// the message is in the account's outbox while ngircd is down.
	if who := ircWho(bob, guest); !strings.Contains(who, "Held by Bob") {
		t.Fatalf("bob's /who while ngircd is down: %q", who)
	}

	// ngircd comes back; the patron first, with the same nick, then the
	// account.
	ngircd.Start()
	patron = ircConnectPrivate(t, ngircd.Addr, "ada")
	watcher = ircConnectPatron(t, ngircd.Addr, "watcher")
	gate.release()
	watcher.expectLibrary("JOIN")
	got := patron.expectAnswer("bob's message sent while ngircd was down")
	if got == answer {
		// Written again: ngircd went down before it confirmed it (the
		// adapter sends a line twice rather than lose it).
		got = patron.expectAnswer("bob's message sent while ngircd was down")
	}
	if got != meanwhile {
		t.Fatalf("the patron received %q, want %q", got, meanwhile)
	}

	// The chat goes on: the patron writes, bob (the holder, from the same
	// guest JID) gets it, and alice is not offered a new chat.
	const again = "Found it, thanks!"
	patron.Privmsg(ircNick, again)
	bob.expectFrom(guest, again)
	if who := ircNotGiven(alice, guest, again); !strings.Contains(who, "Held by Bob") {
		t.Errorf("after the restart, /who says %q; want the chat still held by Bob", who)
	}
	bob.say(guest, "You're welcome.")
	if got := patron.expectAnswer("bob's last answer"); got != "You're welcome." {
		t.Fatalf("the patron received %q", got)
	}
}

// TestIRCStopWhilePatronQuits stops owlgate while a patron's QUIT is on its
// way to the IRC account: the QUIT reaches the account after owlgate began
// to stop (a gate holds ngircd's lines until owlgate says QUIT), and owlgate
// must still stop promptly. The event cannot be handled any more (the
// gateway's event loop has ended); waiting for it must not hold up the
// shutdown.
func TestIRCStopWhilePatronQuits(t *testing.T) {
	t.Parallel()
	ngircd := ircStartNgircd(t)
	gate := ircStartGate(t, ngircd.Addr)
	dataDir := t.TempDir()
	og := ircStartOwlgate(t, ircConfigYAML(ircConfig{
		DataDir: dataDir, XMPP: ircEmbeddedXMPP("127.0.0.1:0"), OperatorDomain: "localhost",
		Passwords: ircPasswords(t), IRCServer: gate.Addr,
	}))
	addr := ircXMPPAddr(t, og)
	patron := ircConnectPatron(t, ngircd.Addr, "ada")
	alice := ircLoginEmbedded(t, addr, dataDir, "alice")
	alice.expectOnline("reference@localhost")
	patron.expectLibrary("JOIN")
	const question = "Is the library open on Sunday?"
	patron.Privmsg(ircNick, question)
	guest := ircOffer(alice, "localhost", question)
	alice.say(guest, "From noon to six.")
	patron.expectAnswer("alice's answer")

	gate.freezeUntilQuit()
	patron.Quit("thanks, bye")
	start := time.Now()
	og.stop()
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("owlgate took %v to stop; want well under the 5 s an inbound event may wait while stopping", took.Round(time.Millisecond))
	}
}

// TestOwlgateKilledMidChat runs the real binary (`owlgate run`), kills it
// with SIGKILL while bob holds a chat, and starts it again on the same
// config and data_dir: the chat, its holder and the guest id survive.
func TestOwlgateKilledMidChat(t *testing.T) {
	t.Parallel()
	bin := ircBuildBinary(t)
	ngircd := ircStartNgircd(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePorts(t, 1)[0])
	cfgPath := filepath.Join(dir, "owlgate.yaml")
	cfg := ircConfigYAML(ircConfig{
		DataDir: dataDir, XMPP: ircEmbeddedXMPP(addr), OperatorDomain: "localhost",
		Passwords: ircPasswords(t), IRCServer: ngircd.Addr,
	})
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "owlgate.log")
	ircDumpLog(t, "owlgate", logPath)

	proc := ircRunBinary(t, bin, cfgPath, logPath, addr)
	patron := ircConnectPatron(t, ngircd.Addr, "ada")
	alice := ircLoginEmbedded(t, addr, dataDir, "alice")
	bob := ircLoginEmbedded(t, addr, dataDir, "bob")
	bob.expectOnline("reference@localhost")
	patron.expectLibrary("JOIN")

	const question = "Do you keep old phone books?"
	patron.Privmsg(ircNick, question)
	guest := ircOffer(bob, "localhost", question)
	ircOffer(alice, "localhost", question)
	const first = "Yes, back to 1920, in the reading room."
	bob.say(guest, first)
	patron.expectAnswer("bob's answer")
	alice.expectFrom(guest, "Bob took this chat.")
	patron.Privmsg(ircNick, "Thanks! Let me think about which city.")
	bob.expectFrom(guest, "which city")

	// SIGKILL: no goodbye to anyone. The operators' connections drop and
	// ngircd sees the library's connection close.
	proc.kill(t)
	for _, o := range []*operator{alice, bob} {
		select {
		case <-o.c.Done():
		case <-time.After(wait):
			t.Fatalf("%s's connection outlived owlgate", o.name)
		}
	}
	patron.expectLibrary("QUIT")

	// Started again: bob and alice log in anew; the account logs in.
	ircRunBinary(t, bin, cfgPath, logPath, addr)
	bob = ircLoginEmbedded(t, addr, dataDir, "bob")
	alice = ircLoginEmbedded(t, addr, dataDir, "alice")
	bob.expectOnline("reference@localhost")
	patron.expectLibrary("JOIN")

	// The patron writes again: bob, still the holder, gets it from the
	// same guest JID, and alice is not offered anything.
	const again = "Great. Do they cover Durham too?"
	patron.Privmsg(ircNick, again)
	bob.expectFrom(guest, again)
	if who := ircNotGiven(alice, guest, again); !strings.Contains(who, "Held by Bob") {
		t.Errorf("after the restart, /who says %q; want the chat still held by Bob", who)
	}
	const answer = "Durham too, from 1935."
	bob.say(guest, answer)
	patron.Expect(wait, "bob's answer after the restart", func(l *testenv.IRCLine) bool {
		return testenv.PrivmsgFrom(ircNick)(l) && l.Text() == answer
	})
	// Delivery to patrons is at least once: a message sent just before
	// the kill, whose sending was not yet recorded as done, is sent again
	// after the restart (the outbox). Nothing else may come.
	for _, l := range patron.seenFromLibrary("PRIVMSG") {
		if testenv.ParseIRCLine(l).Text() != first {
			t.Errorf("the patron received %q after the restart", l)
		} else {
			t.Logf("bob's first answer was sent again after the restart (at least once): %s", l)
		}
	}
}
