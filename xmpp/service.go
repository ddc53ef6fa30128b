package xmpp

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/routing"
)

// DefaultShutdownTimeout bounds how long [Service.Run] spends, after its
// context ended, telling operators that the queue and patron contacts went
// unavailable.
const DefaultShutdownTimeout = 2 * time.Second

// ServiceConfig is what a [Service] is built from.
type ServiceConfig struct {
	// Domain is D: the embedded server's domain, or the component's
	// subdomain. Queues are <queue>@D and patrons guest-N@D. Zero means
	// the transport's Domain; otherwise the two must be the same.
	Domain jid.JID

	// Routing names the libraries, operators and queues, and who staffs
	// what. The gateway builds it from the config (gateway.FromConfig).
	Routing routing.Config

	// Log receives the service's logs; nil discards them. Message text is
	// logged only at debug level.
	Log *slog.Logger

	// Version is owlgate's version, answered to XEP-0092 queries; empty
	// says "devel".
	Version string

	// ShutdownTimeout bounds the goodbye presences at shutdown; zero
	// means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Service is the operator link on top of a [Transport]: it maps JIDs to
// routing peers and back, turns what operators send into routing events,
// and the engine's operator-facing actions into stanzas. The same Service
// runs on the embedded server and on the XEP-0114 component; see the
// package documentation for what operators see.
//
// It implements gateway.Link, [Handler] and [Directory].
type Service struct {
	t         Transport
	log       *slog.Logger
	domain    jid.JID // D, bare
	domainStr string
	version   string
	byeWait   time.Duration

	// component is true when some operator is not at D: owlgate is then a
	// component of the operators' server, and learns their presence
	// through subscriptions and probes.
	component bool

	// The configuration, resolved. Immutable after NewService.
	ops       map[string]*opInfo // by bare JID string
	opByID    map[routing.OperatorID]*opInfo
	opList    []*opInfo             // config order
	queues    map[string]*queueInfo // by local part
	queueByID map[routing.QueueID]*queueInfo
	queueList []*queueInfo // config order
	libs      map[routing.LibraryID]*libInfo
	rosters   map[routing.OperatorID][]RosterItem

	idPrefix string
	idSeq    atomic.Uint64

	started atomic.Bool
	runCtx  context.Context // set by Run before the transport starts
	post    gateway.PostFunc

	// The outbound FIFO: Send and the handler append, the sender drains.
	qmu    sync.Mutex
	queue  []job
	spare  []job
	closed bool
	wake   chan struct{} // capacity 1
	// enqueued and handled count jobs; progress, made by a waiter, is
	// closed when handled grows.
	enqueued, handled uint64
	progress          chan struct{}

	// out is owned by the sender goroutine.
	out outState
}

// opInfo is a configured operator.
type opInfo struct {
	id     routing.OperatorID
	name   string
	jid    jid.JID // bare
	lib    *libInfo
	queues []*queueInfo // config order
	remote bool         // not at D: component mode

	// res holds the operator's resources that are not offline, as last
	// posted to the engine. pmu serializes their presence changes, and
	// is held while posting so that the engine sees them in order.
	pmu sync.Mutex
	res map[string]routing.Show
}

// queueInfo is a configured queue.
type queueInfo struct {
	id    routing.QueueID
	name  string // Name, or the id
	label string // "Name (Library)"
	jid   jid.JID
	lib   *libInfo
	ops   []*opInfo
}

type libInfo struct {
	id      routing.LibraryID
	name    string
	collabs []routing.CollaborationID
	ops     []*opInfo
}

// NewService resolves the configuration against domain D and returns a
// service for transport t. It fails when a queue id is not a valid JID
// local part, an operator id is not a bare JID, or a queue's JID is also an
// operator's.
func NewService(cfg ServiceConfig, t Transport) (*Service, error) {
	if t == nil {
		return nil, errors.New("xmpp: no transport")
	}
	d := cfg.Domain.Domain()
	td := t.Domain().Domain()
	switch {
	case d.Domainpart() == "":
		d = td
	case td.Domainpart() != "" && !td.Equal(d):
		return nil, fmt.Errorf("xmpp: the service is for %s but the transport for %s", d, td)
	}
	if d.Domainpart() == "" {
		return nil, errors.New("xmpp: no domain")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "devel"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	s := &Service{
		t:         t,
		log:       cfg.Log,
		domain:    d,
		domainStr: d.Domainpart(),
		version:   cfg.Version,
		byeWait:   cfg.ShutdownTimeout,
		ops:       make(map[string]*opInfo, len(cfg.Routing.Operators)),
		opByID:    make(map[routing.OperatorID]*opInfo, len(cfg.Routing.Operators)),
		queues:    make(map[string]*queueInfo, len(cfg.Routing.Queues)),
		queueByID: make(map[routing.QueueID]*queueInfo, len(cfg.Routing.Queues)),
		libs:      make(map[routing.LibraryID]*libInfo, len(cfg.Routing.Libraries)),
		idPrefix:  "og" + hex.EncodeToString(rnd[:]) + "-",
		wake:      make(chan struct{}, 1),
		out:       newOutState(),
	}
	for _, l := range cfg.Routing.Libraries {
		name := l.Name
		if name == "" {
			name = string(l.ID)
		}
		s.libs[l.ID] = &libInfo{id: l.ID, name: name, collabs: l.Collaborations}
	}
	lib := func(id routing.LibraryID) *libInfo {
		if l := s.libs[id]; l != nil {
			return l
		}
		l := &libInfo{id: id, name: string(id)}
		s.libs[id] = l
		return l
	}
	for _, o := range cfg.Routing.Operators {
		j, err := jid.Parse(string(o.ID))
		if err != nil || j.Localpart() == "" || j.Resourcepart() != "" {
			return nil, fmt.Errorf("xmpp: operator %q is not a bare JID user@domain", o.ID)
		}
		if _, dup := s.ops[j.String()]; dup {
			return nil, fmt.Errorf("xmpp: operator %q is configured twice", o.ID)
		}
		name := o.Name
		if name == "" {
			name = string(o.ID)
		}
		op := &opInfo{id: o.ID, name: name, jid: j, lib: lib(o.Library),
			remote: j.Domainpart() != s.domainStr, res: make(map[string]routing.Show)}
		if op.remote {
			s.component = true
		}
		s.ops[j.String()] = op
		s.opByID[o.ID] = op
		s.opList = append(s.opList, op)
		op.lib.ops = append(op.lib.ops, op)
	}
	for _, qc := range cfg.Routing.Queues {
		j, err := d.WithLocal(string(qc.ID))
		if err != nil {
			return nil, fmt.Errorf("xmpp: queue id %q is not a valid JID local part: %w", qc.ID, err)
		}
		if s.ops[j.String()] != nil {
			return nil, fmt.Errorf("xmpp: queue %q has the JID %s, which is an operator's", qc.ID, j)
		}
		if k := s.resolve(j).kind; k == jidGuest {
			return nil, fmt.Errorf("xmpp: queue id %q starts with %q, which is for patrons", qc.ID, routing.GuestPrefix)
		}
		if s.queues[j.Localpart()] != nil {
			return nil, fmt.Errorf("xmpp: queue %q is configured twice", qc.ID)
		}
		name := qc.Name
		if name == "" {
			name = string(qc.ID)
		}
		q := &queueInfo{id: qc.ID, name: name, jid: j, lib: lib(qc.Library)}
		q.label = name + " (" + q.lib.name + ")"
		for _, oid := range qc.Operators {
			op := s.opByID[oid]
			if op == nil {
				return nil, fmt.Errorf("xmpp: queue %q: operator %q is not configured", qc.ID, oid)
			}
			q.ops = append(q.ops, op)
			op.queues = append(op.queues, q)
		}
		s.queues[j.Localpart()] = q
		s.queueByID[qc.ID] = q
		s.queueList = append(s.queueList, q)
	}
	s.rosters = make(map[routing.OperatorID][]RosterItem, len(s.opList))
	for _, op := range s.opList {
		s.rosters[op.id] = s.buildRoster(op)
	}
	return s, nil
}

var (
	_ gateway.Link = (*Service)(nil)
	_ Handler      = (*Service)(nil)
	_ Directory    = (*Service)(nil)
)

// Domain is D.
func (s *Service) Domain() jid.JID { return s.domain }

// Run runs the transport with the service as its handler until ctx ends,
// posting the operators' presence, messages and chat states with post. When
// ctx ends it tells the operators that every queue and open patron JID went
// unavailable (within the shutdown timeout), then stops the transport. It
// returns nil after a clean shutdown, or the transport's error when the
// transport stopped by itself. Run may be called once.
func (s *Service) Run(ctx context.Context, post gateway.PostFunc) error {
	if post == nil {
		return errors.New("xmpp: Run without a post function")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("xmpp: Service.Run called twice")
	}
	s.runCtx, s.post = ctx, post

	// The sender and the transport outlive ctx by the goodbye.
	base := context.WithoutCancel(ctx)
	sendCtx, stopSender := context.WithCancel(base)
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		s.sendLoop(sendCtx)
	}()
	tctx, stopTransport := context.WithCancel(base)
	terr := make(chan error, 1)
	go func() { terr <- s.t.Run(tctx, s) }()
	s.log.Info("operator link starting", "domain", s.domainStr, "mode", s.modeName(),
		"queues", len(s.queueList), "operators", len(s.opList))

	select {
	case <-ctx.Done():
	case err := <-terr:
		stopTransport()
		s.closeQueue()
		stopSender()
		<-senderDone
		if err == nil {
			err = errors.New("transport stopped")
		}
		return fmt.Errorf("xmpp: %w", err)
	}

	// Goodbye: everything queued so far, then unavailable presence from
	// every JID operators see online, within the shutdown timeout.
	bye := make(chan struct{})
	s.enqueue(job{kind: jobGoodbye, done: bye})
	s.closeQueue()
	timer := time.NewTimer(s.byeWait)
	select {
	case <-bye:
	case <-timer.C:
		s.log.Warn("operator link: shutdown timeout; some operators may still see queues online")
	}
	timer.Stop()
	stopSender()
	<-senderDone
	stopTransport()
	err := <-terr
	s.log.Info("operator link stopped")
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("xmpp: %w", err)
	}
	return nil
}

