package config

import (
	"strings"
	"testing"
)

// TestValidation runs one mistake per case through Parse. Each want is a
// substring of the error; "" cases must load.
func TestValidation(t *testing.T) {
	setenv(t)
	q := func(s string) string { return base + "queues:\n" + s }
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"valid base", base, nil},
		{"valid queue", q("  - id: reference\n    library: unc\n    operators: [alice@localhost, Bob@LocalHost]\n"), nil},
		{"empty file", "", nil},
		{"only comments", "# nothing yet\n", nil},

		// Keys.
		{"unknown top key", base + "queuez: []\n", []string{`owlgate.yaml:12:1: queuez: unknown key "queuez"; did you mean "queues"?`}},
		{"unknown nested key", "xmpp:\n  domian: localhost\n", []string{`owlgate.yaml:2:3: xmpp.domian: unknown key "domian"; did you mean "domain"?`}},
		{"unknown key dash", "xmpp:\n  max-stanza: 100000\n", []string{`xmpp.max-stanza: unknown key "max-stanza"; did you mean "max_stanza"?`}},
		{"unknown key case", "XMPP:\n  domain: localhost\n", []string{`XMPP: unknown key "XMPP"; did you mean "xmpp"?`}},
		{"unknown key list", "xmpp:\n  frobnicate: 1\n", []string{`the keys allowed here are allow_plaintext, connect, domain, listen, max_stanza, mode, secret, tls`}},
		{"unknown key in tls", "xmpp:\n  tls:\n    certificate: x.pem\n", []string{`xmpp.tls.certificate: unknown key "certificate"`}},
		{"every unknown key", "a1: 1\nxmpp:\n  b2: 2\nhttp:\n  c3: 3\n", []string{"1:1: a1:", "3:3: xmpp.b2:", "5:3: http.c3:"}},
		{"duplicate key", "xmpp:\n  domain: a\n  domain: b\n", []string{`owlgate.yaml:3:3: xmpp.domain: "domain" is written twice (first on line 2)`}},
		{"duplicate top key", base + "xmpp:\n  mode: server\n", []string{`xmpp: "xmpp" is written twice (first on line 1)`}},
		{"mapping expected", "xmpp: server\n", []string{"xmpp: must be a mapping"}},
		{"root not mapping", "- a\n- b\n", []string{"the config must be a mapping"}},
		{"number expected", "xmpp:\n  max_stanza: 1.5\n", []string{`xmpp.max_stanza: "1.5" is not a whole number`}},
		{"bool expected", "xmpp:\n  allow_plaintext: maybe\n", []string{`xmpp.allow_plaintext: "maybe" is not true or false; write true or false`}},

		// Log.
		{"log level", "log:\n  level: warning\n", []string{`log.level: "warning" is not a log level; did you mean "warn"?`}},
		{"log format", "log:\n  format: yaml\n", []string{`log.format: "yaml" is not a log format`}},

		// XMPP.
		{"mode", "xmpp:\n  mode: servr\n", []string{`xmpp.mode: "servr" is not a mode; did you mean "server"?`}},
		{"domain", "xmpp:\n  domain: a@b\n", []string{`xmpp.domain: "a@b" is not a valid domain`}},
		{"listen", "xmpp:\n  listen: localhost\n", []string{`xmpp.listen: "localhost" is not host:port`}},
		{"listen port", "xmpp:\n  listen: 127.0.0.1:99999\n", []string{`xmpp.listen: "127.0.0.1:99999" has no valid port`}},
		{"listen port 0 ok", "xmpp:\n  listen: 127.0.0.1:0\nhttp:\n  listen: '[::1]:0'\n", nil},
		{"listen all interfaces ok", "xmpp:\n  listen: :5222\n", nil},
		{"http listen", "http:\n  listen: 8080\n", []string{`http.listen: "8080" is not host:port`}},
		{"max stanza small", "xmpp:\n  max_stanza: 100\n", []string{`xmpp.max_stanza: 100 is too small; write at least 10000`}},
		{"plaintext loopback ok", "xmpp:\n  allow_plaintext: true\n", nil},
		{"plaintext public", "xmpp:\n  listen: 0.0.0.0:5222\n  allow_plaintext: true\n", []string{`xmpp.allow_plaintext: is allowed only when xmpp.listen is a loopback address`}},
		{"tls half", "xmpp:\n  tls:\n    cert: a.pem\n", []string{`xmpp.tls.key: is required`}},
		{"tls missing file", "xmpp:\n  tls:\n    cert: a.pem\n    key: a.key\n", []string{`xmpp.tls.cert: cannot read`, `xmpp.tls.key: cannot read`}},
		{"connect in server mode", "xmpp:\n  connect: 127.0.0.1:5347\n", []string{`2:3: xmpp.connect: is only used in component mode`}},
		{"secret in server mode", "xmpp:\n  secret: ${OWLGATE_COMPONENT_SECRET}\n", []string{`xmpp.secret: is only used in component mode`}},
		{"component ok", "xmpp:\n  mode: component\n  domain: owlgate.localhost\n  connect: 127.0.0.1:5347\n  secret: ${OWLGATE_COMPONENT_SECRET}\n", nil},
		{"component listen ignored", "xmpp:\n  mode: component\n  listen: 127.0.0.1:5222\n  connect: 127.0.0.1:5347\n  secret: ${OWLGATE_COMPONENT_SECRET}\n", nil},
		{"component no connect", "xmpp:\n  mode: component\n  secret: ${OWLGATE_COMPONENT_SECRET}\n", []string{`xmpp.connect: is required`}},
		{"component no secret", "xmpp:\n  mode: component\n  connect: 127.0.0.1:5347\n", []string{`xmpp.secret: is required`}},
		{"component connect no host", "xmpp:\n  mode: component\n  connect: :5347\n  secret: ${OWLGATE_COMPONENT_SECRET}\n", []string{`xmpp.connect: ":5347" names no host`}},
		{"component tls", "xmpp:\n  mode: component\n  connect: h:5347\n  secret: ${OWLGATE_COMPONENT_SECRET}\n  allow_plaintext: true\n", []string{`xmpp.allow_plaintext: is only used in server mode`}},
		{"component password", "xmpp:\n  mode: component\n  connect: h:5347\n  secret: ${OWLGATE_COMPONENT_SECRET}\nlibraries: [{id: unc}]\noperators:\n  - jid: a@b\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].password: is only used in server mode`}},

		// Libraries.
		{"library id missing", "libraries:\n  - name: UNC\n", []string{`owlgate.yaml:2:5: libraries[0].id: is required`}},
		{"library id bad", "libraries:\n  - id: u n c\n", []string{`libraries[0].id: "u n c" is not a valid library id`}},
		{"library duplicate", "libraries:\n  - id: unc\n  - id: unc\n", []string{`libraries[1].id: library "unc" is already defined at libraries[0].id (line 2)`}},
		{"collaboration bad", "libraries:\n  - id: unc\n    collaborations: [night owl]\n", []string{`libraries[0].collaborations[0]: "night owl" is not a valid collaboration name`}},
		{"collaboration alone ok", "libraries:\n  - id: unc\n    collaborations: [nightowl]\n", nil},

		// Operators.
		{"operator jid missing", "libraries: [{id: unc}]\noperators:\n  - library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].jid: is required`}},
		{"operator jid bad", "libraries: [{id: unc}]\noperators:\n  - jid: 'a b@c d'\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].jid: "a b@c d" is not a valid JID`}},
		{"operator full jid", "libraries: [{id: unc}]\noperators:\n  - jid: alice@localhost/home\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].jid: "alice@localhost/home" is a full JID`, `write the bare JID alice@localhost`}},
		{"operator no local", "libraries: [{id: unc}]\noperators:\n  - jid: localhost\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].jid: "localhost" has no local part`}},
		{"operator duplicate", base + "  - jid: ALICE@localhost\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[2].jid: operator "alice@localhost" is already defined at operators[0].jid (line 6)`}},
		{"operator guest", "libraries: [{id: unc}]\noperators:\n  - jid: guest-7@localhost\n    library: unc\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].jid: "guest-7@localhost" looks like a patron's JID`}},
		{"operator library missing", "operators:\n  - jid: a@localhost\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].library: is required`}},
		{"operator library unknown", "libraries: [{id: unc}]\noperators:\n  - jid: a@localhost\n    library: duke\n    password: ${ALICE_PASSWORD}\n", []string{`operators[0].library: "duke" is not a library; write one of unc, or add it under libraries:`}},
		{"operator password missing", "libraries: [{id: unc}]\noperators:\n  - jid: carol@localhost\n    library: unc\n", []string{`operators[0].password: is required`, `${CAROL_PASSWORD}`}},
		{"operator password literal", "libraries: [{id: unc}]\noperators:\n  - jid: carol@localhost\n    library: unc\n    password: s3cret!\n", []string{`operators[0].password: a secret cannot be written in the config file; write ${CAROL_PASSWORD} and set that variable, or file:/etc/owlgate/carol.pw`}},
		{"operator password unset", "libraries: [{id: unc}]\noperators:\n  - jid: carol@localhost\n    library: unc\n    password: ${OWLGATE_TEST_NEVER_SET}\n", []string{`operators[0].password: environment variable OWLGATE_TEST_NEVER_SET is not set`}},

		// Queues.
		{"queue id missing", q("  - library: unc\n"), []string{`queues[0].id: is required`}},
		{"queue id upper", q("  - id: Reference\n    library: unc\n"), []string{`queues[0].id: "Reference" is not a valid queue id`, "like reference"}},
		{"queue id guest", q("  - id: guest-1\n    library: unc\n"), []string{`queues[0].id: "guest-1" starts with "guest-"`}},
		{"queue id operator", q("  - id: bob\n    library: unc\n"), []string{`queues[0].id: queue "bob" would have the JID bob@localhost, which is operator bob@localhost`}},
		{"queue id other-domain operator ok", "libraries: [{id: unc}]\noperators:\n  - jid: bob@example.edu\n    library: unc\n    password: ${BOB_PASSWORD}\nqueues:\n  - id: bob\n    library: unc\n", nil},
		{"queue duplicate", q("  - id: reference\n    library: unc\n  - id: reference\n    library: unc\n"), []string{`queues[1].id: queue "reference" is already defined at queues[0].id`}},
		{"queue library missing", q("  - id: reference\n"), []string{`queues[0].library: is required`}},
		{"queue library unknown", q("  - id: reference\n    library: unx\n"), []string{`queues[0].library: "unx" is not a library; did you mean "unc"?`}},
		{"queue operator unknown", q("  - id: reference\n    library: unc\n    operators: [alicia@localhost]\n"), []string{`queues[0].operators[0]: "alicia@localhost" is not an operator; did you mean "alice@localhost"?`}},
		{"queue operator full jid", q("  - id: reference\n    library: unc\n    operators: [alice@localhost/x]\n"), []string{`queues[0].operators[0]: "alice@localhost/x" is a full JID`}},
		{"queue operator twice", q("  - id: reference\n    library: unc\n    operators: [alice@localhost, Alice@localhost]\n"), []string{`queues[0].operators[1]: operator "alice@localhost" is listed twice`}},
		{"transcript days negative", q("  - id: reference\n    library: unc\n    transcripts: true\n    transcript_days: -1\n"), []string{`queues[0].transcript_days: -1 is negative`}},
		{"redact", q("  - id: reference\n    library: unc\n    redact: [emails]\n"), []string{`queues[0].redact[0]: "emails" is not something owlgate can redact; did you mean "email"?`}},
		{"fallback unknown", q("  - id: reference\n    library: unc\n    fallback: [nightowel]\n  - id: nightowl\n    library: unc\n"), []string{`queues[0].fallback[0]: "nightowel" is not a queue; did you mean "nightowl"?`}},
		{"fallback self", q("  - id: reference\n    library: unc\n    fallback: [reference]\n"), []string{`queues[0].fallback[0]: queue "reference" falls back to itself`}},
		{"fallback twice", q("  - id: reference\n    library: unc\n    fallback: [n, n]\n  - id: n\n    library: unc\n"), []string{`queues[0].fallback[1]: queue "n" is named twice`}},
		{"fallback cycle 2", q("  - id: reference\n    library: unc\n    fallback: [nightowl]\n  - id: nightowl\n    library: unc\n    fallback: [reference]\n"),
			[]string{`queues[0].fallback[0]: fallback cycle: reference → nightowl → reference`}},
		{"fallback cycle 3", q("  - id: a\n    library: unc\n    fallback: [b]\n  - id: b\n    library: unc\n    fallback: [x, c]\n  - id: c\n    library: unc\n    fallback: [a]\n  - id: x\n    library: unc\n"),
			[]string{`queues[0].fallback[0]: fallback cycle: a → b → c → a`}},
		{"fallback chain ok", q("  - id: a\n    library: unc\n    fallback: [b, c]\n  - id: b\n    library: unc\n    fallback: [c]\n  - id: c\n    library: unc\n"), nil},
		{"fallback_after without fallback", q("  - id: reference\n    library: unc\n    fallback_after: 90s\n"), []string{`queues[0].fallback_after: has no fallback queue`}},
		{"duration bare", q("  - id: reference\n    library: unc\n    idle_timeout: 30\n"), []string{`queues[0].idle_timeout: "30" is not a duration; write a number with a unit, like 90s or 2m`}},
		{"duration negative", q("  - id: reference\n    library: unc\n    idle_timeout: -1m\n"), []string{`queues[0].idle_timeout: "-1m" is negative`}},
		{"duration list", q("  - id: reference\n    library: unc\n    idle_timeout: [1m]\n"), []string{`queues[0].idle_timeout: must be a duration, not a list`}},
		{"account id missing", q("  - id: reference\n    library: unc\n    accounts:\n      - network: irc\n"), []string{`queues[0].accounts[0].id: is required`}},
		{"account id bad", q("  - id: reference\n    library: unc\n    accounts:\n      - id: ../etc\n        network: irc\n"), []string{`queues[0].accounts[0].id: "../etc" is not a valid account id`}},
		{"account network missing", q("  - id: reference\n    library: unc\n    accounts:\n      - id: unc-irc\n"), []string{`queues[0].accounts[0].network: is required`}},
		{"account network empty", q("  - id: reference\n    library: unc\n    accounts:\n      - id: unc-irc\n        network: ''\n"), []string{`queues[0].accounts[0].network: is required`}},
		{"account idle timeout bad", q("  - id: reference\n    library: unc\n    accounts:\n      - id: unc-irc\n        network: irc\n        idle_timeout: soon\n"), []string{`queues[0].accounts[0].idle_timeout: "soon" is not a duration`}},
		{"account duplicate across queues", q("  - id: a\n    library: unc\n    accounts: [{id: x, network: irc}]\n  - id: b\n    library: unc\n    accounts: [{id: x, network: sms}]\n"), []string{`queues[1].accounts[0].id: account "x" is already defined at queues[0].accounts[0].id`}},
		{"account network keys not checked", q("  - id: reference\n    library: unc\n    accounts:\n      - id: unc-irc\n        network: irc\n        anything: [goes, here]\n        nik: x\n"), nil},
		{"account duplicate key", q("  - id: reference\n    library: unc\n    accounts:\n      - id: unc-irc\n        network: irc\n        nick: a\n        nick: b\n"), []string{`queues[0].accounts[0].nick: "nick" is written twice`}},
		{"fallback to other library ok", q("  - id: reference\n    library: unc\n    fallback: [nightowl]\n  - id: nightowl\n    library: duke\n") + "", []string{`queues[1].library: "duke" is not a library`}},

		// YAML features.
		{"anchors and merge", q("  - &q\n    id: a\n    library: unc\n    idle_timeout: 5m\n  - <<: *q\n    id: b\n"), nil},
		{"syntax", "xmpp:\n  domain: [\n", []string{"owlgate.yaml:", "YAML syntax"}},
		{"tab", "xmpp:\n\tdomain: localhost\n", []string{"owlgate.yaml:2:1: YAML syntax: a tab in the indentation"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == nil {
				mustParse(t, tt.yaml)
				return
			}
			wantContains(t, parseErr(t, tt.yaml), tt.want...)
		})
	}
}

// TestAllErrorsAtOnce checks that independent mistakes are all reported, in
// the order of the file.
func TestAllErrorsAtOnce(t *testing.T) {
	setenv(t)
	text := "log:\n  level: loud\nxmpp:\n  mode: client\nqueues:\n  - id: Guest\n    fallback_after: 9\n    nik: x\n"
	_, err := Parse("owlgate.yaml", []byte(text))
	es := AsErrors(err)
	var keys []string
	for _, e := range es {
		keys = append(keys, e.Key)
	}
	want := []string{"log.level", "xmpp.mode", "queues[0].library", "queues[0].id", "queues[0].fallback_after", "queues[0].nik"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Errorf("keys = %v, want %v\n%v", keys, want, err)
	}
	for i := 1; i < len(es); i++ {
		if es[i].Line < es[i-1].Line {
			t.Errorf("errors out of order: %v", err)
		}
	}
}

// TestNormalizedJIDs checks that operator JIDs are compared and stored in
// normal form.
func TestNormalizedJIDs(t *testing.T) {
	setenv(t)
	c := mustParse(t, "xmpp:\n  domain: LocalHost\nlibraries: [{id: unc}]\noperators:\n  - jid: Alice@LocalHost\n    library: unc\n    password: ${ALICE_PASSWORD}\nqueues:\n  - id: reference\n    library: unc\n    operators: [ALICE@localhost]\n")
	if c.XMPP.Domain != "localhost" || c.Operators[0].JID != "alice@localhost" || c.Queues[0].Operators[0] != "alice@localhost" {
		t.Errorf("not normalized: %q %q %q", c.XMPP.Domain, c.Operators[0].JID, c.Queues[0].Operators)
	}
	if c.OperatorByJID("ALICE@localhost") == nil || c.OperatorByJID("carol@localhost") != nil {
		t.Errorf("OperatorByJID")
	}
}
