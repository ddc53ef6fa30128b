package sms

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/protocols/sms/twiliotest"
)

// smsPatron is a patron's phone for the conformance suite.
type smsPatron struct {
	p   *twiliotest.Phone
	api *twiliotest.API
}

func (p smsPatron) ID() protocols.UserID { return protocols.UserID(p.p.Number) }

func (p smsPatron) Say(ctx context.Context, text string) error {
	status, err := p.p.Text(ctx, text)
	if err == nil && status != 200 {
		err = fmt.Errorf("owlgate answered the webhook %d", status)
	}
	return err
}

func (p smsPatron) Next(ctx context.Context) (string, error) {
	m, err := p.api.Next(ctx, p.p.Number)
	return m.Body, err
}

// TestConformance runs the protocols conformance suite on the fake
// Twilio: patrons text through signed webhooks, replies reach the fake's
// REST API.
func TestConformance(t *testing.T) {
	api, hooks := twiliotest.NewAPI(t), twiliotest.NewHooks(t)
	var current atomic.Pointer[Adapter]
	var numbers atomic.Int64
	rate := 1000.0 // ConcurrentSends sends 20 texts: no need to wait 20 seconds
	protocoltest.Run(t, protocoltest.Harness{
		Network: Network,
		Account: account,
		NewAdapter: func(t *testing.T) protocols.Adapter {
			cfg := Config{Provider: "twilio", AccountSID: config.NewSecret(api.AccountSID),
				AuthToken: config.NewSecret(api.AuthToken), From: library, PublicURL: hooks.URL, APIBase: api.URL, Rate: &rate}
			log, _ := newLog(t)
			a, err := newAdapter(protocols.AccountSpec{ID: account, Network: Network, DataDir: t.TempDir(), Log: log,
				Decode: func(v any) error { *v.(*Config) = cfg; return nil }})
			if err != nil {
				t.Fatal(err)
			}
			hooks.Mount(account, a.HTTPRoutes())
			current.Store(a)
			return a
		},
		NewPatron: func(t *testing.T, ctx context.Context) protocoltest.Patron {
			n := fmt.Sprintf("+1555600%04d", numbers.Add(1))
			return smsPatron{p: api.Phone(n, library, current.Load().WebhookURL()), api: api}
		},
		Timeout: wait,
	})
	if r := api.Refused(); len(r) > 0 {
		t.Errorf("the fake Twilio refused requests: %q", r)
	}
}

