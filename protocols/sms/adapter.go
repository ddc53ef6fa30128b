package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// Network is the network name of SMS accounts.
const Network protocols.Network = "sms"

// Adapter is one SMS number (or Messaging Service) of the library on
// Twilio.
type Adapter struct {
	id      protocols.AccountID
	network protocols.Network
	s       *settings
	log     *slog.Logger
	api     *client
	clock   clock
	pace    *pacer

	patrons   *patrons
	seen      *seenSIDs
	callbacks *callbacks
	progress  *progress
	offline   atomic.Pointer[string] // the queue's offline message, from the gateway

	sendSem chan struct{} // one Send at a time: a text's parts stay in order
	running atomic.Bool

	mu       sync.Mutex
	sink     protocols.Sink // set while Run runs: webhooks are taken
	inflight sync.WaitGroup // webhooks being handed over

	// Timings, set by New; the package's tests change them.
	backoff protocols.Backoff // between checks of the account while Twilio is unreachable
	retry   protocols.Backoff // between attempts of one API call
	retries int               // further attempts of a call refused with 429 or 5xx
}

var (
	_ protocols.Adapter              = (*Adapter)(nil)
	_ protocols.HTTPMounter          = (*Adapter)(nil)
	_ protocols.AlwaysOn             = (*Adapter)(nil)
	_ protocols.OfflineMessageSetter = (*Adapter)(nil)
)

// New is the SMS network's [protocols.Factory]: it decodes and checks the
// account's keys (see [Config]) and does no I/O.
func New(spec protocols.AccountSpec) (protocols.Adapter, error) {
	return newAdapter(spec)
}

func newAdapter(spec protocols.AccountSpec) (*Adapter, error) {
	var c Config
	if err := spec.DecodeInto(&c); err != nil {
		return nil, err
	}
	s, err := c.validate()
	if err != nil {
		return nil, err
	}
	log, network := spec.Logger(), spec.NetworkOr(Network)
	clk := realClock{}
	return &Adapter{
		id:        spec.ID,
		network:   network,
		s:         s,
		log:       log,
		api:       &client{http: &http.Client{}, base: s.apiBase, sid: s.accountSID, token: s.authToken},
		clock:     clk,
		pace:      newPacer(s.rate, clk),
		patrons:   newPatrons(spec.DataDir),
		seen:      newSeenSIDs(),
		callbacks: newCallbacks(),
		progress:  newProgress(),
		sendSem:   make(chan struct{}, 1),
		backoff:   protocols.Backoff{},
		retry:     protocols.Backoff{Min: time.Second, Max: 30 * time.Second},
		retries:   3,
	}, nil
}

// Capabilities: SMS has delivery reports (Twilio's status callbacks) and
// nothing else of the model's; no presence, so a silent chat ends after the
// idle timeout. MaxTextLength is 0 because Send takes texts of any length
// and splits them itself at 1,600 characters, Twilio's limit (counted in
// characters, not the bytes MaxTextLength counts).
func (a *Adapter) Capabilities() protocols.Capabilities {
	return protocols.Capabilities{Receipts: true, IdleTimeout: DefaultIdleTimeout}
}

// AlwaysOn: a number cannot log out; patrons text it at any hour.
func (a *Adapter) AlwaysOn() bool { return true }

// SetOfflineMessage tells the adapter the text its patrons are sent when
// nobody can answer: it sends it to a number at most once every
// offline_message_every.
func (a *Adapter) SetOfflineMessage(text string) { a.offline.Store(&text) }

// WebhookURL is the URL to paste into the Twilio Console as the number's
// (or the Messaging Service's) webhook for incoming messages, method POST.
// Without public_url it is the path alone, below owlgate's public address.
func (a *Adapter) WebhookURL() string {
	return a.s.publicURL + protocols.HookPath(a.id, "/sms")
}

func (a *Adapter) addr(number string) protocols.Address {
	return protocols.Address{Network: a.network, Account: a.id, User: protocols.UserID(number)}
}

// Run takes webhooks until ctx ends; see [protocols.Adapter]. There is no
// connection to keep: it checks the account's credentials with Twilio
// (retrying with backoff while Twilio cannot be reached, and stopping on
// refused credentials), reports the account online, and waits. Webhooks are
// taken from the start of Run, so that nothing a patron texts is refused
// while Twilio's API is down.
func (a *Adapter) Run(ctx context.Context, sink protocols.Sink) error {
	if !a.running.CompareAndSwap(false, true) {
		return errors.New("sms: Run called while the account already runs")
	}
	defer a.running.Store(false)
	sink.ReportState(protocols.StateReport{State: protocols.AccountConnecting})
	if err := a.patrons.load(); err != nil {
		a.log.Error("sms: cannot read the opt-outs; not running", "err", err)
		return err
	}
	a.mu.Lock()
	a.sink = sink
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.sink = nil
		a.mu.Unlock()
		a.inflight.Wait()
	}()
	stopped := func() error {
		a.log.Info("sms: stopped")
		sink.ReportState(protocols.StateReport{State: protocols.AccountStopped})
		return nil
	}
	bo := a.backoff
	for {
		err := a.api.checkAccount(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return stopped()
		}
		if errors.Is(err, protocols.ErrBadCredentials) {
			err = fmt.Errorf("sms: Twilio refused the account: %w (%w)", protocols.ErrBadCredentials, err)
			a.log.Error("sms: Twilio refused the account's credentials; not retrying", "err", err)
			sink.ReportState(protocols.StateReport{State: protocols.AccountBadCredentials, Err: err})
			return err
		}
		d := bo.Next(0)
		a.log.Warn("sms: cannot reach Twilio; retrying (texts from patrons are still taken)", "err", err, "in", d.Round(time.Millisecond))
		sink.ReportState(protocols.StateReport{State: protocols.AccountBackoff, Err: err, Retry: a.clock.Now().Add(d)})
		if sleep(ctx, a.clock, d) != nil {
			return stopped()
		}
	}
	a.log.Info("sms: ready", "webhook", a.WebhookURL())
	if a.s.publicURL == "" {
		a.log.Warn("sms: public_url is not set: Twilio's delivery reports are off, and webhooks are checked against the host each request names; set public_url to the address Twilio reaches owlgate at")
	}
	sink.ReportState(protocols.StateReport{State: protocols.AccountOnline})
	<-ctx.Done()
	return stopped()
}

// acquire returns the sink while Run runs, with a function to call once
// the webhook is handed over; nil when the account does not run.
func (a *Adapter) acquire() (protocols.Sink, func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sink == nil {
		return nil, nil
	}
	a.inflight.Add(1)
	return a.sink, a.inflight.Done
}

// taking reports whether Run runs.
func (a *Adapter) taking() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sink != nil
}
