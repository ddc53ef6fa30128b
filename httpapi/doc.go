// Package httpapi is owlgate's HTTP surface, served on http.listen: the
// public presence API, the chat history and transcripts, operations
// (health, readiness, status, metrics), and the routes that network
// adapters mount for themselves (Twilio's web hooks, the web chat's
// socket). Routing uses the standard library's ServeMux patterns.
//
//	GET     /presence/{queue}            {"queue": "reference", "status": "online"}; ?format=json|text|js|svg
//	GET     /presence/{queue}.svg        a badge (.json, .txt and .js name the other formats)
//	GET     /presence?queues=a,b,c       the first online queue of the list, or {"queue": "", "status": "offline"}
//	GET     /healthz                     the process serves HTTP
//	GET     /readyz                      the store can be read, the XMPP link is up, the event loop answers
//	GET     /status                      admin token: queues, accounts, open and waiting chats
//	GET     /metrics                     Prometheus text format
//	GET     /api/chats                   token: chats as JSON, or CSV for Accept: text/csv or ?format=csv
//	GET     /api/chats.csv               token: the same as CSV
//	GET     /api/chats/{id}              token: one chat
//	DELETE  /api/chats/{id}              token: the chat's whole record goes (an ended chat only)
//	GET     /api/chats/{id}/transcript   token: text, or JSON for ?format=json or Accept: application/json
//	DELETE  /api/chats/{id}/transcript   token: the transcript goes, the statistics stay
//	*       /hooks/{account}/...         the account's adapter's own routes ([protocols.HTTPMounter])
//
// # Presence
//
// The presence API is public and read-only, and reveals nothing but
// whether a queue is online: no operator, no count, no chat. It is served
// with Access-Control-Allow-Origin: * so that any library page may read
// it, and Cache-Control: public, max-age=1. Answers come from the
// gateway's presence snapshot ([gateway.Gateway.QueueOnline]: an atomic
// flag per queue, set from the engine's QueuePresence actions), never
// through the event loop, and are rendered once per queue and state at
// start, so a request costs a map lookup and a write (BENCHMARKS.md). The
// answer changes as soon as the engine's does; clients and proxies may keep
// one for a second. An unknown queue is a 404; so is a rollover naming
// one, so that a typo in a page shows. The script format
// (?format=js[&callback=fn]) keeps the answer in the global
// owlgatePresence[queue-or-list] and calls window[fn](answer) if the page
// defines it; the callback must be a plain identifier. The badge's label
// is ?label= (at most 40 characters, escaped), "chat" by default.
//
// # History and tokens
//
// Every /api route needs "Authorization: Bearer <token>": http.admin_token
// sees every library, a token of http.library_tokens sees the chats of its
// library only (the library of the queue the patron wrote to); another
// library's chat answers 404, as one that does not exist. Tokens are
// compared as SHA-256 digests in constant time, against every configured
// token. With no token configured /api (and /status) answer 404: the API
// is off, never open. /status needs the admin token (a library token gets
// 403); /metrics, /healthz and /readyz need none. A public deployment
// should proxy only /presence and /hooks to the world.
//
// The history's filters are since and until (on the chat's start; RFC 3339,
// or a date alone, midnight in owlgate's time zone, where until=DATE takes
// in that whole day), queue (the queue the patron wrote to, or the one the
// chat ended with), library, network, operator (the last holder), answered
// and limit; an unknown parameter is a 400, so that a typo does not return
// everything. JSON and CSV carry the same fields (see [Chat] and
// [CSVHeader]): times in UTC, wait and duration in whole seconds, and the
// guest id, never the patron's handle or number, nor any text. Exports
// stream page by page (each page a short read transaction), so an export of
// any size takes little memory and holds no snapshot of the database; an
// error after the first bytes breaks the connection rather than end a
// truncated answer cleanly. `owlgate history export` writes the same bytes
// ([ExportChats]).
//
// Transcripts exist for chats of queues with transcripts: true, and are
// stored as the gateway redacted them (queues[].redact). Deleting a
// transcript keeps the chat's statistics; deleting a chat removes its
// record and lines. Only ended chats can be deleted (409 for an open one:
// the engine still writes it). Deletions are logged with the chat id and
// whether the admin or which library asked; nothing else of the chat.
//
// # Operations
//
// /readyz answers 200 when the store can be read, the operator link is up
// (the embedded server listens, or the component is connected) and the
// event loop answers a snapshot within three seconds, else 503, with each
// check's result in JSON. /status shows each queue with its available
// operators and its waiting and held chats, each account with its state,
// since when, its last error, the next attempt in backoff, its failures and
// its send queue, and the link's state. The metrics ([Metrics]) are
// counters fed by the gateway ([gateway.Observer]) and gauges read at each
// scrape; chats are counted by the queue the patron wrote to. No label
// holds a patron's id or message text.
//
// # Hooks
//
// Adapters implementing [protocols.HTTPMounter] get their routes mounted
// under /hooks/{account}/ ([HooksOf], done by internal/daemon): "POST /sms"
// of account unc-sms is served at POST /hooks/unc-sms/sms. The handler sees
// the request's full path (what a network signs), and no token is asked:
// each adapter checks its network's calls itself. A pattern that names a
// host, does not start with '/' or clashes with another fails [New].
//
// # Serving
//
// [Server.Serve] has no write timeout (exports and web sockets last), a
// ten-second limit on reading headers, and on shutdown gives requests five
// seconds to finish.
package httpapi
