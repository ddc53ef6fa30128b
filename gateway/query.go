package gateway

import (
	"context"

	"github.com/owlgate/owlgate/routing"
)

// QueueSnapshot is one queue as the engine sees it.
type QueueSnapshot struct {
	ID routing.QueueID
	routing.QueueStatus
}

// Snapshot is what the engine holds now, for /status.
type Snapshot struct {
	Queues    []QueueSnapshot // in the config's order
	OpenChats int
}

// Snapshot asks the event loop for the engine's queues and open chats.
// It waits its turn behind the events already queued, so it blocks for as
// long as the loop is busy, or until ctx ends.
func (g *Gateway) Snapshot(ctx context.Context) (Snapshot, error) {
	var snap Snapshot
	err := g.ask(ctx, func(e *routing.Engine) {
		snap.OpenChats = e.OpenChats()
		for _, q := range g.opts.Routing.Queues {
			if st, ok := e.QueueStatus(q.ID); ok {
				snap.Queues = append(snap.Queues, QueueSnapshot{ID: q.ID, QueueStatus: st})
			}
		}
	})
	if err != nil {
		return Snapshot{}, err
	}
	return snap, nil
}

// ask runs q on the event loop, with the engine, and returns once it ran.
// When ctx ends first q may still run later.
func (g *Gateway) ask(ctx context.Context, q func(*routing.Engine)) error {
	done := make(chan struct{})
	env := envelope{query: func(e *routing.Engine) {
		q(e)
		close(done)
	}}
	select {
	case g.events <- env:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.loopDone:
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-g.loopDone:
		select {
		case <-done:
			return nil
		default:
		}
		return errStopped
	}
}
