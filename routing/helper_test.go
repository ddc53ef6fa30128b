package routing

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// t0 is when every test starts: 15:04 UTC.
var t0 = time.Date(2025, 3, 4, 15, 4, 0, 0, time.UTC)

type fakeClock struct{ t time.Time }

func (c *fakeClock) Now() time.Time { return c.t }

// testConfig: Reference (UNC) falls back to Night Owl (Duke), then Special
// (UNC); UNC and Duke share the nightowl collaboration; Far College shares
// nothing.
func testConfig() Config {
	return Config{
		Libraries: []Library{
			{ID: "unc", Name: "UNC", Collaborations: []CollaborationID{"nightowl"}},
			{ID: "duke", Name: "Duke", Collaborations: []CollaborationID{"nightowl"}},
			{ID: "far", Name: "Far College"},
		},
		Operators: []Operator{
			{ID: "alice@unc", Name: "Alice", Library: "unc"},
			{ID: "bob@unc", Name: "Bob", Library: "unc"},
			{ID: "erin@unc", Library: "unc"}, // no name: the JID is used
			{ID: "carol@duke", Name: "Carol", Library: "duke"},
			{ID: "dave@far", Name: "Dave", Library: "far"},
		},
		Queues: []Queue{
			{ID: "reference", Name: "Reference", Library: "unc",
				Operators: []OperatorID{"alice@unc", "bob@unc"},
				Fallback:  []QueueID{"night", "special"}, FallbackAfter: 90 * time.Second,
				OfflineMessage: "Ask a Librarian is closed; email ask@example.edu.",
				Accounts: []Account{
					{ID: "unc-irc", Network: "irc"},
					{ID: "unc-sms", Network: "sms", IdleTimeout: 2 * time.Hour},
				}},
			{ID: "night", Name: "Night Owl", Library: "duke",
				Operators: []OperatorID{"carol@duke"},
				Fallback:  []QueueID{"special"}, FallbackAfter: 60 * time.Second,
				Accounts: []Account{{ID: "duke-web", Network: "webchat"}}},
			{ID: "special", Name: "Special", Library: "unc", Transcripts: true,
				Operators: []OperatorID{"erin@unc"}},
			{ID: "far", Name: "Far Desk", Library: "far",
				Operators: []OperatorID{"dave@far"},
				Accounts:  []Account{{ID: "far-irc", Network: "irc"}}},
		},
	}
}

// Patrons: the user name picks the guest id.
var guests = map[protocols.UserID]GuestID{"pat": "guest-1001", "sam": "guest-1002", "kim": "guest-1003"}

func addrOn(acct protocols.AccountID, user protocols.UserID) protocols.Address {
	nets := map[protocols.AccountID]protocols.Network{"unc-irc": "irc", "unc-sms": "sms", "duke-web": "webchat", "far-irc": "irc"}
	return protocols.Address{Network: nets[acct], Account: acct, User: user}
}

// Events.

func sayOn(acct protocols.AccountID, user protocols.UserID, text string) Event {
	return PatronEvent{Guest: guests[user], Inbound: protocols.Message{From: addrOn(acct, user), Text: text}}
}
func say(user protocols.UserID, text string) Event { return sayOn("unc-irc", user, text) }
func patronIn(user protocols.UserID, in protocols.Inbound) Event {
	return PatronEvent{Guest: guests[user], Inbound: in}
}
func pres(op OperatorID, res ResourceID, s Show) Event {
	return OperatorPresence{Operator: op, Resource: res, Show: s}
}
func up(op OperatorID) Event   { return pres(op, "pc", ShowAvailable) }
func down(op OperatorID) Event { return pres(op, "pc", ShowOffline) }
func reply(op OperatorID, g GuestID, text string) Event {
	return OperatorMessage{From: op, To: GuestPeer(g), Text: text}
}
func toQueue(op OperatorID, q QueueID, text string) Event {
	return OperatorMessage{From: op, To: QueuePeer(q), Text: text}
}

// A step advances the clock by after, then handles ev (when set) and
// compares the actions, rendered, with want. Records and lines (save-chat,
// save-line) are compared only when persist is set; setup skips the check.
type step struct {
	after   time.Duration
	ev      Event
	want    []string
	persist bool
	setup   bool
}

// setup is a step whose actions are not checked.
func setupStep(evs ...Event) []step {
	var ss []step
	for _, ev := range evs {
		ss = append(ss, step{ev: ev, setup: true})
	}
	return ss
}

type testCase struct {
	name  string
	cfg   func(*Config) // adjusts testConfig
	steps []step
}

// steps flattens step and []step values into one list.
func steps(parts ...any) []step {
	var out []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			out = append(out, p)
		case []step:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("steps: %T", p))
		}
	}
	return out
}

