package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlite "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

var _ Store = (*SQLite)(nil)

// ErrClosed is the error of everything asked of a [SQLite] store after
// Close: a Submit's commit, Guest, and the reads.
var ErrClosed = errors.New("store: closed")

// SQLite is the embedded [Store]: one SQLite database file, in WAL mode,
// written by a single goroutine that commits queued batches in groups.
// Create it with [OpenSQLite].
type SQLite struct {
	w  *sql.DB // the writer: one connection, BEGIN IMMEDIATE, used by the writer goroutine only (and migrate)
	r  *sql.DB // readers: a pool of query-only connections
	ck *sql.DB // the checkpointer: one connection, used by the checkpoint goroutine and Close

	guestByAddr *sql.Stmt // on r

	mu      sync.Mutex
	cond    *sync.Cond // signals the writer: queue not empty, or closed
	queue   []request
	closed  bool
	stopped chan struct{} // closed when the writer goroutine has returned

	ckPending *ckRequest    // step 2 of a checkpoint, for the writer; under mu
	ckHook    func(error)   // tests: each checkpoint's outcome, from the writer
	ckKick    chan struct{} // the writer asks for a checkpoint: the log passed ckPages pages
	ckPages   int
	log       *slog.Logger
	// commitDelay: the writer, woken from idle, waits this long before it
	// starts a transaction (see WithCommitDelay).
	commitDelay time.Duration
	ckStop      chan struct{} // closed by Close: the checkpoint goroutine returns
	ckStopped   chan struct{} // closed when the checkpoint goroutine has returned

	closeOnce sync.Once
	closeErr  error

	// testHookGroup, when set (by tests, before any Submit), is called by
	// the writer with each group before it is applied.
	testHookGroup func(n int)
	// testHookIdle, when set (withWriterHooks), is called by the writer,
	// holding mu, each time it is about to wait for work.
	testHookIdle func()
	// sleep is the commit delay's wait (time.Sleep; withWriterHooks).
	sleep func(time.Duration)
}

// Option configures [OpenSQLite].
type Option func(*options)

type options struct {
	busyTimeout time.Duration
	readConns   int
	checkpoint  time.Duration
	ckPages     int // checkpoint once the writer wrote this many pages to the log

	// Tests: checkpoints at each receive from ckTicks instead of every
	// checkpoint interval, and ckHook, when set, gets each one's outcome.
	ckTicks <-chan time.Time
	ckHook  func(error)

	log *slog.Logger

	commitDelay time.Duration

	// Tests: called by the writer before it waits for work, and its
	// commit delay's wait (see withWriterHooks).
	idleHook func()
	sleep    func(time.Duration)
}

// withWriterHooks (tests) makes the writer call idle, holding the store's
// lock, each time it is about to wait for work, and sleep for its commit
// delay instead of time.Sleep.
func withWriterHooks(idle func(), sleep func(time.Duration)) Option {
	return func(o *options) { o.idleHook, o.sleep = idle, sleep }
}

// WithCommitDelay makes the writer, when a batch arrives while it is idle,
// wait d before it starts the transaction. A message on its way to an
// operator or a patron is then not slowed by the writer's CPU work, and
// what arrives meanwhile joins the group. It adds d to the time a batch
// takes to be durable. The default is 0.
func WithCommitDelay(d time.Duration) Option {
	return func(o *options) { o.commitDelay = d }
}

// WithLogger makes the store log what it cannot report to a caller: a
// transaction that failed (each batch's [Commit] says so too, but nobody
// may be waiting on it). Nothing of what is written is logged. The default
// discards.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
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

// WithCheckpointInterval sets how often at least the store copies the
// write-ahead log back into the database file (see "Checkpoints" in the
// package documentation). The default is one second.
func WithCheckpointInterval(d time.Duration) Option {
	return func(o *options) { o.checkpoint = d }
}

// withCheckpointPages sets how many pages the writer writes to the log
// before it asks for a checkpoint (the default, defaultCheckpointPages).
func withCheckpointPages(n int) Option {
	return func(o *options) { o.ckPages = n }
}