// TestInboundText: a text, with an MMS's media, arrives with the patron's
// number as their id, Twilio's MessageSid as its id, and the media as
// attachments.
func TestInboundText(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	text(t, f.phone(patron), "Do you have this book? 📚", twiliotest.Media{URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", ContentType: "image/jpeg"},
		twiliotest.Media{URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", ContentType: "image/png"})
	m := next[protocols.Message](t, r.sink)
	if m.From != to(patron) || m.Text != "Do you have this book? 📚" || !strings.HasPrefix(string(m.ID), "SM") {
		t.Errorf("message = %+v", m)
	}
	want := []protocols.Attachment{
		{URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME1", MIMEType: "image/jpeg"},
		{URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages/MM1/Media/ME2", MIMEType: "image/png"},
	}
	if !slices.Equal(m.Attachments, want) {
		t.Errorf("attachments = %+v, want %+v", m.Attachments, want)
	}
	// A picture alone is a message too.
	text(t, f.phone(patron), "", twiliotest.Media{URL: "https://example.net/m.jpg", ContentType: "image/jpeg"})
	if m := next[protocols.Message](t, r.sink); m.Text != "" || len(m.Attachments) != 1 {
		t.Errorf("picture alone = %+v", m)
	}
}

// TestWithoutPublicURL: an account without public_url (DESIGN.md's example
// has none) checks each webhook against the URL the request was made to,
// refuses one signed for another, and asks Twilio for no delivery reports.
func TestWithoutPublicURL(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.PublicURL = "" })
	r := run(t, f.a)
	ctx := ctxFor(t)
	hook := f.hooks.URL + f.a.WebhookURL()
	p := f.api.Phone(patron, library, hook)
	text(t, p, "hello")
	if m := next[protocols.Message](t, r.sink); m.Text != "hello" {
		t.Errorf("message = %+v", m)
	}
	form := p.TextForm("signed for another host")
	sig := Signature(f.api.AuthToken, "https://elsewhere.example"+f.a.WebhookURL(), form)
	if status, _, err := f.api.Post(ctx, hook, form, sig); err != nil || status != 403 {
		t.Errorf("signed for another host: status %d, %v; want 403", status, err)
	}
	nothingYet(t, r.sink)
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m1", Text: "We open at noon."}); err != nil {
		t.Fatal(err)
	}
	if m := f.api.Messages(); len(m) != 1 || m[0].StatusCallback != "" || m[0].Body != "We open at noon." {
		t.Errorf("Twilio got %+v, want the text without a StatusCallback", m)
	}
}

// TestWebhookRefusesForgedAndUnsigned: a webhook without Twilio's signature
// of it is answered 403 and nothing is recorded.
func TestWebhookRefusesForgedAndUnsigned(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	ctx := ctxFor(t)
	p := f.phone(patron)
	hook := f.a.WebhookURL()
	forge := func(form url.Values) string { return Signature("not-the-token", hook, form) }
	otherAccount := p.TextForm("from another account")
	otherAccount.Set("AccountSid", "AC"+strings.Repeat("0", 32))
	cases := []struct {
		name string
		form url.Values
		sig  func(url.Values) string
	}{
		{"unsigned", p.TextForm("unsigned"), func(url.Values) string { return "" }},
		{"signed with another token", p.TextForm("forged"), forge},
		{"signed for another URL", p.TextForm("elsewhere"), func(form url.Values) string {
			return Signature(f.api.AuthToken, "https://elsewhere.example/hooks/unc-sms/sms", form)
		}},
		{"a parameter changed after signing", p.TextForm("tampered"), func(form url.Values) string {
			sig := Signature(f.api.AuthToken, hook, form)
			form.Set("From", "+15555550199")
			return sig
		}},
		{"another Twilio account", otherAccount, func(form url.Values) string { return Signature(f.api.AuthToken, hook, form) }},
	}
	for _, c := range cases {
		sig := c.sig(c.form)
		status, _, err := f.api.Post(ctx, hook, c.form, sig)
		if err != nil || status != 403 {
			t.Errorf("%s: status %d, %v; want 403", c.name, status, err)
		}
	}
	// Status callbacks are checked the same way.
	status, _, err := f.api.Post(ctx, f.hooks.URL+"/hooks/unc-sms/status?id=x&part=0&parts=1",
		url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "To": {patron}, "AccountSid": {f.api.AccountSID}}, "")
	if err != nil || status != 403 {
		t.Errorf("unsigned status callback: status %d, %v; want 403", status, err)
	}
	nothingYet(t, r.sink)
	text(t, p, "the real one")
	if m := next[protocols.Message](t, r.sink); m.Text != "the real one" {
		t.Errorf("first event recorded is %+v, want the signed text", m)
	}
}

// TestWebhookMalformed: signed webhooks that are not texts from a phone
// number are answered 400 (a body too large, 413) and recorded nowhere,
// and the next text still arrives.
func TestWebhookMalformed(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	ctx := ctxFor(t)
	p := f.phone(patron)
	change := func(k, v string) url.Values {
		form := p.TextForm("malformed")
		if v == "" {
			form.Del(k)
		} else {
			form.Set(k, v)
		}
		return form
	}
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"no MessageSid", change("MessageSid", "")},
		{"no From", change("From", "")},
		{"From is not a phone number", change("From", "whatsapp:+15555550123")},
		{"NumMedia is not a number", change("NumMedia", "two")},
		{"too many media", change("NumMedia", "11")},
		{"a media URL that is not one", func() url.Values {
			form := change("NumMedia", "1")
			form.Set("MediaUrl0", "javascript:alert(1)")
			return form
		}()},
	} {
		status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), c.form)
		if err != nil || status != 400 {
			t.Errorf("%s: status %d, %v; want 400", c.name, status, err)
		}
	}
	big := p.TextForm(strings.Repeat("x", maxWebhook))
	if status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), big); err != nil || status != 413 {
		t.Errorf("a body over %d bytes: status %d, %v; want 413", maxWebhook, status, err)
	}
	for _, q := range []string{"id=x&part=0&parts=1", "id=x&part=zero&parts=1", "id=x&part=0"} {
		form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "AccountSid": {f.api.AccountSID}}
		if q != "id=x&part=0&parts=1" {
			form.Set("To", patron)
		}
		status, _, err := f.api.PostSigned(ctx, f.hooks.URL+"/hooks/unc-sms/status?"+q, form)
		if err != nil || status != 400 {
			t.Errorf("status callback %q: status %d, %v; want 400", q, status, err)
		}
	}
	nothingYet(t, r.sink)
	text(t, p, "still here")
	if m := next[protocols.Message](t, r.sink); m.Text != "still here" {
		t.Errorf("after malformed webhooks: %+v", m)
	}
}

