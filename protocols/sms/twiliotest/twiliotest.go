// Package twiliotest is a fake of the parts of Twilio that owlgate's SMS
// adapter uses, for its tests and the end-to-end tests: the REST API
// (creating messages, fetching the account), checked the way Twilio checks
// them, and patrons' phones that text the library through signed webhooks,
// with Twilio's status callbacks. No production code uses it.
package twiliotest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"unicode/utf16"
)

// API is a fake of Twilio's REST API for one account.
type API struct {
	URL        string // the api_base to configure
	AccountSID string
	AuthToken  string

	srv *httptest.Server

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced when a message is taken or the account fetched
	messages []Message
	read     map[string]int // per recipient: messages returned by Next
	attempts int            // POSTs to Messages.json, taken or not
	fails    []Reply        // answers to the next POSTs, instead of taking them
	checks   []Reply        // answers to the next account fetches
	refused  []string       // why requests were refused, as Twilio would
	inbound  int            // texts from phones so far, for their MessageSids
	fetched  int            // successful fetches of the account
}

// Message is a message the API took.
type Message struct {
	SID                 string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
}

// Reply is an answer the API gives instead of taking a message: an HTTP
// status, a Twilio error code and an optional Retry-After header. [Take],
// the zero Reply, takes the message as usual.
type Reply struct {
	Status     int
	Code       int
	RetryAfter string
}

// Take, in FailNext, lets a message through.
var Take = Reply{}

// NewAPI starts a fake API with a new account SID and auth token; it stops
// when the test ends.
func NewAPI(t testing.TB) *API {
	a := &API{
		AccountSID: "AC" + randomHex(16),
		AuthToken:  randomHex(16),
		changed:    make(chan struct{}),
		read:       map[string]int{},
	}
	a.srv = httptest.NewServer(http.HandlerFunc(a.serve))
	a.URL = a.srv.URL
	t.Cleanup(a.srv.Close)
	return a
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// FailNext makes the next POSTs to Messages.json answer replies, in order,
// instead of taking the message.
func (a *API) FailNext(replies ...Reply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails = append(a.fails, replies...)
}

// FailChecks makes the next fetches of the account answer replies.
func (a *API) FailChecks(replies ...Reply) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks = append(a.checks, replies...)
}

// Messages returns the messages taken so far.
func (a *API) Messages() []Message {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Message(nil), a.messages...)
}

// Attempts counts the POSTs to Messages.json so far, taken or not.
func (a *API) Attempts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attempts
}

// Refused returns why requests were refused for being wrong (bad
// credentials, a missing field), as Twilio would refuse them; a test
// expecting none checks it is empty.
func (a *API) Refused() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.refused...)
}

// Next returns the next message taken for the number to that Next has not
// returned yet, waiting for one.
func (a *API) Next(ctx context.Context, to string) (Message, error) {
	for {
		a.mu.Lock()
		seen := 0
		for _, m := range a.messages {
			if m.To != to {
				continue
			}
			if seen == a.read[to] {
				a.read[to]++
				a.mu.Unlock()
				return m, nil
			}
			seen++
		}
		ch := a.changed
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("twiliotest: no message for the patron: %w", ctx.Err())
		}
	}
}

func (a *API) notifyLocked() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// WaitFetched waits until the account was fetched (the adapter checks its
// credentials so when it starts): from then on, its webhooks are taken.
func (a *API) WaitFetched(ctx context.Context) error {
	for {
		a.mu.Lock()
		n, ch := a.fetched, a.changed
		a.mu.Unlock()
		if n > 0 {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("twiliotest: the account was not fetched: %w", ctx.Err())
		}
	}
}

