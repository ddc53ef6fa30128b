package sms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
)

// client speaks Twilio's REST API (2010-04-01) with the account's SID and
// auth token: the two calls owlgate needs, written on net/http.
type client struct {
	http  *http.Client
	base  string // like https://api.twilio.com, no trailing slash
	sid   string
	token string
}

// requestTimeout bounds one call to the API.
const requestTimeout = 30 * time.Second

// sendMessage creates a message (POST .../Messages.json) and returns its
// SID.
func (c *client) sendMessage(ctx context.Context, form url.Values) (string, error) {
	var out struct {
		SID string `json:"sid"`
	}
	err := c.do(ctx, http.MethodPost, "/2010-04-01/Accounts/"+url.PathEscape(c.sid)+"/Messages.json", form, &out)
	return out.SID, err
}

// checkAccount fetches the account (GET .../Accounts/{sid}.json): it tells
// whether the SID and token are right before patrons depend on them.
func (c *client) checkAccount(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/2010-04-01/Accounts/"+url.PathEscape(c.sid)+".json", nil, nil)
}

// do makes one call. Its errors are an *apiError (or a
// *protocols.RetryAfterError holding one) when Twilio answered, and wrap
// protocols.ErrTimeout when it did not; they never hold the account SID
// (which is in every URL) or the token.
func (c *client) do(ctx context.Context, method, path string, form url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("sms: api_base: %w", err)
	}
	req.SetBasicAuth(c.sid, c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "owlgate-sms")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// *url.Error repeats the URL, which holds the account SID: keep
		// only what went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("sms: Twilio's API: %v: %w", err, protocols.ErrTimeout)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("sms: reading Twilio's answer: %v: %w", err, protocols.ErrTimeout)
	}
	if resp.StatusCode/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return fmt.Errorf("sms: Twilio's answer is not JSON: %w", err)
			}
		}
		return nil
	}
	var fail struct {
		Code int `json:"code"`
	}
	json.Unmarshal(data, &fail) // Twilio's message is not kept: it may name the patron's number
	ae := &apiError{Status: resp.StatusCode, Code: fail.Code}
	if resp.StatusCode == http.StatusTooManyRequests {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			return &protocols.RetryAfterError{Err: ae, After: time.Duration(s) * time.Second}
		}
	}
	return ae
}

// apiError is Twilio's API refusing a call. Its text is Twilio's error code
// and what it means, never Twilio's own message, which may hold the
// patron's number.
type apiError struct {
	Status int // the HTTP status
	Code   int // Twilio's error code; 0 when the answer had none
}

func (e *apiError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("Twilio answered %d %s", e.Status, http.StatusText(e.Status))
	}
	return twilioError(e.Code)
}

// Temporary tells protocols.Retryable that 429 and 5xx may succeed later.
func (e *apiError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// Is maps the refusal to the sentinel errors the gateway knows.
func (e *apiError) Is(target error) bool {
	switch target {
	case protocols.ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case protocols.ErrBadCredentials:
		return e.Status == http.StatusUnauthorized || e.Code == 20003 || e.Code == 20404
	case protocols.ErrUnknownPatron:
		return patronUnreachable[e.Code]
	case protocols.ErrRejected:
		return e.Status/100 == 4 && e.Status != http.StatusTooManyRequests && !patronUnreachable[e.Code]
	}
	return false
}

// twilioError names a Twilio error code and what it means, for operators
// ("message not received: ...") and the log.
func twilioError(code int) string {
	if m, ok := errorMeanings[code]; ok {
		return fmt.Sprintf("Twilio error %d, %s", code, m)
	}
	return fmt.Sprintf("Twilio error %d (https://www.twilio.com/docs/api/errors/%d)", code, code)
}

// errorMeanings are the Twilio error codes a library's texts meet most,
// from the API and from status callbacks, in words for librarians.
var errorMeanings = map[int]string{
	20003: "authentication failed: check account_sid and auth_token",
	20404: "not found: check account_sid",
	20429: "too many requests to Twilio's API",
	21211: "the patron's number is not a valid phone number",
	21408: "the Twilio account may not text the patron's country (Geo Permissions in the Twilio Console)",
	21602: "the text is empty",
	21606: "the library's number cannot send texts (check from)",
	21608: "a trial account can only text verified numbers",
	21610: "the patron texted STOP to this number",
	21611: "the library's number has too many texts queued",
	21612: "the patron's number cannot be reached by text from the library's number",
	21614: "the patron's number is not a mobile number",
	21617: "the text is longer than 1,600 characters",
	21659: "the library's number is not a Twilio number (check from)",
	21703: "the Messaging Service has no number to send from",
	30001: "Twilio's queue for the number overflowed",
	30002: "the Twilio account is suspended",
	30003: "the patron's phone is switched off or out of reach",
	30004: "the text was blocked (the patron may have blocked the number)",
	30005: "the patron's number is unknown to their carrier",
	30006: "the patron's number is a landline or its carrier cannot be reached",
	30007: "the carrier filtered the text as spam",
	30008: "the carrier gave no reason",
	30032: "the toll-free number is not verified",
	30034: "the number is not registered for A2P 10DLC",
}

// patronUnreachable are the codes that say the patron cannot be texted at
// this number, whatever the text.
var patronUnreachable = map[int]bool{21211: true, 21610: true, 21612: true, 21614: true}
