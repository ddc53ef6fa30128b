package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
)

// Defaults of the Config fields left zero.
const (
	DefaultMaxStanza          = 256 << 10
	DefaultMaxDepth           = 32
	DefaultRate               = 50
	DefaultBurst              = 200
	DefaultScramIterations    = 4096
	DefaultNegotiationTimeout = 30 * time.Second
	DefaultIdleTimeout        = 5 * time.Minute
	DefaultPingTimeout        = time.Minute
	DefaultWriteTimeout       = 30 * time.Second
	DefaultMaxQueue           = 4 << 20
	DefaultMaxResources       = 16
	DefaultMaxOffline         = 1000
	DefaultMaxConns           = 10000
	DefaultMaxAuthFailures    = 3
)

// Config configures the embedded server. Zero fields take the defaults
// above.
type Config struct {
	// Domain is D, the server's domain (a bare domain JID).
	Domain jid.JID
	// Listen is the host:port to accept clients on ("127.0.0.1:0" picks a
	// free port: see Ready and Addr).
	Listen string
	// CertFile and KeyFile are the PEM certificate and key. Both empty: a
	// self-signed ECDSA P-256 pair for Domain and localhost, generated once
	// into DataDir (SelfSignedCert, SelfSignedKey) and reused; without a
	// DataDir, generated in memory at each Run.
	CertFile, KeyFile string
	DataDir           string
	// AllowPlaintext lets clients skip STARTTLS, and use PLAIN without
	// TLS. It is honoured only when Listen is a loopback address.
	AllowPlaintext bool

	// MaxStanza is the largest stanza (and stream header, and SASL
	// element) accepted, in bytes. MaxDepth is the deepest element
	// nesting, the stream element counting as 1 and a stanza as 2.
	MaxStanza, MaxDepth int
	// Rate and Burst are each connection's token bucket, in stanzas per
	// second and stanzas. A negative Rate turns the limit off (benchmarks).
	Rate  float64
	Burst int
	// MaxQueue is the most bytes queued to a slow client before its
	// connection is closed. MaxResources is the most sessions one operator
	// may have at once; MaxConns the most connections at once, of any
	// kind.
	MaxQueue, MaxResources, MaxConns int
	// MaxOffline is the most messages stored for one offline operator.
	MaxOffline int
	// MaxAuthFailures is the SASL attempts allowed on one stream.
	MaxAuthFailures int

	// NegotiationTimeout bounds the time from accepting a connection to a
	// bound resource. IdleTimeout is how long a session may stay silent
	// before the server pings it (XEP-0199); PingTimeout is how long it
	// then has to answer (anything counts) before its stream is closed
	// with connection-timeout. WriteTimeout bounds one write.
	NegotiationTimeout, IdleTimeout, PingTimeout, WriteTimeout time.Duration

	// Users are the operators who may log in: bare JID (at Domain) to
	// password. New keeps only salted SCRAM credentials.
	Users map[string]string
	// ScramIterations is the PBKDF2 iteration count of the stored
	// credentials. Production uses the default, 4096 (RFC 7677's
	// minimum); tests and benchmarks may lower it to make logins cheap.
	ScramIterations int

	// Directory answers who is an operator and their rosters.
	Directory xmpp.Directory
	// Offline stores messages for operators who are offline; nil: in
	// memory (lost at restart).
	Offline OfflineStore
	// Log receives the server's logs; nil: slog.Default().
	Log *slog.Logger
	// Version is the software version answered to XEP-0092 queries.
	Version string
}

// ErrNotRunning is returned by Send when Run is not serving.
var ErrNotRunning = errors.New("xmpp server: not running")

// Server is the embedded XMPP server: a [xmpp.Transport].
type Server struct {
	cfg       Config
	domain    jid.JID
	domainStr string
	log       *slog.Logger
	offline   OfflineStore
	fakeKey   []byte // salts for unknown users, so they look like known ones

	// accounts holds every configured operator, by bare JID string; the
	// map never changes after New. Sessions inside are guarded by mu.
	accounts map[string]*account

	mu    sync.RWMutex
	conns map[*conn]struct{}

	running   atomic.Bool
	started   atomic.Bool
	h         xmpp.Handler
	ctx       context.Context
	ready     chan struct{}
	addr      net.Addr
	tlsConf   *tls.Config
	plaintext bool // AllowPlaintext, and listening on loopback
	wg        sync.WaitGroup
	pingSeq   atomic.Uint64
	nconns    atomic.Int64
}

