package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var envRefInText = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// TestExamplesLoad loads every examples/*.yaml with the variables it
// references set.
func TestExamplesLoad(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range envRefInText.FindAllStringSubmatch(string(data), -1) {
				t.Setenv(m[1], "example-"+strings.ToLower(m[1]))
			}
			c, err := Load(f)
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(c.Queues) == 0 || len(c.Operators) == 0 {
				t.Errorf("example has no queue or operator")
			}
		})
	}
}

// TestQuickstart checks what the README and scripts/quickstart promise.
func TestQuickstart(t *testing.T) {
	setenv(t)
	c, err := Load("../examples/quickstart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("../examples/owlgate-data")
	if c.DataDir != abs {
		t.Errorf("DataDir = %q, want %q (relative to the config file)", c.DataDir, abs)
	}
	if c.XMPP.Mode != ModeServer || c.XMPP.Domain != "localhost" || c.XMPP.Listen != "127.0.0.1:5222" || c.HTTP.Listen != "127.0.0.1:8080" {
		t.Errorf("xmpp/http = %+v %+v", c.XMPP, c.HTTP)
	}
	for _, who := range []string{"alice", "bob"} {
		o := c.OperatorByJID(who + "@localhost")
		if o == nil || o.Password.Ref() != "${"+strings.ToUpper(who)+"_PASSWORD}" {
			t.Errorf("operator %s = %+v", who, o)
		}
	}
	q := c.QueueByID("reference")
	if q == nil || len(q.Operators) != 2 {
		t.Fatalf("queue reference = %+v", q)
	}
}

// TestCollaborationExample checks the collaboration example's shape.
func TestCollaborationExample(t *testing.T) {
	for _, v := range []string{"ALICE_PASSWORD", "BOB_PASSWORD", "DANA_PASSWORD", "OWLGATE_ADMIN_TOKEN",
		"UNC_IRC_PASSWORD", "TWILIO_SID", "TWILIO_TOKEN", "DUKE_MATRIX_TOKEN", "DUKE_MATRIX_PASSWORD", "UNC_HISTORY_TOKEN", "DUKE_HISTORY_TOKEN"} {
		t.Setenv(v, "x-"+v)
	}
	c, err := Load("../examples/collaboration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Libraries) != 2 {
		t.Fatalf("libraries = %+v", c.Libraries)
	}
	for _, l := range c.Libraries {
		if !slices.Contains(l.Collaborations, "nightowl") {
			t.Errorf("library %s is not in nightowl", l.ID)
		}
	}
	for _, q := range c.Queues {
		if q.ID != "nightowl" && (!slices.Equal(q.Fallback, []string{"nightowl"}) || q.FallbackAfter == 0) {
			t.Errorf("queue %s: fallback %v after %v", q.ID, q.Fallback, q.FallbackAfter)
		}
	}
	// The accounts stay commented out until their networks' adapters are
	// in the build (owlgate check refuses unknown networks); accounts of
	// every network are loaded by TestDesignExample.
	q := c.QueueByID("unc-reference")
	if !q.Transcripts || q.TranscriptDays != 90 || !slices.Equal(q.Redact, []string{"email", "phone"}) {
		t.Errorf("transcripts: %+v", q)
	}
	lt := c.HTTP.LibraryTokens
	if len(lt) != 2 || lt[0].Library != "unc" || lt[0].Token.Value() != "x-UNC_HISTORY_TOKEN" ||
		lt[1].Library != "duke" || lt[1].Token.Value() != "x-DUKE_HISTORY_TOKEN" {
		t.Errorf("library tokens: %+v", lt)
	}
}

// schemaKeys returns every key of the schema, by path (queues.accounts.id).
func schemaKeys(t reflect.Type, prefix string, out map[string]string) {
	for _, f := range fieldsOf(t) {
		ft := t.FieldByIndex(f.index).Type
		path := joinKey(prefix, f.name)
		out[path] = f.name
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && !isLeaf(ft) {
			schemaKeys(ft, path, out)
		}
	}
}

// TestEveryKeyDocumented checks that every key of the schema is written (or
// shown in a comment) in at least one example, and listed in
// examples/README.md.
func TestEveryKeyDocumented(t *testing.T) {
	var all strings.Builder
	files, _ := filepath.Glob("../examples/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	readme, err := os.ReadFile("../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	schemaKeys(reflect.TypeFor[Config](), "", keys)
	for path, key := range keys {
		if !regexp.MustCompile(`(?m)^[ \t#-]*` + regexp.QuoteMeta(key) + `:`).MatchString(all.String()) {
			t.Errorf("key %s is in no example", path)
		}
		if !regexp.MustCompile("`([a-z_]+(\\[\\])?\\.)*" + regexp.QuoteMeta(key) + "[`.\\[]").Match(readme) {
			t.Errorf("key %s is not in examples/README.md", path)
		}
	}
}

// TestDefaultsDocumented checks that examples/README.md names every default
// constant of defaults.go and shows its value.
func TestDefaultsDocumented(t *testing.T) {
	readme, err := os.ReadFile("../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("defaults.go")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`(?m)^\t(Default\w+|Min\w+)\s*=`).FindAllSubmatch(src, -1)
	if len(names) < 10 {
		t.Fatalf("found only %d constants in defaults.go", len(names))
	}
	for _, m := range names {
		if !strings.Contains(string(readme), string(m[1])) {
			t.Errorf("examples/README.md does not mention %s", m[1])
		}
	}
	for _, v := range []string{DefaultDataDir, DefaultLogLevel, DefaultLogFormat, DefaultXMPPMode, DefaultXMPPDomain,
		DefaultXMPPListen, DefaultHTTPListen, DefaultOfflineMessage, "262144", "10000",
		Duration(DefaultOfflineGrace).String(), Duration(DefaultIdleTimeout).String(), Duration(DefaultFallbackAfter).String()} {
		if !strings.Contains(string(readme), v) {
			t.Errorf("examples/README.md does not show the default %q", v)
		}
	}
}

// TestSystemdUnit checks the unit's essentials.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../examples/owlgate.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"ExecStart=/usr/local/bin/owlgate run --config /etc/owlgate/owlgate.yaml",
		"StateDirectory=owlgate", "EnvironmentFile=", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"DynamicUser=yes", "[Install]",
	} {
		if !strings.Contains(string(b), line) {
			t.Errorf("owlgate.service lacks %q", line)
		}
	}
}

// designExample is the configuration of DESIGN.md, completed with the
// operator and the fallback queue it names but does not define.
const designExample = `data_dir: ./owlgate-data
xmpp:
  mode: server                  # or: component
  domain: localhost
  listen: 127.0.0.1:5222        # server mode
  # tls: {cert: ..., key: ...}  # server mode; a self-signed pair is made when absent
  # connect: 127.0.0.1:5347     # component mode
  # secret: ${OWLGATE_COMPONENT_SECRET}
http:
  listen: 127.0.0.1:8080
  # admin_token: ${OWLGATE_ADMIN_TOKEN}
libraries:
  - id: unc
    name: UNC Chapel Hill
    collaborations: [nightowl]
operators:
  - jid: alice@localhost
    name: Alice
    library: unc
    password: ${ALICE_PASSWORD}  # server mode only
  - jid: bob@localhost
    library: unc
    password: ${BOB_PASSWORD}
queues:
  - id: reference
    library: unc
    operators: [alice@localhost, bob@localhost]
    transcripts: false
    fallback: [nightowl]
    fallback_after: 90s
    offline_message: "Ask a Librarian is closed; email ask@example.edu."
    accounts:
      - id: unc-irc
        network: irc
        server: irc.example.net:6697
        tls: true
        nick: UNCLibrary
      - id: unc-sms
        network: sms
        provider: twilio
        account_sid: ${TWILIO_SID}
        auth_token: ${TWILIO_TOKEN}
        from: "+15555550100"
  - id: nightowl
    library: unc
    operators: [bob@localhost]
`

// TestDesignExample loads the configuration of DESIGN.md, in server and in
// component mode.
func TestDesignExample(t *testing.T) {
	setenv(t)
	t.Setenv("TWILIO_SID", "AC123")
	t.Setenv("TWILIO_TOKEN", "twilio-secret-value")
	c := mustParse(t, designExample)
	q := c.QueueByID("reference")
	if q.FallbackAfter != Duration(90*time.Second) || len(q.Accounts) != 2 {
		t.Errorf("reference = %+v", q)
	}
	var sms struct {
		Provider   string `yaml:"provider"`
		AccountSID Secret `yaml:"account_sid"`
		AuthToken  Secret `yaml:"auth_token"`
		From       string `yaml:"from"`
	}
	if err := q.Accounts[1].Decode(&sms); err != nil {
		t.Fatal(err)
	}
	if sms.AuthToken.Value() != "twilio-secret-value" || sms.From != "+15555550100" {
		t.Errorf("sms = %+v", sms)
	}

	// The same in component mode: the server-mode listen line may stay;
	// the passwords must go.
	component := strings.NewReplacer(
		"mode: server ", "mode: component ",
		"# connect:", "connect:",
		"# secret:", "secret:",
		"    password: ${ALICE_PASSWORD}  # server mode only\n", "",
		"    password: ${BOB_PASSWORD}\n", "",
	).Replace(designExample)
	c = mustParse(t, component)
	if c.XMPP.Mode != ModeComponent || c.XMPP.Connect != "127.0.0.1:5347" || c.XMPP.Secret.Value() != "component-secret-value" {
		t.Errorf("component: %+v", c.XMPP)
	}
}
