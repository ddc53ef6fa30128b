package sms

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/owlgate/owlgate/protocols"
)

// The webhooks Twilio calls, mounted by the gateway on owlgate's HTTP
// server below /hooks/{account}/.
const (
	textPath   = "/sms"    // a text to the number (the number's "A message comes in" webhook)
	statusPath = "/status" // a status callback for a text owlgate sent
)

// maxWebhook bounds a webhook's body: Twilio's are a few kilobytes.
const maxWebhook = 64 << 10

// maxMedia is how many attachments one MMS has at most.
const maxMedia = 10

// reasonStop is what the operator of a chat is told when its patron texts
// STOP (in "The patron left (...)").
const reasonStop = "texted STOP: owlgate will not text this number again unless they text START"

// HTTPRoutes returns the account's webhooks: POST /sms for texts from
// patrons, POST /status for Twilio's status callbacks. See
// [protocols.HTTPMounter].
func (a *Adapter) HTTPRoutes() []protocols.HTTPRoute {
	return []protocols.HTTPRoute{
		{Pattern: "POST " + textPath, Handler: http.HandlerFunc(a.serveText)},
		{Pattern: "POST " + statusPath, Handler: http.HandlerFunc(a.serveStatus)},
	}
}

// verified parses a webhook's form and checks Twilio's signature of it
// against the public URL of path. When either fails it answers the request
// (400, 413 or 403) and returns nil: nothing is recorded.
func (a *Adapter) verified(w http.ResponseWriter, r *http.Request, path string) url.Values {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhook)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "webhook too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "malformed webhook", http.StatusBadRequest)
		}
		a.log.Warn("sms: malformed webhook refused", "path", path, "remote", r.RemoteAddr, "err", err)
		return nil
	}
	base := a.s.publicURL
	if base == "" {
		base = requestBase(r)
	}
	signed := base + protocols.HookPath(a.id, path)
	if r.URL.RawQuery != "" {
		signed += "?" + r.URL.RawQuery
	}
	if !validSignature(a.s.authToken, r.Header.Get("X-Twilio-Signature"), signed, r.PostForm) {
		// Not Twilio, or public_url is not the URL Twilio calls.
		a.log.Warn("sms: webhook refused: missing or wrong X-Twilio-Signature (check public_url)",
			"path", path, "remote", r.RemoteAddr, "signed_url", signed)
		http.Error(w, "bad signature", http.StatusForbidden)
		return nil
	}
	if r.PostForm.Get("AccountSid") != a.s.accountSID {
		a.log.Warn("sms: webhook refused: it is for another Twilio account", "path", path, "remote", r.RemoteAddr)
		http.Error(w, "not this account", http.StatusForbidden)
		return nil
	}
	return r.PostForm
}

// accept checks a webhook (see verified) and returns its form with the sink
// to hand it over to, and the function to call once that is done. When the
// webhook is refused, or the account does not run (503), it answers the
// request and returns a nil form.
func (a *Adapter) accept(w http.ResponseWriter, r *http.Request, path string) (url.Values, protocols.Sink, func()) {
	form := a.verified(w, r, path)
	if form == nil {
		return nil, nil, nil
	}
	sink, release := a.acquire()
	if sink == nil {
		http.Error(w, "account not running", http.StatusServiceUnavailable)
		return nil, nil, nil
	}
	return form, sink, release
}

