package sms

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/owlgate/owlgate/config"
)

// Config is an SMS account's own keys in the owlgate config (every key of
// the account but id, network and idle_timeout). examples/README.md lists
// them; examples/collaboration.yaml shows them.
type Config struct {
	// Provider is the SMS provider. Required; "twilio" is the only one.
	Provider string `yaml:"provider"`
	// AccountSID is the Twilio account's SID (AC and 32 hex digits), as a
	// secret reference: ${TWILIO_SID}. Required.
	AccountSID config.Secret `yaml:"account_sid"`
	// AuthToken is the account's auth token, a secret reference. It
	// authenticates owlgate to Twilio's API and is the key of the
	// signatures on Twilio's webhooks. Required.
	AuthToken config.Secret `yaml:"auth_token"`
	// From is the library's number, in E.164 form ("+15555550100"; quote
	// it in YAML). Texts are sent from it. One of From and
	// MessagingServiceSID is required.
	From string `yaml:"from"`
	// MessagingServiceSID sends through a Twilio Messaging Service (MG and
	// 32 hex digits) instead of from one number: Twilio picks the sender.
	MessagingServiceSID string `yaml:"messaging_service_sid"`
	// PublicURL is where Twilio reaches owlgate's HTTP server
	// (http.listen), as Twilio sees it, behind any proxy: like
	// "https://chat.library.example.edu". Twilio's webhook for the number
	// is PublicURL + "/hooks/<account id>/sms"; owlgate checks Twilio's
	// signatures against that URL. Required.
	PublicURL string `yaml:"public_url"`
	// APIBase is the base URL of Twilio's REST API. Default
	// "https://api.twilio.com"; tests point it at a fake.
	APIBase string `yaml:"api_base"`
	// Rate is how many texts a second the account sends at most (each
	// part of a split text is one). Default 1, Twilio's pace for a US
	// long code.
	Rate *float64 `yaml:"rate"`
	// OfflineMessageEvery is how often a number is sent the queue's
	// offline message at most: a patron texting several times while
	// nobody is staffed gets it once. Default 12h; 0s sends it with every
	// new chat.
	OfflineMessageEvery *config.Duration `yaml:"offline_message_every"`
	// HelpMessage is sent to a patron who texts HELP (or INFO), besides
	// passing the text on to the librarians. Default none: Twilio answers
	// HELP itself on long codes unless its opt-out handling is turned off.
	HelpMessage string `yaml:"help_message"`
}

// Defaults.
const (
	DefaultAPIBase             = "https://api.twilio.com"
	DefaultRate                = 1.0
	DefaultOfflineMessageEvery = 12 * time.Hour
	// DefaultIdleTimeout ends a silent SMS chat (SMS has no presence:
	// nothing says the patron left). An account's idle_timeout overrides
	// it.
	DefaultIdleTimeout = 30 * time.Minute
)

// settings is a validated Config with its defaults applied.
type settings struct {
	accountSID   string
	authToken    string
	from         string
	service      string
	publicURL    string // without a trailing slash
	apiBase      string // without a trailing slash
	rate         float64
	offlineEvery time.Duration
	help         string
}

var (
	e164RE       = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	twilioSIDRE  = regexp.MustCompile(`^[A-Z]{2}[0-9a-fA-F]{32}$`)
	serviceSIDRE = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
)

// validE164 reports whether s is a phone number in E.164 form.
func validE164(s string) bool { return e164RE.MatchString(s) }

// validate checks c and returns its settings. Its errors name the key at
// fault and never hold a secret's value.
func (c *Config) validate() (*settings, error) {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	s := &settings{
		accountSID:   c.AccountSID.Value(),
		authToken:    c.AuthToken.Value(),
		from:         strings.TrimSpace(c.From),
		service:      strings.TrimSpace(c.MessagingServiceSID),
		rate:         DefaultRate,
		offlineEvery: DefaultOfflineMessageEvery,
		help:         strings.TrimSpace(c.HelpMessage),
	}
	switch strings.ToLower(strings.TrimSpace(c.Provider)) {
	case "twilio":
	case "":
		bad("provider", "is required (write provider: twilio)")
	default:
		bad("provider", "%q is not supported (write provider: twilio)", c.Provider)
	}
	switch {
	case !c.AccountSID.IsSet():
		bad("account_sid", "is required (write account_sid: ${TWILIO_SID})")
	case twilioSIDRE.MatchString(s.accountSID) && !strings.HasPrefix(s.accountSID, "AC"):
		// Another SID (an API key's SK, a service's MG, a number's PN):
		// a likely mix-up. Other values are left to Twilio, which refuses
		// a wrong one when the account starts. The value is not repeated.
		bad("account_sid", "is a Twilio SID starting with %s, not the account's (AC and 32 hexadecimal digits, on the Console's dashboard)", s.accountSID[:2])
	case strings.ContainsAny(s.accountSID, " /?#%\t\n"):
		bad("account_sid", "is not a Twilio account SID (AC and 32 hexadecimal digits, on the Console's dashboard)")
	}
	if !c.AuthToken.IsSet() {
		bad("auth_token", "is required (write auth_token: ${TWILIO_TOKEN})")
	}
	switch {
	case s.from == "" && s.service == "":
		bad("from", "is required, or messaging_service_sid (write from: \"+15555550100\", quoted)")
	case s.from != "" && s.service != "":
		bad("messaging_service_sid", "write either from or messaging_service_sid, not both")
	case s.from != "" && !validE164(s.from):
		bad("from", "%q is not a phone number in E.164 form, like \"+15555550100\" (quote it)", s.from)
	case s.service != "" && !serviceSIDRE.MatchString(s.service):
		bad("messaging_service_sid", "%q is not a Messaging Service SID (MG and 32 hexadecimal digits)", s.service)
	}
	if c.PublicURL == "" {
		// Optional (DESIGN.md's example has none): webhooks are then
		// checked against the URL each request names (requestURL), and
		// texts ask for no delivery reports, as there is no URL to give.
	} else if u, err := baseURL(c.PublicURL); err != nil {
		bad("public_url", "%v (write public_url: https://chat.library.example.edu)", err)
	} else {
		s.publicURL = u
	}
	if c.APIBase == "" {
		s.apiBase = DefaultAPIBase
	} else if u, err := baseURL(c.APIBase); err != nil {
		bad("api_base", "%v (leave it out for %s)", err, DefaultAPIBase)
	} else {
		s.apiBase = u
	}
	if c.Rate != nil {
		if *c.Rate <= 0 || *c.Rate > 1000 {
			bad("rate", "must be more than 0 and at most 1000 texts a second")
		}
		s.rate = *c.Rate
	}
	if c.OfflineMessageEvery != nil {
		s.offlineEvery = time.Duration(*c.OfflineMessageEvery)
	}
	if units(s.help) > maxUnits {
		bad("help_message", "is longer than one text (%d characters)", maxUnits)
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return s, nil
}

// baseURL checks that raw is an absolute http(s) URL with no query or
// fragment, and returns it without a trailing slash.
func baseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http or https URL", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q may not have a query, a fragment or a user", raw)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
