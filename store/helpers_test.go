package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// openTemp opens a store in a new file of t's temporary directory and
// closes it at the end of the test. It returns the store and the file.
func openTemp(t testing.TB) (*SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "owlgate.db")
	return openAt(t, path), path
}

// openAt opens the store at path and closes it at the end of the test.
func openAt(t testing.TB, path string) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wait waits for c and fails the test on error.
func wait(t testing.TB, c *Commit) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

// submitWait submits b and waits for it to be durable.
func submitWait(t testing.TB, s *SQLite, b Batch) {
	t.Helper()
	wait(t, s.Submit(b))
}

// local is a non-UTC location, so that tests see the normalisation to UTC.
var local = time.FixedZone("EST", -5*3600)

// t0 is a time with a monotonic reading, a non-UTC location and
// nanoseconds, like the engine's clock gives.
var t0 = func() time.Time {
	now := time.Now() // has a monotonic reading
	return now.In(local).Add(123 * time.Nanosecond)
}()

func addr(user string) protocols.Address {
	return protocols.Address{Network: "irc", Account: "unc-irc", User: protocols.UserID(user)}
}

// record returns an open chat record with every field set.
func record(id routing.ChatID) routing.ChatRecord {
	return routing.ChatRecord{
		ID:              id,
		Status:          routing.ChatHeld,
		Origin:          "reference",
		Queue:           "nightowl",
		Library:         "unc",
		Patron:          addr(fmt.Sprintf("patron%d", id)),
		Guest:           routing.GuestIDFromNumber(1000 + int64(id)),
		Operator:        "alice@localhost",
		Started:         t0,
		FirstAnswer:     t0.Add(90 * time.Second),
		LastActivity:    t0.Add(5 * time.Minute),
		Transfers:       1,
		OfflineNotified: true,
		Lines:           0,
	}
}

// line returns line n of a chat, with an attachment on every third.
func line(n int) routing.Line {
	l := routing.Line{
		N:    n,
		At:   t0.Add(time.Duration(n) * time.Second),
		From: routing.FromPatron,
		Text: fmt.Sprintf("line %d: \"quoted\", 'single', ünïcødé ✓\nsecond row", n),
	}
	if n%2 == 1 {
		l.From = routing.FromOperator
		l.Operator = "alice@localhost"
	}
	if n%3 == 0 {
		l.Attachments = []protocols.Attachment{
			{URL: fmt.Sprintf("https://example.edu/f/%d.pdf", n), Name: "syllabus.pdf", MIMEType: "application/pdf", Size: 12345},
			{URL: "https://example.edu/x"},
		}
	}
	return l
}

// linesOf returns ChatLines n0..n1-1 of chat.
func linesOf(chat routing.ChatID, n0, n1 int) []ChatLine {
	var ls []ChatLine
	for n := n0; n < n1; n++ {
		ls = append(ls, ChatLine{Chat: chat, Line: line(n)})
	}
	return ls
}

// normalLines returns lines n0..n1-1 as the store gives them back.
func normalLines(n0, n1 int) []routing.Line {
	var ls []routing.Line
	for n := n0; n < n1; n++ {
		ls = append(ls, NormalLine(line(n)))
	}
	return ls
}

func mustLoad(t testing.TB, s *SQLite, contextLines int) routing.State {
	t.Helper()
	st, err := s.Load(context.Background(), contextLines)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return st
}

func mustLines(t testing.TB, s *SQLite, chat routing.ChatID) []routing.Line {
	t.Helper()
	ls, err := s.Lines(context.Background(), chat)
	if err != nil {
		t.Fatalf("Lines(%d): %v", chat, err)
	}
	return ls
}
