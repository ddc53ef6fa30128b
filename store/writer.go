package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// The writer: every write goes through one goroutine (run), which owns the
// writer connection. It takes every request queued since its last
// transaction, applies them in submission order in one transaction (group
// commit: one fsync for many batches), and then finishes each with the
// transaction's outcome.

// request is one queued write: a batch, or a guest id to assign.
type request struct {
	batch  *encodedBatch
	commit *Commit
	guest  *guestRequest
}

// guestRequest asks the writer for the guest id of an address it may have
// to assign. done is closed when id or err is set.
type guestRequest struct {
	addr protocols.Address
	id   int64
	err  error
	done chan struct{}
}

// The writer's statements, in the order a batch uses them.
const (
	sqlUpsertChat = `
INSERT INTO chats (id, status, origin, queue, library, network, account, user, guest, operator,
	started, first_answer, ended, last_activity, transfers, end_reason, transcript, offline_notified, lines)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	status = excluded.status, origin = excluded.origin, queue = excluded.queue,
	library = excluded.library, network = excluded.network, account = excluded.account,
	user = excluded.user, guest = excluded.guest, operator = excluded.operator,
	started = excluded.started, first_answer = excluded.first_answer, ended = excluded.ended,
	last_activity = excluded.last_activity, transfers = excluded.transfers,
	end_reason = excluded.end_reason, transcript = excluded.transcript,
	offline_notified = excluded.offline_notified, lines = excluded.lines`
	// Not INSERT OR REPLACE: a replace deletes the row first, and the
	// delete cascades to the chat's lines.

	sqlPurgeLines = `DELETE FROM lines WHERE chat = ?`

	sqlUpsertOutbound = `
INSERT INTO outbound (id, chat, network, account, user, text, attachments, created)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (id) DO UPDATE SET
	chat = excluded.chat, network = excluded.network, account = excluded.account,
	user = excluded.user, text = excluded.text, attachments = excluded.attachments,
	created = excluded.created`

	sqlBumpMaxChat = `UPDATE meta SET value = ?1 WHERE key = 'max_chat' AND value < ?1`

	sqlGuestByAddr = `SELECT id FROM guests WHERE network = ? AND account = ? AND user = ?`
	sqlGuestInsert = `INSERT INTO guests (network, account, user) VALUES (?, ?, ?) RETURNING id`
)

const (
	stUpsertChat = iota
	stPurgeLines
	stUpsertOutbound
	stBumpMaxChat
	stGuestByAddr
	stGuestInsert
	numStmts
)

var writerSQL = [numStmts]string{
	stUpsertChat:     sqlUpsertChat,
	stPurgeLines:     sqlPurgeLines,
	stUpsertOutbound: sqlUpsertOutbound,
	stBumpMaxChat:    sqlBumpMaxChat,
	stGuestByAddr:    sqlGuestByAddr,
	stGuestInsert:    sqlGuestInsert,
}

// The statements the writer runs for many rows at once (see rowsStmt).

// lineCols is the number of arguments of a line.
const lineCols = 7

// sqlUpsertLines returns the statement writing n lines, in order. A line
// of a chat that has ended without transcript is not stored: the chat's
// lines were deleted when it ended, and must stay so. A line already
// stored (chat and N) is replaced.
func sqlUpsertLines(n int) string {
	return `
INSERT INTO lines (chat, n, at, source, operator, text, attachments)
SELECT v.column1, v.column2, v.column3, v.column4, v.column5, v.column6, v.column7
FROM (VALUES (?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?)", n-1) + `) AS v
WHERE NOT EXISTS (SELECT 1 FROM chats WHERE id = v.column1 AND status = 3 AND transcript = 0)
ON CONFLICT (chat, n) DO UPDATE SET
	at = excluded.at, source = excluded.source, operator = excluded.operator,
	text = excluded.text, attachments = excluded.attachments`
}

// sqlInsertLines returns the statement writing n lines of chats the writer
// knows to be open (see writer.open): the same as sqlUpsertLines without
// the check on the chat, which costs a look-up per line.
func sqlInsertLines(n int) string {
	return `