// TestDuplicateMessageSidIgnored: a webhook Twilio sends again is answered
// 200 and not handed over twice; one that could not be handed over (503)
// is taken when Twilio tries again.
func TestDuplicateMessageSidIgnored(t *testing.T) {
	f := newFixture(t, nil)
	sink := &refusingSink{Sink: protocoltest.NewSink()}
	r := startWith(t, f.a, sink, sink.Sink)
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	p := f.phone(patron)
	form := p.TextForm("once")
	for i := range 3 {
		if status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), form); err != nil || status != 200 {
			t.Fatalf("attempt %d: status %d, %v", i, status, err)
		}
	}
	if m := next[protocols.Message](t, r.sink); m.Text != "once" {
		t.Fatalf("message = %+v", m)
	}
	nothingYet(t, r.sink)

	sink.set(errRefused)
	form = p.TextForm("stored the second time")
	if status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), form); err != nil || status != 503 {
		t.Fatalf("while the gateway refuses: status %d, %v; want 503", status, err)
	}
	sink.set(nil)
	if status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), form); err != nil || status != 200 {
		t.Fatalf("Twilio's second try: status %d, %v", status, err)
	}
	if m := next[protocols.Message](t, r.sink); m.Text != "stored the second time" {
		t.Fatalf("message = %+v", m)
	}
	nothingYet(t, r.sink)
}

// TestNotRunning: before Run (or after it), webhooks are answered 503 and
// sends fail in a way worth retrying.
func TestNotRunning(t *testing.T) {
	f := newFixture(t, nil)
	if status, err := f.phone(patron).Text(ctxFor(t), "too early"); err != nil || status != 503 {
		t.Errorf("webhook before Run: status %d, %v; want 503", status, err)
	}
	err := f.a.Send(ctxFor(t), protocols.OutMessage{To: to(patron), ID: "m1", Text: "hi"})
	if !errors.Is(err, protocols.ErrNotConnected) || !protocols.Retryable(err) {
		t.Errorf("Send before Run: %v", err)
	}
}

// TestSendAsTwilioExpects: a reply is one POST to the account's
// Messages.json with basic auth, To, From, Body and a StatusCallback back to
// owlgate naming the message; or MessagingServiceSid instead of From.
func TestSendAsTwilioExpects(t *testing.T) {
	f := newFixture(t, nil)
	run(t, f.a)
	if err := f.a.Send(ctxFor(t), protocols.OutMessage{To: to(patron), ID: "og7.1f.stanza-9", Text: "We open at noon."}); err != nil {
		t.Fatal(err)
	}
	m := f.api.Messages()
	want := twiliotest.Message{SID: m[0].SID, To: patron, From: library, Body: "We open at noon.",
		StatusCallback: f.hooks.URL + "/hooks/unc-sms/status?id=og7.1f.stanza-9&part=0&parts=1"}
	if len(m) != 1 || m[0] != want {
		t.Errorf("Twilio got %+v, want %+v", m, want)
	}
	if r := f.api.Refused(); len(r) > 0 {
		t.Errorf("refused: %q", r)
	}

	service := "MG" + strings.Repeat("ab", 16)
	f = newFixture(t, func(c *Config) { c.From, c.MessagingServiceSID = "", service })
	run(t, f.a)
	if err := f.a.Send(ctxFor(t), protocols.OutAttachment{To: to(patron), ID: "m2",
		Attachment: protocols.Attachment{URL: "https://lib.example.edu/map.pdf"}, Caption: "The map:"}); err != nil {
		t.Fatal(err)
	}
	if m := f.api.Messages(); len(m) != 1 || m[0].MessagingServiceSID != service || m[0].From != "" || m[0].Body != "The map:\nhttps://lib.example.edu/map.pdf" {
		t.Errorf("through a Messaging Service, Twilio got %+v", m)
	}
}

