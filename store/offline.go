package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrOfflineFull is returned by [SQLite.PutOffline] when the operator
// already has the most messages allowed stored.
var ErrOfflineFull = errors.New("store: offline message store full for this operator")

// PutOffline stores a message stanza (serialized XML, delay-stamped) for
// an operator who is offline, identified by bare JID. It fails with
// [ErrOfflineFull] when limit (> 0) messages are already stored for them.
// The message is durable when PutOffline returns.
//
// Offline messages are rare (operator to operator while one is away):
// they use the writer connection directly, in their own short
// transactions, between the writer goroutine's group commits.
func (s *SQLite) PutOffline(ctx context.Context, to string, stanza []byte, limit int) error {
	if s.isClosed() {
		return ErrClosed
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: offline: begin: %w", err)
	}
	defer tx.Rollback()
	if limit > 0 {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM offline WHERE jid = ?`, to).Scan(&n); err != nil {
			return fmt.Errorf("store: offline: count: %w", err)
		}
		if n >= limit {
			return ErrOfflineFull
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO offline (jid, stanza, created) VALUES (?, ?, ?)`,
		to, stanza, time.Now().UnixNano()); err != nil {
		return fmt.Errorf("store: offline: insert: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: offline: commit: %w", err)
	}
	return nil
}

// TakeOffline returns the messages stored for an operator, oldest first,
// and deletes them, in one transaction.
func (s *SQLite) TakeOffline(ctx context.Context, to string) ([][]byte, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	// A read first, on a read connection: most logins find nothing, and
	// need not wait for the writer.
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM offline WHERE jid = ?`, to).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: offline: count: %w", err)
	}
	if n == 0 {
		return nil, nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: offline: begin: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT stanza FROM offline WHERE jid = ? ORDER BY seq`, to)
	if err != nil {
		return nil, fmt.Errorf("store: offline: read: %w", err)
	}
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: offline: read: %w", err)
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return nil, fmt.Errorf("store: offline: read: %w", err)
	}
	rows.Close()
	if _, err := tx.ExecContext(ctx, `DELETE FROM offline WHERE jid = ?`, to); err != nil {
		return nil, fmt.Errorf("store: offline: delete: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: offline: commit: %w", err)
	}
	return out, nil
}