func (s *Service) modeName() string {
	if s.component {
		return "component"
	}
	return "server"
}

// Send carries out an operator-facing action: SendOperator,
// SendOperatorState, SendOperatorReceipt and QueuePresence, and SaveChat of
// an ended chat (the patron's JID then goes unavailable). Other actions are
// ignored. It never blocks: actions are queued and sent, in order, by a
// goroutine of Run.
func (s *Service) Send(a routing.Action) {
	switch a.Kind {
	case routing.SendOperator, routing.SendOperatorState, routing.SendOperatorReceipt, routing.QueuePresence:
	case routing.SaveChat:
		if a.Record.Status != routing.ChatEnded {
			return
		}
		a = routing.Action{Kind: routing.SaveChat, Chat: a.Record.ID,
			Record: routing.ChatRecord{ID: a.Record.ID, Guest: a.Record.Guest, Status: routing.ChatEnded}}
	default:
		return
	}
	s.enqueue(job{kind: jobAction, action: a})
}

// Wait blocks until everything queued so far has been handed to the
// transport, or ctx ends. Tests and benchmarks use it.
func (s *Service) Wait(ctx context.Context) error {
	s.qmu.Lock()
	target := s.enqueued
	for s.handled < target {
		if s.progress == nil {
			s.progress = make(chan struct{})
		}
		ch := s.progress
		s.qmu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.qmu.Lock()
	}
	s.qmu.Unlock()
	return nil
}

