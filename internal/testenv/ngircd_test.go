package testenv

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseIRCLine(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want IRCLine
	}{
		{":irc.localhost 001 ann :Welcome ann!~ann@127.0.0.1", IRCLine{Source: "irc.localhost", Nick: "irc.localhost", Command: "001", Params: []string{"ann", "Welcome ann!~ann@127.0.0.1"}}},
		{"@time=2026-01-01T00:00:00Z :bob!~b@h PRIVMSG ann :hi there", IRCLine{Source: "bob!~b@h", Nick: "bob", Command: "PRIVMSG", Params: []string{"ann", "hi there"}}},
		{"PING :token", IRCLine{Command: "PING", Params: []string{"token"}}},
		{":a!b@c quit", IRCLine{Source: "a!b@c", Nick: "a", Command: "QUIT"}},
	} {
		got := ParseIRCLine(tc.raw)
		tc.want.Raw = tc.raw
		if !reflect.DeepEqual(*got, tc.want) {
			t.Errorf("ParseIRCLine(%q) = %+v, want %+v", tc.raw, *got, tc.want)
		}
	}
}

// TestNgircd starts ngircd with a server password, has two clients
// exchange messages over plain text and TLS, checks a wrong password is
// refused, and restarts the server.
func TestNgircd(t *testing.T) {
	n := StartNgircd(t, NgircdOptions{Password: "letmein"})
	ann := ConnectIRC(t, n.Addr, "ann", IRCClientOptions{Password: "letmein"})
	bob := ConnectIRC(t, n.TLSAddr, "bob", IRCClientOptions{Password: "letmein", TLS: ClientTLS("localhost")})
	ann.Privmsg("bob", "hello over TLS é🦉")
	got := bob.Expect(5*time.Second, "ann's message", PrivmsgFrom("ann"))
	if got.Text() != "hello over TLS é🦉" || got.Params[0] != "bob" {
		t.Errorf("bob got %q", got.Raw)
	}
	bob.Privmsg("nobody-here", "x")
	bob.Expect(5*time.Second, "ERR_NOSUCHNICK", func(l *IRCLine) bool { return l.Command == "401" })

	if _, err := DialIRC(t, n.Addr, "eve", IRCClientOptions{Password: "wrong"}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a wrong password: %v, want refused", err)
	}
	if _, err := DialIRC(t, n.Addr, "ann", IRCClientOptions{Password: "letmein"}); err == nil || !strings.Contains(err.Error(), " 433 ") {
		t.Errorf("a nick in use: %v, want 433", err)
	}

	n.Stop()
	select {
	case <-ann.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("ann's connection outlived the server")
	}
	n.Start()
	ann = ConnectIRC(t, n.Addr, "ann", IRCClientOptions{Password: "letmein"})
	ann.Quit("bye")
}
