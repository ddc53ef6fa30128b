package store

import (
	"context"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Store is what owlgate persists. Implementations are safe for concurrent
// use.
type Store interface {
	// Guest returns the stable guest id of a patron, assigning the next
	// free one the first time the address is seen. The id is durable when
	// Guest returns.
	Guest(ctx context.Context, addr protocols.Address) (routing.GuestID, error)

	// Submit queues a batch of writes and returns at once. Batches are
	// applied in the order they were submitted, several to a transaction;
	// Commit.Wait returns once the batch is durable (or failed). Nothing
	// may be reported to anyone as stored before Wait returned nil.
	Submit(b Batch) *Commit

	// Load returns what the engine is rebuilt from: every chat not ended,
	// with its last contextLines lines, and the next chat id. An open
	// chat's Lines and LastActivity are derived from its stored lines when
	// they are newer than its stored record (the engine saves a new line
	// without the record).
	Load(ctx context.Context, contextLines int) (routing.State, error)

	// Lines returns every stored line of a chat, in order: an open chat's,
	// or an ended chat's when its queue keeps transcripts.
	Lines(ctx context.Context, chat routing.ChatID) ([]routing.Line, error)

	// PendingOutbound returns the messages to patrons recorded but not yet
	// marked delivered or failed, oldest first.
	PendingOutbound(ctx context.Context) ([]Outbound, error)

	// Close waits for submitted batches and closes the store.
	Close() error
}

// Batch is a group of writes, applied in one transaction, in this order:
// chats, lines, outbound, done.
type Batch struct {
	// Chats are chat records to insert or replace. A record whose Status
	// is ChatEnded and whose Transcript is false has its lines deleted.
	Chats []routing.ChatRecord
	// Lines are new lines of chats (a line already stored, by chat and N,
	// is replaced).
	Lines []ChatLine
	// Outbound are messages to patrons about to be sent.
	Outbound []Outbound
	// Done are outbound messages that were delivered, or failed for good:
	// they are removed from the pending ones.
	Done []protocols.MessageID
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Chats) == 0 && len(b.Lines) == 0 && len(b.Outbound) == 0 && len(b.Done) == 0
}

// ChatLine is a line of a chat.
type ChatLine struct {
	Chat routing.ChatID
	Line routing.Line
}

// Outbound is a message to a patron that is recorded before it is sent, so
// that it is sent after a crash or a restart.
type Outbound struct {
	ID          protocols.MessageID // unique; the key
	Chat        routing.ChatID
	To          protocols.Address
	Text        string
	Attachments []protocols.Attachment
	Created     time.Time
}

// Commit is the outcome of a submitted batch.
type Commit struct {
	done chan struct{}
	err  error
}

// NewCommit returns a pending commit; implementations finish it with
// [Commit.Finish].
func NewCommit() *Commit { return &Commit{done: make(chan struct{})} }

// Finish records the outcome and wakes the waiters. It must be called once.
func (c *Commit) Finish(err error) {
	c.err = err
	close(c.done)
}

// Done is closed when the outcome is known.
func (c *Commit) Done() <-chan struct{} { return c.done }

// Wait blocks until the batch is durable, or failed, or ctx ends.
func (c *Commit) Wait(ctx context.Context) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}
