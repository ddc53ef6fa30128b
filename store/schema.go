package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// migrations are the schema steps, in order. Step i (0-based) brings a
// database from schema version i to i+1; the version is kept in PRAGMA
// user_version. Steps are append-only: never edit a step that has shipped,
// add a new one.
var migrations = []string{
	// 1: the initial schema.
	`
CREATE TABLE guests (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	network TEXT NOT NULL,
	account TEXT NOT NULL,
	user    TEXT NOT NULL,
	UNIQUE (network, account, user)
);
-- Guest numbers start at 1001 (guest-1001): AUTOINCREMENT continues from
-- the sequence, and never reuses a number.
INSERT INTO sqlite_sequence (name, seq) VALUES ('guests', 1000);

CREATE TABLE chats (
	id               INTEGER PRIMARY KEY,
	status           INTEGER NOT NULL,
	origin           TEXT NOT NULL,
	queue            TEXT NOT NULL,
	library          TEXT NOT NULL,
	network          TEXT NOT NULL,
	account          TEXT NOT NULL,
	user             TEXT NOT NULL,
	guest            TEXT NOT NULL,
	operator         TEXT NOT NULL,
	started          INTEGER,          -- unix nanoseconds; NULL: zero time
	first_answer     INTEGER,
	ended            INTEGER,
	last_activity    INTEGER,
	transfers        INTEGER NOT NULL,
	end_reason       TEXT NOT NULL,
	transcript       INTEGER NOT NULL, -- 0 or 1
	offline_notified INTEGER NOT NULL, -- 0 or 1
	lines            INTEGER NOT NULL
);
CREATE INDEX chats_open ON chats (id) WHERE status <> 3;

-- Lines are stored in arrival order (seq), not clustered by chat: a group
-- commit's new lines then share a few pages at the end of the table rather
-- than dirtying one page per open chat, which keeps the WAL writes small.
-- UNIQUE (chat, n) is the key the store uses.
CREATE TABLE lines (
	seq         INTEGER PRIMARY KEY,
	chat        INTEGER NOT NULL REFERENCES chats (id) ON DELETE CASCADE,
	n           INTEGER NOT NULL,
	at          INTEGER,
	source      INTEGER NOT NULL,
	operator    TEXT NOT NULL,
	text        TEXT NOT NULL,
	attachments TEXT,                  -- JSON array; NULL: none
	UNIQUE (chat, n)
);

CREATE TABLE outbound (
	id          TEXT PRIMARY KEY,
	chat        INTEGER NOT NULL,
	network     TEXT NOT NULL,
	account     TEXT NOT NULL,
	user        TEXT NOT NULL,
	text        TEXT NOT NULL,
	attachments TEXT,
	created     INTEGER
);
CREATE INDEX outbound_created ON outbound (created, id);

-- max_chat: the greatest chat id ever stored, so that the next chat id
-- stays above it even once old chats are deleted.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('max_chat', 0);
`,
	// 2: messages kept for operators who are offline (the embedded XMPP
	// server's XEP-0160 storage), in arrival order.
	`
CREATE TABLE offline (
	seq     INTEGER PRIMARY KEY AUTOINCREMENT,
	jid     TEXT NOT NULL,    -- the operator's bare JID
	stanza  BLOB NOT NULL,    -- the serialized message, with its delay stamp
	created INTEGER NOT NULL  -- unix nanoseconds
);
CREATE INDEX offline_jid ON offline (jid, seq);
`,
	// 3: no index on outbound (created, id). Each message to a patron is
	// inserted and deleted again within moments; the index cost a b-tree
	// write each time, for the one read that sorts by it, PendingOutbound
	// at start, of an outbox that is small.
	`
DROP INDEX outbound_created;
`,
	// 4: the history API (History.Chats) filters and pages chats by their
	// start; retention (History.PurgeTranscripts) finds ended chats that
	// still have a transcript by their end. The second index holds only
	// those chats, so it costs nothing to queues without transcripts.
	`
CREATE INDEX chats_started ON chats (started, id);
CREATE INDEX chats_transcript_ended ON chats (ended) WHERE status = 3 AND transcript = 1;
`,
}

// SchemaVersion is the schema version this build of owlgate writes: the
// number of migrations it knows (a test checks that they agree).
const SchemaVersion = 4

// ErrSchemaTooNew is returned by [OpenSQLite] for a database written by a
// newer owlgate, whose schema this build does not know.
var ErrSchemaTooNew = errors.New("database schema is newer than this owlgate supports")

// migrate brings the database on db (the writer pool, one connection, whose
// transactions begin IMMEDIATE) to SchemaVersion. All pending steps run in
// one transaction, so a failure leaves the database as it was.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: begin: %w", err)
	}
	defer tx.Rollback()

	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	switch {
	case version > len(migrations):
		return fmt.Errorf("store: schema version %d, this owlgate knows up to %d (upgrade owlgate, or restore a backup): %w",
			version, len(migrations), ErrSchemaTooNew)
	case version < 0:
		return fmt.Errorf("store: invalid schema version %d", version)
	case version == len(migrations):
		return nil
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("store: migrate to schema version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is an int of ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("store: migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: commit: %w", err)
	}
	return nil
}
