package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// servers starts each XMPP server for a table test.
var servers = []struct {
	name  string
	start func(t *testing.T) Server
}{
	{"prosody", func(t *testing.T) Server {
		return StartProsody(t, ProsodyOptions{Users: map[string]string{"alice": "alice pw"}})
	}},
	{"ejabberd", func(t *testing.T) Server {
		return StartEjabberd(t, EjabberdOptions{Users: map[string]string{"alice": "alice pw"}})
	}},
}

// TestServers starts each server, logs a user in over STARTTLS with SCRAM,
// has two users exchange a message, restarts the server, logs in again, and
// stops it.
func TestServers(t *testing.T) {
	for _, sv := range servers {
		t.Run(sv.name, func(t *testing.T) {
			t.Parallel()
			s := sv.start(t)
			info := s.Info()
			bob := s.AddUser("bob", `b"o'b<&>\pw`) // added while running; quoting
			alice := Login(t, info.C2SAddr, "alice@"+info.Domain, "alice pw", ClientOptions{})
			if !strings.HasPrefix(alice.JID, "alice@localhost/") || !strings.HasPrefix(alice.Mechanism, "SCRAM-") {
				t.Errorf("alice: jid %q, mechanism %q", alice.JID, alice.Mechanism)
			}
			t.Logf("alice logged in as %s with %s", alice.JID, alice.Mechanism)
			b := Login(t, info.C2SAddr, bob, `b"o'b<&>\pw`, ClientOptions{Resource: "desk"})
			alice.Send(fmt.Sprintf(`<message to='%s' type='chat'><body>hi bob</body></message>`, bob))
			got := b.Expect(5*time.Second, "alice's message", func(s *ClientStanza) bool { return s.Name == "message" })
			if got.Body != "hi bob" || !strings.HasPrefix(got.From, "alice@localhost/") {
				t.Errorf("bob got %v", got)
			}

			if _, err := Dial(t, info.C2SAddr, "alice@"+info.Domain, "wrong", ClientOptions{}); err == nil || !strings.Contains(err.Error(), "not-authorized") {
				t.Errorf("a wrong password: %v, want not-authorized", err)
			}

			s.Stop()
			select {
			case <-alice.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("alice's connection outlived the server")
			}
			s.Start()
			alice = Login(t, info.C2SAddr, "alice@"+info.Domain, "alice pw", ClientOptions{})
			alice.Close()
		})
	}
}