// serveText takes a text from a patron: it answers 200 only once the text
// is handed over durably (the Sink's Deliver contract), or was already.
func (a *Adapter) serveText(w http.ResponseWriter, r *http.Request) {
	form, sink, release := a.accept(w, r, textPath)
	if form == nil {
		return
	}
	defer release()
	sid, from := form.Get("MessageSid"), form.Get("From")
	media, err := attachments(form)
	if sid == "" || !validE164(from) || err != nil {
		a.log.Warn("sms: webhook refused: not a text from a phone number", "remote", r.RemoteAddr, "err", err)
		http.Error(w, "malformed webhook: MessageSid, From or MediaUrl", http.StatusBadRequest)
		return
	}
	entry, err := a.seen.claim(r.Context(), sid)
	if err != nil {
		http.Error(w, "gone", http.StatusServiceUnavailable)
		return
	}
	if entry == nil {
		a.log.Debug("sms: a webhook repeated; already taken", "sid", sid)
		writeTwiML(w, "")
		return
	}
	reply, err := a.takeText(r.Context(), sink, sid, from, form.Get("Body"), form.Get("OptOutType"), media)
	a.seen.finish(sid, entry, err == nil)
	if err != nil {
		a.log.Warn("sms: a text could not be handed over; Twilio was answered 503", "sid", sid, "err", err)
		http.Error(w, "not stored; try again", http.StatusServiceUnavailable)
		return
	}
	writeTwiML(w, reply)
}

// takeText hands a patron's text over, minding STOP, START and HELP. It
// returns the text to answer with in TwiML (the help message), if any.
func (a *Adapter) takeText(ctx context.Context, sink protocols.Sink, sid, from, body, optOutType string, media []protocols.Attachment) (string, error) {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	a.log.Debug("sms: text received", "from", from, "sid", sid, "text", body, "media", len(media))
	reply := ""
	switch keywordOf(optOutType, body) {
	case kwStop:
		// Twilio stops delivering to the number too, and answers it.
		changed, err := a.patrons.setOptedOut(from, true, a.clock.Now())
		if err != nil {
			return "", fmt.Errorf("writing the opt-out down: %w", err)
		}
		if changed {
			a.log.Info("sms: a patron texted STOP; owlgate will not text them until they text START")
		}
		return "", sink.Deliver(ctx, protocols.Left{From: a.addr(from), Reason: reasonStop})
	case kwStart:
		if a.patrons.optedOut(from) {
			if _, err := a.patrons.setOptedOut(from, false, a.clock.Now()); err != nil {
				return "", fmt.Errorf("writing the opt-in down: %w", err)
			}
			a.log.Info("sms: a patron texted START; owlgate may text them again")
			return "", nil
		}
		// "Yes" from a patron who never opted out is an answer.
	case kwHelp:
		reply = a.s.help // and the librarians see the HELP, too
	}
	if strings.TrimSpace(body) == "" && len(media) == 0 {
		return reply, nil // an empty text: nothing to hand over
	}
	msg := protocols.Message{From: a.addr(from), ID: protocols.MessageID(sid), Text: body, Attachments: media}
	return reply, sink.Deliver(ctx, msg)
}

// serveStatus takes a status callback about a text owlgate sent: failed
// and undelivered become a DeliveryFailure for its operator, and a text
// delivered in all its parts a Receipt. Other statuses (queued, sent...)
// are acknowledged and ignored.
func (a *Adapter) serveStatus(w http.ResponseWriter, r *http.Request) {
	form, sink, release := a.accept(w, r, statusPath)
	if form == nil {
		return
	}
	defer release()
	q := r.URL.Query()
	id, status, to := q.Get("id"), form.Get("MessageStatus"), form.Get("To")
	part, perr := strconv.Atoi(q.Get("part"))
	parts, serr := strconv.Atoi(q.Get("parts"))
	if status == "" || !validE164(to) || perr != nil || serr != nil || parts < 1 || parts > 1000 {
		a.log.Warn("sms: status callback refused: malformed", "remote", r.RemoteAddr)
		http.Error(w, "malformed status callback", http.StatusBadRequest)
		return
	}
	key := id
	if key == "" {
		key = form.Get("MessageSid")
	}
	a.log.Debug("sms: status", "to", to, "id", id, "sid", form.Get("MessageSid"), "status", status, "error_code", form.Get("ErrorCode"))
	var err error
	switch status {
	case "failed", "undelivered":
		code, _ := strconv.Atoi(form.Get("ErrorCode"))
		if code == 21610 {
			a.optOut(to, "Twilio says the number opted out")
		}
		if a.callbacks.fail(key) {
			reason := status
			if code != 0 {
				reason += ": " + twilioError(code)
			}
			err = sink.Deliver(r.Context(), protocols.DeliveryFailure{To: a.addr(to), ID: protocols.MessageID(id), Reason: reason})
			if err != nil {
				a.callbacks.unfail(key)
			}
		}
	case "delivered":
		if a.callbacks.delivered(key, part, parts) {
			err = sink.Deliver(r.Context(), protocols.Receipt{From: a.addr(to), ID: protocols.MessageID(id)})
		}
	}
	if err != nil {
		a.log.Warn("sms: a status callback could not be handed over; Twilio was answered 503", "err", err)
		http.Error(w, "not stored; try again", http.StatusServiceUnavailable)
		return
	}
	writeTwiML(w, "")
}

