// Package sms is owlgate's SMS network through Twilio: one [Adapter] is one
// number of the library (or one Twilio Messaging Service) that patrons text.
//
// [New] is the network's [protocols.Factory] (`network: sms`, `provider:
// twilio` in the config); [Config] documents the account's keys, and
// examples/README.md lists them. Twilio's REST API is spoken on net/http:
// sending a message and checking a webhook's signature are a few dozen
// lines, where twilio-go would bring some sixty packages into the binary.
//
// # Webhooks and URLs
//
// The adapter is a [protocols.HTTPMounter]: its routes are served by
// owlgate's HTTP server (http.listen) below /hooks/<account id>/, and
// public_url is where Twilio reaches that server. In the Twilio Console,
// the number's Messaging configuration, "A message comes in", is a Webhook,
// HTTP POST, to
//
//	<public_url>/hooks/<account id>/sms
//
// (for a Messaging Service: Integration, "Send a webhook", the same URL);
// [Adapter.WebhookURL] returns it and Run logs it. Status callbacks need no
// setting: each message owlgate sends asks for them at
// <public_url>/hooks/<account id>/status?id=<owlgate's id>&part=<i>&parts=<n>,
// so a callback names the message, and the part of a split text, it is
// about, and nothing has to be kept to match it.
//
// Every webhook must carry Twilio's X-Twilio-Signature: the base64 of the
// HMAC-SHA1, keyed with the auth token, of the URL Twilio called (public_url,
// the path, the query) followed by the POST parameters sorted by name, each
// name then its value ([Signature]). Like Twilio's own libraries, the URL is
// accepted with and without its default port. A webhook without it, with a
// wrong one, or for another Twilio account is answered 403 and nothing of it
// is recorded; so a proxy in front of owlgate must leave the path and query
// alone, and public_url must be the scheme, host and any path prefix Twilio
// uses. public_url may be left out (DESIGN.md's example has none): the
// signature is then checked against the URL each request names (its Host,
// or the proxy's X-Forwarded-Host and X-Forwarded-Proto; these only choose
// which URL the signature must match, which nobody can sign for without
// the auth token), and texts ask for no status callbacks, since there is no
// URL to give Twilio; Run warns about it. A signed webhook that is not a text from a phone number (no
// MessageSid, a From that is not E.164, bad media) is answered 400, a body
// over 64 KiB 413; either way nothing is recorded and other patrons' texts
// are unaffected.
//
// # Texts from patrons
//
// A text is a [protocols.Message] from the patron's number (E.164, the
// patron's [protocols.UserID]), with Twilio's MessageSid as its id and each
// of an MMS's MediaUrl0..N-1 (with its MediaContentType) as an attachment.
// Twilio's media URLs are passed on as they are: they open without a login
// unless the Twilio account enforces HTTP authentication on media. The
// webhook is answered 200 (empty TwiML) only once [protocols.Sink.Deliver]
// returned, that is once the text is durably stored; when the gateway
// cannot take it, 503, so that nothing is lost silently (Twilio then tries
// the number's fallback URL, if one is set).
//
// Twilio sends a webhook again when it did not get the answer in time, or
// posts it to a fallback URL that is this one too: a MessageSid already
// handed over is answered 200 and not handed over again. One arriving
// while the same is being handed over waits for that outcome; one whose
// hand-over failed is taken anew. The adapter remembers the last 10,000
// MessageSids, in memory: a repeat across a restart of owlgate is stored
// twice.
//
// An SMS account cannot log out: the adapter is [protocols.AlwaysOn], and
// the gateway runs it whether its queue is staffed or not. Run checks the
// account's SID and token with Twilio (GET Accounts/<sid>.json): refused,
// it reports bad credentials and returns; Twilio unreachable, it backs off
// and tries again. Webhooks are taken from the start of Run, even while
// Twilio's API is down, and answered 503 while Run is not running. While
// nobody staffs the queue, the routing engine answers a patron with the
// queue's offline message and records the chat as unanswered if nobody
// takes it; the gateway tells the adapter that message's text
// ([protocols.OfflineMessageSetter]) and the adapter holds back the same text
// to the same number within offline_message_every (default 12 hours): a
// patron texting several times in one closed evening is told once. SMS has
// no presence: a chat ends after the account's idle_timeout, by default 30
// minutes ([protocols.Capabilities] IdleTimeout).
//
// # STOP, START and HELP
//
// A text that is exactly one of Twilio's standard keywords, in any case
// (or that Twilio marks with OptOutType, for a Messaging Service's own
// keywords under Advanced Opt-Out), is for the number rather than the
// librarians. STOP (STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
// OPTOUT) opts the number out: owlgate writes it down in the account's
// DataDir (sms-patrons.json, written atomically and synced) before answering
// the webhook, then ends the patron's chat with a [protocols.Left] whose
// reason says so to the operator. Until the number texts START (YES,
// UNSTOP), every Send to it fails for good, without calling Twilio: the
// operator is told "message not received", with the reason. A number
// Twilio reports as opted out (error 21610) is written down the same way.
// What an opted-out patron still texts is recorded for the librarians.
// START from a number that did not opt out, like "Yes", is an ordinary
// text. HELP (INFO) is passed on to the librarians, and answered in TwiML
// with help_message when the config has one. Twilio itself answers STOP
// and START, and HELP, on long codes, so owlgate sends no confirmation of
// its own.
//
// # Sending
//
// An [protocols.OutMessage] is one POST to Accounts/<sid>/Messages.json
// (basic auth, To, From or MessagingServiceSid, Body, StatusCallback) per
// 1,600 characters, Twilio's limit counted in UTF-16 code units; a longer
// text is split at the last white space before the limit when one is past
// the middle of the part, else on a character boundary. Capabilities
// declares MaxTextLength 0, since it counts bytes and Send splits by
// characters itself. An [protocols.OutAttachment] is its caption and URL
// as text (MMS would reach North American numbers only);
// [protocols.OutState] is ignored. Sends are one at a time, so a text's
// parts go in order, each after the account's pacer allows it (rate texts a
// second, default 1, Twilio's pace for a US long code; no burst).
//
// A call answered 429 or 5xx, or that could not reach Twilio, is tried
// again up to three times, after a jittered backoff from one second or the
// Retry-After Twilio gave; a Retry-After over a minute, or a fourth
// failure, is returned to the gateway as an error worth retrying (wrapping
// [protocols.ErrRateLimited], [protocols.ErrTimeout] or a
// [protocols.RetryAfterError]), and the gateway tries the message again
// later. The parts of a split text already sent are remembered (in memory,
// by message id and text), so that the gateway's retry sends only the rest.
// Twilio's Messages API has no idempotency key: a 5xx after Twilio took a
// message may, rarely, send it twice. Any other 4xx fails for good, wrapping
// [protocols.ErrUnknownPatron] for codes that mean the number cannot be
// texted (21211, 21610, 21612, 21614) and [protocols.ErrRejected] otherwise;
// its text is Twilio's error code and what it means, "Twilio error 21614,
// the patron's number is not a mobile number", which the gateway passes to
// the operator as "message not received". Twilio's own error message is
// never kept: it may name the patron's number.
//
// # Status callbacks
//
// "failed" and "undelivered" become a [protocols.DeliveryFailure] for the
// message owlgate sent (its id from the callback's URL), once per message,
// with the reason: "undelivered: Twilio error 30003, the patron's phone is
// switched off or out of reach". "delivered" of every part of a text
// becomes a [protocols.Receipt]. Other statuses (queued, sent...) are
// acknowledged and ignored. What the adapter keeps to do this (10,000
// messages) is in memory; a callback after a restart may miss its receipt.
//
// # Privacy
//
// Phone numbers and message texts are logged at debug level only. Errors
// hold neither numbers nor credentials (the account SID is in every API
// URL, so transport errors are stripped of their URL). sms-patrons.json
// holds the numbers that opted out and when each was last sent the offline
// message, in owlgate's data_dir. Operators know a patron by guest id; /who
// shows the number only when the queue owning the account sets show_phone.
package sms
