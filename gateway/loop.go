package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// envelope carries an event to the loop; done, when set, receives the
// commit of what the event wrote (nil when it wrote nothing). An envelope
// with a query carries no event: the loop runs the query (see ask).
type envelope struct {
	ev    routing.Event
	done  chan<- *store.Commit
	query func(*routing.Engine)
}

// loop is the one goroutine that owns the engine.
func (g *Gateway) loop(ctx context.Context, engine *routing.Engine) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	doneWake := g.done.wake()
	defer g.done.close(g.opts.Store)
	for {
		g.resetTimer(timer, engine)
		select {
		case <-ctx.Done():
			return nil
		case env := <-g.events:
			if env.query != nil {
				env.query(engine)
				continue
			}
			commit := g.execute(engine.Handle(env.ev))
			if env.done != nil {
				env.done <- commit
			}
			g.dispatch()
		case <-timer.C:
			g.execute(engine.Handle(routing.Tick{}))
			g.dispatch()
		case <-doneWake:
			// Delivered messages that no event's batch took along.
			if ids := g.done.take(); len(ids) > 0 {
				g.opts.Store.Submit(store.Batch{Done: ids})
			}
		}
	}
}

// resetTimer arms the timer for the engine's next deadline.
func (g *Gateway) resetTimer(timer *time.Timer, engine *routing.Engine) {
	wait := time.Hour
	if at, ok := engine.NextDeadline(); ok {
		wait = max(at.Sub(g.clock.Now()), 0)
	}
	timer.Reset(wait)
}

// execute carries out the engine's actions: writes go to the store in one
// batch, the rest to the operator link; messages to patrons are recorded in
// the batch and kept in g.sends for dispatch. It returns the batch's commit,
// or nil when nothing was written.
func (g *Gateway) execute(actions []routing.Action) *store.Commit {
	g.prepare(actions) // redaction, presence, metrics: observe.go
	var batch store.Batch
	first := len(g.sends) // this event's sends start here
	for i := range actions {
		a := &actions[i]
		switch a.Kind {
		case routing.SaveChat:
			batch.Chats = append(batch.Chats, a.Record)
			if a.Record.Status == routing.ChatEnded {
				// The link shows the patron's JID going offline.
				g.toLink(*a)
			}
		case routing.SaveLine:
			batch.Lines = append(batch.Lines, store.ChatLine{Chat: a.Chat, Line: a.Line})
		case routing.SendPatron:
			rec := store.Outbound{
				ID:          g.outboundID(a.Chat, a.ID),
				Chat:        a.Chat,
				To:          a.Patron,
				Text:        a.Text,
				Attachments: a.Attachments,
				Created:     g.clock.Now(),
			}
			batch.Outbound = append(batch.Outbound, rec)
			g.sends = append(g.sends, outJob{record: rec})
		case routing.SendPatronState:
			g.sends = append(g.sends, outJob{state: protocols.OutState{To: a.Patron, State: a.State}})
		case routing.SendOperatorReceipt:
			b := *a
			b.ID = StanzaID(a.ID)
			g.toLink(b)
		case routing.QueuePresence:
			for _, acct := range g.byQueue[a.Queue] {
				acct.want(a.Online)
			}
			g.toLink(*a)
		default:
			g.toLink(*a)
		}
	}
	if batch.Empty() {
		return nil
	}
	// Delivered messages go along (see doneQueue).
	batch.Done = g.done.take()
	commit := g.opts.Store.Submit(batch)
	if len(batch.Chats) > 0 {
		// The event changed a chat (the reply that takes it, a transfer):
		// its messages to patrons wait until that is durable, so a patron
		// who saw the answer never meets, after a crash, a chat that
		// forgot who took it. Plain messages do not wait.
		for i := first; i < len(g.sends); i++ {
			g.sends[i].commit = commit
		}
	}
	return commit
}

// dispatch hands the messages to patrons that execute kept to their
// accounts' senders. Nothing a sender does waits for the disk (see the
// package doc), and the loop calls dispatch last, after it submitted the
// batch and answered whoever posted the event: the sender is the goroutine
// it woke last, which the Go scheduler runs first, so the patron's message
// does not queue behind the store's writer.
func (g *Gateway) dispatch() {
	for i, job := range g.sends {
		g.sends[i] = outJob{}
		acct, ok := g.accounts[job.to().Account]
		if !ok {
			// The engine only answers patrons who wrote to a configured
			// account, so this is a bug; say so rather than lose it.
			g.log.Error("message for an account that is not configured", "account", job.to().Account)
			continue
		}
		acct.enqueue(job)
	}
	g.sends = g.sends[:0]
}

func (g *Gateway) toLink(a routing.Action) {
	if g.opts.Link != nil {
		g.opts.Link.Send(a)
	}
}

// outboundID makes the id of a message to a patron: unique, and carrying
// the operator's stanza id so that a receipt can be matched to it.
func (g *Gateway) outboundID(chat routing.ChatID, stanza protocols.MessageID) protocols.MessageID {
	g.outSeq++
	return protocols.MessageID(fmt.Sprintf("og%d.%x.%s", chat, g.outSeq, stanza))
}

// StanzaID returns the operator's stanza id an outbound id was made from
// (empty when the operator's message had none).
func StanzaID(id protocols.MessageID) protocols.MessageID {
	s := string(id)
	if !strings.HasPrefix(s, "og") {
		return id
	}
	_, rest, ok := strings.Cut(s, ".")
	if !ok {
		return id
	}
	_, stanza, ok := strings.Cut(rest, ".")
	if !ok {
		return id
	}
	return protocols.MessageID(stanza)
}
