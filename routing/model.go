package routing

import (
	"fmt"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// The engine's view of the configuration: resolved pointers, no lookups by
// string on the hot paths.

type library struct {
	id      LibraryID
	name    string // never empty: the id when the config has no name
	collabs []CollaborationID
}

type operator struct {
	id     OperatorID
	name   string // never empty: the JID when the config has no name
	lib    *library
	queues []*queue // config order

	// resources holds the operator's sessions that are not offline, and
	// availRes counts those whose Show is available.
	resources map[ResourceID]Show
	availRes  int

	holds map[ChatID]*chat // open chats this operator holds
}

func (o *operator) available() bool { return o.availRes > 0 }

func (o *operator) inQueue(q *queue) bool {
	for _, x := range o.queues {
		if x == q {
			return true
		}
	}
	return false
}

type queue struct {
	id            QueueID
	label         string // "Name (Library)", for people
	lib           *library
	ops           []*operator // config order
	fallback      []*queue
	chain         []*queue // this queue, then its fallbacks depth first, deduplicated
	fallbackAfter time.Duration
	offline       string // the offline message, defaulted
	transcripts   bool
	showPhone     bool // /who shows the phone number of the patrons of its accounts

	availOps int // operators of this queue who are available: online when > 0

	// offering holds the waiting chats whose offer covers this queue: its
	// available operators are offered them, and an operator of it who
	// becomes available is offered them at once.
	offering map[ChatID]*chat
	// waiting counts the waiting chats whose record is with this queue;
	// held holds the held ones.
	waiting int
	held    map[ChatID]*chat
}

func (q *queue) online() bool { return q.availOps > 0 }

type account struct {
	q       *queue
	network protocols.Network
	idle    time.Duration
}

// build resolves cfg. The config is validated by the gateway; build only
// refuses what would leave dangling references.
func (e *Engine) build(cfg Config) error {
	e.ctxLines = cfg.ContextLines
	if e.ctxLines <= 0 {
		e.ctxLines = 50
	}
	e.defaultIdle = cfg.DefaultIdleTimeout
	if e.defaultIdle <= 0 {
		e.defaultIdle = 30 * time.Minute
	}
	e.restoreGrace = cfg.RestoreGrace
	if e.restoreGrace <= 0 {
		e.restoreGrace = 2 * time.Minute
	}

	e.libs = make(map[LibraryID]*library, len(cfg.Libraries))
	for _, l := range cfg.Libraries {
		if _, dup := e.libs[l.ID]; dup {
			return fmt.Errorf("routing: library %q is configured twice", l.ID)
		}
		name := l.Name
		if name == "" {
			name = string(l.ID)
		}
		e.libs[l.ID] = &library{id: l.ID, name: name, collabs: l.Collaborations}
	}

	e.ops = make(map[OperatorID]*operator, len(cfg.Operators))
	for _, o := range cfg.Operators {
		if _, dup := e.ops[o.ID]; dup {
			return fmt.Errorf("routing: operator %q is configured twice", o.ID)
		}
		lib := e.libs[o.Library]
		if lib == nil {
			return fmt.Errorf("routing: operator %q: library %q is not configured", o.ID, o.Library)
		}
		name := o.Name
		if name == "" {
			name = string(o.ID)
		}
		e.ops[o.ID] = &operator{id: o.ID, name: name, lib: lib,
			resources: make(map[ResourceID]Show), holds: make(map[ChatID]*chat)}
	}

	e.queues = make(map[QueueID]*queue, len(cfg.Queues))
	e.accounts = make(map[protocols.AccountID]*account)
	for i := range cfg.Queues {
		qc := &cfg.Queues[i]
		if _, dup := e.queues[qc.ID]; dup {
			return fmt.Errorf("routing: queue %q is configured twice", qc.ID)
		}
		lib := e.libs[qc.Library]
		if lib == nil {
			return fmt.Errorf("routing: queue %q: library %q is not configured", qc.ID, qc.Library)
		}
		name := qc.Name
		if name == "" {
			name = string(qc.ID)
		}
		q := &queue{id: qc.ID, label: name + " (" + lib.name + ")", lib: lib,
			fallbackAfter: qc.FallbackAfter, offline: qc.OfflineText(), transcripts: qc.Transcripts,
			showPhone: qc.ShowPhone,
			offering:  make(map[ChatID]*chat), held: make(map[ChatID]*chat)}
		for _, oid := range qc.Operators {
			o := e.ops[oid]
			if o == nil {
				return fmt.Errorf("routing: queue %q: operator %q is not configured", qc.ID, oid)
			}
			if o.inQueue(q) {
				continue
			}
			q.ops = append(q.ops, o)
			o.queues = append(o.queues, q)
		}
		for _, a := range qc.Accounts {
			if _, dup := e.accounts[a.ID]; dup {
				return fmt.Errorf("routing: account %q is configured twice", a.ID)
			}
			idle := a.IdleTimeout
			if idle <= 0 {
				idle = e.defaultIdle
			}
			e.accounts[a.ID] = &account{q: q, network: a.Network, idle: idle}
		}
		e.queues[qc.ID] = q
		e.queueList = append(e.queueList, q)
	}
	for i, q := range e.queueList {
		for _, fid := range cfg.Queues[i].Fallback {
			f := e.queues[fid]
			if f == nil {
				return fmt.Errorf("routing: queue %q: fallback queue %q is not configured", q.id, fid)
			}
			q.fallback = append(q.fallback, f)
		}
	}
	for _, q := range e.queueList {
		seen := make(map[*queue]bool)
		var walk func(*queue)
		walk = func(x *queue) {
			if seen[x] {
				return
			}
			seen[x] = true
			q.chain = append(q.chain, x)
			for _, f := range x.fallback {
				walk(f)
			}
		}
		walk(q)
	}
	return nil
}

// mayTransfer reports whether a chat of library from may be handed to
// library to: the same library, or libraries sharing a collaboration.
func mayTransfer(from, to *library) bool {
	if from == to {
		return true
	}
	for _, a := range from.collabs {
		for _, b := range to.collabs {
			if a == b {
				return true
			}
		}
	}
	return false
}