INSERT INTO lines (chat, n, at, source, operator, text, attachments)
VALUES (?, ?, ?, ?, ?, ?, ?)` + strings.Repeat(", (?, ?, ?, ?, ?, ?, ?)", n-1) + `
ON CONFLICT (chat, n) DO UPDATE SET
	at = excluded.at, source = excluded.source, operator = excluded.operator,
	text = excluded.text, attachments = excluded.attachments`
}

// sqlDeleteOutbound returns the statement deleting n outbound messages.
func sqlDeleteOutbound(n int) string {
	return "DELETE FROM outbound WHERE id IN (?" + strings.Repeat(", ?", n-1) + ")"
}

// writer holds the writer connection's prepared statements. Only the
// writer goroutine uses it.
type writer struct {
	db    *sql.DB
	stmts [numStmts]*sql.Stmt
	// txStmts are the statements bound to the current transaction, made
	// on first use in it (the prepared statement is reused: the pool has
	// one connection).
	txStmts [numStmts]*sql.Stmt
	// lines writes lines, openLines lines of open chats, del deletes
	// outbound messages, many at once.
	lines, openLines, del rowsStmt
	// A group's lines and done are gathered across its batches and
	// written together (see apply): lineArgs holds the lines' arguments,
	// row after row, openArgs those of lines of chats in open; done the
	// outbound ids to delete, doneSet the same, and doneArgs their
	// arguments.
	lineArgs []any
	openArgs []any
	// open holds the chats whose last record this writer wrote is not
	// ended: their lines need no check that the chat ended without
	// transcript. Any other chat's lines get the check. It is emptied when
	// a transaction fails, so it never holds what the disk does not.
	open     map[int64]struct{}
	done     []string
	doneSet  map[string]struct{}
	doneArgs []any
	// lastDone maps each outbound id that a batch of the group marks done
	// to the last such batch's index: an outbound message recorded at or
	// before that index is not written at all (see apply).
	lastDone map[string]int
	// logPages counts the pages written to the log since the last
	// checkpoint.
	logPages int
	kicked   bool // asked for a checkpoint, whose step 2 has not run yet
}

func newWriter(ctx context.Context, db *sql.DB) (*writer, error) {
	w := &writer{db: db, doneSet: make(map[string]struct{}), lastDone: make(map[string]int), open: make(map[int64]struct{})}
	for i, q := range writerSQL {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("store: prepare: %w", err)
		}
		w.stmts[i] = st
	}
	if err := w.lines.prepare(ctx, db, lineCols, sqlUpsertLines); err != nil {
		w.close()
		return nil, err
	}
	if err := w.openLines.prepare(ctx, db, lineCols, sqlInsertLines); err != nil {
		w.close()
		return nil, err
	}
	if err := w.del.prepare(ctx, db, 1, sqlDeleteOutbound); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *writer) close() {
	for _, st := range w.stmts {
		if st != nil {
			st.Close()
		}
	}
	w.lines.close()
	w.openLines.close()
	w.del.close()
}

// flushLines writes the lines gathered in w.lineArgs and w.openArgs. A
// chat's lines are all in one of the two, so each chat's stay in order.
func (w *writer) flushLines(ctx context.Context, tx *sql.Tx) error {
	if len(w.openArgs) > 0 {
		if err := w.openLines.exec(ctx, tx, w.openArgs); err != nil {
			return fmt.Errorf("store: write lines: %w", err)
		}
		clear(w.openArgs)
		w.openArgs = w.openArgs[:0]
	}
	if len(w.lineArgs) > 0 {
		if err := w.lines.exec(ctx, tx, w.lineArgs); err != nil {
			return fmt.Errorf("store: write lines: %w", err)
		}
		clear(w.lineArgs)
		w.lineArgs = w.lineArgs[:0]
	}
	return nil
}

// flushDone deletes the outbound messages gathered in w.done.
func (w *writer) flushDone(ctx context.Context, tx *sql.Tx) error {
	if len(w.done) == 0 {
		return nil
	}
	for _, id := range w.done {
		w.doneArgs = append(w.doneArgs, id)
	}
	if err := w.del.exec(ctx, tx, w.doneArgs); err != nil {
		return fmt.Errorf("store: delete outbound messages: %w", err)
	}
	clear(w.doneArgs)
	w.doneArgs = w.doneArgs[:0]
	w.done = w.done[:0]
	clear(w.doneSet)
	return nil
}

// recordsDone reports whether b records an outbound message that is among
// the deletions gathered in w.done.
func (w *writer) recordsDone(b *encodedBatch) bool {
	if len(w.done) == 0 {
		return false
	}
	for _, args := range b.outbound {
		if _, ok := w.doneSet[args[0].(string)]; ok {
			return true
		}
	}
	return false
}

// Submit implements [Store]. The batch is checked and encoded at once, on
// the caller's goroutine, and not kept: the caller may reuse its slices as
// soon as Submit returns. An invalid batch is refused with an error
// wrapping [ErrInvalidBatch] and writes nothing. A line must belong to a
// chat stored before it or in the same batch; otherwise the foreign key
// fails the transaction, and with it every batch grouped with it.
func (s *SQLite) Submit(b Batch) *Commit {
	c := NewCommit()
	e, err := encodeBatch(&b)
	if err != nil {
		c.Finish(err)
		return c
	}
	if !s.enqueue(request{batch: e, commit: c}) {
		c.Finish(ErrClosed)
	}
	return c
}

// enqueue queues r for the writer, unless the store is closed.
func (s *SQLite) enqueue(r request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.queue = append(s.queue, r)
	s.cond.Signal()
	return true
}

// run is the writer goroutine. It returns once Close was called and the
// queue is empty.
func (s *SQLite) run(w *writer) {
	defer close(s.stopped)
	defer w.close()
	var group []request
	for {
		s.mu.Lock()
		waited := false
		for len(s.queue) == 0 && !s.closed && s.ckPending == nil {
			if s.testHookIdle != nil {
				s.testHookIdle()
			}
			s.cond.Wait()
			waited = true
		}
		if waited && s.commitDelay > 0 && !s.closed && s.ckPending == nil {
			// Woken from idle: let the message on its way go first (see
			// WithCommitDelay).
			s.mu.Unlock()
			s.sleep(s.commitDelay)
			s.mu.Lock()
		}
		if ck := s.ckPending; ck != nil {
			// Step 2 of a checkpoint (see checkpoints), between groups.
			s.ckPending = nil
			s.mu.Unlock()
			err := errors.Join(ck.err, checkpoint(w.db, "PASSIVE"))
			w.logPages, w.kicked = 0, false
			if s.ckHook != nil {
				s.ckHook(err)
			}
			close(ck.done)
			continue
		}
		if len(s.queue) == 0 {
			s.mu.Unlock()
			return
		}
		// Swap buffers: the queue continues in the last group's array.
		group, s.queue = s.queue, group[:0]
		s.mu.Unlock()

		if s.testHookGroup != nil {
			s.testHookGroup(len(group))
		}
		err := w.apply(group)
		if err != nil {
			s.log.Error("store: a write failed; its batches are not recorded", "batches", len(group), "err", err)
		}
		if err == nil && s.ckPages > 0 {
			// Pages written to the log: past ckPages, a checkpoint.
			if n, perr := walPages(context.Background(), w.db); perr == nil {
				w.logPages += n
				if w.logPages >= s.ckPages && !w.kicked {
					w.kicked = true
					s.kickCheckpoint()
				}
			}
		}
		for i := range group {
			r := &group[i]
			if r.commit != nil {
				r.commit.Finish(err)
			}
			if g := r.guest; g != nil {
				if err != nil {
					g.id, g.err = 0, err
				}
				close(g.done)
			}
			group[i] = request{}
		}
	}
}

// stmt returns statement i bound to tx.
func (w *writer) stmt(ctx context.Context, tx *sql.Tx, i int) *sql.Stmt {
	if w.txStmts[i] == nil {
		w.txStmts[i] = tx.StmtContext(ctx, w.stmts[i])
	}
	return w.txStmts[i]
}

// apply writes a group of requests in one transaction. On error nothing of
// the group is written.
func (w *writer) apply(group []request) (err error) {
	if !writes(group) {
		return nil // only empty batches: every earlier one is durable already
	}
	ctx := context.Background()
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	defer func() {
		for i, st := range w.txStmts {
			if st != nil {
				st.Close()
				w.txStmts[i] = nil
			}
		}
		w.lines.endTx()
		w.openLines.endTx()
		w.del.endTx()
		clear(w.lineArgs)
		w.lineArgs = w.lineArgs[:0]
		clear(w.openArgs)
		w.openArgs = w.openArgs[:0]
		clear(w.doneArgs)
		w.doneArgs = w.doneArgs[:0]
		w.done = w.done[:0]
		clear(w.doneSet)
		clear(w.lastDone)
		if err != nil {
			tx.Rollback()
			clear(w.open)
		}
	}()

	// A message to a patron is usually sent, and marked done, while the
	// batch that records it still waits for the previous group's sync:
	// then both are in this group, and the record is not written (its
	// deletion, which follows it, still runs, for a row stored earlier).
	for i := range group {
		if b := group[i].batch; b != nil {
			for _, id := range b.done {
				w.lastDone[id] = i
			}
		}
	}

	var maxChat int64
	for i := range group {
		r := &group[i]
		switch {
		case r.batch != nil:
			b := r.batch
			if len(b.chats) > 0 || len(b.purge) > 0 {
				// A record may end a chat and delete its lines: the
				// lines gathered so far go first.
				if err := w.flushLines(ctx, tx); err != nil {
					return err
				}
			}
			if w.recordsDone(b) {
				// An outbound message done earlier in the group is
				// recorded anew: the deletions gathered so far go
				// first.
				if err := w.flushDone(ctx, tx); err != nil {
					return err
				}
			}
			if err := w.applyBatch(ctx, tx, i, b); err != nil {
				return err
			}
			for _, args := range b.lines {
				if _, ok := w.open[args[0].(int64)]; ok {
					w.openArgs = append(w.openArgs, args...)
				} else {
					w.lineArgs = append(w.lineArgs, args...)
				}
			}
			for _, id := range b.done {
				w.done = append(w.done, id)
				w.doneSet[id] = struct{}{}
			}
			maxChat = max(maxChat, b.maxChat)
		case r.guest != nil:
			g := r.guest
			g.id, g.err = w.guest(ctx, tx, g.addr)
			if g.err != nil {
				return g.err
			}
		}
	}
	if err := w.flushLines(ctx, tx); err != nil {
		return err
	}
	if err := w.flushDone(ctx, tx); err != nil {
		return err
	}
	if maxChat > 0 {
		if _, err := w.stmt(ctx, tx, stBumpMaxChat).ExecContext(ctx, maxChat); err != nil {
			return fmt.Errorf("store: record chat id: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// writes reports whether the group has anything to write.
func writes(group []request) bool {
	for i := range group {
		r := &group[i]
		if r.guest != nil {
			return true
		}
		if b := r.batch; b != nil && (len(b.chats) > 0 || len(b.lines) > 0 || len(b.outbound) > 0 || len(b.done) > 0) {
			return true
		}
	}
	return false
}

// applyBatch writes the records and outbound messages of one batch, in
// the documented order: chats (and the purge of ended chats' lines),
// outbound. Its lines and done are gathered by apply with the other
// batches' of the group, and written together in few statements, in
// order, before anything of a later batch that touches the same rows (a
// record, which may end a chat and delete its lines; an outbound message
// recorded anew after it was done) and at the end of the group. So the
// group writes what its batches, applied one after the other, would. An
// outbound message that batch i records is skipped when a batch at i or
// later in the group marks it done: its deletion follows anyway.
func (w *writer) applyBatch(ctx context.Context, tx *sql.Tx, i int, b *encodedBatch) error {
	for _, args := range b.chats {
		if _, err := w.stmt(ctx, tx, stUpsertChat).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: write chat %d: %w", args[0], err)
		}
		if id := args[0].(int64); args[1].(int64) == int64(routing.ChatEnded) {
			delete(w.open, id)
		} else {
			w.open[id] = struct{}{}
		}
	}
	for _, id := range b.purge {
		if _, err := w.stmt(ctx, tx, stPurgeLines).ExecContext(ctx, id); err != nil {
			return fmt.Errorf("store: delete lines of chat %d: %w", id, err)
		}
	}
	for _, args := range b.outbound {
		if j, ok := w.lastDone[args[0].(string)]; ok && j >= i {
			continue // done in this group (see apply)
		}
		if _, err := w.stmt(ctx, tx, stUpsertOutbound).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("store: write outbound message of chat %d: %w", args[1], err)
		}
	}
	return nil
}

// guest returns the guest number of addr, assigning the next one if the
// address is new. Only the writer assigns, so two requests for one address
// cannot both insert.
func (w *writer) guest(ctx context.Context, tx *sql.Tx, addr protocols.Address) (int64, error) {
	var id int64
	err := w.stmt(ctx, tx, stGuestByAddr).QueryRowContext(ctx,
		string(addr.Network), string(addr.Account), string(addr.User)).Scan(&id)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("store: look up guest: %w", err)
	}
	err = w.stmt(ctx, tx, stGuestInsert).QueryRowContext(ctx,
		string(addr.Network), string(addr.Account), string(addr.User)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: assign guest id: %w", err)
	}
	return id, nil
}
