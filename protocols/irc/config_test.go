package irc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/protocols"
)

// loadAccount writes a config whose one account has the given network keys,
// loads it as owlgate does, and returns the spec the gateway would give the
// factory.
func loadAccount(t *testing.T, keys string) (protocols.AccountSpec, error) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("ALICE_PASSWORD", "alice-pw")
	t.Setenv("IRC_PW", "irc-secret-pw")
	cert, err := testenv.LocalhostCert()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "irc.crt"), cert.CertPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "irc.key"), cert.KeyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "other.key"), []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	var indented strings.Builder
	for line := range strings.SplitSeq(strings.TrimSpace(keys), "\n") {
		indented.WriteString("        " + strings.TrimSpace(line) + "\n")
	}
	cfg := `data_dir: ./data
xmpp:
  mode: server
  domain: localhost
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
libraries:
  - id: unc
operators:
  - jid: alice@localhost
    library: unc
    password: ${ALICE_PASSWORD}
queues:
  - id: reference
    library: unc
    operators: [alice@localhost]
    accounts:
      - id: unc-irc
        network: irc
` + indented.String()
	path := filepath.Join(dir, "owlgate.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(path)
	if err != nil {
		return protocols.AccountSpec{}, err
	}
	a := &c.Queues[0].Accounts[0]
	return protocols.AccountSpec{ID: protocols.AccountID(a.ID), Network: protocols.Network(a.Network), Decode: a.Decode}, nil
}

func TestConfigValidation(t *testing.T) {
	for _, tc := range []struct {
		name, keys string
		errs       []string // each must be in the error; none: valid
	}{
		{"minimal", "server: irc.example.net:6697\nnick: UNCLibrary", nil},
		{"everything", `server: irc.example.net:6697
			tls: true
			tls_ca: /etc/ssl/irc-ca.pem
			nick: UNCLibrary
			alt_nick: UNCLib2
			user: unc
			realname: UNC Ask a Librarian
			password: ${IRC_PW}
			sasl: external
			client_cert: file:irc.crt
			client_key: file:irc.key
			channels: ["#library", "&local"]
			rate: 0.5
			burst: 3
			max_line: 300
			presence_poll: 1m`, nil},
		{"sasl plain", "server: h:6697\nnick: N\nsasl: plain\nsasl_user: unc\nsasl_password: ${IRC_PW}", nil},
		{"nickserv", "server: h:6697\nnick: N\nnickserv_password: ${IRC_PW}\npresence_poll: 0s", nil},
		{"no server or nick", "channels: []", []string{"server: is required", "nick: is required"}},
		{"server without port", "server: irc.example.net\nnick: N", []string{`server: "irc.example.net" is not host:port`}},
		{"server bad port", "server: irc.example.net:99999\nnick: N", []string{"has no valid port"}},
		{"bad nicks", "server: h:1\nnick: 9lives\nalt_nick: has space", []string{`nick: "9lives" is not a valid IRC nick`, `alt_nick: "has space" is not a valid IRC nick`}},
		{"alt equals nick", "server: h:1\nnick: Lib\nalt_nick: LIB", []string{"alt_nick: must differ"}},
		{"insecure without tls", "server: h:6667\nnick: N\ntls: false\ntls_insecure: true\ntls_ca: /x", []string{"tls_insecure: needs tls", "tls_ca: needs tls"}},
		{"sasl plain without credentials", "server: h:1\nnick: N\nsasl: plain", []string{"sasl_user: is required", "sasl_password: is required"}},
		{"sasl external without cert", "server: h:1\nnick: N\nsasl: external", []string{"sasl: external needs client_cert and client_key"}},
		{"sasl external without tls", "server: h:1\nnick: N\nsasl: external\ntls: false\nclient_cert: file:irc.crt\nclient_key: file:irc.key", []string{"sasl: external needs tls", "client_cert: needs tls"}},
		{"sasl unknown", "server: h:1\nnick: N\nsasl: scram", []string{`sasl: "scram" is not plain or external`}},
		{"sasl keys without sasl", "server: h:1\nnick: N\nsasl_user: u\nsasl_password: ${IRC_PW}", []string{"sasl_user: is only used with sasl: plain", "sasl_password: is only used"}},
		{"cert without key", "server: h:1\nnick: N\nclient_cert: file:irc.crt", []string{"client_key: is required with client_cert"}},
		{"cert and wrong key", "server: h:1\nnick: N\nclient_cert: file:irc.crt\nclient_key: file:other.key", []string{"client_cert: client_cert and client_key are not"}},
		{"nickserv with sasl", "server: h:1\nnick: N\nsasl: plain\nsasl_user: u\nsasl_password: ${IRC_PW}\nnickserv_password: ${IRC_PW}", []string{"nickserv_password: is a fallback"}},
		{"bad channel", "server: h:1\nnick: N\nchannels: [library, \"#ok\", \"#a b\"]", []string{`channels[0]: "library" is not a channel`, `channels[2]`}},
		{"bad limits", "server: h:1\nnick: N\nrate: 0\nburst: 0\nmax_line: 10\npresence_poll: 500ms", []string{"rate: must be more than 0", "burst: must be at least 1", "max_line: must be between", "presence_poll: must be at least 1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := loadAccount(t, tc.keys)
			if err != nil {
				t.Fatalf("config.Load: %v", err)
			}
			_, err = New(spec)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("New accepted %q", tc.keys)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "irc-secret-pw") {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// TestConfigStrict: unknown keys and literal secrets are the config
// package's errors, with their place in the file.
func TestConfigStrict(t *testing.T) {
	spec, err := loadAccount(t, "server: h:1\nnick: N\nnickname: typo")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(spec); err == nil || !strings.Contains(err.Error(), `unknown key "nickname"`) || !strings.Contains(err.Error(), "owlgate.yaml:") {
		t.Errorf("unknown key: %v", err)
	}
	spec, err = loadAccount(t, "server: h:1\nnick: N\npassword: hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(spec); err == nil || !strings.Contains(err.Error(), "a secret cannot be written in the config file") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("literal secret: %v", err)
	}
}

func TestConfigDefaults(t *testing.T) {
	spec, err := loadAccount(t, "server: irc.example.net:6697\nnick: UNCLibrary")
	if err != nil {
		t.Fatal(err)
	}
	a, err := newAdapter(spec)
	if err != nil {
		t.Fatal(err)
	}
	s := a.s
	if !s.tls || s.tlsInsecure || s.host != "irc.example.net" || s.altNick != "UNCLibrary_" || s.user != DefaultUser ||
		s.realname != DefaultRealname || s.rate != 2 || s.burst != 5 || s.maxLine != 0 || s.presencePoll != 30*time.Second || s.sasl != "" {
		t.Errorf("defaults: %+v", s)
	}
	if caps := a.Capabilities(); caps != (protocols.Capabilities{Presence: true}) {
		t.Errorf("Capabilities() = %+v", caps)
	}
}