// TestSendRetries429And5xx: 429 (after its Retry-After) and 5xx are tried
// again, a few times, then reported as worth retrying later.
func TestSendRetries429And5xx(t *testing.T) {
	f := newFixture(t, nil)
	run(t, f.a)
	ctx := ctxFor(t)
	f.api.FailNext(twiliotest.Reply{Status: 429, Code: 20429, RetryAfter: "7"}, twiliotest.Reply{Status: 500}, twiliotest.Reply{Status: 503})
	f.clock.taken()
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m1", Text: "after three refusals"}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if n, m := f.api.Attempts(), f.api.Messages(); n != 4 || len(m) != 1 {
		t.Errorf("%d attempts, %d messages; want 4 and 1", n, len(m))
	}
	// Backoff 1s, 2s, 4s with the middle draw of jitter: 0.75s, 1.5s, 3s;
	// the first is the 7s Twilio asked for.
	if got, want := f.clock.taken(), []time.Duration{7 * time.Second, 1500 * time.Millisecond, 3 * time.Second}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}

	f.api.FailNext(twiliotest.Reply{Status: 502}, twiliotest.Reply{Status: 502}, twiliotest.Reply{Status: 502}, twiliotest.Reply{Status: 502})
	err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m2", Text: "Twilio is down"})
	if err == nil || !protocols.Retryable(err) {
		t.Fatalf("after 4 answers 502: %v; want an error worth retrying", err)
	}
	if n := f.api.Attempts(); n != 8 {
		t.Errorf("%d attempts in all, want 4 more", n)
	}
	// A Retry-After longer than a minute goes back to the gateway.
	f.api.FailNext(twiliotest.Reply{Status: 429, RetryAfter: "300"})
	err = f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m3", Text: "later"})
	if protocols.RetryAfter(err) != 5*time.Minute || !errors.Is(err, protocols.ErrRateLimited) {
		t.Errorf("a 429 with Retry-After 300: %v", err)
	}
	if n := f.api.Attempts(); n != 9 {
		t.Errorf("%d attempts in all, want 1 more", n)
	}
}

// TestSend4xxReportedWithCode: other 4xx are not retried; the error names
// Twilio's code and what it means, and never the patron's number (Twilio's
// own message holds it).
func TestSend4xxReportedWithCode(t *testing.T) {
	f := newFixture(t, nil)
	run(t, f.a)
	ctx := ctxFor(t)
	tests := []struct {
		code     int
		sentinel error
		meaning  string
	}{
		{21211, protocols.ErrUnknownPatron, "Twilio error 21211, the patron's number is not a valid phone number"},
		{21614, protocols.ErrUnknownPatron, "Twilio error 21614, the patron's number is not a mobile number"},
		{21408, protocols.ErrRejected, "Twilio error 21408, the Twilio account may not text the patron's country"},
		{21999, protocols.ErrRejected, "Twilio error 21999 (https://www.twilio.com/docs/api/errors/21999)"},
	}
	for _, tt := range tests {
		before := f.api.Attempts()
		f.api.FailNext(twiliotest.Reply{Status: 400, Code: tt.code})
		err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m", Text: "hello"})
		if err == nil || protocols.Retryable(err) || !errors.Is(err, tt.sentinel) {
			t.Errorf("code %d: %v; want a permanent %v", tt.code, err, tt.sentinel)
			continue
		}
		if !strings.Contains(err.Error(), tt.meaning) {
			t.Errorf("code %d: %q does not say %q", tt.code, err, tt.meaning)
		}
		if strings.Contains(err.Error(), "+1555") {
			t.Errorf("code %d: the error names a phone number: %q", tt.code, err)
		}
		if n := f.api.Attempts() - before; n != 1 {
			t.Errorf("code %d: %d attempts, want 1", tt.code, n)
		}
	}
	// 21610: Twilio knows the number opted out; owlgate remembers it.
	f.api.FailNext(twiliotest.Reply{Status: 400, Code: 21610})
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m", Text: "hello"}); !errors.Is(err, protocols.ErrUnknownPatron) {
		t.Fatalf("21610: %v", err)
	}
	before := f.api.Attempts()
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m", Text: "again"}); !errors.Is(err, errOptedOut) {
		t.Errorf("after 21610: %v; want the opt-out", err)
	}
	if f.api.Attempts() != before {
		t.Error("owlgate texted a number Twilio said opted out")
	}
}

