package gateway

import (
	"slices"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// AccountStatus is what /status and the metrics show of one account.
type AccountStatus struct {
	ID      protocols.AccountID
	Network protocols.Network
	Queue   routing.QueueID

	State protocols.AccountState
	Since time.Time // when it entered State
	Retry time.Time // the next attempt, in backoff

	LastError   string // the last error reported, kept after the account recovered
	LastErrorAt time.Time
	Failures    int // times the adapter stopped on an error (panics and refused credentials too) since owlgate started
	QueueDepth  int // messages waiting to be sent to patrons
}

// Accounts returns every account's status, ordered by id. It is safe to
// call at any time.
func (g *Gateway) Accounts() []AccountStatus {
	out := make([]AccountStatus, 0, len(g.accounts))
	for _, a := range g.accounts {
		out = append(out, a.status())
	}
	slices.SortFunc(out, func(a, b AccountStatus) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

// StateChanged returns a channel that is closed at the next change of any
// account's state.
func (g *Gateway) StateChanged() <-chan struct{} {
	g.stateMu.Lock()
	defer g.stateMu.Unlock()
	return g.stateCh
}

func (g *Gateway) notifyState() {
	g.stateMu.Lock()
	close(g.stateCh)
	g.stateCh = make(chan struct{})
	g.stateMu.Unlock()
}
