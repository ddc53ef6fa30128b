package xmpp

import (
	"slices"

	"mellium.im/xmpp/jid"
)

// RosterGroupQueues is the roster group of the queues an operator staffs.
const RosterGroupQueues = "Queues"

// Operator returns a configured operator's display name (the JID when the
// config gives none). It implements [Directory].
func (s *Service) Operator(bare jid.JID) (string, bool) {
	op := s.ops[bare.Bare().String()]
	if op == nil {
		return "", false
	}
	return op.name, true
}

// Roster returns op's roster: the queues they staff (group "Queues"), then
// the colleagues of their library and of the libraries sharing one of its
// collaborations (grouped by library name), all with subscription "both".
// It is nil for someone who is not an operator. It implements [Directory];
// the result is shared and must not be modified.
func (s *Service) Roster(op jid.JID) []RosterItem {
	o := s.ops[op.Bare().String()]
	if o == nil {
		return nil
	}
	return s.rosters[o.id]
}

func (s *Service) buildRoster(op *opInfo) []RosterItem {
	var items []RosterItem
	for _, q := range op.queues {
		items = append(items, RosterItem{JID: q.jid, Name: q.name, Groups: []string{RosterGroupQueues}, Subscription: "both"})
	}
	seen := map[*opInfo]bool{op: true}
	addLib := func(l *libInfo) {
		for _, c := range l.ops {
			if !seen[c] {
				seen[c] = true
				items = append(items, RosterItem{JID: c.jid, Name: c.name, Groups: []string{l.name}, Subscription: "both"})
			}
		}
	}
	addLib(op.lib)
	libs := make([]*libInfo, 0, len(s.libs))
	for _, l := range s.libs {
		if l != op.lib && sharesCollab(op.lib, l) {
			libs = append(libs, l)
		}
	}
	slices.SortFunc(libs, func(a, b *libInfo) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	for _, l := range libs {
		addLib(l)
	}
	return items
}

func sharesCollab(a, b *libInfo) bool {
	for _, x := range a.collabs {
		if slices.Contains(b.collabs, x) {
			return true
		}
	}
	return false
}

// QueueJIDs returns the JIDs of the queues, in config order.
func (s *Service) QueueJIDs() []jid.JID {
	out := make([]jid.JID, len(s.queueList))
	for i, q := range s.queueList {
		out[i] = q.jid
	}
	return out
}