// TestSendSplitsLongText: a text over 1,600 characters goes as several
// messages within Twilio's limit, in order, each with its part in the
// status callback; a retry of the same message after a failure midway
// sends only the parts not sent.
func TestSendSplitsLongText(t *testing.T) {
	f := newFixture(t, nil)
	run(t, f.a)
	ctx := ctxFor(t)
	var b strings.Builder
	for i := 0; b.Len() < 7000; i++ {
		fmt.Fprintf(&b, "mot%d é🦉 ", i)
	}
	long := strings.TrimSpace(b.String())
	// The second part fails for good this time (four 500s).
	f.api.FailNext(twiliotest.Take, twiliotest.Reply{Status: 500}, twiliotest.Reply{Status: 500}, twiliotest.Reply{Status: 500}, twiliotest.Reply{Status: 500})
	err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "long-1", Text: long})
	if err == nil || !protocols.Retryable(err) || !strings.Contains(err.Error(), "1 of ") {
		t.Fatalf("Send with part 2 failing: %v", err)
	}
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "long-1", Text: long}); err != nil {
		t.Fatalf("Send again: %v", err)
	}
	msgs := f.api.Messages()
	if len(msgs) < 3 {
		t.Fatalf("%d messages for %d characters", len(msgs), units(long))
	}
	var parts []string
	for i, m := range msgs {
		if u := units(m.Body); u > 1600 {
			t.Errorf("part %d is %d characters", i, u)
		}
		if want := fmt.Sprintf("id=long-1&part=%d&parts=%d", i, len(msgs)); !strings.HasSuffix(m.StatusCallback, want) {
			t.Errorf("part %d's callback %s, want it to end %s", i, m.StatusCallback, want)
		}
		parts = append(parts, m.Body)
	}
	if strings.Join(parts, " ") != long {
		t.Error("the parts, joined by a space, are not the text: a part was repeated, lost or reordered")
	}
	if r := f.api.Refused(); len(r) > 0 {
		t.Errorf("refused: %q", r)
	}
}

