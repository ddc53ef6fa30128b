package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// Gateway is what the HTTP surface reads of the running gateway.
// [*gateway.Gateway] implements it.
type Gateway interface {
	// QueueOnline reports a queue's online state from the gateway's
	// snapshot, without going through its event loop.
	QueueOnline(q routing.QueueID) (online, known bool)
	// Snapshot asks the event loop for the queues and open chats.
	Snapshot(ctx context.Context) (gateway.Snapshot, error)
	// Accounts returns every account's state.
	Accounts() []gateway.AccountStatus
}

var _ Gateway = (*gateway.Gateway)(nil)

// Link tells whether the operator link (the embedded XMPP server, or the
// component's connection to its server) is up, and since when.
type Link interface {
	LinkUp() (up bool, since time.Time)
}

// Options is what a [Server] is built from.
type Options struct {
	Config  *config.Config // http keys, queues, libraries and operators' names
	Gateway Gateway
	History *store.History // nil: /api has no history, /readyz no store
	Link    Link           // nil: /readyz and /status do not check it
	Metrics *Metrics       // nil: no /metrics
	Hooks   []Hook         // the adapters' own routes, under /hooks/{account}/
	Log     *slog.Logger   // nil discards
	Version string
	Now     func() time.Time // nil: time.Now

	// Location is where a date alone in a history filter (since=2026-12-01)
	// starts at midnight; nil: the machine's local time zone (TZ).
	Location *time.Location
}

// Server is owlgate's HTTP surface. Build it with [New]; serve it with
// [Server.Serve], or mount [Server.Handler] in tests.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	started  time.Time
	mux      *http.ServeMux
	tokens   *tokens
	presence *presenceAnswers
	queues   map[routing.QueueID]config.Queue
	opNames  map[routing.OperatorID]string
}

// New builds the server and its routes. It fails when an adapter's route
// cannot be mounted (a bad or clashing pattern).
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Gateway == nil {
		return nil, errors.New("httpapi: no config or no gateway")
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	cfg := opts.Config
	s := &Server{
		opts:    opts,
		log:     opts.Log,
		now:     opts.Now,
		started: opts.Now(),
		mux:     http.NewServeMux(),
		tokens:  newTokens(cfg.HTTP),
		queues:  make(map[routing.QueueID]config.Queue, len(cfg.Queues)),
		opNames: make(map[routing.OperatorID]string, len(cfg.Operators)),
	}
	for _, q := range cfg.Queues {
		s.queues[routing.QueueID(q.ID)] = q
	}
	for _, o := range cfg.Operators {
		s.opNames[routing.OperatorID(o.JID)] = o.Name
	}
	s.presence = newPresenceAnswers(cfg.Queues)
	s.routes()
	if err := mountHooks(s.mux, opts.Hooks); err != nil {
		return nil, err
	}
	return s, nil
}

// routes registers every route but the hooks.
func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /presence/{queue}", s.handlePresence)
	m.HandleFunc("GET /presence", s.handleRollover)
	m.HandleFunc("OPTIONS /presence/{queue}", handlePreflight)
	m.HandleFunc("OPTIONS /presence", handlePreflight)

	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.handleReadyz)
	m.Handle("GET /status", s.admin(s.handleStatus))
	if s.opts.Metrics != nil {
		m.Handle("GET /metrics", s.opts.Metrics.Handler())
	}

	m.Handle("GET /api/chats", s.api(s.handleChats))
	m.Handle("GET /api/chats.csv", s.api(s.handleChatsCSV))
	m.Handle("GET /api/chats/{id}", s.api(s.handleChat))
	m.Handle("DELETE /api/chats/{id}", s.api(s.handleDeleteChat))
	m.Handle("GET /api/chats/{id}/transcript", s.api(s.handleTranscript))
	m.Handle("DELETE /api/chats/{id}/transcript", s.api(s.handleDeleteTranscript))
	// Anything else under /api: 404 without a token configured, else
	// the token is checked first (so that a wrong token learns nothing
	// of what exists).
	m.Handle("/api/", s.api(func(w http.ResponseWriter, r *http.Request, _ scope) {
		writeError(w, http.StatusNotFound, "no such API route; see the README's HTTP API section")
	}))
}

// Handler is the server's handler: every route.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on ln until ctx ends, then shuts down, giving requests in
// flight up to five seconds. It returns nil after a clean shutdown.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		// No write timeout: exports stream for as long as they take, and
		// an adapter's web socket lives as long as its chat.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests outlive ctx by the shutdown's grace.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("http listening", "addr", ln.Addr().String(), "hooks", len(s.opts.Hooks))
	grp, gctx := errgroup.WithContext(ctx)
	grp.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("httpapi: %w", err)
		}
		return nil
	})
	grp.Go(func() error {
		<-gctx.Done()
		shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil {
			srv.Close()
			if !errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("httpapi: shutdown: %w", err)
			}
			s.log.Warn("http: requests still running at shutdown were cut off")
		}
		return nil
	})
	return grp.Wait()
}
