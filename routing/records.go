package routing

import (
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// ChatStatus is where a chat is in its life.
type ChatStatus uint8

// The chat statuses.
const (
	ChatWaiting ChatStatus = iota + 1 // offered, or waiting for an operator to come online
	ChatHeld                          // an operator took it
	ChatEnded
)

var chatStatusNames = [...]string{"", "waiting", "held", "ended"}

func (s ChatStatus) String() string {
	if int(s) < len(chatStatusNames) && s != 0 {
		return chatStatusNames[s]
	}
	return "unknown"
}

// EndReason says why a chat ended.
type EndReason string

// The end reasons, as stored and exported.
const (
	EndPatronLeft EndReason = "patron-left" // the patron left (quit, closed the page)
	EndIdle       EndReason = "idle"        // nobody wrote for the idle timeout
	EndClosed     EndReason = "closed"      // an operator sent /close
)

// ChatRecord is what is recorded of a chat, and what the engine restores an
// open chat from after a restart.
type ChatRecord struct {
	ID      ChatID
	Status  ChatStatus
	Origin  QueueID   // the queue that owns the account the patron wrote to
	Queue   QueueID   // the queue the chat is with now, after fallback or transfer
	Library LibraryID // the origin queue's library
	Patron  protocols.Address
	Guest   GuestID
	// Operator holds the chat; empty while it waits. After it ended, the
	// last operator who held it.
	Operator OperatorID

	Started     time.Time
	FirstAnswer time.Time // zero: never answered
	Ended       time.Time // zero: still open
	// LastActivity is the time of the last line from either side (the
	// start, before any), for the idle timeout. A new line changes it
	// without a SaveChat: for open chats the store derives it from the
	// stored lines (see Lines).
	LastActivity time.Time

	Transfers int
	EndReason EndReason

	// Transcript is true when the origin queue keeps transcripts: the
	// chat's lines are kept after it ends. Otherwise the store deletes them
	// when the chat ends.
	Transcript bool

	// OfflineNotified is true once the patron was sent the offline
	// message in this chat, so that they get it once.
	OfflineNotified bool

	// Lines counts the lines of the chat so far; the next line's N. A new
	// line changes it (and LastActivity) without a SaveChat: for open chats
	// the store derives both from the stored lines (Lines is one more than
	// the newest line's N, LastActivity that line's time, when the line is
	// newer than what the record says); an ended chat's record holds the
	// true values.
	Lines int
}

// Answered reports whether an operator ever answered the chat.
func (r ChatRecord) Answered() bool { return !r.FirstAnswer.IsZero() }

// Wait is how long the patron waited for a first answer (until now, or the
// end, when unanswered).
func (r ChatRecord) Wait(now time.Time) time.Duration {
	switch {
	case r.Answered():
		return r.FirstAnswer.Sub(r.Started)
	case !r.Ended.IsZero():
		return r.Ended.Sub(r.Started)
	}
	return now.Sub(r.Started)
}

// LineSource says who wrote a line.
type LineSource uint8

// The sources of lines.
const (
	FromPatron   LineSource = iota + 1
	FromOperator            // Line.Operator says who
	FromSystem              // owlgate: the offline message, a transfer note
)

// Line is one line of a chat's history.
type Line struct {
	N           int // 0 for the chat's first line, then 1, 2, ...
	At          time.Time
	From        LineSource
	Operator    OperatorID // for FromOperator
	Text        string
	Attachments []protocols.Attachment
}

// ChatSnapshot is an open chat: its record and the lines the engine keeps of
// it (the last Config.ContextLines).
type ChatSnapshot struct {
	Record ChatRecord
	Lines  []Line
}

// State is what the engine is rebuilt from at start: every open chat, and
// the next chat id to assign (greater than every id the store has seen).
type State struct {
	Chats    []ChatSnapshot
	NextChat ChatID
}
