package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Guest implements [Store]. A known address is answered from a read
// connection; a new one goes through the writer, which assigns the next
// number in its own transaction (shared with queued batches), so that
// concurrent calls for one address get one id, and the id is durable when
// Guest returns. Numbers start at 1001 and are never reused.
func (s *SQLite) Guest(ctx context.Context, addr protocols.Address) (routing.GuestID, error) {
	if addr.IsZero() {
		return "", errors.New("store: guest of the zero address")
	}
	if s.isClosed() {
		return "", ErrClosed
	}
	var id int64
	err := s.guestByAddr.QueryRowContext(ctx,
		string(addr.Network), string(addr.Account), string(addr.User)).Scan(&id)
	switch {
	case err == nil:
		return routing.GuestIDFromNumber(id), nil
	case !errors.Is(err, sql.ErrNoRows):
		if s.isClosed() {
			return "", ErrClosed
		}
		return "", fmt.Errorf("store: look up guest: %w", err)
	}

	g := &guestRequest{addr: addr, done: make(chan struct{})}
	if !s.enqueue(request{guest: g}) {
		return "", ErrClosed
	}
	select {
	case <-g.done:
		if g.err != nil {
			return "", g.err
		}
		return routing.GuestIDFromNumber(g.id), nil
	case <-ctx.Done():
		// The writer still assigns the id; the next call finds it.
		return "", ctx.Err()
	}
}