// account is one configured operator.
type account struct {
	bare  jid.JID
	str   string
	creds *credentials

	omu sync.Mutex // orders offline storage against coming online

	// Guarded by Server.mu.
	sessions []*conn // bound sessions
	vcard    []byte  // the vCard the operator set (vcard-temp), in memory
}

var _ xmpp.Transport = (*Server)(nil)

// New checks cfg and derives the operators' credentials. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Domain.Equal(jid.JID{}) || cfg.Domain.Localpart() != "" || cfg.Domain.Resourcepart() != "" {
		return nil, fmt.Errorf("xmpp server: domain %q is not a bare domain", cfg.Domain)
	}
	if cfg.Listen == "" {
		return nil, errors.New("xmpp server: no listen address")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("xmpp server: certificate and key go together")
	}
	if cfg.Directory == nil {
		return nil, errors.New("xmpp server: no directory")
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.MaxStanza, DefaultMaxStanza)
	def(&cfg.MaxDepth, DefaultMaxDepth)
	def(&cfg.Burst, DefaultBurst)
	def(&cfg.ScramIterations, DefaultScramIterations)
	def(&cfg.MaxQueue, DefaultMaxQueue)
	def(&cfg.MaxResources, DefaultMaxResources)
	def(&cfg.MaxOffline, DefaultMaxOffline)
	def(&cfg.MaxConns, DefaultMaxConns)
	def(&cfg.MaxAuthFailures, DefaultMaxAuthFailures)
	if cfg.MaxDepth < 3 {
		cfg.MaxDepth = 3
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defd(&cfg.NegotiationTimeout, DefaultNegotiationTimeout)
	defd(&cfg.IdleTimeout, DefaultIdleTimeout)
	defd(&cfg.PingTimeout, DefaultPingTimeout)
	defd(&cfg.WriteTimeout, DefaultWriteTimeout)
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{
		cfg:       cfg,
		domain:    cfg.Domain,
		domainStr: cfg.Domain.String(),
		log:       cfg.Log,
		offline:   cfg.Offline,
		accounts:  make(map[string]*account, len(cfg.Users)),
		conns:     make(map[*conn]struct{}),
		ready:     make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.offline == nil {
		s.offline = NewMemoryOffline()
	}
	s.fakeKey = make([]byte, 32)
	rand.Read(s.fakeKey)

	type job struct {
		a    *account
		pass string
	}
	jobs := make([]job, 0, len(cfg.Users))
	for u, pass := range cfg.Users {
		j, err := jid.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("xmpp server: user %q: %w", u, err)
		}
		if j.Localpart() == "" || j.Resourcepart() != "" || !j.Domain().Equal(s.domain) {
			return nil, fmt.Errorf("xmpp server: user %q is not a bare JID at %s", u, s.domainStr)
		}
		if pass == "" {
			return nil, fmt.Errorf("xmpp server: user %q has no password", u)
		}
		a := &account{bare: j, str: j.String()}
		if _, dup := s.accounts[a.str]; dup {
			return nil, fmt.Errorf("xmpp server: user %q twice", u)
		}
		s.accounts[a.str] = a
		jobs = append(jobs, job{a, pass})
	}
	// Deriving is CPU work (2 × iterations of PBKDF2 per user): spread it.
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make([]error, len(jobs))
	)
	for range min(runtime.GOMAXPROCS(0), max(len(jobs), 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(jobs) {
					return
				}
				jobs[i].a.creds, errs[i] = newCredentials(jobs[i].pass, cfg.ScramIterations)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("xmpp server: deriving credentials: %w", err)
	}
	s.cfg.Users = nil // the passwords are not kept
	return s, nil
}

// Domain implements [xmpp.Transport].
func (s *Server) Domain() jid.JID { return s.domain }

// Ready is closed once Run listens; Addr is then the bound address.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the address Run listens on, or nil before it does.
func (s *Server) Addr() net.Addr {
	select {
	case <-s.ready:
		return s.addr
	default:
		return nil
	}
}

