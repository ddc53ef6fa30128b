package httpapi

import (
	"context"
	"net/http"
	"time"
)

// checkWait bounds what /readyz and /status wait for the store and the
// event loop.
const checkWait = 3 * time.Second

// handleHealthz answers GET /healthz: owlgate's process is alive and
// serving HTTP.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

// readiness is the answer of /readyz.
type readiness struct {
	Ready  bool              `json:"ready"`
	Checks map[string]string `json:"checks"` // store, xmpp, gateway: "ok" or what is wrong
}

// handleReadyz answers GET /readyz: 200 when the store can be read, the
// operator link is up and the event loop answers; 503 saying which is not.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkWait)
	defer cancel()
	rd := readiness{Ready: true, Checks: map[string]string{}}
	check := func(name string, problem string) {
		if problem == "" {
			rd.Checks[name] = "ok"
			return
		}
		rd.Checks[name] = problem
		rd.Ready = false
	}
	if h := s.opts.History; h != nil {
		problem := ""
		if err := h.Ping(ctx); err != nil {
			s.log.Warn("http: readiness: the store cannot be read", "err", err)
			problem = "cannot be read"
		}
		check("store", problem)
	}
	if l := s.opts.Link; l != nil {
		problem := ""
		if up, _ := l.LinkUp(); !up {
			problem = "down"
		}
		check("xmpp", problem)
	}
	problem := ""
	if _, err := s.opts.Gateway.Snapshot(ctx); err != nil {
		problem = "not answering"
	}
	check("gateway", problem)
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !rd.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rd)
}

// Status is the answer of /status.
type Status struct {
	Version  string          `json:"version"`
	Started  time.Time       `json:"started"`
	Link     *LinkStatus     `json:"xmpp,omitempty"`
	Queues   []QueueStatus   `json:"queues"`
	Accounts []AccountStatus `json:"accounts"`
	Chats    ChatCounts      `json:"chats"`
}

// LinkStatus is the operator link's state.
type LinkStatus struct {
	Mode  string    `json:"mode"` // server or component
	Up    bool      `json:"up"`
	Since time.Time `json:"since,omitzero"`
}

// QueueStatus is one queue in /status.
type QueueStatus struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Library         string   `json:"library"`
	Online          bool     `json:"online"`
	OperatorsOnline []string `json:"operators_online"` // available operators' JIDs
	Waiting         int      `json:"waiting"`          // open chats waiting for an operator
	Held            int      `json:"held"`             // open chats an operator holds
}

// AccountStatus is one account in /status.
type AccountStatus struct {
	ID          string    `json:"id"`
	Network     string    `json:"network"`
	Queue       string    `json:"queue"`
	State       string    `json:"state"` // stopped, connecting, online, backoff, bad-credentials
	Since       time.Time `json:"since,omitzero"`
	RetryAt     time.Time `json:"retry_at,omitzero"` // in backoff: the next attempt
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Failures    int       `json:"failures"`   // since owlgate started
	SendQueue   int       `json:"send_queue"` // messages waiting to be sent to patrons
}

// ChatCounts counts the open chats.
type ChatCounts struct {
	Open    int `json:"open"`
	Waiting int `json:"waiting"`
}

// handleStatus answers GET /status (admin token): queues with their
// online operators, accounts with their state, last error, backoff and
// send queue, and the open and waiting chats.
func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), checkWait)
	defer cancel()
	snap, err := s.opts.Gateway.Snapshot(ctx)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "the gateway is not answering: "+err.Error())
		return
	}
	st := Status{Version: s.opts.Version, Started: s.started.UTC(), Queues: []QueueStatus{}, Accounts: []AccountStatus{}}
	if l := s.opts.Link; l != nil {
		up, since := l.LinkUp()
		st.Link = &LinkStatus{Mode: s.opts.Config.XMPP.Mode, Up: up, Since: since.UTC()}
	}
	st.Chats.Open = snap.OpenChats
	for _, q := range snap.Queues {
		qs := QueueStatus{ID: string(q.ID), Online: q.Online, Waiting: q.Waiting, Held: q.Held, OperatorsOnline: []string{}}
		if c, ok := s.queues[q.ID]; ok {
			qs.Name, qs.Library = c.Name, c.Library
		}
		for _, o := range q.Available {
			qs.OperatorsOnline = append(qs.OperatorsOnline, string(o))
		}
		st.Chats.Waiting += q.Waiting
		st.Queues = append(st.Queues, qs)
	}
	for _, a := range s.opts.Gateway.Accounts() {
		st.Accounts = append(st.Accounts, AccountStatus{
			ID: string(a.ID), Network: string(a.Network), Queue: string(a.Queue),
			State: a.State.String(), Since: a.Since.UTC(), RetryAt: a.Retry.UTC(),
			LastError: a.LastError, LastErrorAt: a.LastErrorAt.UTC(),
			Failures: a.Failures, SendQueue: a.QueueDepth,
		})
	}
	writeJSON(w, http.StatusOK, st)
}
