//go:build goolm

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/matrix"
	"github.com/owlgate/owlgate/protocols/matrix/matrixtest"
)

// The end-to-end test of issue #7: patrons on a real Matrix homeserver
// (Dendrite) with mautrix's client and its end-to-end encryption, owlgate
// with its Matrix account on the real daemon path (config, gateway, store,
// embedded XMPP server, HTTP server for file links), librarians on real
// XMPP connections.

const nsChatStates = "http://jabber.org/protocol/chatstates"

// TestMatrixScenarioEmbedded: alice comes online and the library's Matrix
// account logs in; a patron invites it to a plain direct room and asks;
// alice answers and the patron gets it; typing passes both ways; a picture
// arrives as a link alice can open; a formatted message arrives as plain
// text; the patron leaves and alice is told. A second patron writes in an encrypted
// room; bob takes it and his answer reaches the patron encrypted. owlgate
// restarts while the second patron writes: the message written while it was
// down reaches bob once, and nothing delivered before comes again. A
// message owlgate cannot decrypt reaches bob as a notice.
func TestMatrixScenarioEmbedded(t *testing.T) {
	t.Parallel()
	dendrite := testenv.StartDendrite(t)
	library, _ := dendrite.AddUser("asklib", "asklib-pw-1234")
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePorts(t, 1)[0])
	publicURL := "http://" + httpAddr
	dataDir := t.TempDir()
	cfg := matrixConfigYAML(t, dataDir, dendrite.URL, library, "asklib-pw-1234", httpAddr, publicURL)
	og := matrixStartOwlgate(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 6*wait)
	defer cancel()

	alice := ircLoginEmbedded(t, ircXMPPAddr(t, og), dataDir, "alice")
	alice.expectOnline("reference@localhost")

	// A patron opens a plain direct room; owlgate's account joins.
	ada := matrixPatron(t, ctx, dendrite, "ada")
	room, err := ada.OpenDirect(ctx, id.UserID(library), false)
	if err != nil {
		t.Fatal(err)
	}
	const question = "Do you have maps of Chapel Hill from 1850?"
	if _, err := ada.Say(ctx, room, question); err != nil {
		t.Fatal(err)
	}
	guest := matrixOffer(alice, question)
	const answer = "Yes: the North Carolina Collection has them, fourth floor."
	alice.say(guest, answer)
	if got, err := ada.Next(ctx, room); err != nil || got.Body != answer {
		t.Fatalf("the patron received %+v, %v; want alice's answer", got, err)
	}

	// Typing, both ways.
	if err := ada.Typing(ctx, room, true); err != nil {
		t.Fatal(err)
	}
	alice.c.Expect(wait, "alice: the patron composing", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == guest && s.Has(nsChatStates, "composing")
	})
	alice.c.Send(fmt.Sprintf(`<message type="chat" to=%q><composing xmlns=%q/></message>`, guest, nsChatStates))
	if err := ada.WaitTyping(ctx, room, id.UserID(library), true); err != nil {
		t.Fatal(err)
	}

	// A picture arrives as a link to owlgate's HTTP server, which serves
	// it from the homeserver.
	picture := bytes.Repeat([]byte("\x89PNG map "), 64)
	if err := ada.SendFile(ctx, room, "chapel-hill-1850.png", "image/png", picture); err != nil {
		t.Fatal(err)
	}
	link := alice.expectFrom(guest, publicURL+"/hooks/unc-matrix/media/")
	resp, err := http.Get(strings.TrimSpace(link))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, picture) {
		t.Errorf("GET %s: %d, %d bytes; want the picture", link, resp.StatusCode, len(body))
	}

	// A formatted question arrives as plain text.
	if err := ada.SayHTML(ctx, room, "And **1860**?", "And <b>1860</b>?"); err != nil {
		t.Fatal(err)
	}
	alice.expectFrom(guest, "And 1860?")

	// The patron leaves the room: alice is told, in the patron's window.
	if err := ada.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	alice.expectFrom(guest, "The patron left (left the room).")

	// A second patron, in an encrypted room; bob comes online and takes it.
	bob := ircLoginEmbedded(t, ircXMPPAddr(t, og), dataDir, "bob")
	bob.expectOnline("reference@localhost")
	bea := matrixPatron(t, ctx, dendrite, "bea")
	eroom, err := bea.OpenDirect(ctx, id.UserID(library), true)
	if err != nil {
		t.Fatal(err)
	}
	const secret = "Can I see my own library record? It's private."
	if _, err := bea.Say(ctx, eroom, secret); err != nil {
		t.Fatal(err)
	}
	guest2 := matrixOffer(bob, secret)
	const reply = "Of course: bring your card to the desk."
	bob.say(guest2, reply)
	got, err := bea.Next(ctx, eroom)
	if err != nil || got.Body != reply || !got.Encrypted {
		t.Fatalf("the patron received %+v, %v; want bob's answer, encrypted", got, err)
	}

	// owlgate stops; bea writes meanwhile; owlgate starts again with the
	// same data folder and bob logs in again.
	og.stop()
	const meanwhile = "Also, are you open on Sunday?"
	if _, err := bea.Say(ctx, eroom, meanwhile); err != nil {
		t.Fatal(err)
	}
	og = matrixStartOwlgate(t, cfg)
	bob = ircLoginEmbedded(t, ircXMPPAddr(t, og), dataDir, "bob")
	bob.expectOnline("reference@localhost")
	bob.expectFrom(guest2, meanwhile)
	const marker = "Thanks!"
	if _, err := bea.Say(ctx, eroom, marker); err != nil {
		t.Fatal(err)
	}
	bob.expectFrom(guest2, marker)
	// /who is answered after everything the engine sent bob before: a
	// replayed message would be in bob's backlog ahead of it.
	bob.say(guest2, "/who")
	s := bob.c.Expect(wait, "bob: the answer to /who", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == guest2 &&
			(strings.Contains(s.Body, secret) || strings.Contains(s.Body, meanwhile) || strings.Contains(s.Body, "Started "))
	})
	if !strings.Contains(s.Body, "Started ") {
		t.Fatalf("after the restart bob was given %q again", s.Body)
	}
	bob.say(guest2, "Sundays 1 to 6.")
	if got, err := bea.Next(ctx, eroom); err != nil || got.Body != "Sundays 1 to 6." || !got.Encrypted {
		t.Fatalf("the patron received %+v, %v after the restart", got, err)
	}

	// A message owlgate cannot decrypt (bea's client lost its keys): after
	// asking bea's devices for the key in vain, owlgate tells bob, in
	// bea's window, and asks bea to send it again.
	if err := bea.SendUndecryptable(ctx, eroom); err != nil {
		t.Fatal(err)
	}
	// The crypto helper waits 25 s for the key: a longer liveness bound.
	bob.c.Expect(wait+30*time.Second, "bob: the notice of an undecryptable message", func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && bareOf(s.From) == guest2 && strings.Contains(s.Body, "owlgate could not decrypt")
	})
	if got, err := bea.Next(ctx, eroom); err != nil || !strings.Contains(got.Body, "could not decrypt your last message") {
		t.Fatalf("the patron received %+v, %v; want the request to send it again", got, err)
	}
}

