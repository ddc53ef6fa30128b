package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// secretConfig is a config holding every kind of secret of the schema.
const secretConfig = `xmpp:
  domain: localhost
http:
  admin_token: file:token.txt
libraries: [{id: unc}]
operators:
  - jid: alice@localhost
    library: unc
    password: ${ALICE_PASSWORD}
  - jid: bob@localhost
    library: unc
    password: file:/BOBDIR/bob.pw
queues:
  - id: reference
    library: unc
    accounts:
      - id: unc-irc
        network: irc
        password: ${UNC_IRC_PASSWORD}
`

func loadSecretConfig(t *testing.T) *Config {
	t.Helper()
	setenv(t)
	t.Setenv("UNC_IRC_PASSWORD", "irc-secret-value")
	dir := t.TempDir()
	bobdir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token.txt"), []byte("admin-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bobdir, "bob.pw"), []byte("bob-file-secret-value\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "owlgate.yaml")
	text := strings.ReplaceAll(secretConfig, "/BOBDIR", bobdir)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var secretValues = []string{"alice-secret-value", "bob-file-secret-value", "admin-secret-value", "irc-secret-value", "secret-value"}

func noSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, v := range secretValues {
		if strings.Contains(out, v) {
			t.Errorf("%s shows the secret %q:\n%s", what, v, out)
		}
	}
}

func TestSecretsResolved(t *testing.T) {
	c := loadSecretConfig(t)
	if got := c.Operators[0].Password.Value(); got != "alice-secret-value" {
		t.Errorf("env secret = %q", got)
	}
	if got := c.Operators[1].Password.Value(); got != "bob-file-secret-value" {
		t.Errorf("file secret (absolute, CRLF trimmed) = %q", got)
	}
	if got := c.HTTP.AdminToken.Value(); got != "admin-secret-value" {
		t.Errorf("file secret (relative to the config) = %q", got)
	}
	if !c.HTTP.AdminToken.IsSet() || c.XMPP.Secret.IsSet() {
		t.Errorf("IsSet: admin %v, xmpp.secret %v", c.HTTP.AdminToken.IsSet(), c.XMPP.Secret.IsSet())
	}
	if got := c.Operators[0].Password.Ref(); got != "${ALICE_PASSWORD}" {
		t.Errorf("Ref = %q", got)
	}
	var irc struct {
		Password Secret `yaml:"password"`
	}
	if err := c.Queues[0].Accounts[0].Decode(&irc); err != nil {
		t.Fatal(err)
	}
	if irc.Password.Value() != "irc-secret-value" {
		t.Errorf("account secret = %q", irc.Password.Value())
	}
}

func TestSecretNeverShown(t *testing.T) {
	c := loadSecretConfig(t)
	var irc struct {
		Password Secret `yaml:"password"`
	}
	if err := c.Queues[0].Accounts[0].Decode(&irc); err != nil {
		t.Fatal(err)
	}
	s := c.Operators[0].Password
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		noSecret(t, "fmt "+verb+" of a Secret", fmt.Sprintf(verb, s))
		noSecret(t, "fmt "+verb+" of *Secret", fmt.Sprintf(verb, &s))
		noSecret(t, "fmt "+verb+" of the Config", fmt.Sprintf(verb, c))
		noSecret(t, "fmt "+verb+" of *Config", fmt.Sprintf(verb, *c))
		noSecret(t, "fmt "+verb+" of an adapter struct", fmt.Sprintf(verb, irc))
	}
	// A struct with the Secret in an unexported field: fmt cannot call its
	// methods there, and must still not reach the value.
	hidden := struct{ pw Secret }{s}
	noSecret(t, "fmt of an unexported field", fmt.Sprintf("%v %+v %#v", hidden, hidden, hidden))

	if got := s.String(); got != "[secret] ${ALICE_PASSWORD}" {
		t.Errorf("String = %q", got)
	}
	if got := fmt.Sprint(NewSecret("secret-value")); got != "[secret]" {
		t.Errorf("NewSecret prints %q", got)
	}
	if got := fmt.Sprint(Secret{}); got != "" {
		t.Errorf("unset secret prints %q", got)
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("x", "secret", s, "ptr", &s, "config", c, "operator", c.Operators[0], "irc", irc)
	}
	noSecret(t, "slog", buf.String())
	if !strings.Contains(buf.String(), "[secret] ${ALICE_PASSWORD}") {
		t.Errorf("slog does not show the redaction:\n%s", buf.String())
	}

	j, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "json", string(j))
	if !strings.Contains(string(j), `"password":"[secret] ${ALICE_PASSWORD}"`) {
		t.Errorf("json lacks the redaction: %s", j)
	}
	j, _ = json.Marshal(irc)
	noSecret(t, "json of an adapter struct", string(j))

	y, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	noSecret(t, "yaml", string(y))
	if !strings.Contains(string(y), "password: ${ALICE_PASSWORD}") {
		t.Errorf("yaml does not keep the reference:\n%s", y)
	}
}

