package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// The errors of History's per-chat calls.
var (
	// ErrNoChat: no chat has that id.
	ErrNoChat = errors.New("store: no such chat")
	// ErrChatOpen: the chat has not ended; only an ended chat's record
	// or transcript can be deleted (the engine still writes an open one).
	ErrChatOpen = errors.New("store: the chat is still open")
	// ErrNoDatabase: OpenHistory found no database file.
	ErrNoDatabase = errors.New("store: no database")
)

// History reads and deletes the chat history: chat records and
// transcripts. The HTTP API and `owlgate history` use it, while the
// gateway writes through [SQLite].
//
// It opens the database file on connections of its own, so another
// process may use it while owlgate runs: in WAL mode readers and the
// writer do not block each other, and each delete is a short transaction
// (purges go by groups of purgeChunk chats) that waits for the gateway's
// writer, and the writer for it, under the busy timeout. Reads page through
// the chats in short transactions too, so a slow reader never holds a
// snapshot that keeps the write-ahead log from being reset.
//
// Only ended chats are deleted: an open chat's record and lines are still
// written by the engine, and a line whose chat is gone would fail the
// writer's transaction. Once a chat's ended record is committed the engine
// writes nothing more for it.
type History struct {
	r *sql.DB // read-only pool
	w *sql.DB // one connection, BEGIN IMMEDIATE, for deletes
}

// purgeChunk is how many chats one purge transaction deletes at most, so
// that the gateway's writer never waits long for the lock.
var purgeChunk = 500

// pageSize is how many chats one read transaction of Chats returns.
var pageSize = 1000

// OpenHistory opens the history of the database at path, which must exist
// (written by owlgate, at any schema version up to [SchemaVersion]; it is
// not migrated here). Options are those of [OpenSQLite]; only the busy
// timeout and the number of read connections apply.
func OpenHistory(ctx context.Context, path string, opts ...Option) (*History, error) {
	o := options{busyTimeout: 10 * time.Second, readConns: 2}
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("store: unsupported database path %q: want a plain file path without '?' or '#'", path)
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: %s: %w (has owlgate run with this data_dir?)", path, ErrNoDatabase)
	}
	h := &History{}
	var err error
	if h.r, err = sql.Open("sqlite", dsn(path, o, connReader)); err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	h.r.SetMaxOpenConns(o.readConns)
	h.r.SetMaxIdleConns(o.readConns)
	if h.w, err = sql.Open("sqlite", dsn(path, o, connWriter)); err != nil {
		h.r.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	h.w.SetMaxOpenConns(1)
	var version int
	if err := h.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		h.Close()
		return nil, fmt.Errorf("store: open %s: read schema version: %w", path, err)
	}
	switch {
	case version > SchemaVersion:
		h.Close()
		return nil, fmt.Errorf("store: %s has schema version %d, this owlgate knows up to %d (upgrade owlgate): %w",
			path, version, SchemaVersion, ErrSchemaTooNew)
	case version < 1:
		h.Close()
		return nil, fmt.Errorf("store: %s: %w (not an owlgate database, or never opened by owlgate)", path, ErrNoDatabase)
	}
	return h, nil
}

// Close closes the history's connections.
func (h *History) Close() error {
	return errors.Join(h.r.Close(), h.w.Close())
}