// matrixOffer waits for the offer of question and returns the guest's JID.
func matrixOffer(o *operator, question string) string {
	o.t.Helper()
	s := o.c.Expect(wait, o.name+": an offer of "+question, func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && s.Body == question && strings.HasPrefix(s.From, "guest-")
	})
	guest := bareOf(s.From)
	gid, _, _ := strings.Cut(guest, "@")
	o.expectFrom(guest, gid+" · matrix · Reference")
	o.expectFrom(guest, "Reply to take this chat")
	return guest
}

// matrixPatron makes an account on the homeserver and logs a patron's
// client in.
func matrixPatron(t *testing.T, ctx context.Context, d *testenv.Dendrite, name string) *matrixtest.Patron {
	t.Helper()
	user, _ := d.AddUser(name, name+"-pw-1234")
	p, err := matrixtest.Login(ctx, d.URL, id.UserID(user), name+"-pw-1234", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// matrixConfigYAML is the scenario's config: alice and bob staff the
// reference queue, which owns the Matrix account; its password comes from
// a file.
func matrixConfigYAML(t *testing.T, dataDir, homeserver, library, password, httpAddr, publicURL string) string {
	t.Helper()
	pw := filepath.Join(t.TempDir(), "matrix-password")
	if err := os.WriteFile(pw, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return referenceYAML(t, dataDir, httpAddr, fmt.Sprintf(`    offline_message: "closed"
    accounts:
      - id: unc-matrix
        network: matrix
        homeserver: %s
        user_id: %q
        password: file:%s
        public_url: %s
`, homeserver, library, pw, publicURL))
}

// matrixStartOwlgate runs owlgate in the test's process as `owlgate run`
// does, with the Matrix network, until the test ends or og.stop.
func matrixStartOwlgate(t *testing.T, cfgYAML string) *owlgate {
	t.Helper()
	return runOwlgateServing(t, cfgYAML, map[string]protocols.Factory{"matrix": matrix.New})
}