// Run implements [xmpp.Transport]: it listens on Config.Listen and serves
// until ctx ends, then closes every stream with system-shutdown, waits for
// the connections' goroutines, and returns nil.
func (s *Server) Run(ctx context.Context, h xmpp.Handler) error {
	if h == nil {
		return errors.New("xmpp server: nil handler")
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("xmpp server: Run called twice")
	}
	cert, err := loadCertificate(s.cfg.CertFile, s.cfg.KeyFile, s.cfg.DataDir, s.domainStr)
	if err != nil {
		return err
	}
	s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("xmpp server: %w", err)
	}
	s.addr = ln.Addr()
	if s.cfg.AllowPlaintext {
		if ta, ok := s.addr.(*net.TCPAddr); ok && ta.IP.IsLoopback() {
			s.plaintext = true
		} else {
			s.log.Warn("xmpp server: allow_plaintext ignored: not listening on loopback", "listen", s.addr.String())
		}
	}
	s.h = h
	s.ctx = ctx
	s.running.Store(true)
	close(s.ready)
	s.log.Info("xmpp server listening", "addr", s.addr.String(), "domain", s.domainStr, "plaintext_allowed", s.plaintext,
		"certificate_sha256", Fingerprint(cert))
	h.Connected(ctx)

	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var tempDelay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				tempDelay = min(max(2*tempDelay, 5*time.Millisecond), time.Second)
				time.Sleep(tempDelay)
				continue
			}
			s.running.Store(false)
			s.shutdown()
			return fmt.Errorf("xmpp server: accept: %w", err)
		}
		tempDelay = 0
		if s.nconns.Add(1) > int64(s.cfg.MaxConns) {
			s.nconns.Add(-1)
			s.log.Warn("xmpp server: too many connections", "remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() {
			defer s.nconns.Add(-1)
			c.serve()
		})
	}
	s.running.Store(false)
	s.shutdown()
	s.log.Info("xmpp server stopped")
	return nil
}

// shutdown closes every connection with system-shutdown and waits.
func (s *Server) shutdown() {
	s.mu.RLock()
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.mu.RUnlock()
	for _, c := range cs {
		c.fail(&streamError{cond: "system-shutdown"})
	}
	s.wg.Wait()
}

// Send implements [xmpp.Transport]: it writes a stanza from one of
// owlgate's JIDs to an operator. To a bare JID, a message goes to every
// available resource of non-negative priority, or is stored for the
// operator's next login when there is none (messages without body,
// subject or link, such as chat states, are then dropped); presence goes
// to every bound session, and is dropped when there is none. To a full
// JID, the stanza goes to that session; when it is gone, a message is
// treated as sent to the bare JID, presence is dropped. An iq get or set
// that cannot be delivered, and anything to a JID that is not an
// operator, is answered to the handler with an error stanza (never for a
// stanza of type error). Send queues and never blocks on the network.
func (s *Server) Send(ctx context.Context, st *xmpp.Stanza) error {
	if st == nil {
		return errors.New("xmpp server: nil stanza")
	}
	if !s.running.Load() {
		return ErrNotRunning
	}
	if st.From.Equal(jid.JID{}) {
		cp := *st
		cp.From = s.domain
		st = &cp
	}
	a := s.accountOf(st.To)
	if a == nil {
		s.reportError(st, "cancel", "item-not-found", "not an operator of this server")
		return nil
	}
	s.deliver(ctx, st, a)
	return nil
}

// reportError tells the handler, asynchronously (Send's caller may hold
// the handler's locks), that st could not be delivered.
func (s *Server) reportError(st *xmpp.Stanza, typ, cond, text string) {
	if st.Type == "error" || (st.Kind == xmpp.KindIQ && st.Type == "result") {
		return
	}
	if st.Kind == xmpp.KindPresence {
		return
	}
	e := xmpp.ErrorReply(st, typ, cond, text)
	go s.h.HandleStanza(s.ctx, e)
}

// accountOf returns the configured operator j belongs to, or nil.
func (s *Server) accountOf(j jid.JID) *account {
	if j.Localpart() == "" {
		return nil
	}
	if !j.Domain().Equal(s.domain) {
		return nil
	}
	return s.accounts[j.Bare().String()]
}