// TestPacing: a number sends one text a second: the second part of a
// split text waits for the clock, and goes only once it fired.
func TestPacing(t *testing.T) {
	f := newFixture(t, nil)
	clock := newGatedClock()
	f.a.setClock(clock)
	run(t, f.a)
	long := strings.Repeat("a", 1600) + strings.Repeat("b", 1600) + "c"
	done := make(chan error, 1)
	go func() {
		done <- f.a.Send(context.Background(), protocols.OutMessage{To: to(patron), ID: "p", Text: long})
	}()
	for part := 2; part <= 3; part++ {
		w := clock.next(t)
		if w.d != time.Second {
			t.Errorf("part %d waits %v, want 1s", part, w.d)
		}
		if n := f.api.Attempts(); n != part-1 {
			t.Fatalf("%d texts sent before part %d's slot, want %d", n, part, part-1)
		}
		clock.fire(w)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := f.api.Attempts(); n != 3 {
		t.Errorf("%d texts, want 3", n)
	}
}

// TestPacingRate: rate sets the pace, across texts to several patrons.
func TestPacingRate(t *testing.T) {
	rate := 4.0
	f := newFixture(t, func(c *Config) { c.Rate = &rate })
	run(t, f.a)
	ctx := ctxFor(t)
	f.clock.taken()
	for i, n := range []string{patron, "+15555550124", "+15555550125"} {
		if err := f.a.Send(ctx, protocols.OutMessage{To: to(n), ID: protocols.MessageID(fmt.Sprint(i)), Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.clock.taken(), []time.Duration{250 * time.Millisecond, 250 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

// TestStatusCallbacks: failed and undelivered become a DeliveryFailure with
// owlgate's message id and Twilio's reason, once; a text delivered in all
// its parts becomes a Receipt; other statuses are acknowledged only.
func TestStatusCallbacks(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	ctx := ctxFor(t)
	callback := func(m twiliotest.Message, status string, code int) {
		t.Helper()
		if got, err := f.api.Callback(ctx, m, status, code); err != nil || got != 200 {
			t.Fatalf("callback %s: status %d, %v", status, got, err)
		}
	}
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "og1.a.s1", Text: "one"}); err != nil {
		t.Fatal(err)
	}
	one := f.api.Messages()[0]
	callback(one, "queued", 0)
	callback(one, "sent", 0)
	nothingYet(t, r.sink)
	callback(one, "delivered", 0)
	if rc := next[protocols.Receipt](t, r.sink); rc.ID != "og1.a.s1" || rc.From != to(patron) {
		t.Errorf("receipt = %+v", rc)
	}

	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "og1.b.s2", Text: "two"}); err != nil {
		t.Fatal(err)
	}
	two := f.api.Messages()[1]
	callback(two, "undelivered", 30003)
	df := next[protocols.DeliveryFailure](t, r.sink)
	if df.ID != "og1.b.s2" || df.To != to(patron) ||
		df.Reason != "undelivered: Twilio error 30003, the patron's phone is switched off or out of reach" {
		t.Errorf("failure = %+v", df)
	}
	callback(two, "failed", 30003) // Twilio may report it again
	nothingYet(t, r.sink)

	// A text in two parts has its receipt once both are delivered.
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "og1.c.s3", Text: strings.Repeat("x ", 1000)}); err != nil {
		t.Fatal(err)
	}
	msgs := f.api.Messages()
	if len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	callback(msgs[3], "delivered", 0)
	nothingYet(t, r.sink)
	callback(msgs[2], "delivered", 0)
	if rc := next[protocols.Receipt](t, r.sink); rc.ID != "og1.c.s3" {
		t.Errorf("receipt = %+v", rc)
	}
}

// TestStopStart: STOP ends the chat and owlgate never texts the number
// again, across restarts, until it texts START; "yes" from a number that
// never opted out is just an answer.
func TestStopStart(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	ctx := ctxFor(t)
	p := f.phone(patron)
	text(t, p, "Yes") // not opted out: an answer, not a keyword
	if m := next[protocols.Message](t, r.sink); m.Text != "Yes" {
		t.Fatalf("message = %+v", m)
	}
	text(t, p, " stop ")
	if l := next[protocols.Left](t, r.sink); l.From != to(patron) || l.Reason != reasonStop {
		t.Errorf("left = %+v", l)
	}
	nothingYet(t, r.sink)
	err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m1", Text: "are you still there?"})
	if !errors.Is(err, protocols.ErrUnknownPatron) || protocols.Retryable(err) || !strings.Contains(err.Error(), "texted STOP") {
		t.Errorf("Send after STOP: %v", err)
	}
	if n := f.api.Attempts(); n != 0 {
		t.Errorf("owlgate called Twilio %d times for a number that texted STOP", n)
	}
	if _, err := os.Stat(filepath.Join(f.dir, stateFile)); err != nil {
		t.Errorf("the opt-out was not written down: %v", err)
	}

	// owlgate restarts: the opt-out holds.
	r.halt(t)
	f.a = f.build(t)
	r = run(t, f.a)
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m2", Text: "after a restart"}); !errors.Is(err, errOptedOut) {
		t.Errorf("Send after a restart: %v", err)
	}
	// A question while opted out is still recorded for the librarians.
	text(t, p, "one more question")
	if m := next[protocols.Message](t, r.sink); m.Text != "one more question" {
		t.Errorf("message = %+v", m)
	}
	text(t, p, "START")
	nothingYet(t, r.sink) // START itself is for the number, not the librarians
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m3", Text: "welcome back"}); err != nil {
		t.Errorf("Send after START: %v", err)
	}

	// Advanced Opt-Out: the library's own keyword, reported by Twilio.
	form := p.TextForm("ARRET")
	form.Set("OptOutType", "STOP")
	if status, _, err := f.api.PostSigned(ctx, f.a.WebhookURL(), form); err != nil || status != 200 {
		t.Fatalf("ARRET: %d, %v", status, err)
	}
	next[protocols.Left](t, r.sink)
	if err := f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m4", Text: "au revoir"}); !errors.Is(err, errOptedOut) {
		t.Errorf("Send after ARRET: %v", err)
	}
}

