//go:build goolm

package matrix

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/crypto/cryptohelper"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/protocols"
)

// timelineLimit is how many events of a room one sync carries; a room with
// more since the last sync is "limited", and the gap is fetched with
// /messages.
const timelineLimit = 50

// stopGrace is how long a batch being handled when Run's context ends may
// still take. Past it, what is left of the batch fails to be delivered, its
// token is not saved, and the next start fetches it again.
const stopGrace = 30 * time.Second

// session is one login of the account: a client, its crypto and its sync.
type session struct {
	a      *Adapter
	cli    *mautrix.Client
	syncer *mautrix.DefaultSyncer
	crypto *cryptohelper.CryptoHelper
	sink   protocols.Sink

	// ctx outlives Run's context by the end of the current batch (at most
	// stopGrace); it ends when the session closes, ending the crypto's
	// waits for late keys.
	ctx    context.Context
	cancel context.CancelFunc

	onlineAt time.Time

	sendMu sync.Mutex // one Send of text at a time

	mu       sync.Mutex
	typingOn map[id.RoomID]bool               // rooms the account shows typing in
	batchErr error                            // the first delivery that failed in the batch
	typing   map[id.RoomID]map[id.UserID]bool // who the account saw typing, per room
	lastSeen map[id.RoomID]id.EventID         // the patron's last message, per room
	readUpTo map[id.RoomID]id.EventID         // the last one marked read
}

// connect logs in and sets up encryption and the event handlers.
func (a *Adapter) connect(ctx context.Context, sink protocols.Sink) (*session, error) {
	if err := a.rooms.load(); err != nil {
		return nil, err
	}
	cli, err := a.login(ctx)
	if err != nil {
		return nil, err
	}
	syncer := mautrix.NewDefaultSyncer()
	cli.Syncer = syncer
	helper, err := a.openCrypto(ctx, cli)
	if err != nil {
		return nil, err
	}
	cli.Crypto = helper
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	s := &session{
		a: a, cli: cli, syncer: syncer, crypto: helper, sink: sink,
		ctx: sctx, cancel: cancel,
		typing:   map[id.RoomID]map[id.UserID]bool{},
		typingOn: map[id.RoomID]bool{},
		lastSeen: map[id.RoomID]id.EventID{},
		readUpTo: map[id.RoomID]id.EventID{},
	}
	helper.DecryptErrorCallback = s.onDecryptError
	syncer.OnSync(s.fillGaps)
	syncer.OnEventType(event.StateMember, s.onMember)
	syncer.OnEventType(event.EventMessage, s.onMessage)
	syncer.OnEventType(event.EphemeralEventTyping, s.onTyping)
	syncer.OnEventType(event.EphemeralEventReceipt, s.onReceipt)
	return s, nil
}

func (s *session) close() {
	s.cancel()
	if err := s.crypto.Close(); err != nil {
		s.a.log.Warn("matrix: closing the crypto store", "err", err)
	}
}

