package config

import (
	"path/filepath"
	"testing"
	"time"
)

func TestDefaultsApplied(t *testing.T) {
	setenv(t)
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "owlgate.yaml"), []byte(base+"queues:\n  - id: reference\n    library: unc\n    accounts: [{id: unc-irc, network: irc}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "owlgate-data") {
		t.Errorf("DataDir = %q, want it in the config's folder", c.DataDir)
	}
	if c.Log.Level != DefaultLogLevel || c.Log.Format != DefaultLogFormat {
		t.Errorf("log = %+v", c.Log)
	}
	x := c.XMPP
	if x.Mode != ModeServer || x.Domain != "localhost" || x.Listen != "127.0.0.1:5222" || x.MaxStanza != 262144 || x.AllowPlaintext || x.Connect != "" || x.TLS != (TLS{}) {
		t.Errorf("xmpp = %+v", x)
	}
	if c.HTTP.Listen != "127.0.0.1:8080" || c.HTTP.AdminToken.IsSet() {
		t.Errorf("http = %+v", c.HTTP)
	}
	q := c.Queues[0]
	if q.Name != "reference" || q.FallbackAfter != 0 || q.OfflineGrace != Duration(2*time.Minute) ||
		q.OfflineMessage != DefaultOfflineMessage || q.Transcripts || q.TranscriptDays != 0 || q.IdleTimeout != 0 || q.ShowPhone {
		t.Errorf("queue = %+v", q)
	}
	if got := q.IdleTimeoutFor(&q.Accounts[0], 0); got != 30*time.Minute {
		t.Errorf("idle timeout = %v", got)
	}
	if c.Libraries[0].Name != "unc" || c.Operators[0].Name != "alice@localhost" {
		t.Errorf("names: %q %q", c.Libraries[0].Name, c.Operators[0].Name)
	}
	if c.File() != filepath.Join(dir, "owlgate.yaml") {
		t.Errorf("File = %q", c.File())
	}
}

func TestEmptyConfigDefaults(t *testing.T) {
	c := mustParse(t, "")
	if c.XMPP.Mode != DefaultXMPPMode || c.HTTP.Listen != DefaultHTTPListen || !filepath.IsAbs(c.DataDir) {
		t.Errorf("empty config: %+v", c)
	}
}

func TestExplicitValuesKept(t *testing.T) {
	setenv(t)
	dir := t.TempDir()
	c, err := Parse(filepath.Join(dir, "sub", "owlgate.yaml"), []byte(base+`data_dir: /var/lib/owlgate
log: {level: debug, format: json}
queues:
  - id: reference
    name: Reference Desk
    library: unc
    offline_grace: 0s
    offline_message: Closed.
    idle_timeout: 1h
    show_phone: true
`))
	if err != nil {
		t.Fatal(err)
	}
	q := c.Queues[0]
	if c.DataDir != "/var/lib/owlgate" || c.Log.Level != "debug" || c.Log.Format != "json" ||
		q.Name != "Reference Desk" || q.OfflineGrace != 0 || q.OfflineMessage != "Closed." || q.IdleTimeout != Duration(time.Hour) || !q.ShowPhone {
		t.Errorf("config = %+v", c)
	}
	c, err = Parse(filepath.Join(dir, "sub", "owlgate.yaml"), []byte(base+"data_dir: ../data\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != filepath.Join(dir, "data") {
		t.Errorf("relative data_dir = %q", c.DataDir)
	}
}
