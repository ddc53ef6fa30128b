package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Reads run on the read pool, each in one read transaction (a consistent
// snapshot: WAL readers do not block the writer, nor the writer them). They
// see every batch whose commit has finished with nil.

const (
	// Each open chat with its newest line's number and time (NULL when it
	// has none), from which Lines and LastActivity are derived: the
	// engine does not save the record for a new line.
	sqlOpenChats = `
SELECT c.id, c.status, c.origin, c.queue, c.library, c.network, c.account, c.user, c.guest, c.operator,
	c.started, c.first_answer, c.ended, c.last_activity, c.transfers, c.end_reason, c.transcript,
	c.offline_notified, c.lines, l.n, l.at
FROM chats c
LEFT JOIN lines l ON l.chat = c.id AND l.n = (SELECT max(n) FROM lines WHERE chat = c.id)
WHERE c.status <> 3 ORDER BY c.id`

	sqlLastLines = `
SELECT n, at, source, operator, text, attachments
FROM lines WHERE chat = ? ORDER BY n DESC LIMIT ?`

	sqlAllLines = `
SELECT n, at, source, operator, text, attachments
FROM lines WHERE chat = ? ORDER BY n`

	sqlMaxChat = `
SELECT max(
	coalesce((SELECT value FROM meta WHERE key = 'max_chat'), 0),
	coalesce((SELECT max(id) FROM chats), 0))`

	sqlPendingOutbound = `
SELECT id, chat, network, account, user, text, attachments, created
FROM outbound ORDER BY created, id`
)

// readTx begins a read transaction on the read pool.
func (s *SQLite) readTx(ctx context.Context, what string) (*sql.Tx, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		if s.isClosed() {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("store: %s: begin: %w", what, err)
	}
	return tx, nil
}

// Load implements [Store]. Chats come ordered by id, each with its last
// contextLines lines (none when contextLines <= 0) in order; NextChat is
// one more than the greatest chat id ever stored, ended chats included
// (1 for an empty store). Records and lines come back as [NormalRecord] and
// [NormalLine] return them; a chat without lines has nil Lines, and a store
// without open chats gives nil Chats.
//
// A record's Lines and LastActivity are derived from the chat's stored
// lines, since the engine saves a new line without its record (see
// [routing.ChatRecord.Lines]): when the chat's newest stored line (the
// greatest N) is not older than the record's count (N >= Lines), Lines is
// N+1 and LastActivity that line's time; otherwise the record's own values
// stand.
func (s *SQLite) Load(ctx context.Context, contextLines int) (routing.State, error) {
	var st routing.State
	tx, err := s.readTx(ctx, "load")
	if err != nil {
		return st, err
	}
	defer tx.Rollback()

	var maxChat int64
	if err := tx.QueryRowContext(ctx, sqlMaxChat).Scan(&maxChat); err != nil {
		return st, fmt.Errorf("store: load: next chat id: %w", err)
	}
	st.NextChat = routing.ChatID(maxChat) + 1

	rows, err := tx.QueryContext(ctx, sqlOpenChats)
	if err != nil {
		return st, fmt.Errorf("store: load: chats: %w", err)
	}
	for rows.Next() {
		r, err := scanChat(rows)
		if err != nil {
			rows.Close()
			return st, fmt.Errorf("store: load: chats: %w", err)
		}
		st.Chats = append(st.Chats, routing.ChatSnapshot{Record: r})
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("store: load: chats: %w", err)
	}

	if contextLines > 0 && len(st.Chats) > 0 {
		stmt, err := tx.PrepareContext(ctx, sqlLastLines)
		if err != nil {
			return st, fmt.Errorf("store: load: lines: %w", err)
		}
		defer stmt.Close()
		for i := range st.Chats {
			c := &st.Chats[i]
			rows, err := stmt.QueryContext(ctx, int64(c.Record.ID), contextLines)
			if err != nil {
				return st, fmt.Errorf("store: load: lines of chat %d: %w", c.Record.ID, err)
			}
			if c.Lines, err = scanLines(rows); err != nil {
				return st, fmt.Errorf("store: load: lines of chat %d: %w", c.Record.ID, err)
			}
			slices.Reverse(c.Lines)
		}
	}
	return st, nil
}

// Lines implements [Store]. A chat without lines, or unknown, gives nil and
// no error. Lines come back as [NormalLine] returns them.
func (s *SQLite) Lines(ctx context.Context, chat routing.ChatID) ([]routing.Line, error) {
	id, err := chatKey(chat)
	if err != nil {
		return nil, nil // no such chat can be stored
	}
	tx, err := s.readTx(ctx, "lines")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return allLines(ctx, tx, id)
}

// querier is a read transaction or the read pool.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// allLines reads every stored line of chat id, in order.
func allLines(ctx context.Context, q querier, id int64) ([]routing.Line, error) {
	rows, err := q.QueryContext(ctx, sqlAllLines, id)
	if err != nil {
		return nil, fmt.Errorf("store: lines of chat %d: %w", id, err)
	}
	ls, err := scanLines(rows)
	if err != nil {
		return nil, fmt.Errorf("store: lines of chat %d: %w", id, err)
	}
	return ls, nil
}

// PendingOutbound implements [Store]: oldest first (by Created, then ID),
// each as [NormalOutbound] returns it.
func (s *SQLite) PendingOutbound(ctx context.Context) ([]Outbound, error) {
	tx, err := s.readTx(ctx, "pending outbound")
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, sqlPendingOutbound)
	if err != nil {
		return nil, fmt.Errorf("store: pending outbound: %w", err)
	}
	defer rows.Close()
	var out []Outbound
	for rows.Next() {
		var (
			o                       Outbound
			id, network, acct, user string
			chat                    int64
			att                     sql.NullString
			created                 sql.NullInt64
		)
		if err := rows.Scan(&id, &chat, &network, &acct, &user, &o.Text, &att, &created); err != nil {
			return nil, fmt.Errorf("store: pending outbound: %w", err)
		}
		o.ID = protocols.MessageID(id)
		o.Chat = routing.ChatID(chat)
		o.To = protocols.Address{Network: protocols.Network(network), Account: protocols.AccountID(acct), User: protocols.UserID(user)}
		o.Created = decTime(created)
		if o.Attachments, err = decAttachments(att); err != nil {
			return nil, fmt.Errorf("store: pending outbound: attachments: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending outbound: %w", err)
	}
	return out, nil
}

// scanChat reads one row of sqlOpenChats, deriving Lines and LastActivity
// from the newest line (see Load).
func scanChat(rows *sql.Rows) (routing.ChatRecord, error) {
	var (
		r                                                  routing.ChatRecord
		id, status, transfers, transcript, notified, lines int64
		origin, queue, library, network, acct, user        string
		guest, operator, endReason                         string
		started, firstAnswer, ended, lastActivity          sql.NullInt64
		newestN, newestAt                                  sql.NullInt64
	)
	err := rows.Scan(&id, &status, &origin, &queue, &library, &network, &acct, &user, &guest, &operator,
		&started, &firstAnswer, &ended, &lastActivity, &transfers, &endReason, &transcript, &notified, &lines,
		&newestN, &newestAt)
	if err != nil {
		return r, err
	}
	if newestN.Valid && newestN.Int64 >= lines {
		lines, lastActivity = newestN.Int64+1, newestAt
	}
	r = routing.ChatRecord{
		ID:              routing.ChatID(id),
		Status:          routing.ChatStatus(status),
		Origin:          routing.QueueID(origin),
		Queue:           routing.QueueID(queue),
		Library:         routing.LibraryID(library),
		Patron:          protocols.Address{Network: protocols.Network(network), Account: protocols.AccountID(acct), User: protocols.UserID(user)},
		Guest:           routing.GuestID(guest),
		Operator:        routing.OperatorID(operator),
		Started:         decTime(started),
		FirstAnswer:     decTime(firstAnswer),
		Ended:           decTime(ended),
		LastActivity:    decTime(lastActivity),
		Transfers:       int(transfers),
		EndReason:       routing.EndReason(endReason),
		Transcript:      transcript != 0,
		OfflineNotified: notified != 0,
		Lines:           int(lines),
	}
	return r, nil
}

// scanLines reads the rows of sqlLastLines or sqlAllLines and closes them.
func scanLines(rows *sql.Rows) ([]routing.Line, error) {
	defer rows.Close()
	var ls []routing.Line
	for rows.Next() {
		var (
			l         routing.Line
			n, source int64
			operator  string
			at        sql.NullInt64
			att       sql.NullString
		)
		if err := rows.Scan(&n, &at, &source, &operator, &l.Text, &att); err != nil {
			return nil, err
		}
		l.N = int(n)
		l.At = decTime(at)
		l.From = routing.LineSource(source)
		l.Operator = routing.OperatorID(operator)
		var err error
		if l.Attachments, err = decAttachments(att); err != nil {
			return nil, fmt.Errorf("attachments: %w", err)
		}
		ls = append(ls, l)
	}
	return ls, rows.Err()
}
