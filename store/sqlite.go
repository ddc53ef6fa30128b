package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

var _ Store = (*SQLite)(nil)

// ErrClosed is the error of everything asked of a [SQLite] store after
// Close: a Submit's commit, Guest, and the reads.
var ErrClosed = errors.New("store: closed")

// SQLite is the embedded [Store]: one SQLite database file, in WAL mode,
// written by a single goroutine that commits queued batches in groups.
// Create it with [OpenSQLite].
type SQLite struct {
	w *sql.DB // the writer: one connection, BEGIN IMMEDIATE, used by the writer goroutine only (and migrate)
	r *sql.DB // readers: a pool of query-only connections

	guestByAddr *sql.Stmt // on r

	mu      sync.Mutex
	cond    *sync.Cond // signals the writer: queue not empty, or closed
	queue   []request
	closed  bool
	stopped chan struct{} // closed when the writer goroutine has returned

	closeOnce sync.Once
	closeErr  error

	// testHookGroup, when set (by tests, before any Submit), is called by
	// the writer with each group before it is applied.
	testHookGroup func(n int)
}

// Option configures [OpenSQLite].
type Option func(*options)

type options struct {
	busyTimeout time.Duration
	readConns   int
}

// WithBusyTimeout sets how long a connection waits for a lock held by
// another connection or process before failing with SQLITE_BUSY. The
// default is 10 seconds.
func WithBusyTimeout(d time.Duration) Option {
	return func(o *options) { o.busyTimeout = d }
}

// WithReadConns sets the most read connections open at once. The default
// is max(4, GOMAXPROCS).
func WithReadConns(n int) Option {
	return func(o *options) { o.readConns = n }
}

// OpenSQLite opens (creating it if needed) the SQLite database at path,
// brings its schema up to date, and starts the writer. It refuses a
// database written by a newer owlgate with an error wrapping
// [ErrSchemaTooNew]. Close the store to stop the writer.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*SQLite, error) {
	o := options{busyTimeout: 10 * time.Second, readConns: max(4, runtime.GOMAXPROCS(0))}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		// The file name is passed verbatim before the DSN's query: it
		// cannot hold '?', and a shared in-memory database would not be
		// seen by both pools.
		return nil, fmt.Errorf("store: unsupported database path %q: want a plain file path without '?' or '#'", path)
	}

	s := &SQLite{stopped: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)

	var err error
	if s.w, err = sql.Open("sqlite", dsn(path, o, false)); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// One connection, kept for the life of the store, so that the
	// writer's prepared statements stay prepared.
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.w.PingContext(ctx); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if err := migrate(ctx, s.w); err != nil {
		s.w.Close()
		return nil, err
	}

	if s.r, err = sql.Open("sqlite", dsn(path, o, true)); err != nil {
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(o.readConns)
	s.r.SetMaxIdleConns(o.readConns)
	if s.guestByAddr, err = s.r.PrepareContext(ctx, sqlGuestByAddr); err != nil {
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: prepare: %w", path, err)
	}

	wr, err := newWriter(ctx, s.w)
	if err != nil {
		s.guestByAddr.Close()
		s.r.Close()
		s.w.Close()
		return nil, err
	}
	go s.run(wr)
	return s, nil
}

// dsn returns the data source name for path. Pragmas go through _pragma so
// that every connection of a pool gets them, not only the first.
func dsn(path string, o options, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Take the write lock when the transaction begins, not at its
		// first write, so that a busy database waits under busy_timeout
		// instead of failing with SQLITE_BUSY halfway.
		q.Set("_txlock", "immediate")
	}
	return path + "?" + q.Encode()
}

// Close stops taking batches, waits until every batch submitted before it
// is written (each commit finished), and closes the database. Later calls
// return the first call's result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.cond.Broadcast()
		s.mu.Unlock()
		<-s.stopped

		err := s.guestByAddr.Close()
		err = errors.Join(err, s.r.Close(), s.w.Close())
		if err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// isClosed reports whether Close was called.
func (s *SQLite) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