// Ping checks that the database can be read.
func (h *History) Ping(ctx context.Context) error {
	var one int
	if err := h.r.QueryRowContext(ctx, "SELECT 1 FROM meta LIMIT 1").Scan(&one); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Filter selects chats. Zero fields select everything.
type Filter struct {
	// Since and Until bound the chats' start: Since <= start < Until.
	Since, Until time.Time
	// Queue selects chats that came in on the queue (their origin) or that
	// were with it at their end (after a fallback or a transfer).
	Queue    routing.QueueID
	Library  routing.LibraryID // the library of the queue the chat came in on
	Network  protocols.Network
	Operator routing.OperatorID // the last operator who held the chat
	Answered *bool              // answered, or never answered
	Limit    int                // at most this many chats; 0: no limit
}

// chatColumns are the columns scanChat reads; an exported record's Lines
// and LastActivity are the stored ones (the derived ones only matter for
// restoring open chats).
const chatColumns = `c.id, c.status, c.origin, c.queue, c.library, c.network, c.account, c.user, c.guest, c.operator,
	c.started, c.first_answer, c.ended, c.last_activity, c.transfers, c.end_reason, c.transcript,
	c.offline_notified, c.lines, NULL, NULL`

// where returns the SQL conditions of f and their arguments.
func (f *Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if !f.Since.IsZero() {
		add("c.started >= ?", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("c.started < ?", f.Until.UnixNano())
	}
	if f.Queue != "" {
		add("(c.origin = ? OR c.queue = ?)", string(f.Queue), string(f.Queue))
	}
	if f.Library != "" {
		add("c.library = ?", string(f.Library))
	}
	if f.Network != "" {
		add("c.network = ?", string(f.Network))
	}
	if f.Operator != "" {
		add("c.operator = ?", string(f.Operator))
	}
	if f.Answered != nil {
		if *f.Answered {
			conds = append(conds, "c.first_answer IS NOT NULL")
		} else {
			conds = append(conds, "c.first_answer IS NULL")
		}
	}
	return strings.Join(conds, " AND "), args
}

// Chats calls fn with every chat f selects, in the order they started
// (then by id), as [NormalRecord] returns them, until fn returns an error,
// which Chats returns. Chats are read a page at a time, each page in its
// own read transaction: a chat written meanwhile may or may not be seen.
func (h *History) Chats(ctx context.Context, f Filter, fn func(routing.ChatRecord) error) error {
	cond, args := f.where()
	// Keyset paging on (started, id), the index chats_started. (A record
	// without a start, which the engine never writes, is not listed.)
	q := "SELECT " + chatColumns + " FROM chats c WHERE (c.started, c.id) > (?, ?)"
	if cond != "" {
		q += " AND " + cond
	}
	q += " ORDER BY c.started, c.id LIMIT ?"
	lastStart, lastID := int64(-1<<63), int64(-1)
	left := f.Limit
	for {
		n := pageSize
		if f.Limit > 0 {
			n = min(n, left)
		}
		if n == 0 {
			return nil
		}
		page, err := h.chatPage(ctx, q, append(append([]any{lastStart, lastID}, args...), n))
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
			lastStart, lastID = r.Started.UnixNano(), int64(r.ID)
		}
		left -= len(page)
		if len(page) < n {
			return nil
		}
	}
}

// chatPage reads one page of Chats.
func (h *History) chatPage(ctx context.Context, q string, args []any) ([]routing.ChatRecord, error) {
	rows, err := h.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var page []routing.ChatRecord
	for rows.Next() {
		r, err := scanChat(rows)
		if err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	return page, nil
}

// Chat returns one chat's record, or [ErrNoChat].
func (h *History) Chat(ctx context.Context, id routing.ChatID) (routing.ChatRecord, error) {
	key, err := chatKey(id)
	if err != nil {
		return routing.ChatRecord{}, ErrNoChat
	}
	rows, err := h.r.QueryContext(ctx, "SELECT "+chatColumns+" FROM chats c WHERE c.id = ?", key)
	if err != nil {
		return routing.ChatRecord{}, fmt.Errorf("store: chat %d: %w", key, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return routing.ChatRecord{}, fmt.Errorf("store: chat %d: %w", key, err)
		}
		return routing.ChatRecord{}, ErrNoChat
	}
	r, err := scanChat(rows)
	if err != nil {
		return routing.ChatRecord{}, fmt.Errorf("store: chat %d: %w", key, err)
	}
	return r, nil
}

// Transcript returns every stored line of a chat, in order (see
// [SQLite.Lines]): nil for a chat without stored lines.
func (h *History) Transcript(ctx context.Context, id routing.ChatID) ([]routing.Line, error) {
	key, err := chatKey(id)
	if err != nil {
		return nil, nil
	}
	return allLines(ctx, h.r, key)
}

// endedChat checks in tx that chat key exists and has ended.
func endedChat(ctx context.Context, tx *sql.Tx, key int64) error {
	var status int64
	err := tx.QueryRowContext(ctx, "SELECT status FROM chats WHERE id = ?", key).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return ErrNoChat
	case err != nil:
		return fmt.Errorf("store: chat %d: %w", key, err)
	case routing.ChatStatus(status) != routing.ChatEnded:
		return ErrChatOpen
	}
	return nil
}

// write runs fn in a write transaction.
func (h *History) write(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := h.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: begin: %w", what, err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: commit: %w", what, err)
	}
	return nil
}

