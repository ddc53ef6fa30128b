package irc

import (
	"slices"
	"sync"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// patron is a user the account chats with.
type patron struct {
	id   string // the UserID: the nick the patron first wrote from (or was first written to)
	nick string // their nick now
	seen time.Time

	lastID   protocols.MessageID // the last message sent to them
	lastSent time.Time
	failed   time.Time // lastSent of the last message reported as not delivered
}

// patrons follows the users the account chats with across nick changes, so
// that a patron keeps one UserID (and one guest id) for the whole chat:
// messages from a patron's new nick are reported with the nick they first
// wrote from, and messages to that UserID go to their nick now. It lives as
// long as the adapter (across reconnections), in memory only.
type patrons struct {
	mu     sync.Mutex
	cm     casemapping
	byNick map[string]*patron // folded nick now
	byID   map[string]*patron // folded UserID
}

func newPatrons() *patrons {
	return &patrons{byNick: map[string]*patron{}, byID: map[string]*patron{}}
}

// maxIdle is how long a patron is remembered without any traffic; past
// sweepAt patrons the forgotten ones are dropped.
const (
	maxIdle = 24 * time.Hour
	sweepAt = 4096
)

// setCasemapping changes how nicks compare (the server's CASEMAPPING).
func (ps *patrons) setCasemapping(cm casemapping) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if cm == ps.cm {
		return
	}
	ps.cm = cm
	byNick, byID := map[string]*patron{}, map[string]*patron{}
	for _, p := range ps.byNick {
		byNick[cm.fold(p.nick)] = p
	}
	for _, p := range ps.byID {
		byID[cm.fold(p.id)] = p
	}
	ps.byNick, ps.byID = byNick, byID
}

func (ps *patrons) fold(s string) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.cm.fold(s)
}

// addLocked starts following a patron whose UserID and nick are nick. A
// patron who had nick as their UserID but has changed nick since is
// returned as evicted: the nick (and so the UserID) now belongs to someone
// else.
func (ps *patrons) addLocked(nick string, now time.Time) (p, evicted *patron) {
	if len(ps.byNick) >= sweepAt {
		for k, q := range ps.byNick {
			if now.Sub(q.seen) > maxIdle {
				delete(ps.byNick, k)
				if ps.byID[ps.cm.fold(q.id)] == q {
					delete(ps.byID, ps.cm.fold(q.id))
				}
			}
		}
	}
	f := ps.cm.fold(nick)
	if old := ps.byID[f]; old != nil {
		evicted = old
		delete(ps.byNick, ps.cm.fold(old.nick))
	}
	p = &patron{id: nick, nick: nick, seen: now}
	ps.byNick[f] = p
	ps.byID[f] = p
	return p, evicted
}

// inbound returns the UserID of the sender nick of a message, following
// them from now on. evicted is as for addLocked.
func (ps *patrons) inbound(nick string, now time.Time) (id string, evicted *patron) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if p := ps.byNick[ps.cm.fold(nick)]; p != nil {
		p.seen = now
		return p.id, nil
	}
	p, evicted := ps.addLocked(nick, now)
	return p.id, evicted
}

// outbound returns the nick to send a message for the UserID id to, and
// records that message id was sent, for delivery failures. A UserID not
// followed yet (a chat from before a restart) is followed from now on.
func (ps *patrons) outbound(id string, msg protocols.MessageID, now time.Time) string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byID[ps.cm.fold(id)]
	if p == nil {
		if q := ps.byNick[ps.cm.fold(id)]; q != nil && q.id != id {
			// The nick is someone else's UserID's nick now; the
			// patron id was following is gone: write to the nick.
			return id
		}
		p, _ = ps.addLocked(id, now)
	}
	p.seen = now
	p.lastID, p.lastSent = msg, now
	return p.nick
}

// rename follows a nick change; it returns whether the nick was a patron's.
func (ps *patrons) rename(old, nick string) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byNick[ps.cm.fold(old)]
	if p == nil {
		return false
	}
	delete(ps.byNick, ps.cm.fold(old))
	p.nick = nick
	ps.byNick[ps.cm.fold(nick)] = p
	return true
}

// gone stops following the patron whose nick is nick (they quit) and
// returns them, or nil when nick is nobody's.
func (ps *patrons) gone(nick string) *patron {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byNick[ps.cm.fold(nick)]
	if p == nil {
		return nil
	}
	delete(ps.byNick, ps.cm.fold(nick))
	if ps.byID[ps.cm.fold(p.id)] == p {
		delete(ps.byID, ps.cm.fold(p.id))
	}
	return p
}

// failed returns the UserID and the message a delivery failure for the
// target nick is about, once per message, for a message sent within the
// last window; ok is false when nothing owlgate sent recently went there.
func (ps *patrons) failed(target string, now time.Time, window time.Duration) (id string, msg protocols.MessageID, ok bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.byNick[ps.cm.fold(target)]
	if p == nil || p.lastSent.IsZero() || now.Sub(p.lastSent) > window {
		return "", "", false
	}
	if p.failed.Equal(p.lastSent) {
		return "", "", false
	}
	p.failed = p.lastSent
	return p.id, p.lastID, true
}

// nicks returns the patrons' nicks now, the most recently active first,
// those active within window only.
func (ps *patrons) nicks(now time.Time, window time.Duration) []string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	list := make([]*patron, 0, len(ps.byNick))
	for _, p := range ps.byNick {
		if now.Sub(p.seen) <= window {
			list = append(list, p)
		}
	}
	slices.SortFunc(list, func(a, b *patron) int { return b.seen.Compare(a.seen) })
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.nick
	}
	return out
}