// attachments reads an MMS's media: MediaUrl0..N-1 and their
// MediaContentType, for NumMedia N.
func attachments(form url.Values) ([]protocols.Attachment, error) {
	n := 0
	if s := form.Get("NumMedia"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 0 || n > maxMedia {
			return nil, fmt.Errorf("NumMedia %q is not a number from 0 to %d", s, maxMedia)
		}
	}
	var out []protocols.Attachment
	for i := range n {
		raw := form.Get("MediaUrl" + strconv.Itoa(i))
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("MediaUrl%d is not an http or https URL", i)
		}
		out = append(out, protocols.Attachment{URL: raw, MIMEType: form.Get("MediaContentType" + strconv.Itoa(i))})
	}
	return out, nil
}

// keyword is what a text asks of the number itself.
type keyword uint8

const (
	kwNone  keyword = iota
	kwStop          // opt out: owlgate (and Twilio) no longer text the number
	kwStart         // opt back in
	kwHelp          // what is this number?
)

// keywords are Twilio's standard opt-out, opt-in and help keywords, which
// count when they are the whole text (in any case, spaces around ignored).
var keywords = map[string]keyword{
	"STOP": kwStop, "STOPALL": kwStop, "UNSUBSCRIBE": kwStop, "CANCEL": kwStop, "END": kwStop,
	"QUIT": kwStop, "REVOKE": kwStop, "OPTOUT": kwStop,
	"START": kwStart, "YES": kwStart, "UNSTOP": kwStart,
	"HELP": kwHelp, "INFO": kwHelp,
}

// keywordOf classifies a text: by Twilio's OptOutType parameter when it
// sent one (Advanced Opt-Out, with the library's own keywords), else by the
// standard keywords.
func keywordOf(optOutType, body string) keyword {
	if optOutType != "" {
		switch strings.ToUpper(optOutType) {
		case "STOP":
			return kwStop
		case "START":
			return kwStart
		case "HELP":
			return kwHelp
		}
		return kwNone
	}
	return keywords[strings.ToUpper(strings.TrimSpace(body))]
}

// writeTwiML answers a webhook with TwiML: nothing, or a reply text.
func writeTwiML(w http.ResponseWriter, reply string) {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?><Response>`)
	if reply != "" {
		b.WriteString("<Message>")
		xml.EscapeText(&b, []byte(reply))
		b.WriteString("</Message>")
	}
	b.WriteString("</Response>")
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write([]byte(b.String()))
}

// requestBase is the scheme and host a request was made to, for an account
// without public_url: the host it named, https when it came over TLS or a
// proxy says so (X-Forwarded-Proto, X-Forwarded-Host). These headers come
// from the caller, but they only choose which URL the signature must
// match: without the auth token nobody can sign for it.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	host := r.Host
	if h := r.Header.Get("X-Forwarded-Host"); h != "" {
		host, _, _ = strings.Cut(h, ",")
		host = strings.TrimSpace(host)
	}
	return scheme + "://" + host
}
