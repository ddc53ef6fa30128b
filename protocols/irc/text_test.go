package irc

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/owlgate/owlgate/protocols"
)

func TestStripFormatting(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"\x02bold\x02 and \x1ditalic\x1d \x1funder\x1f \x1estrike\x1e \x11mono\x11 \x16rev\x16 \x0freset", "bold and italic under strike mono rev reset"},
		{"\x034red\x03 \x0304,12red on blue\x03 \x03,5comma stays", "red red on blue ,5comma stays"},
		{"\x03123 three digits", "3 three digits"},
		{"\x0399,99default\x03", "default"},
		{"\x04FF0000hex red\x04 \x04ff0000,00FF00hex both\x04 \x04 bare", "hex red hex both  bare"},
		{"\x04FFF short", "FFF short"},
		{"tab\tstays, \x00nul\x07bell\x01 go", "tab\tstays, nulbell go"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"📚 \x02é\x02", "📚 é"},
	} {
		if got := stripFormatting(tc.in); got != tc.want {
			t.Errorf("stripFormatting(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCTCP(t *testing.T) {
	for _, tc := range []struct {
		in        string
		cmd, args string
		ok        bool
	}{
		{"\x01ACTION waves\x01", "ACTION", "waves", true},
		{"\x01action waves", "ACTION", "waves", true},
		{"\x01VERSION\x01", "VERSION", "", true},
		{"\x01PING 12345\x01", "PING", "12345", true},
		{"hello", "", "", false},
		{"\x01", "", "", false},
	} {
		cmd, args, ok := parseCTCP(tc.in)
		if cmd != tc.cmd || args != tc.args || ok != tc.ok {
			t.Errorf("parseCTCP(%q) = %q, %q, %v", tc.in, cmd, args, ok)
		}
	}
}

func TestSplitLine(t *testing.T) {
	var b strings.Builder
	for b.Len() < 2000 {
		b.WriteString("é🦉日本語 ")
	}
	text := b.String()
	for _, limit := range []int{4, 7, 50, 383} {
		parts := splitLine(strings.TrimSpace(text), limit)
		for i, p := range parts {
			if len(p) > limit || !utf8.ValidString(p) || p == "" {
				t.Fatalf("limit %d: part %d = %q (%d bytes)", limit, i, p, len(p))
			}
		}
		// Only spaces at cuts may go.
		noSpace := func(s string) string { return strings.ReplaceAll(s, " ", "") }
		if noSpace(strings.Join(parts, "")) != noSpace(text) {
			t.Errorf("limit %d: parts do not add up", limit)
		}
		if limit >= 50 && len(parts) > 1 && !strings.HasSuffix(parts[0], "日本語") {
			t.Errorf("limit %d: first part %q not cut at a space", limit, parts[0])
		}
	}
	// A cut at a space drops it; a word longer than the limit is cut.
	if got := splitLine("aaaa bbbb cccc", 9); !slices.Equal(got, []string{"aaaa bbbb", "cccc"}) {
		t.Errorf("split at a space: %q", got)
	}
	if got := splitLine("abcdefghij", 4); !slices.Equal(got, []string{"abcd", "efgh", "ij"}) {
		t.Errorf("split a long word: %q", got)
	}
}

func TestOutboundLines(t *testing.T) {
	got := outboundLines("first line\r\n\r\nsecond\x02 bold\x02\rthird  \n \n", 100)
	want := []string{"first line", "second bold", "third"}
	if !slices.Equal(got, want) {
		t.Errorf("outboundLines = %q, want %q", got, want)
	}
	if got := outboundLines(" \n\t\n", 100); len(got) != 0 {
		t.Errorf("blank text gave %q", got)
	}
}

func TestAddressedTo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"UNCLibrary: where are the maps?", "where are the maps?", true},
		{"unclibrary, help", "help", true},
		{"UNCLibrary:help", "help", true},
		{"UNCLibrary_: alt nick", "alt nick", true},
		{"UNCLibrary help", "", false},
		{"UNCLibraryX: someone else", "", false},
		{"UNCLibrary:   ", "", false},
		{"hello UNCLibrary: there", "", false},
	} {
		got, ok := addressedTo(tc.in, caseRFC1459, "UNCLibrary_", "UNCLibrary")
		if got != tc.want || ok != tc.ok {
			t.Errorf("addressedTo(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCasemapping(t *testing.T) {
	if got := caseRFC1459.fold("Nick[A]\\~"); got != "nick{a}|^" {
		t.Errorf("rfc1459: %q", got)
	}
	if got := caseASCII.fold("Nick[A]\\~"); got != "nick[a]\\~" {
		t.Errorf("ascii: %q", got)
	}
	if got := caseRFC1459Strict.fold("[~"); got != "{~" {
		t.Errorf("rfc1459-strict: %q", got)
	}
	if parseCasemapping("ascii") != caseASCII || parseCasemapping("rfc1459") != caseRFC1459 || parseCasemapping("weird") != caseRFC1459 {
		t.Error("parseCasemapping")
	}
}

// TestPatronsFollowNicks checks the alias map: a patron keeps the UserID
// they first wrote from across nick changes, and their old nick, taken by
// someone else, is someone else's.
func TestPatronsFollowNicks(t *testing.T) {
	ps := newPatrons()
	now := time.Now()
	if id, ev := ps.inbound("Alice", now); id != "Alice" || ev != nil {
		t.Fatalf("inbound = %q, %v", id, ev)
	}
	if !ps.rename("alice", "Alice_away") {
		t.Fatal("rename of a patron")
	}
	if id, _ := ps.inbound("alice_AWAY", now); id != "Alice" {
		t.Errorf("after the nick change, id %q", id)
	}
	if nick := ps.outbound("Alice", "m1", now); nick != "Alice_away" {
		t.Errorf("outbound to Alice goes to %q", nick)
	}
	if id, msg, ok := ps.failed("ALICE_away", now, time.Minute); !ok || id != "Alice" || msg != "m1" {
		t.Errorf("failed = %q %q %v", id, msg, ok)
	}
	if _, _, ok := ps.failed("Alice_away", now, time.Minute); ok {
		t.Error("the same message failed twice")
	}
	// Someone else takes "Alice" and writes: the first patron is evicted.
	id, ev := ps.inbound("Alice", now)
	if id != "Alice" || ev == nil || ev.nick != "Alice_away" {
		t.Errorf("new Alice: %q, evicted %+v", id, ev)
	}
	if nick := ps.outbound("Alice", "m2", now); nick != "Alice" {
		t.Errorf("outbound now goes to %q", nick)
	}
	if p := ps.gone("alice"); p == nil || p.id != "Alice" {
		t.Errorf("gone = %+v", p)
	}
	if p := ps.gone("alice"); p != nil {
		t.Errorf("gone twice = %+v", p)
	}
	// An unknown UserID (a chat from before a restart) is written to as is.
	if nick := ps.outbound("Bob", "m3", now); nick != "Bob" {
		t.Errorf("outbound to an unknown patron goes to %q", nick)
	}
	if got := ps.nicks(now, time.Hour); !slices.Equal(got, []string{"Bob"}) {
		t.Errorf("nicks = %q", got)
	}
	var _ protocols.MessageID = "unused"
}

func TestISONQueries(t *testing.T) {
	var nicks []string
	for i := range 40 {
		nicks = append(nicks, fmt.Sprintf("patron%02d", i))
	}
	qs := isonQueries(nicks)
	var all []string
	for _, q := range qs {
		if len(q) == 0 || len(q) > isonMaxNicks {
			t.Errorf("a query of %d nicks; servers read at most %d", len(q), isonMaxNicks)
		}
		all = append(all, q...)
	}
	if len(qs) != 3 || !slices.Equal(all, nicks) {
		t.Errorf("%d queries %v; want 3 covering every nick in order", len(qs), qs)
	}
	long := []string{strings.Repeat("a", 300), strings.Repeat("b", 300)}
	if qs := isonQueries(long); len(qs) != 2 {
		t.Errorf("two 300-byte nicks in %d queries, want 2 (400 bytes each at most)", len(qs))
	}
	if qs := isonQueries(nil); len(qs) != 0 {
		t.Errorf("no nicks, %d queries", len(qs))
	}
}

func TestServerQuit(t *testing.T) {
	for reason, want := range map[string]bool{
		"Server going down":           true, // ngircd stopping
		"server shutdown":             true,
		"irc.a.example irc.b.example": true, // a netsplit
		"*.net *.split":               true,
		"bye now":                     false,
		"Quit: leaving":               false,
		"Ping timeout: 240 seconds":   false,
		"":                            false,
		"see you at the library.edu":  false,
	} {
		if got := serverQuit(reason); got != want {
			t.Errorf("serverQuit(%q) = %v, want %v", reason, got, want)
		}
	}
}