func TestSecretErrors(t *testing.T) {
	setenv(t)
	t.Setenv("OWLGATE_TEST_EMPTY", "")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "empty.pw"), []byte("\n"), 0o600)
	op := func(pw string) string {
		return "libraries: [{id: unc}]\noperators:\n  - jid: alice@localhost\n    library: unc\n    password: " + pw + "\n"
	}
	tests := []struct{ pw, want string }{
		{"hunter2", "operators[0].password: a secret cannot be written in the config file; write ${ALICE_PASSWORD} and set that variable, or file:/etc/owlgate/alice.pw"},
		{"'12345'", "a secret cannot be written"},
		{"12345", "a secret cannot be written"},
		{"$ALICE_PASSWORD", "a secret cannot be written"},
		{"${ALICE PASSWORD}", "a secret cannot be written"},
		{"[a, b]", "a secret cannot be written"},
		{"''", "operators[0].password: is empty"},
		{"${OWLGATE_TEST_NEVER_SET}", "environment variable OWLGATE_TEST_NEVER_SET is not set; set OWLGATE_TEST_NEVER_SET"},
		{"${OWLGATE_TEST_EMPTY}", "environment variable OWLGATE_TEST_EMPTY is empty"},
		{"'file:'", "file: names no file"},
		{"file:" + dir + "/none.pw", "cannot read secret file " + dir + "/none.pw: no such file or directory"},
		{"file:" + dir + "/empty.pw", "secret file " + dir + "/empty.pw is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.pw, func(t *testing.T) {
			got := parseErr(t, op(tt.pw))
			wantContains(t, got, tt.want)
			if strings.Contains(got, "hunter2") || strings.Contains(got, "12345") {
				t.Errorf("error repeats the literal: %s", got)
			}
		})
	}
	// The component secret and admin token suggest their usual names.
	wantContains(t, parseErr(t, "xmpp:\n  mode: component\n  connect: h:5347\n  secret: s3cret\n"), "write ${OWLGATE_COMPONENT_SECRET}")
	wantContains(t, parseErr(t, "http:\n  admin_token: s3cret\n"), "write ${OWLGATE_ADMIN_TOKEN}")
}

func TestSecretHint(t *testing.T) {
	tests := []struct{ path, key, owner, env, file string }{
		{"operators[0].password", "password", "alice@localhost", "ALICE_PASSWORD", "/etc/owlgate/alice.pw"},
		{"queues[0].accounts[1].auth_token", "auth_token", "unc-sms", "UNC_SMS_AUTH_TOKEN", "/etc/owlgate/unc-sms-auth-token"},
		{"xmpp.secret", "secret", "", "OWLGATE_COMPONENT_SECRET", "/etc/owlgate/component-secret"},
		{"x.token", "token", "", "TOKEN", "/etc/owlgate/token"},
		{"x.token", "token", "1st", "OWLGATE_1ST_TOKEN", "/etc/owlgate/owlgate-1st-token"},
	}
	for _, tt := range tests {
		env, file := secretHint(tt.path, tt.key, tt.owner)
		if env != tt.env || file != tt.file {
			t.Errorf("secretHint(%q, %q, %q) = %q, %q; want %q, %q", tt.path, tt.key, tt.owner, env, file, tt.env, tt.file)
		}
	}
}
