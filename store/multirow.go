package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/bits"
)

// rowsStmt is a statement the writer runs for many rows at once (lines to
// insert, outbound messages to delete), so that a group's rows cost a few
// statements rather than one each: per statement, database/sql, the driver
// and SQLite each have a fixed cost that is most of a small row's. It is
// prepared for 1, 2, 4, ... 1<<maxLog rows, and n rows take the fewest of
// those (at most maxLog+1 statements for fewer than 2<<maxLog rows).
type rowsStmt struct {
	cols  int         // arguments per row
	stmts []*sql.Stmt // stmts[k] for 1<<k rows
	tx    []*sql.Stmt // stmts[k] bound to the current transaction, made on first use
}

// maxRowsLog bounds the rows of one statement to 1<<maxRowsLog (64):
// 64 rows of 7 columns are 448 parameters, far below SQLite's limit.
const maxRowsLog = 6

// prepare prepares the statement for 1, 2, 4, ... 1<<maxRowsLog rows;
// query(n) returns its text for n rows.
func (m *rowsStmt) prepare(ctx context.Context, db *sql.DB, cols int, query func(n int) string) error {
	m.cols = cols
	m.stmts = make([]*sql.Stmt, maxRowsLog+1)
	m.tx = make([]*sql.Stmt, maxRowsLog+1)
	for k := range m.stmts {
		st, err := db.PrepareContext(ctx, query(1<<k))
		if err != nil {
			return fmt.Errorf("store: prepare: %w", err)
		}
		m.stmts[k] = st
	}
	return nil
}

// exec runs the statement on tx for the rows whose arguments args holds,
// one row after the other (len(args) is a multiple of cols), in order.
func (m *rowsStmt) exec(ctx context.Context, tx *sql.Tx, args []any) error {
	for rows := len(args) / m.cols; rows > 0; {
		k := min(bits.Len(uint(rows))-1, maxRowsLog)
		n := 1 << k
		if m.tx[k] == nil {
			m.tx[k] = tx.StmtContext(ctx, m.stmts[k])
		}
		if _, err := m.tx[k].ExecContext(ctx, args[:n*m.cols]...); err != nil {
			return err
		}
		args, rows = args[n*m.cols:], rows-n
	}
	return nil
}

// endTx forgets the statements bound to the transaction that ended.
func (m *rowsStmt) endTx() {
	for k, st := range m.tx {
		if st != nil {
			st.Close()
			m.tx[k] = nil
		}
	}
}

func (m *rowsStmt) close() {
	m.endTx()
	for _, st := range m.stmts {
		if st != nil {
			st.Close()
		}
	}
}
