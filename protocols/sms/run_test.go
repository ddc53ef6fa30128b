package sms

import (
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
	"github.com/owlgate/owlgate/protocols/sms/twiliotest"
)

// TestRunBadCredentials: Twilio refusing the account's SID and token stops
// Run with bad credentials, and the error says which key to fix.
func TestRunBadCredentials(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.AuthToken = config.NewSecret("not-the-token") })
	r := start(t, f.a, protocoltest.NewSink())
	var err error
	select {
	case err = <-r.done:
		r.done <- err
	case <-ctxFor(t).Done():
		t.Fatal("Run did not return on refused credentials")
	}
	if !errors.Is(err, protocols.ErrBadCredentials) || !strings.Contains(err.Error(), "Twilio error 20003") ||
		!strings.Contains(err.Error(), "auth_token") {
		t.Errorf("Run: %v", err)
	}
	if st := r.sink.LastState(); st.State != protocols.AccountBadCredentials {
		t.Errorf("last state %+v", st)
	}
	if strings.Contains(err.Error(), f.api.AccountSID) || strings.Contains(err.Error(), "not-the-token") {
		t.Errorf("the error holds a credential: %v", err)
	}
}

// TestRunTakesTextsWhileTwilioIsDown: while Twilio's API cannot be
// reached, Run backs off, and patrons' texts are taken all the same.
func TestRunTakesTextsWhileTwilioIsDown(t *testing.T) {
	f := newFixture(t, nil)
	clock := newGatedClock()
	f.a.setClock(clock)
	f.api.FailChecks(twiliotest.Reply{Status: 503})
	r := start(t, f.a, protocoltest.NewSink())
	w := clock.next(t)
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountBackoff); err != nil {
		t.Fatal(err)
	}
	if w.d <= 0 || protocols.Retryable(r.sink.LastState().Err) == false {
		t.Errorf("backoff %v after %v", w.d, r.sink.LastState().Err)
	}
	text(t, f.phone(patron), "are you open?")
	if m := next[protocols.Message](t, r.sink); m.Text != "are you open?" {
		t.Errorf("message = %+v", m)
	}
	clock.fire(w)
	if err := r.sink.WaitState(ctxFor(t), protocols.AccountOnline); err != nil {
		t.Fatal(err)
	}
	if err := r.halt(t); err != nil {
		t.Errorf("Run: %v", err)
	}
	if st := r.sink.LastState(); st.State != protocols.AccountStopped {
		t.Errorf("last state %+v", st)
	}
}

// TestRunRefusesUnreadableOptOuts: a damaged opt-out file stops Run (owlgate
// must not text numbers that opted out because it forgot them), saying
// which file.
func TestRunRefusesUnreadableOptOuts(t *testing.T) {
	f := newFixture(t, nil)
	if err := os.WriteFile(filepath.Join(f.dir, stateFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, f.a, protocoltest.NewSink())
	err := <-r.done
	r.done <- err
	if err == nil || !strings.Contains(err.Error(), stateFile) {
		t.Errorf("Run: %v", err)
	}
}

// TestNoPhoneNumberLoggedAboveDebug: through texts, STOP, refusals and
// failures, numbers appear in the log at debug level only.
func TestNoPhoneNumberLoggedAboveDebug(t *testing.T) {
	f := newFixture(t, nil)
	r := run(t, f.a)
	ctx := ctxFor(t)
	p := f.phone(patron)
	text(t, p, "hello")
	f.api.FailNext(twiliotest.Reply{Status: 400, Code: 21614}, twiliotest.Reply{Status: 500})
	f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m1", Text: "not mobile"})
	f.a.Send(ctx, protocols.OutMessage{To: to(patron), ID: "m2", Text: "retried"})
	f.api.Callback(ctx, f.api.Messages()[0], "failed", 30005)
	unsigned := p.TextForm("unsigned")
	f.api.Post(ctx, f.a.WebhookURL(), unsigned, "")
	bad := p.TextForm("bad")
	bad.Set("NumMedia", "x")
	f.api.PostSigned(ctx, f.a.WebhookURL(), bad)
	f.api.PostSigned(ctx, f.hooks.URL+"/hooks/unc-sms/status?id=x&part=0&parts=1", url.Values{"AccountSid": {f.api.AccountSID}, "To": {patron}})
	f.api.FailNext(twiliotest.Reply{Status: 400, Code: 21610})
	f.a.Send(ctx, protocols.OutMessage{To: to("+15555550124"), ID: "m3", Text: "opted out at Twilio"})
	text(t, p, "STOP")
	next[protocols.Left](t, r.sink)
	text(t, p, "START")
	r.halt(t)

	for _, line := range f.log.lines(slog.LevelInfo) {
		if strings.Contains(line, "+1555") || strings.Contains(line, "15555550") {
			t.Errorf("a number logged above debug: %s", line)
		}
	}
	debug := strings.Join(f.log.lines(slog.LevelDebug), "\n")
	if !strings.Contains(debug, patron) {
		t.Error("the patron's number is not in the debug log either: this test checks nothing")
	}
	if n := len(f.log.lines(slog.LevelWarn)); n < 3 {
		t.Errorf("%d warnings for three refused webhooks", n)
	}
}
