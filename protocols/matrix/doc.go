//go:build goolm

// Package matrix is owlgate's Matrix network: one [Adapter] is one Matrix
// account of the library (like @askalibrarian:example.edu), which patrons
// invite to direct rooms, on mautrix-go (maunium.net/go/mautrix v0.26.1, the
// newest that builds beside whatsmeow's go.mau.fi/util v0.9.x).
//
// [New] is the network's [protocols.Factory] (`network: matrix` in the
// config); [Config] documents the account's keys, and examples/README.md
// lists them.
//
// # Building: -tags goolm
//
// End-to-end encryption is mautrix's crypto package, which links libolm
// through cgo unless built with the goolm tag (its pure-Go olm and megolm):
// owlgate is always built with `-tags goolm`, so that it stays buildable
// with CGO_ENABLED=0. scripts/test (through GOFLAGS), scripts/quickstart and
// the tests that build the binary pass it; a plain `go build` without it
// fails to compile mautrix's libolm binding, rather than building something
// else.
//
// # Login
//
// With access_token, the token is checked (whoami) and its device is the
// account's device; it must be a device made for owlgate (with no
// encryption keys of another client). With password, the first start logs
// in with a new device named device_name and keeps its device id and
// access token in session.json in the account's data folder (mode 0600);
// later starts use them again, and log in again with the same device id
// when the homeserver no longer takes the token. A refused login
// (M_FORBIDDEN), an unknown token (M_UNKNOWN_TOKEN, also in the middle of a
// sync), a deactivated account or a token of another user than user_id
// are bad credentials: Run reports [protocols.AccountBadCredentials] and
// returns an error wrapping [protocols.ErrBadCredentials]. Anything else
// (the homeserver unreachable, 5xx) is [protocols.AccountBackoff] and a new
// attempt after [protocols.Backoff]'s delay. The account is online once its
// first sync was handled.
//
// # Sync
//
// The adapter runs its own /sync loop (not mautrix's SyncWithContext,
// which saves the token before handling a batch): a batch is handled to its
// end, every patron message delivered durably ([protocols.Sink.Deliver]),
// and only then is its token saved (in the crypto store, crypto.db). A
// delivery that fails ends the session without saving the token, so the
// batch comes again after the backoff, without the events already
// delivered from it. Stopping owlgate lets the batch being handled finish
// (for up to 30 s; past that its token is not saved and it comes again). So
// a restart neither replays nor skips. A room whose timeline a sync cuts
// short ("limited", more than 50 events since the last sync) has its gap
// fetched with /messages back to the last event handled, kept per room in
// rooms.json. The very first sync of a device is history: its messages are
// not delivered (invites in it are handled).
//
// # Rooms and patrons
//
// A patron is their Matrix user id. An invite to the account that is
// direct (is_direct, as clients set for a new direct chat) is accepted,
// when the inviter's homeserver is in invites_from (or invites_from is
// empty); others are declined, unless the room is listed in rooms. A
// message in a room of two members, the account and the sender, is a
// direct room too (rooms joined before owlgate ran). One direct room is one
// patron; replies go to the room the patron wrote in last (rooms.json keeps
// this across restarts). Group rooms are ignored unless listed in rooms:
// there every member is a patron, and replies are posted in the room
// starting with the patron's user id, with a mention. The patron leaving
// a direct room (or being removed) is a [protocols.Left]; owlgate then
// leaves the room too, so that the next chat is a new room.
//
// # Messages
//
// m.text and m.notice are the text, the formatted body (HTML) turned into
// plain text when there is one (no Markdown marks; links as "text (url)"),
// without the quoted fallback of replies; m.emote is "* text"; an edit is
// "(edited) " and the new text; m.location its body and geo: URI. m.image,
// m.file, m.video and m.audio are [protocols.Attachment]s (name, MIME type,
// size, and a caption as text). Their link, with public_url, is owlgate's
// own route GET /hooks/<account>/media/<token>, served by [Adapter.HTTPRoutes]:
// owlgate fetches the file from the homeserver's authenticated media
// (/_matrix/client/v1/media) with the account's token, decrypts files of
// encrypted rooms with the key their event carried, and serves it (images
// inline, anything else as a download, sandboxed). The token is random and
// kept in media.json, so links work after a restart and only those given
// the link can open it. Without public_url the link is the homeserver's
// legacy unauthenticated download URL, and encrypted files are only named.
//
// Send posts an [protocols.OutMessage] as m.text, split into parts of at
// most [MaxTextLength] bytes, each with a transaction id made from owlgate's
// message id, so a retry does not post twice. An [protocols.OutAttachment]
// is its caption and URL as text. Sends are serialised. Errors: not
// connected, 5xx and network errors are retryable ([protocols.ErrNotConnected]),
// M_LIMIT_EXCEEDED a [protocols.RetryAfterError], M_FORBIDDEN (not in the
// room any more) [protocols.ErrUnknownPatron], other 4xx [protocols.ErrRejected].
//
// # Encryption
//
// Olm and megolm through mautrix's crypto helper, built on goolm. The olm
// account, megolm sessions, device lists and the room state encryption
// needs are in crypto.db in the data folder (pure-Go SQLite, modernc),
// pickled with a random key made at the first start and kept in pickle.key
// (mode 0600). Messages to a room with encryption on are encrypted (the
// megolm session shared with the patron's devices). owlgate does not
// verify devices or cross-sign: it trusts the devices the homeserver lists,
// as most bots do.
//
// A message that cannot be decrypted: when its key is missing, the crypto
// helper waits for it three seconds, then asks the sender's devices (and
// the account's other devices) for it with a room key request and waits 22
// more; a key arriving meanwhile decrypts it and it is delivered as usual.
// When it still cannot be decrypted, or decrypting failed outright, the
// operator gets a [protocols.Message] from the patron whose text is
// [undecryptable] (a bracketed notice: the gateway routes it like any
// message, so it reaches the operator holding the chat or opens one), and
// the patron gets an m.notice asking them to send it again.
// [protocols.DeliveryFailure] was not used: it is about what owlgate sent.
// A message waiting for its key when owlgate stops is lost (its batch's
// token is saved).
//
// # Typing and receipts
//
// A patron's typing notification is [protocols.Composing], its end
// [protocols.Paused]. An operator's [protocols.Composing] shows the
// account typing (for 30 s unless renewed); paused, inactive, gone or a
// message sent stop it. An operator's [protocols.StateActive] (XEP-0085:
// they have the chat in front of them) sends a read receipt for the
// patron's last message: it is all owlgate knows of what they have read. A
// patron's read receipt (public or private) on an event owlgate sent is a
// [protocols.Receipt] with owlgate's message id (remembered in memory for
// the last 4,096 events sent).
//
// # Logging
//
// mautrix's own logs go to the account's logger at debug level (they name
// rooms and users). Patrons' ids, room ids and texts are logged at debug
// level only; secrets are never logged nor put in errors.
package matrix