// DeleteTranscript deletes the lines of an ended chat and marks its
// record as having no transcript; the record (its statistics) stays. It
// returns [ErrNoChat] or [ErrChatOpen]; deleting a transcript that is
// already gone is not an error.
func (h *History) DeleteTranscript(ctx context.Context, id routing.ChatID) error {
	key, err := chatKey(id)
	if err != nil {
		return ErrNoChat
	}
	return h.write(ctx, fmt.Sprintf("delete transcript of chat %d", key), func(tx *sql.Tx) error {
		if err := endedChat(ctx, tx, key); err != nil {
			return err
		}
		return dropTranscripts(ctx, tx, []int64{key})
	})
}

// DeleteChat deletes an ended chat: its record and its lines. It returns
// [ErrNoChat] or [ErrChatOpen]. The chat's id is not reused.
func (h *History) DeleteChat(ctx context.Context, id routing.ChatID) error {
	key, err := chatKey(id)
	if err != nil {
		return ErrNoChat
	}
	return h.write(ctx, fmt.Sprintf("delete chat %d", key), func(tx *sql.Tx) error {
		if err := endedChat(ctx, tx, key); err != nil {
			return err
		}
		return dropChats(ctx, tx, []int64{key})
	})
}

// PurgeTranscripts deletes the transcripts of the chats that came in on
// queue (every queue when empty) and ended before before, keeping their
// records, like DeleteTranscript. It returns how many it deleted.
func (h *History) PurgeTranscripts(ctx context.Context, queue routing.QueueID, before time.Time) (int, error) {
	q := "SELECT id FROM chats WHERE status = 3 AND transcript = 1 AND ended < ?"
	args := []any{before.UnixNano()}
	if queue != "" {
		q += " AND origin = ?"
		args = append(args, string(queue))
	}
	return h.purge(ctx, "purge transcripts", q+" LIMIT ?", args, dropTranscripts)
}

// PurgeChats deletes every chat that ended before before, records and
// lines, like DeleteChat. It returns how many it deleted.
func (h *History) PurgeChats(ctx context.Context, before time.Time) (int, error) {
	return h.purge(ctx, "purge chats", "SELECT id FROM chats WHERE status = 3 AND ended < ? LIMIT ?",
		[]any{before.UnixNano()}, dropChats)
}

// purge selects up to purgeChunk chat ids with q (whose last argument is
// the limit) and drops them, one transaction per chunk, until none is left.
func (h *History) purge(ctx context.Context, what, q string, args []any, drop func(context.Context, *sql.Tx, []int64) error) (int, error) {
	total := 0
	for {
		var n int
		err := h.write(ctx, what, func(tx *sql.Tx) error {
			ids, err := selectIDs(ctx, tx, q, append(args[:len(args):len(args)], purgeChunk))
			if err != nil {
				return fmt.Errorf("store: %s: %w", what, err)
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			return drop(ctx, tx, ids)
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < purgeChunk {
			return total, nil
		}
	}
}

func selectIDs(ctx context.Context, tx *sql.Tx, q string, args []any) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// inList returns "(?, ?, ...)" for n values, and ids as arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(", ?", len(ids)-1) + ")", args
}

// dropTranscripts deletes the lines of chats ids and clears their
// transcript flag.
func dropTranscripts(ctx context.Context, tx *sql.Tx, ids []int64) error {
	in, args := inList(ids)
	if _, err := tx.ExecContext(ctx, "DELETE FROM lines WHERE chat IN "+in, args...); err != nil {
		return fmt.Errorf("store: delete transcripts: %w", err)
	}
	if _, err := tx.ExecContext(ctx, "UPDATE chats SET transcript = 0 WHERE id IN "+in, args...); err != nil {
		return fmt.Errorf("store: delete transcripts: %w", err)
	}
	return nil
}

// dropChats deletes chats ids; their lines go with them (ON DELETE
// CASCADE). meta.max_chat already holds an id at least as great, so no id
// is reused.
func dropChats(ctx context.Context, tx *sql.Tx, ids []int64) error {
	in, args := inList(ids)
	if _, err := tx.ExecContext(ctx, "DELETE FROM chats WHERE id IN "+in, args...); err != nil {
		return fmt.Errorf("store: delete chats: %w", err)
	}
	return nil
}