// done counts n jobs handled.
func (s *Service) done(n int) {
	s.qmu.Lock()
	s.handled += uint64(n)
	if s.progress != nil {
		close(s.progress)
		s.progress = nil
	}
	s.qmu.Unlock()
}

// jobKind is what the sender does with a job.
type jobKind uint8

const (
	jobAction     jobKind = iota + 1 // carry out action
	jobStanza                        // send stanza
	jobPresenceOf                    // send the current presence of JID from to to (after "subscribed" when subscribed)
	jobWelcome                       // resource to of operator op came online: tell it what it should see
	jobAnnounce                      // the transport (re)connected
	jobGoodbye                       // shutdown: everything goes unavailable; then close done
)

type job struct {
	kind       jobKind
	subscribed bool
	action     routing.Action
	stanza     *Stanza
	from, to   jid.JID
	op         *opInfo
	done       chan struct{}
}

// enqueue appends j to the FIFO; it never blocks. After shutdown it drops j.
func (s *Service) enqueue(j job) {
	s.qmu.Lock()
	if s.closed {
		s.qmu.Unlock()
		return
	}
	s.queue = append(s.queue, j)
	s.enqueued++
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// closeQueue makes enqueue drop what comes after.
func (s *Service) closeQueue() {
	s.qmu.Lock()
	s.closed = true
	s.qmu.Unlock()
}

// sendLoop drains the FIFO in batches until ctx ends.
func (s *Service) sendLoop(ctx context.Context) {
	for {
		s.qmu.Lock()
		batch := s.queue
		if len(batch) > 0 {
			// Swap in the spare array: the queue grows there while this
			// batch is sent, and this one becomes the spare after.
			s.queue, s.spare = s.spare[:0], nil
		}
		s.qmu.Unlock()
		if len(batch) == 0 {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				s.dropPending()
				return
			}
		}
		for i := range batch {
			if ctx.Err() == nil {
				s.do(ctx, &batch[i])
			} else if batch[i].done != nil {
				close(batch[i].done)
			}
			batch[i] = job{}
		}
		s.done(len(batch))
		s.qmu.Lock()
		if cap(batch) <= 4096 {
			s.spare = batch[:0]
		} else {
			s.spare = nil
		}
		s.qmu.Unlock()
	}
}

// dropPending forgets what is left in the FIFO at shutdown.
func (s *Service) dropPending() {
	s.qmu.Lock()
	n := len(s.queue)
	s.queue = nil
	s.closed = true
	s.qmu.Unlock()
	s.done(n)
	if n > 0 {
		s.log.Warn("operator link stopped with stanzas unsent", "count", n)
	}
}

// newID makes a stanza id.
func (s *Service) newID() string {
	return s.idPrefix + strconv.FormatUint(s.idSeq.Add(1), 36)
}

// send hands one stanza to the transport.
func (s *Service) send(ctx context.Context, st *Stanza) {
	if err := s.t.Send(ctx, st); err != nil {
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("stanza not sent", "kind", st.Kind.String(), "to", st.To.String(), "err", err)
	}
}

// postEvent hands an event to the gateway's loop, waiting until the engine
// handled it.
func (s *Service) postEvent(ev routing.Event) {
	if s.post == nil {
		s.log.Warn("operator event before the link runs; dropped", "event", fmt.Sprintf("%T", ev))
		return
	}
	if err := s.post(s.runCtx, ev); err != nil && s.runCtx.Err() == nil {
		s.log.Warn("operator event not handled", "event", fmt.Sprintf("%T", ev), "err", err)
	}
}
