package sms

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// maxRetryAfter is the longest Retry-After the adapter waits itself; a
// longer one goes back to the gateway, which retries the message later.
const maxRetryAfter = time.Minute

// errOptedOut is a text to a number that texted STOP.
var errOptedOut = fmt.Errorf("the patron texted STOP and has not texted START since: %w", protocols.ErrUnknownPatron)

// Send delivers one outbound event; see [protocols.Adapter]. A text is sent
// as one Twilio message per 1,600 characters, paced, each call retried a
// few times on 429 and 5xx. It is safe for concurrent use.
func (a *Adapter) Send(ctx context.Context, out protocols.Outbound) error {
	switch o := out.(type) {
	case protocols.OutState:
		return nil // SMS has no typing notifications
	case protocols.OutMessage:
		return a.sendText(ctx, o.To, o.ID, o.Text)
	case protocols.OutAttachment:
		// Links, not MMS: MMS reaches only North American numbers.
		if o.Attachment.URL == "" {
			return fmt.Errorf("sms: an attachment without a URL: %w", protocols.ErrRejected)
		}
		text := o.Attachment.URL
		if o.Caption != "" {
			text = o.Caption + "\n" + text
		}
		return a.sendText(ctx, o.To, o.ID, text)
	default:
		return fmt.Errorf("sms: %T: %w", out, protocols.ErrUnsupported)
	}
}

func (a *Adapter) sendText(ctx context.Context, to protocols.Address, id protocols.MessageID, text string) error {
	number := string(to.User)
	if to.Account != a.id || to.Network != a.network || !validE164(number) {
		return fmt.Errorf("sms %s: not a patron of this account: %w", a.id, protocols.ErrUnknownPatron)
	}
	parts := split(text, maxUnits)
	if len(parts) == 0 {
		return fmt.Errorf("sms %s: an empty text: %w", a.id, protocols.ErrRejected)
	}
	if !a.taking() {
		return fmt.Errorf("sms %s: %w", a.id, protocols.ErrNotConnected)
	}
	select {
	case a.sendSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("sms %s: %w (%w)", a.id, protocols.ErrTimeout, ctx.Err())
	}
	defer func() { <-a.sendSem }()

	if a.patrons.optedOut(number) {
		return fmt.Errorf("sms %s: %w", a.id, errOptedOut)
	}
	offline := a.isOfflineMessage(text)
	every := a.s.offlineEvery
	if offline && every > 0 && a.patrons.offlineSince(number, a.clock.Now(), every) {
		a.log.Debug("sms: offline message held back: this number had it recently", "to", number, "id", id)
		return nil
	}
	key := progressKey(id, text)
	for i := a.progress.sent(key); i < len(parts); i++ {
		if err := a.pace.Wait(ctx); err != nil {
			a.progress.set(key, i)
			return fmt.Errorf("sms %s: %w (%w)", a.id, protocols.ErrTimeout, err)
		}
		sid, err := a.post(ctx, a.messageForm(number, id, parts[i], i, len(parts)))
		if err != nil {
			a.progress.set(key, i)
			if code := errorCode(err); code == 21610 {
				a.optOut(number, "Twilio says the number opted out")
			}
			if len(parts) > 1 {
				return fmt.Errorf("sms %s: %d of %d parts sent: %w", a.id, i, len(parts), err)
			}
			return fmt.Errorf("sms %s: %w", a.id, err)
		}
		a.log.Debug("sms: text sent", "to", number, "id", id, "sid", sid, "part", i+1, "parts", len(parts), "text", parts[i])
	}
	a.progress.set(key, 0)
	if offline && every > 0 {
		if err := a.patrons.offlineSent(number, a.clock.Now(), every); err != nil {
			a.log.Warn("sms: could not write down that a number was sent the offline message", "err", err)
		}
	}
	return nil
}

// isOfflineMessage reports whether text is the queue's offline message.
func (a *Adapter) isOfflineMessage(text string) bool {
	p := a.offline.Load()
	return p != nil && *p != "" && *p == text
}

// messageForm is the request for one part of a text.
func (a *Adapter) messageForm(number string, id protocols.MessageID, body string, part, parts int) url.Values {
	form := url.Values{"To": {number}, "Body": {body}}
	if a.s.publicURL != "" {
		// Without public_url there is no URL to give Twilio: no reports.
		form.Set("StatusCallback", a.statusURL(id, part, parts))
	}
	if a.s.service != "" {
		form.Set("MessagingServiceSid", a.s.service)
	} else {
		form.Set("From", a.s.from)
	}
	return form
}

// statusURL is where Twilio reports what became of one part of a text:
// owlgate's message id and the part travel in the query (which Twilio's
// signature covers), so nothing needs to be kept to match a callback.
func (a *Adapter) statusURL(id protocols.MessageID, part, parts int) string {
	q := url.Values{"id": {string(id)}, "part": {strconv.Itoa(part)}, "parts": {strconv.Itoa(parts)}}
	return a.s.publicURL + protocols.HookPath(a.id, "/status") + "?" + q.Encode()
}

// post sends one message, retrying up to a.retries times when Twilio
// answers 429 or 5xx or cannot be reached, after a.retry's backoff or the
// Retry-After Twilio gave. It returns the message's SID.
func (a *Adapter) post(ctx context.Context, form url.Values) (string, error) {
	bo := a.retry
	for attempt := 0; ; attempt++ {
		sid, err := a.api.sendMessage(ctx, form)
		if err == nil {
			return sid, nil
		}
		if !protocols.Retryable(err) || ctx.Err() != nil || attempt >= a.retries {
			return "", err
		}
		d := bo.Next(0)
		if ra := protocols.RetryAfter(err); ra > maxRetryAfter {
			return "", err // let the gateway come back to it
		} else if ra > d {
			d = ra
		}
		a.log.Debug("sms: Twilio did not take the text; retrying", "err", err, "in", d)
		if err := sleep(ctx, a.clock, d); err != nil {
			return "", fmt.Errorf("%w (%w)", protocols.ErrTimeout, err)
		}
	}
}

// errorCode is the Twilio error code in err, or 0.
func errorCode(err error) int {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return 0
}

// optOut records that number opted out, for why.
func (a *Adapter) optOut(number, why string) {
	changed, err := a.patrons.setOptedOut(number, true, a.clock.Now())
	if err != nil {
		a.log.Error("sms: could not write down an opt-out; it holds until owlgate stops", "err", err)
	}
	if changed {
		a.log.Info("sms: a number opted out; owlgate will not text it until it texts START", "why", why)
		a.log.Debug("sms: opted out", "number", number)
	}
}

// progressKey names one text of one message.
func progressKey(id protocols.MessageID, text string) string {
	sum := sha256.Sum256([]byte(text))
	return string(id) + "\x00" + hex.EncodeToString(sum[:8])
}
