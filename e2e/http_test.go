package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The end-to-end test of issue #5: owlgate's HTTP surface, on the whole
// daemon with the embedded XMPP server and real XMPP clients.

// httpGet gets url with the bearer token (none when empty) and returns the
// status and body.
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return res.StatusCode, string(b)
}

// awaitPresence waits until /presence/{queue}?format=text answers want,
// reading it again at each change of the gateway's presence snapshot (an
// event, not a timer), within the liveness bound.
func awaitPresence(t *testing.T, og *owlgate, base, queue, want string) {
	t.Helper()
	deadline := time.After(wait)
	for {
		changed := og.d.Gateway().PresenceChanged()
		status, body := httpGet(t, base+"/presence/"+queue+"?format=text", "")
		if status == http.StatusOK && strings.TrimSpace(body) == want {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("/presence/%s still answers %d %q, want %q", queue, status, body, want)
		}
	}
}

// TestHTTPSurface: the presence API follows the last operator's presence;
// a chat shows in the history (JSON and CSV), its transcript redacted; the
// metrics and /status count it; /readyz is ready.
func TestHTTPSurface(t *testing.T) {
	const token = "e2e-admin-token-5a1c"
	t.Setenv("OWLGATE_ADMIN_TOKEN", token)
	dataDir := t.TempDir()
	cfg := embeddedYAML(t, dataDir) + "  admin_token: ${OWLGATE_ADMIN_TOKEN}\n" + strings.Replace(libraryYAML("localhost", true),
		"    operators: [alice@localhost, bob@localhost]\n",
		"    operators: [alice@localhost, bob@localhost]\n    transcripts: true\n    redact: [email, phone]\n", 1)
	og := startOwlgate(t, cfg, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*wait)
	defer cancel()
	httpAddr, err := og.d.HTTPAddr(ctx)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + httpAddr.String()

	awaitPresence(t, og, base, "reference", "offline")

	// alice comes online: the presence API says so. (The server was
	// connected to the service before it took her connection: ready.)
	alice := ircLoginEmbedded(t, ircXMPPAddr(t, og), dataDir, "alice")
	awaitPresence(t, og, base, "reference", "online")
	if status, body := httpGet(t, base+"/readyz", ""); status != http.StatusOK {
		t.Errorf("/readyz: %d %s", status, body)
	}
	if status, body := httpGet(t, base+"/presence?queues=maps,reference", ""); status != 200 || body != `{"queue":"reference","status":"online"}`+"\n" {
		t.Errorf("rollover: %d %s", status, body)
	}

	// A chat, with an e-mail address and a phone number in it.
	if err := og.net.WaitOnline(ctx, "unc-loop"); err != nil {
		t.Fatal(err)
	}
	patron := og.net.Patron("unc-loop", "patron-ada")
	const question = "Please mail ada@example.edu or call 919-555-0100 about the 1850 maps"
	if err := patron.Say(ctx, question); err != nil {
		t.Fatal(err)
	}
	alice.expectFrom("guest-1001@localhost", question) // operators read it as written
	alice.say("guest-1001@localhost", "I will write to ada@example.edu today.")
	if _, err := patron.Next(ctx); err != nil {
		t.Fatal(err)
	}
	if err := patron.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	alice.expectFrom("guest-1001@localhost", "The patron left")

	// The history: JSON, CSV, transcript.
	status, body := httpGet(t, base+"/api/chats", token)
	var chats struct {
		Chats []struct {
			ID         int    `json:"id"`
			Status     string `json:"status"`
			Answered   bool   `json:"answered"`
			Guest      string `json:"guest"`
			Operator   string `json:"operator"`
			Transcript bool   `json:"transcript"`
		} `json:"chats"`
	}
	if err := json.Unmarshal([]byte(body), &chats); status != 200 || err != nil || len(chats.Chats) != 1 {
		t.Fatalf("/api/chats: %d %v %s", status, err, body)
	}
	if ch := chats.Chats[0]; ch.Status != "ended" || !ch.Answered || ch.Guest != "guest-1001" || ch.Operator != "alice@localhost" || !ch.Transcript {
		t.Errorf("the chat: %+v", ch)
	}
	if strings.Contains(body, "patron-ada") {
		t.Errorf("the history names the patron's handle: %s", body)
	}
	status, body = httpGet(t, base+"/api/chats.csv", token)
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if status != 200 || err != nil || len(rows) != 2 || rows[1][0] != fmt.Sprint(chats.Chats[0].ID) {
		t.Errorf("/api/chats.csv: %d %v %q", status, err, body)
	}
	status, body = httpGet(t, fmt.Sprintf("%s/api/chats/%d/transcript", base, chats.Chats[0].ID), token)
	if status != 200 || !strings.Contains(body, "guest-1001: Please mail [email] or call [phone] about the 1850 maps") ||
		!strings.Contains(body, "Alice: I will write to [email] today.") || strings.Contains(body, "ada@example.edu") {
		t.Errorf("transcript: %d\n%s", status, body)
	}
	if status, _ := httpGet(t, base+"/api/chats", "wrong-token"); status != http.StatusUnauthorized {
		t.Errorf("/api/chats with a wrong token: %d", status)
	}

	// The metrics and the status count it.
	_, body = httpGet(t, base+"/metrics", "")
	for _, line := range []string{
		`owlgate_chats_opened_total{queue="reference"} 1`,
		`owlgate_chats_answered_total{queue="reference"} 1`,
		`owlgate_chats_unanswered_total{queue="reference"} 0`,
		`owlgate_chat_wait_seconds_count{queue="reference"} 1`,
		`owlgate_messages_in_total{network="loop"} 1`,
		`owlgate_queue_online{queue="reference"} 1`,
		`owlgate_account_state{account="unc-loop",network="loop",state="online"} 1`,
	} {
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %s", line)
		}
	}
	status, body = httpGet(t, base+"/status", token)
	if status != 200 || !strings.Contains(body, `"operators_online":["alice@localhost"]`) || !strings.Contains(body, `"up":true`) {
		t.Errorf("/status: %d %s", status, body)
	}

	// alice, the last operator of the queue, leaves: the presence API
	// follows.
	alice.c.Close()
	awaitPresence(t, og, base, "reference", "offline")
	if status, body := httpGet(t, base+"/presence?queues=maps,reference", ""); status != 200 || body != `{"queue":"","status":"offline"}`+"\n" {
		t.Errorf("rollover: %d %s", status, body)
	}
}
