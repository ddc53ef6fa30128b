package server

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/xmpp"
)

// goSendxmpp returns the path of go-sendxmpp (Debian package go-sendxmpp),
// or skips the test without it, unless OWLGATE_REQUIRE_SERVERS=1.
func goSendxmpp(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go-sendxmpp")
	if err != nil {
		if os.Getenv("OWLGATE_REQUIRE_SERVERS") == "1" {
			t.Fatalf("go-sendxmpp not installed (apt-get install go-sendxmpp): %v", err)
		}
		t.Skip("go-sendxmpp not installed (apt-get install go-sendxmpp)")
	}
	return p
}

// sendxmpp runs go-sendxmpp as user, sending text to the recipients.
func sendxmpp(t *testing.T, bin string, s *Server, user, pass, text string, to ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"-n", "-u", user, "-p", pass, "-j", s.Addr().String(), "--timeout", "10"}, to...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(text)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestGoSendxmpp(t *testing.T) {
	bin := goSendxmpp(t)
	h := newRecHandler()
	s := startServer(t, h, nil)
	alice := mustMellium(t, s, "alice@localhost", "desk")
	alice.available()

	out, err := sendxmpp(t, bin, s, "bob@localhost", "bob-pw", "hello from go-sendxmpp", "alice@localhost")
	if err != nil {
		t.Fatalf("go-sendxmpp: %v\n%s", err, out)
	}
	st := alice.next("go-sendxmpp's message", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindMessage && strings.Contains(st.Body, "hello from go-sendxmpp")
	})
	if st.From.Bare().String() != "bob@localhost" {
		t.Errorf("from %s", st.From)
	}

	out, err = sendxmpp(t, bin, s, "carol@localhost", "carol-pw", "to the patron", "guest-1042@localhost")
	if err != nil {
		t.Fatalf("go-sendxmpp: %v\n%s", err, out)
	}
	st = h.next(t, "the message to the guest", func(st *xmpp.Stanza) bool {
		return st.Kind == xmpp.KindMessage && strings.Contains(st.Body, "to the patron")
	})
	if st.From.Bare().String() != "carol@localhost" || st.To.String() != "guest-1042@localhost" {
		t.Errorf("handler got from %s to %s", st.From, st.To)
	}

	out, err = sendxmpp(t, bin, s, "carol@localhost", "wrong", "x", "alice@localhost")
	if err == nil {
		t.Errorf("go-sendxmpp with a wrong password succeeded: %s", out)
	}
}
