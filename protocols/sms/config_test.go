package sms

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/protocols"
)

const validSID = "AC0123456789abcdef0123456789abcdef"

// fromYAML builds the adapter of the one account in a config whose
// account keys are keys, as owlgate check does.
func fromYAML(t *testing.T, keys string) (*Adapter, error) {
	t.Helper()
	t.Setenv("TEST_TWILIO_SID", validSID)
	t.Setenv("TEST_TWILIO_TOKEN", "token-secret-value")
	text := `libraries: [{id: unc}]
queues:
  - id: reference
    library: unc
    accounts:
      - id: unc-sms
        network: sms
        idle_timeout: 4h
` + keys
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "owlgate.yaml"), []byte(text))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	acct := &cfg.Queues[0].Accounts[0]
	return newAdapter(protocols.AccountSpec{ID: "unc-sms", Network: Network, Decode: acct.Decode})
}

func TestConfigFromYAML(t *testing.T) {
	a, err := fromYAML(t, `        provider: twilio
        account_sid: ${TEST_TWILIO_SID}
        auth_token: ${TEST_TWILIO_TOKEN}
        from: "+15555550100"
        public_url: https://chat.example.edu/owlgate/
`)
	if err != nil {
		t.Fatal(err)
	}
	want := settings{accountSID: validSID, authToken: "token-secret-value", from: "+15555550100",
		publicURL: "https://chat.example.edu/owlgate", apiBase: DefaultAPIBase, rate: 1, offlineEvery: 12 * time.Hour}
	if *a.s != want {
		t.Errorf("settings = %+v, want %+v", *a.s, want)
	}
	if got := a.WebhookURL(); got != "https://chat.example.edu/owlgate/hooks/unc-sms/sms" {
		t.Errorf("WebhookURL = %q", got)
	}
	if c := a.Capabilities(); c.IdleTimeout != 30*time.Minute || c.Presence || c.MaxTextLength != 0 || !c.Receipts {
		t.Errorf("capabilities = %+v", c)
	}

	rest := `        provider: twilio
        account_sid: ${TEST_TWILIO_SID}
        auth_token: ${TEST_TWILIO_TOKEN}
        from: "+15555550100"
        public_url: https://chat.example.edu
`
	for _, c := range []struct{ keys, want string }{
		{rest + "        auth_tokn: ${TEST_TWILIO_TOKEN}\n", "auth_tokn"}, // strict, with a suggestion
		{strings.Replace(rest, "${TEST_TWILIO_TOKEN}", "0123456789abcdef", 1), "a secret cannot be written in the config file"},
		{rest + "        offline_message_every: 12\n", "offline_message_every"},
	} {
		_, err := fromYAML(t, c.keys)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want it to say %q", c.keys, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "0123456789abcdef") {
			t.Errorf("an error repeats the secret: %v", err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ok := func() Config {
		return Config{Provider: "twilio", AccountSID: config.NewSecret(validSID), AuthToken: config.NewSecret("tok"),
			From: "+15555550100", PublicURL: "https://chat.example.edu"}
	}
	bad := -1.0
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no provider", func(c *Config) { c.Provider = "" }, "provider: is required"},
		{"another provider", func(c *Config) { c.Provider = "vonage" }, `provider: "vonage" is not supported`},
		{"no account_sid", func(c *Config) { c.AccountSID = config.Secret{} }, "account_sid: is required"},
		{"an API key's SID", func(c *Config) { c.AccountSID = config.NewSecret("SK" + strings.Repeat("0", 32)) }, "account_sid: is a Twilio SID starting with SK"},
		{"not a SID", func(c *Config) { c.AccountSID = config.NewSecret("AC/../x") }, "account_sid: is not a Twilio account SID"},
		{"no auth_token", func(c *Config) { c.AuthToken = config.Secret{} }, "auth_token: is required"},
		{"no sender", func(c *Config) { c.From = "" }, "from: is required, or messaging_service_sid"},
		{"both senders", func(c *Config) { c.MessagingServiceSID = "MG" + strings.Repeat("0", 32) }, "either from or messaging_service_sid"},
		{"from not E.164", func(c *Config) { c.From = "555-0100" }, `from: "555-0100" is not a phone number in E.164 form`},
		{"bad service SID", func(c *Config) { c.From, c.MessagingServiceSID = "", "MG1" }, "messaging_service_sid: \"MG1\" is not"},
		{"public_url not a URL", func(c *Config) { c.PublicURL = "chat.example.edu" }, "public_url: \"chat.example.edu\" is not an http or https URL"},
		{"public_url with a query", func(c *Config) { c.PublicURL = "https://x.example/?a=1" }, "may not have a query"},
		{"bad api_base", func(c *Config) { c.APIBase = "ftp://api" }, "api_base:"},
		{"bad rate", func(c *Config) { c.Rate = &bad }, "rate: must be more than 0"},
		{"help too long", func(c *Config) { c.HelpMessage = strings.Repeat("h", 1601) }, "help_message: is longer than one text"},
	}
	for _, tt := range tests {
		c := ok()
		tt.change(&c)
		_, err := c.validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	c := ok()
	c.AccountSID = config.NewSecret("SK-secret looking value")
	if _, err := c.validate(); err == nil || strings.Contains(err.Error(), "secret-looking") {
		t.Errorf("the account SID's error repeats it: %v", err)
	}
	c = ok()
	if _, err := c.validate(); err != nil {
		t.Errorf("a valid config: %v", err)
	}
}
