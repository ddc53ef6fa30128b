package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/sms"
	"github.com/owlgate/owlgate/protocols/sms/twiliotest"
)

// The end-to-end test of issue #6: a patron's phone texting through a fake
// Twilio (signed webhooks, the REST API checked as Twilio checks it, status
// callbacks), owlgate with its SMS account on the real daemon path (config,
// gateway, store, embedded XMPP server), librarians on real XMPP
// connections.

const (
	smsLibrary = "+15555550100"
	smsPatron  = "+15555550123"
	smsOffline = "Ask a Librarian is closed; email ask@example.edu."
)

// TestSMSScenarioEmbedded: a text while nobody is staffed gets the offline
// message and waits; alice comes online, is offered it and answers; Twilio
// reports her answer undelivered and refuses the next one, and alice is
// told each time in the patron's window; /who shows the number
// (show_phone); the patron texts STOP and alice is told they left.
func TestSMSScenarioEmbedded(t *testing.T) {
	t.Parallel()
	api := twiliotest.NewAPI(t)
	// Twilio calls owlgate's own HTTP server (http.listen), where the
	// daemon mounts the account's routes under /hooks/unc-sms/.
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePorts(t, 1)[0])
	publicURL := "http://" + httpAddr
	dataDir := t.TempDir()
	og := smsStartOwlgate(t, smsConfigYAML(t, dataDir, api, httpAddr, publicURL))
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	phone := api.Phone(smsPatron, smsLibrary, publicURL+protocols.HookPath("unc-sms", "/sms"))
	// The account runs at once, although nobody staffs its queue: it has
	// checked its credentials with Twilio.
	if err := api.WaitFetched(ctx); err != nil {
		t.Fatal(err)
	}

	// Nobody staffs the queue: the number takes the text all the same
	// (200 once it is stored) and answers with the offline message.
	const question = "Do you have maps of Chapel Hill from 1850?"
	if status, err := phone.Text(ctx, question); err != nil || status != 200 {
		t.Fatalf("the webhook was answered %d, %v", status, err)
	}
	if m, err := api.Next(ctx, smsPatron); err != nil || m.Body != smsOffline || m.From != smsLibrary {
		t.Fatalf("the patron received %+v, %v; want the offline message from the library's number", m, err)
	}

	// alice and bob come online and are offered the waiting chat.
	addr := ircXMPPAddr(t, og)
	alice := ircLoginEmbedded(t, addr, dataDir, "alice")
	bob := ircLoginEmbedded(t, addr, dataDir, "bob")
	guest := smsOffer(alice, question)
	if g := smsOffer(bob, question); g != guest {
		t.Fatalf("alice was offered %s, bob %s", guest, g)
	}

	// alice answers and takes the chat: the patron's phone gets it.
	const answer = "Yes: the North Carolina Collection has them, fourth floor."
	alice.say(guest, answer)
	m, err := api.Next(ctx, smsPatron)
	if err != nil || m.Body != answer || m.From != smsLibrary || !strings.Contains(m.StatusCallback, "/hooks/unc-sms/status?") {
		t.Fatalf("the patron received %+v, %v; want alice's answer", m, err)
	}
	bob.expectFrom(guest, "Alice took this chat.")

	// Twilio reports it undelivered: alice, who sent it, is told in the
	// patron's window; bob is not.
	if status, err := api.Callback(ctx, m, "undelivered", 30003); err != nil || status != 200 {
		t.Fatalf("the status callback was answered %d, %v", status, err)
	}
	alice.expectFrom(guest, "Message not received: undelivered: Twilio error 30003, the patron's phone is switched off or out of reach.")
	ircNotGiven(bob, guest, "Message not received")

	// Twilio refuses the next one outright (400, 21614): alice is told.
	api.FailNext(twiliotest.Reply{Status: 400, Code: 21614})
	alice.say(guest, "Shall I email you the catalogue entry?")
	alice.expectFrom(guest, "Message not received: sms unc-sms: Twilio error 21614, the patron's number is not a mobile number.")

	// The queue shows numbers: /who names the patron's.
	if who := ircWho(alice, guest); !strings.Contains(who, "Phone: "+smsPatron) || !strings.Contains(who, "· sms · Reference") {
		t.Errorf("/who answered %q; want the phone number", who)
	}

	// The patron texts again, then STOP: alice is told they left, and
	// owlgate texts them no more.
	if status, err := phone.Text(ctx, "Thanks, I'll come by!"); err != nil || status != 200 {
		t.Fatalf("the webhook was answered %d, %v", status, err)
	}
	alice.expectFrom(guest, "Thanks, I'll come by!")
	if status, err := phone.Text(ctx, "STOP"); err != nil || status != 200 {
		t.Fatalf("STOP was answered %d, %v", status, err)
	}
	alice.expectFrom(guest, "The patron left (texted STOP")
	for _, r := range api.Refused() {
		t.Errorf("the fake Twilio refused a request from owlgate: %s", r)
	}
	if n := len(api.Messages()); n != 2 {
		t.Errorf("Twilio took %d messages, want 2 (the offline message, alice's answer)", n)
	}
}

// smsConfigYAML is the scenario's config: alice and bob staff the
// reference queue, which owns the SMS account and shows numbers; the
// Twilio credentials come from files.
func smsConfigYAML(t *testing.T, dataDir string, api *twiliotest.API, httpAddr, publicURL string) string {
	t.Helper()
	secret := func(name, value string) string {
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, []byte(value+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	return referenceYAML(t, dataDir, httpAddr, fmt.Sprintf(`    offline_message: %q
    show_phone: true
    accounts:
      - id: unc-sms
        network: sms
        provider: twilio
        account_sid: file:%s
        auth_token: file:%s
        from: %q
        public_url: %s
        api_base: %s
        rate: 100
`, smsOffline, secret("twilio-sid", api.AccountSID), secret("twilio-token", api.AuthToken), smsLibrary, publicURL, api.URL))
}

// smsStartOwlgate runs owlgate in the test's process as `owlgate run`
// does, with the SMS network, until the test ends; it returns once the
// HTTP server Twilio calls listens.
func smsStartOwlgate(t *testing.T, cfgYAML string) *owlgate {
	t.Helper()
	return runOwlgateServing(t, cfgYAML, map[string]protocols.Factory{"sms": sms.New})
}

// smsOffer waits for the three-line offer of question from an SMS patron's
// guest JID, and returns that JID.
func smsOffer(o *operator, question string) string {
	o.t.Helper()
	s := o.c.Expect(wait, o.name+": an offer of "+question, func(s *testenv.ClientStanza) bool {
		return s.Name == "message" && s.Body == question && strings.HasPrefix(s.From, "guest-")
	})
	guest := bareOf(s.From)
	id, _, _ := strings.Cut(guest, "@")
	o.expectFrom(guest, id+" · sms · Reference")
	o.expectFrom(guest, "Reply to take this chat")
	return guest
}
