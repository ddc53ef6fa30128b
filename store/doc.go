// Package store is owlgate's persistence: the [Store] interface the gateway
// writes through, and [SQLite], its embedded implementation (pure Go,
// modernc.org/sqlite, no cgo), one database file in the configured
// data_dir.
//
// # What is stored
//
//   - guests: the stable guest number of each patron address (network,
//     account, user). Numbers start at 1001 (guest-1001), are assigned once,
//     and are never reused nor derived from the patron's handle.
//   - chats: every chat's record ([routing.ChatRecord]), open or ended: the
//     history export and the statistics read them. An open chat's stored
//     Lines and LastActivity may be older than its lines: the engine saves
//     a new line without the record, and [SQLite.Load] derives both from
//     the newest stored line. An ended chat's record holds the true values.
//   - lines: the lines of open chats, and of ended chats whose queue keeps
//     transcripts.
//   - outbound: messages to patrons recorded before they are sent and not
//     yet delivered or failed for good, so that a restart sends them.
//   - offline: messages for operators of the embedded XMPP server who were
//     offline, until their next login ([SQLite.PutOffline],
//     [SQLite.TakeOffline]).
//   - meta: the greatest chat id ever stored, so that chat ids are never
//     reused even once old chats are deleted.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: a transaction is on
// disk (fsync'd) when its commit returns. [SQLite.Submit] returns at once;
// a single writer goroutine applies queued batches in submission order,
// all batches queued since its last transaction in one transaction (group
// commit: one fsync for many batches), and finishes each batch's [Commit]
// with that transaction's outcome only after the commit returned. So when
// [Commit.Wait] returns nil the batch survives a crash of the process or
// of the machine; if the transaction fails, every batch of the group gets
// the error and none of it is written (the one failure a caller can cause
// that way is a line of a chat never stored: lines reference their chat by
// foreign key). A batch that cannot be stored as it
// is (a chat id of 0, a time outside the years 1678-2262, an outbound
// message without id) is refused by Submit alone, with [ErrInvalidBatch],
// and fails nothing else. [SQLite.Guest] assigns new numbers through the
// same writer, so a new guest id is durable when Guest returns. Reads use a
// pool of read-only connections and see every batch whose commit finished
// with nil.
//
// # Checkpoints
//
// No commit checkpoints the write-ahead log (wal_autocheckpoint=0: SQLite's
// automatic checkpoint would run inside the commit that crosses its
// threshold and hold up that group by milliseconds). Instead, every second
// ([WithCheckpointInterval]) and whenever the writer has written about
// 1,000 pages to the log, a goroutine of the store runs a passive
// checkpoint on a connection of its own, which copies the log into the
// database file while the writer goes on committing; then the writer,
// between two groups, checkpoints what was committed meanwhile (a few
// pages), so that its next transaction starts the log over. The -wal file
// thus stays a few megabytes large and is written in place (an fsync of a
// file that grew costs a journal commit more). Checkpoints change nothing
// of durability. [SQLite.Close] ends with a truncating checkpoint, which
// empties the log.
//
// # Transcripts
//
// Transcripts are kept only for queues that opt in (transcripts: true):
// when a chat record with Status [routing.ChatEnded] and Transcript false is
// stored, the chat's lines are deleted in the same transaction, and lines
// submitted for such a chat later (or later in the same batch) are not
// stored. The record itself (queue, guest, times, answered, end reason)
// is kept for statistics; it holds no message text. Message text is never
// logged, nor quoted in errors. Redaction happens before lines reach the
// store (the gateway redacts the lines of queues that set redact).
//
// # History
//
// [History] reads and deletes what is stored, for the HTTP API and
// `owlgate history`, on connections of its own (it may run in another
// process while owlgate runs): chats by start, queue, library, network,
// operator and answered, a chat's transcript, and the deletion of a
// transcript (the record stays, for statistics), of a whole chat, and of
// transcripts or chats that ended before a time (retention:
// transcript_days). Only ended chats are deleted, in transactions of a few
// hundred chats, so that the gateway's writer never waits long.
//
// # Round trips
//
// Times are stored as unix nanoseconds, the zero time as NULL. What
// [SQLite.Load], [SQLite.Lines] and [SQLite.PendingOutbound] return is what
// was stored normalised by [NormalRecord], [NormalLine] and
// [NormalOutbound]: times in UTC without monotonic clock reading (the zero
// time stays time.Time{}), and empty attachment lists as nil. Attachments
// are stored as JSON, so invalid UTF-8 in their fields comes back as
// U+FFFD.
//
// # Schema and migrations
//
// The schema version is SQLite's PRAGMA user_version. At open, every
// migration step above the database's version runs, in order, in one
// transaction together with the new version number, so a database is
// either fully migrated or untouched. Steps are append-only. A database
// whose version is above [SchemaVersion] (written by a newer owlgate) is
// refused with [ErrSchemaTooNew] rather than written by code that does not
// know its schema.
package store