var (
	messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	accountPath  = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)\.json$`)
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
)

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	var sid string
	m := messagesPath.FindStringSubmatch(r.URL.Path)
	acct := accountPath.FindStringSubmatch(r.URL.Path)
	switch {
	case m != nil:
		sid = m[1]
	case acct != nil:
		sid = acct[1]
	default:
		a.refuse(w, http.StatusNotFound, 20404, "no such resource "+r.URL.Path)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != a.AccountSID || pass != a.AuthToken {
		a.refuse(w, http.StatusUnauthorized, 20003, "authenticate: wrong or no basic auth")
		return
	}
	if sid != a.AccountSID {
		a.refuse(w, http.StatusNotFound, 20404, "the path names another account")
		return
	}
	if acct != nil {
		if r.Method != http.MethodGet {
			a.refuse(w, http.StatusMethodNotAllowed, 20004, "method not allowed")
			return
		}
		a.mu.Lock()
		var fail *Reply
		if len(a.checks) > 0 {
			fail = &a.checks[0]
			a.checks = a.checks[1:]
		}
		a.mu.Unlock()
		if fail != nil && fail.Status != 0 {
			answer(w, *fail)
			return
		}
		a.mu.Lock()
		a.fetched++
		a.notifyLocked()
		a.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"sid": a.AccountSID, "status": "active"})
		return
	}
	a.createMessage(w, r)
}

func (a *API) createMessage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		a.refuse(w, http.StatusMethodNotAllowed, 20004, "method not allowed")
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		a.refuse(w, http.StatusBadRequest, 20001, "the body is not a form: "+ct)
		return
	}
	if err := r.ParseForm(); err != nil {
		a.refuse(w, http.StatusBadRequest, 20001, "malformed form")
		return
	}
	f := r.PostForm
	msg := Message{To: f.Get("To"), From: f.Get("From"), MessagingServiceSID: f.Get("MessagingServiceSid"),
		Body: f.Get("Body"), StatusCallback: f.Get("StatusCallback")}
	a.mu.Lock()
	a.attempts++
	var fail *Reply
	if len(a.fails) > 0 {
		fail = &a.fails[0]
		a.fails = a.fails[1:]
	}
	a.mu.Unlock()
	switch {
	case msg.To == "":
		a.refuse(w, http.StatusBadRequest, 21604, "a 'To' phone number is required")
	case !e164.MatchString(msg.To):
		a.refuse(w, http.StatusBadRequest, 21211, "invalid 'To' phone number")
	case msg.From == "" && msg.MessagingServiceSID == "":
		a.refuse(w, http.StatusBadRequest, 21603, "a 'From' phone number is required")
	case msg.From != "" && !e164.MatchString(msg.From):
		a.refuse(w, http.StatusBadRequest, 21212, "invalid 'From' phone number")
	case msg.Body == "":
		a.refuse(w, http.StatusBadRequest, 21602, "message body is required")
	case len(utf16.Encode([]rune(msg.Body))) > 1600:
		a.refuse(w, http.StatusBadRequest, 21617, "the concatenated message body exceeds the 1600 character limit")
	case msg.StatusCallback != "" && !absoluteURL(msg.StatusCallback):
		a.refuse(w, http.StatusBadRequest, 21609, "invalid StatusCallback URL")
	case fail != nil && fail.Status != 0:
		answer(w, *fail)
	default:
		a.mu.Lock()
		msg.SID = fmt.Sprintf("SM%032x", len(a.messages)+1)
		a.messages = append(a.messages, msg)
		a.notifyLocked()
		a.mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"sid": msg.SID, "status": "queued", "to": msg.To,
			"from": msg.From, "body": msg.Body, "account_sid": a.AccountSID})
	}
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// refuse answers as Twilio does a wrong request, and records why.
func (a *API) refuse(w http.ResponseWriter, status, code int, why string) {
	a.mu.Lock()
	a.refused = append(a.refused, fmt.Sprintf("%d %d: %s", status, code, why))
	a.mu.Unlock()
	answer(w, Reply{Status: status, Code: code})
}

func answer(w http.ResponseWriter, r Reply) {
	if r.RetryAfter != "" {
		w.Header().Set("Retry-After", r.RetryAfter)
	}
	writeJSON(w, r.Status, map[string]any{"code": r.Code, "status": r.Status,
		"message":   "the number +15550000000 is not right (Twilio's messages may name numbers)",
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", r.Code)})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Post sends a webhook as Twilio does: form to url, with the signature
// header set to signature (none when empty). It returns the HTTP status
// and body of the answer.
func (a *API) Post(ctx context.Context, url string, form url.Values, signature string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	if signature != "" {
		req.Header.Set("X-Twilio-Signature", signature)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// PostSigned sends a webhook signed with the account's auth token.
func (a *API) PostSigned(ctx context.Context, url string, form url.Values) (int, string, error) {
	return a.Post(ctx, url, form, Sign(a.AuthToken, url, form))
}

// Sign signs a webhook as Twilio does, written apart from the adapter's
// check so that a mistake in one is not repeated in the other: HMAC-SHA1,
// keyed with the auth token, of the URL and then every POST parameter's
// name and value, by name, in base64.
func Sign(authToken, rawURL string, form url.Values) string {
	names := make([]string, 0, len(form))
	for name := range form {
		names = append(names, name)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(authToken))
	io.WriteString(mac, rawURL)
	for _, name := range names {
		values := append([]string(nil), form[name]...)
		sort.Strings(values)
		for _, v := range values {
			io.WriteString(mac, name+v)
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Phone is a patron's phone texting the library's number through Twilio:
// its texts are posted, signed, to the number's webhook.
type Phone struct {
	api     *API
	Number  string // the patron's number
	Library string // the library's number
	Webhook string // the number's webhook URL
}

// Phone returns the phone with number, texting the library's number
// whose webhook is webhook.
func (a *API) Phone(number, library, webhook string) *Phone {
	return &Phone{api: a, Number: number, Library: library, Webhook: webhook}
}

// Media is an MMS attachment.
type Media struct {
	URL, ContentType string
}

// TextForm is the webhook Twilio posts for a text from the phone, with a
// MessageSid of its own.
func (p *Phone) TextForm(body string, media ...Media) url.Values {
	p.api.mu.Lock()
	p.api.inbound++
	sid := fmt.Sprintf("SMf%031x", p.api.inbound) // unlike the SIDs of messages owlgate sends
	p.api.mu.Unlock()
	f := url.Values{
		"ToCountry": {"US"}, "ToState": {"NC"}, "FromCountry": {"US"}, "FromState": {"NC"},
		"SmsMessageSid": {sid}, "SmsSid": {sid}, "MessageSid": {sid}, "SmsStatus": {"received"},
		"NumSegments": {"1"}, "NumMedia": {fmt.Sprint(len(media))}, "ApiVersion": {"2010-04-01"},
		"AccountSid": {p.api.AccountSID}, "From": {p.Number}, "To": {p.Library}, "Body": {body},
	}
	for i, m := range media {
		f.Set(fmt.Sprintf("MediaUrl%d", i), m.URL)
		f.Set(fmt.Sprintf("MediaContentType%d", i), m.ContentType)
	}
	return f
}

// Text texts body (with media) to the library: the signed webhook. It
// returns the HTTP status owlgate answered.
func (p *Phone) Text(ctx context.Context, body string, media ...Media) (int, error) {
	status, _, err := p.api.PostSigned(ctx, p.Webhook, p.TextForm(body, media...))
	return status, err
}

// Callback posts the status callback Twilio sends for message m: status
// ("delivered", "undelivered", "failed"...) and errorCode (0 for none). It
// returns the HTTP status owlgate answered.
func (a *API) Callback(ctx context.Context, m Message, status string, errorCode int) (int, error) {
	f := url.Values{"MessageSid": {m.SID}, "SmsSid": {m.SID}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {a.AccountSID}, "From": {m.From}, "To": {m.To}, "ApiVersion": {"2010-04-01"}}
	if m.MessagingServiceSID != "" {
		f.Set("MessagingServiceSid", m.MessagingServiceSID)
	}
	if errorCode != 0 {
		f.Set("ErrorCode", fmt.Sprint(errorCode))
	}
	code, _, err := a.PostSigned(ctx, m.StatusCallback, f)
	return code, err
}