// defaultCheckpointPages is SQLite's own wal_autocheckpoint default: a log
// of about 4 MB.
const defaultCheckpointPages = 1000

// withCheckpointTicks makes the store checkpoint at each value received
// from ticks, and report each checkpoint's outcome to hook (if not nil),
// from the writer goroutine once both steps are done: for tests, which
// then need no sleeps.
func withCheckpointTicks(ticks <-chan time.Time, hook func(error)) Option {
	return func(o *options) { o.ckTicks, o.ckHook = ticks, hook }
}

// OpenSQLite opens (creating it if needed) the SQLite database at path,
// brings its schema up to date, and starts the writer. It refuses a
// database written by a newer owlgate with an error wrapping
// [ErrSchemaTooNew]. Close the store to stop the writer.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*SQLite, error) {
	o := options{busyTimeout: 10 * time.Second, readConns: max(4, runtime.GOMAXPROCS(0)), checkpoint: time.Second, ckPages: defaultCheckpointPages}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		// The file name is passed verbatim before the DSN's query: it
		// cannot hold '?', and a shared in-memory database would not be
		// seen by both pools.
		return nil, fmt.Errorf("store: unsupported database path %q: want a plain file path without '?' or '#'", path)
	}

	if o.checkpoint <= 0 && o.ckTicks == nil {
		return nil, fmt.Errorf("store: checkpoint interval %v: want a positive duration", o.checkpoint)
	}

	s := &SQLite{stopped: make(chan struct{}), ckStop: make(chan struct{}), ckStopped: make(chan struct{}),
		ckHook: o.ckHook, ckKick: make(chan struct{}, 1), ckPages: o.ckPages, log: o.log, commitDelay: o.commitDelay, sleep: time.Sleep, testHookIdle: o.idleHook}
	if o.sleep != nil {
		s.sleep = o.sleep
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.cond = sync.NewCond(&s.mu)

	var err error
	if s.w, err = sql.Open("sqlite", dsn(path, o, connWriter)); err != nil {
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

	if s.r, err = sql.Open("sqlite", dsn(path, o, connReader)); err != nil {
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

	if s.ck, err = sql.Open("sqlite", dsn(path, o, connCheckpointer)); err != nil {
		s.guestByAddr.Close()
		s.r.Close()
		s.w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.ck.SetMaxOpenConns(1)
	s.ck.SetMaxIdleConns(1)
	s.ck.SetConnMaxLifetime(0)
	s.ck.SetConnMaxIdleTime(0)

	wr, err := newWriter(ctx, s.w)
	if err != nil {
		s.ck.Close()
		s.guestByAddr.Close()
		s.r.Close()
		s.w.Close()
		return nil, err
	}
	go s.run(wr)

	ticks, stopTicks := o.ckTicks, func() {}
	if ticks == nil {
		t := time.NewTicker(o.checkpoint)
		ticks, stopTicks = t.C, t.Stop
	}
	go s.checkpoints(ticks, stopTicks)
	return s, nil
}

// Checkpoints. No connection checkpoints on its own
// (wal_autocheckpoint=0): SQLite's automatic checkpoint runs inside the
// commit that crosses its threshold (1,000 pages) and holds up that
// group's commit by milliseconds. Instead, every checkpoint interval, and
// as soon as the writer has written ckPages pages to the log since the last
// checkpoint:
//
//  1. the checkpoint goroutine runs a passive checkpoint on a connection of
//     its own: it copies the committed pages of the write-ahead log into the
//     database file and fsyncs it, while the writer goes on committing;
//  2. then the writer, between two groups, runs a passive checkpoint of its
//     own, which only copies what was committed during step 1 (a few
//     pages, and one fsync of the database file).
//
// Step 2 is what keeps the log bounded: SQLite starts the log over from
// its beginning only in a write transaction that began with the whole log
// copied (and no reader still using it), which under a steady stream of
// commits never happens after a checkpoint on another connection alone.
// So the -wal file stays about ckPages pages large, and the writer writes
// the log in place: on a journaling file system an fsync of a file that
// grew costs far more (a journal commit for its new size) than one of a
// file overwritten in place.
// Durability does not depend on checkpoints: a commit is on disk when its
// fsync of the log returns. Close runs a last, truncating checkpoint.

// checkpoints is the checkpoint goroutine. It returns once ckStop is
// closed.
func (s *SQLite) checkpoints(ticks <-chan time.Time, stopTicks func()) {
	defer close(s.ckStopped)
	defer stopTicks()
	for {
		select {
		case <-s.ckStop:
			return
		case <-ticks:
		case <-s.ckKick:
		}
		err := checkpoint(s.ck, "PASSIVE")
		// Hand over to the writer, even after an error (the writer's
		// checkpoint then does the whole work), and wait until it is done
		// so that ticks never queue up.
		done := make(chan struct{})
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		s.ckPending = &ckRequest{err: err, done: done}
		s.cond.Signal()
		s.mu.Unlock()
		select {
		case <-done:
		case <-s.stopped:
			return
		}
	}
}

// ckRequest asks the writer for step 2 of a checkpoint. err is step 1's
// outcome; done is closed once the writer has run its step.
type ckRequest struct {
	err  error
	done chan struct{}
}

// kickCheckpoint asks the checkpoint goroutine for a checkpoint now; it
// never blocks.
func (s *SQLite) kickCheckpoint() {
	select {
	case s.ckKick <- struct{}{}:
	default:
	}
}

// walPages returns how many pages the connection of db wrote (to the log)
// since the last call.
func walPages(ctx context.Context, db *sql.DB) (int, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var n int
	err = c.Raw(func(dc any) error {
		st, ok := dc.(sqlite.DBStatus)
		if !ok {
			return fmt.Errorf("store: driver connection %T has no status", dc)
		}
		var err error
		n, _, err = st.Status(sqlite.DBStatusCacheWrite, true)
		return err
	})
	return n, err
}

// checkpoint runs PRAGMA wal_checkpoint(mode) on db. A checkpoint that
// could not complete because another connection held a lock it needs is
// not an error: the next one carries on.
func checkpoint(db *sql.DB, mode string) error {
	var busy, log, done int
	// PRAGMA takes no bound parameters; mode is a constant of ours.
	if err := db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &log, &done); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	return nil
}

// The kinds of connection a store opens.
const (
	connWriter       = iota // the writer's
	connReader              // the read pool's
	connCheckpointer        // the checkpoint goroutine's
)

// dsn returns the data source name for path and a connection of kind.
// Pragmas go through _pragma so that every connection of a pool gets them,
// not only the first.
func dsn(path string, o options, kind int) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(1)")
	// No connection checkpoints at commit: the checkpoint goroutine does.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	switch kind {
	case connReader:
		q.Add("_pragma", "query_only(1)")
	case connWriter:
		// Take the write lock when the transaction begins, not at its
		// first write, so that a busy database waits under busy_timeout
		// instead of failing with SQLITE_BUSY halfway.
		q.Set("_txlock", "immediate")
		// Statement journals (a statement writing several rows keeps
		// one, to undo just itself) in memory rather than in a temporary
		// file: they are small, and a file costs a write syscall per page
		// a statement first touches.
		q.Add("_pragma", "temp_store(MEMORY)")
		// A page cache of up to 16 MB rather than 2: the pages a group
		// touches (the newest lines, and the index entries of every
		// chat with a new line) stay cached, and a large group's dirty
		// pages are not spilled before its commit.
		q.Add("_pragma", "cache_size(-16384)")
	}
	return path + "?" + q.Encode()
}

// Close stops taking batches, waits until every batch submitted before it
// is written (each commit finished), copies the write-ahead log into the
// database file and empties it (a truncating checkpoint), and closes the
// database. Later calls return the first call's result.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.cond.Broadcast()
		s.mu.Unlock()
		<-s.stopped
		close(s.ckStop)
		<-s.ckStopped

		err := checkpoint(s.ck, "TRUNCATE")
		err = errors.Join(err, s.guestByAddr.Close(), s.ck.Close(), s.r.Close(), s.w.Close())
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