// TestHelp: HELP reaches the librarians, and is answered with help_message
// when the config has one.
func TestHelp(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.HelpMessage = "UNC Libraries <Ask a Librarian>: text your question. Reply STOP to opt out."
	})
	r := run(t, f.a)
	status, body, err := f.api.PostSigned(ctxFor(t), f.a.WebhookURL(), f.phone(patron).TextForm("help"))
	want := `<Response><Message>UNC Libraries &lt;Ask a Librarian&gt;: text your question. Reply STOP to opt out.</Message></Response>`
	if err != nil || status != 200 || !strings.HasSuffix(body, want) {
		t.Errorf("HELP answered %d %q, %v; want TwiML %q", status, body, err, want)
	}
	if m := next[protocols.Message](t, r.sink); m.Text != "help" {
		t.Errorf("message = %+v", m)
	}

	f = newFixture(t, nil)
	run(t, f.a)
	status, body, err = f.api.PostSigned(ctxFor(t), f.a.WebhookURL(), f.phone(patron).TextForm("HELP"))
	if err != nil || status != 200 || !strings.HasSuffix(body, "<Response></Response>") {
		t.Errorf("HELP without help_message answered %d %q, %v; want empty TwiML", status, body, err)
	}
}

// TestOfflineMessageThrottled: the queue's offline message goes to a
// number at most once every offline_message_every (12h), across
// restarts; other texts are not held back.
func TestOfflineMessageThrottled(t *testing.T) {
	const closed = "Ask a Librarian is closed; email ask@example.edu."
	f := newFixture(t, nil)
	f.a.SetOfflineMessage(closed)
	run(t, f.a)
	ctx := ctxFor(t)
	send := func(n, text string) {
		t.Helper()
		if err := f.a.Send(ctx, protocols.OutMessage{To: to(n), ID: "m", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	count := func(n, text string) int {
		c := 0
		for _, m := range f.api.Messages() {
			if m.To == n && m.Body == text {
				c++
			}
		}
		return c
	}
	send(patron, closed)
	f.clock.advance(11 * time.Hour)
	send(patron, closed)
	send(patron, "A librarian answering after all")
	send("+15555550124", closed)
	if a, b, c := count(patron, closed), count(patron, "A librarian answering after all"), count("+15555550124", closed); a != 1 || b != 1 || c != 1 {
		t.Errorf("sent the offline message %d times to the patron and %d to another, the answer %d times; want 1, 1, 1", a, c, b)
	}
	f.clock.advance(time.Hour)
	send(patron, closed)
	if n := count(patron, closed); n != 2 {
		t.Errorf("12h later the patron had the offline message %d times, want 2", n)
	}

	// After a restart, an hour later, the time holds.
	last := f.clock.Now()
	f.a = f.build(t)
	f.a.SetOfflineMessage(closed)
	f.clock.advance(last.Add(time.Hour).Sub(f.clock.Now()))
	run(t, f.a)
	send(patron, closed)
	if n := count(patron, closed); n != 2 {
		t.Errorf("after a restart the patron had the offline message %d times, want still 2", n)
	}
}