// lines flattens strings and []string into one list.
func lines(parts ...any) []string {
	out := []string{}
	for _, p := range parts {
		switch p := p.(type) {
		case string:
			out = append(out, p)
		case []string:
			out = append(out, p...)
		default:
			panic(fmt.Sprintf("lines: %T", p))
		}
	}
	return out
}

// offerTo is the offer op sees of a fresh chat: the patron's lines, the note
// and the hint.
func offerTo(op OperatorID, g GuestID, note string, patronLines ...string) []string {
	var out []string
	for _, l := range patronLines {
		out = append(out, fmt.Sprintf("send-operator %s from %s: %q", op, g, l))
	}
	return append(out, noticeTo(op, g, note), noticeTo(op, g, textHint))
}

func noticeTo(op OperatorID, from GuestID, text string) string {
	return fmt.Sprintf("notice %s from %s: %q", op, from, text)
}

func sendOp(op OperatorID, from GuestID, text string) string {
	return fmt.Sprintf("send-operator %s from %s: %q", op, from, text)
}

func toPatron(user protocols.UserID, text string) string {
	return fmt.Sprintf("send-patron %s: %q", user, text)
}

type harness struct {
	t     *testing.T
	clock *fakeClock
	e     *Engine
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	clock := &fakeClock{t: t0}
	e, err := New(cfg, clock, State{})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, clock: clock, e: e}
}

// run plays the steps; failures name the step.
func (h *harness) run(ss []step) {
	h.t.Helper()
	for i, s := range ss {
		h.clock.t = h.clock.t.Add(s.after)
		if s.ev == nil {
			continue
		}
		got := render(h.e.Handle(s.ev), s.persist)
		if s.setup {
			continue
		}
		want := s.want
		if want == nil {
			want = []string{}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			h.t.Errorf("step %d (%T at +%v):\n got:\n\t%s\nwant:\n\t%s", i, s.ev, h.clock.t.Sub(t0),
				strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
}

func runCases(t *testing.T, cases []testCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			newHarness(t, cfg).run(tc.steps)
		})
	}
}

// render writes actions as readable lines; save-chat and save-line only
// with persist.
func render(as []Action, persist bool) []string {
	out := []string{}
	for _, a := range as {
		if !persist && (a.Kind == SaveChat || a.Kind == SaveLine) {
			continue
		}
		out = append(out, renderAction(a))
	}
	return out
}

func renderAction(a Action) string {
	switch a.Kind {
	case SendOperator:
		kind := "send-operator"
		if a.Notice {
			kind = "notice"
		}
		return fmt.Sprintf("%s %s from %s: %q", kind, a.Operator, a.From.ID, a.Text)
	case SendPatron:
		s := fmt.Sprintf("send-patron %s: %q", a.Patron.User, a.Text)
		if a.ID != "" {
			s += " id=" + string(a.ID)
		}
		for _, at := range a.Attachments {
			s += " +" + at.URL
		}
		return s
	case SendPatronState:
		return fmt.Sprintf("send-patron-state %s: %v", a.Patron.User, a.State)
	case SendOperatorState:
		return fmt.Sprintf("send-operator-state %s from %s: %v", a.Operator, a.From.ID, a.State)
	case SendOperatorReceipt:
		return fmt.Sprintf("send-operator-receipt %s from %s: %s", a.Operator, a.From.ID, a.ID)
	case QueuePresence:
		if a.Online {
			return fmt.Sprintf("queue-presence %s online", a.Queue)
		}
		return fmt.Sprintf("queue-presence %s offline", a.Queue)
	case SaveChat:
		r := a.Record
		s := fmt.Sprintf("save-chat #%d %v %s", r.ID, r.Status, r.Queue)
		if r.Operator != "" {
			s += " op=" + string(r.Operator)
		}
		s += fmt.Sprintf(" lines=%d", r.Lines)
		if r.Transfers > 0 {
			s += fmt.Sprintf(" transfers=%d", r.Transfers)
		}
		if r.Answered() {
			s += " answered@" + r.FirstAnswer.Format("15:04:05")
		}
		if r.OfflineNotified {
			s += " offline-notified"
		}
		if r.EndReason != "" {
			s += " end=" + string(r.EndReason) + "@" + r.Ended.Format("15:04:05")
		}
		return s
	case SaveLine:
		l := a.Line
		who := "patron"
		switch l.From {
		case FromOperator:
			who = string(l.Operator)
		case FromSystem:
			who = "system"
		}
		return fmt.Sprintf("save-line #%d.%d %s: %q", a.Chat, l.N, who, l.Text)
	}
	return fmt.Sprintf("unknown action %v", a.Kind)
}