// syncLoop syncs until a sync fails or ctx ends; online is called after the
// first sync was handled.
func (s *session) syncLoop(ctx context.Context, online func()) error {
	filter := &mautrix.Filter{
		Room: &mautrix.RoomFilter{
			Timeline: &mautrix.FilterPart{Limit: timelineLimit},
		},
		Presence: &mautrix.FilterPart{NotTypes: []event.Type{{Type: "*"}}},
	}
	fr, err := s.cli.CreateFilter(ctx, filter)
	if err != nil {
		return s.syncError("creating the sync filter", err)
	}
	since, err := s.cli.Store.LoadNextBatch(ctx, s.cli.UserID)
	if err != nil {
		return fmt.Errorf("matrix: loading the sync token: %w", err)
	}
	first := true
	for {
		timeout := 30000
		if first {
			timeout = 0
		}
		resp, err := s.cli.FullSyncRequest(ctx, mautrix.ReqSync{Timeout: timeout, Since: since, FilterID: fr.FilterID})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return s.syncError("sync", err)
		}
		if err := s.handleBatch(resp, since); err != nil {
			return err
		}
		since = resp.NextBatch
		if first {
			first = false
			s.onlineAt = time.Now()
			online()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// handleBatch hands one sync response to the handlers and saves its token
// once everything in it was delivered; when a delivery failed, the token is
// not saved and the error ends the session, so that the batch comes again.
//
// The handlers get the session's context, which Run's context ending
// cancels only after stopGrace: a batch once fetched is handled to its end
// and its token saved, so that nothing is replayed or skipped at the next
// start. The
// crypto helper's waits for a late key (up to 25 s, in goroutines of its
// own) end when the session closes.
func (s *session) handleBatch(resp *mautrix.RespSync, since string) error {
	ctx := s.ctx
	s.mu.Lock()
	s.batchErr = nil
	s.mu.Unlock()
	if err := s.syncer.ProcessResponse(ctx, resp, since); err != nil {
		return fmt.Errorf("matrix: handling a sync: %w", err)
	}
	s.mu.Lock()
	err := s.batchErr
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("matrix: delivering an event: %w", err)
	}
	if err := s.a.rooms.setLast(lastEvents(resp)); err != nil {
		return err
	}
	if err := s.cli.Store.SaveNextBatch(ctx, s.cli.UserID, resp.NextBatch); err != nil {
		return fmt.Errorf("matrix: saving the sync token: %w", err)
	}
	s.a.delivered.clear()
	return nil
}

// syncError classifies a failed request of the sync loop.
func (s *session) syncError(what string, err error) error {
	if errors.Is(err, mautrix.MUnknownToken) {
		return fmt.Errorf("matrix: %s: the homeserver no longer takes the access token: %w", what, protocols.ErrBadCredentials)
	}
	return fmt.Errorf("matrix: %s: %w", what, err)
}

// deliver hands an event to the gateway; a failure is kept for
// handleBatch. An event delivered from a batch whose token could not be
// saved is not delivered again when the batch comes again.
func (s *session) deliver(ctx context.Context, evID id.EventID, ev protocols.Inbound) {
	s.mu.Lock()
	failed := s.batchErr != nil
	s.mu.Unlock()
	if failed || (evID != "" && s.a.delivered.has(evID)) {
		return
	}
	if err := s.sink.Deliver(ctx, ev); err != nil {
		s.mu.Lock()
		if s.batchErr == nil {
			s.batchErr = err
		}
		s.mu.Unlock()
		return
	}
	if evID != "" {
		s.a.delivered.add(evID)
	}
}

// fillGaps fetches, for each room whose timeline in resp is limited, the
// events between the last one handled and the timeline with /messages, so
// that a long absence skips nothing. The walk back stops at the last event
// handled (kept per room in rooms.json; Dendrite does not stop at the sync
// token given as "to"), or at the account's own join for a room new to
// owlgate, or after 2,000 events. The very first sync has no previous one:
// its history is not fetched.
func (s *session) fillGaps(ctx context.Context, resp *mautrix.RespSync, since string) bool {
	if since == "" {
		return true
	}
	for roomID, room := range resp.Rooms.Join {
		if !room.Timeline.Limited || room.Timeline.PrevBatch == "" {
			continue
		}
		last := s.a.rooms.lastEvent(roomID)
		var gap []*event.Event
		from := room.Timeline.PrevBatch
	pages:
		for range 20 {
			page, err := s.cli.Messages(ctx, roomID, from, since, mautrix.DirectionBackward, nil, 100)
			if err != nil {
				s.a.log.Warn("matrix: fetching the events a long sync left out", "err", err)
				break
			}
			for _, ev := range page.Chunk { // newest first
				if ev.ID == last {
					break pages
				}
				gap = append(gap, ev)
				if last == "" && ev.Type == event.StateMember && ev.GetStateKey() == string(s.cli.UserID) {
					break pages
				}
			}
			if page.End == "" || len(page.Chunk) == 0 {
				break
			}
			from = page.End
		}
		slices.Reverse(gap)
		room.Timeline.Events = append(gap, room.Timeline.Events...)
	}
	return true
}

// lastEvents returns the last timeline event of each joined room of resp.
func lastEvents(resp *mautrix.RespSync) map[id.RoomID]id.EventID {
	last := map[id.RoomID]id.EventID{}
	for roomID, room := range resp.Rooms.Join {
		if n := len(room.Timeline.Events); n > 0 {
			last[roomID] = room.Timeline.Events[n-1].ID
		}
	}
	return last
}
