package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// outJob is something to send to a patron: a recorded message, or a chat
// state (which is not recorded, and not retried).
type outJob struct {
	record store.Outbound
	state  protocols.OutState
	commit *store.Commit // when set, sent once it is durable (see execute)
}

func (j outJob) to() protocols.Address {
	if j.record.ID != "" {
		return j.record.To
	}
	return j.state.To
}

// enqueue adds a job to the account's send queue; it never blocks.
func (a *account) enqueue(j outJob) {
	a.mu.Lock()
	a.outq = append(a.outq, j)
	a.mu.Unlock()
	select {
	case a.outWake <- struct{}{}:
	default:
	}
}

// QueueDepth is how many jobs wait to be sent.
func (a *account) QueueDepth() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.outq)
}

// sendLoop sends the account's jobs one at a time, in order.
func (a *account) sendLoop(ctx context.Context) error {
	for {
		a.mu.Lock()
		var job outJob
		ok := len(a.outq) > 0
		if ok {
			job = a.outq[0]
			a.outq[0] = outJob{}
			a.outq = a.outq[1:]
		}
		a.mu.Unlock()
		if !ok {
			select {
			case <-a.outWake:
				continue
			case <-ctx.Done():
				return nil
			}
		}
		if job.record.ID == "" {
			if err := a.spec.Adapter.Send(ctx, job.state); err != nil {
				a.log.Debug("chat state not sent", "err", err)
			}
			continue
		}
		if err := a.sendRecorded(ctx, job); err != nil && ctx.Err() != nil {
			return nil // shutting down: the message stays in the outbox
		}
	}
}

// sendRecorded sends a recorded message, retrying while it can help, and
// reports a failure to the engine. It returns ctx's error when shutdown
// interrupted it.
func (a *account) sendRecorded(ctx context.Context, job outJob) error {
	rec := job.record
	if job.commit != nil {
		if err := job.commit.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return err
			}
			// The store logged it; the patron still gets the answer.
			a.log.Error("chat change not recorded; sending the message anyway", "chat", rec.Chat, "err", err)
		}
	}
	deadline := rec.Created.Add(a.g.opts.SendRetryFor)
	backoff := protocols.Backoff{Min: time.Second, Max: time.Minute}
	for {
		err := a.sendOnce(ctx, rec)
		if err == nil {
			a.g.done.add(a.g.opts.Store, rec.ID)
			a.g.obs.MessageOut(a.spec.Network)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := max(protocols.RetryAfter(err), backoff.Next(0))
		if !protocols.Retryable(err) || time.Now().Add(wait).After(deadline) {
			a.log.Warn("message to patron not delivered", "chat", rec.Chat, "err", err)
			a.g.obs.DeliveryFailed(a.spec.Network)
			done := a.g.opts.Store.Submit(store.Batch{Done: []protocols.MessageID{rec.ID}})
			if werr := done.Wait(ctx); werr != nil && ctx.Err() == nil {
				a.log.Error("failed message not removed from the outbox; it will be sent again at the next start",
					"chat", rec.Chat, "err", werr)
			}
			reason := err.Error()
			if protocols.Retryable(err) {
				reason = "gave up after retrying: " + reason
			}
			fail := protocols.DeliveryFailure{To: rec.To, ID: rec.ID, Reason: reason}
			if perr := a.g.Post(ctx, routing.PatronEvent{Inbound: fail}); perr != nil {
				return perr
			}
			return nil
		}
		a.log.Debug("message to patron not sent yet; retrying", "chat", rec.Chat, "err", err, "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// sendOnce sends the text, then each attachment; a retry after a partial
// failure may repeat the text.
func (a *account) sendOnce(ctx context.Context, rec store.Outbound) error {
	if rec.Text != "" || len(rec.Attachments) == 0 {
		if err := a.spec.Adapter.Send(ctx, protocols.OutMessage{To: rec.To, ID: rec.ID, Text: rec.Text}); err != nil {
			return err
		}
	}
	for _, att := range rec.Attachments {
		if err := a.spec.Adapter.Send(ctx, protocols.OutAttachment{To: rec.To, ID: rec.ID, Attachment: att}); err != nil {
			return err
		}
	}
	return nil
}

// doneQueue gathers the ids of messages delivered to patrons, to be
// removed from the outbox. Rather than one batch per message, the event
// loop adds them to the next batch it writes anyway, or, when it has none
// to write, submits them on its own (wake); so under load they cost no
// batch of their own. A message is added only once its adapter took it, so
// nothing undelivered is ever removed; one delivered shortly before a crash
// may still be in the outbox and be sent again at the next start, which the
// outbox allows anyway (it is at least once). Once the loop has ended, ids
// go to the store at once, so a clean shutdown (the store is closed after
// Run returned) leaves no delivered message in the outbox.
type doneQueue struct {
	mu     sync.Mutex
	ids    []protocols.MessageID
	closed bool          // the loop ended: submit at once
	wakeCh chan struct{} // signalled when ids becomes non-empty
}

// wake returns the channel signalled when ids are waiting.
func (q *doneQueue) wake() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.wakeCh == nil {
		q.wakeCh = make(chan struct{}, 1)
	}
	return q.wakeCh
}

// add queues the id of a delivered message.
func (q *doneQueue) add(st store.Store, id protocols.MessageID) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		st.Submit(store.Batch{Done: []protocols.MessageID{id}})
		return
	}
	q.ids = append(q.ids, id)
	first := len(q.ids) == 1
	if q.wakeCh == nil {
		q.wakeCh = make(chan struct{}, 1)
	}
	wake := q.wakeCh
	q.mu.Unlock()
	if first {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

// take returns the ids queued so far and empties the queue.
func (q *doneQueue) take() []protocols.MessageID {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := q.ids
	q.ids = nil
	return ids
}

// close submits what is queued and makes later ids go to the store at
// once. The loop calls it when it ends.
func (q *doneQueue) close(st store.Store) {
	q.mu.Lock()
	q.closed = true
	ids := q.ids
	q.ids = nil
	q.mu.Unlock()
	if len(ids) > 0 {
		st.Submit(store.Batch{Done: ids})
	}
}
