package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// ircConfig is an IRC-like adapter config, as an adapter package would
// declare it.
type ircConfig struct {
	Server   string        `yaml:"server"`
	TLS      bool          `yaml:"tls"`
	Nick     string        `yaml:"nick"`
	Password Secret        `yaml:"password"`
	Channels []string      `yaml:"channels"`
	Rate     float64       `yaml:"rate"`
	Ping     time.Duration `yaml:"ping"`
	Limits   struct {
		Burst int `yaml:"burst"`
	} `yaml:"limits"`
	Labels map[string]string `yaml:"labels"`
	Common `yaml:",inline"`
}

type Common struct {
	Greeting string `yaml:"greeting"`
}

func accountConfig(t *testing.T, keys string) *Account {
	t.Helper()
	setenv(t)
	c := mustParse(t, base+"queues:\n  - id: reference\n    library: unc\n    accounts:\n      - id: first\n        network: irc\n      - id: unc-irc\n        network: irc\n        idle_timeout: 1h\n"+keys)
	return &c.Queues[0].Accounts[1]
}

func TestAccountDecode(t *testing.T) {
	t.Setenv("UNC_IRC_PASSWORD", "nickserv-pw")
	a := accountConfig(t, `        server: irc.example.net:6697
        tls: true
        nick: UNCLibrary
        password: ${UNC_IRC_PASSWORD}
        channels: ["#library"]
        rate: 0.5
        ping: 2m
        limits: {burst: 5}
        labels: {a: b}
        greeting: hello
`)
	if a.ID != "unc-irc" || a.Network != "irc" || a.IdleTimeout != Duration(time.Hour) {
		t.Errorf("common keys: %+v", a)
	}
	var got ircConfig
	if err := a.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := ircConfig{Server: "irc.example.net:6697", TLS: true, Nick: "UNCLibrary", Channels: []string{"#library"},
		Rate: 0.5, Ping: 2 * time.Minute, Labels: map[string]string{"a": "b"}, Common: Common{"hello"}}
	want.Limits.Burst = 5
	pw := got.Password
	got.Password = Secret{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %+v\nwant %+v", got, want)
	}
	if pw.Value() != "nickserv-pw" {
		t.Errorf("password = %q", pw.Value())
	}
	if keys := strings.Join(a.Keys(), " "); keys != "server tls nick password channels rate ping limits labels greeting" {
		t.Errorf("Keys = %s", keys)
	}
	if a.Path() != "queues[0].accounts[1]" {
		t.Errorf("Path = %s", a.Path())
	}
	// A map gets the network keys only.
	var m map[string]any
	if err := a.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["id"]; ok || m["nick"] != "UNCLibrary" {
		t.Errorf("map = %v", m)
	}
}

func TestAccountDecodeStrict(t *testing.T) {
	tests := []struct {
		name, keys string
		want       []string
	}{
		{"typo", "        nik: UNCLibrary\n", []string{`owlgate.yaml:21:9: queues[0].accounts[1].nik: unknown key "nik"; did you mean "nick"?`}},
		{"unknown", "        colour: blue\n", []string{`queues[0].accounts[1].colour: unknown key "colour"; the keys allowed here are channels, greeting, id, idle_timeout, labels, limits, network, nick, password, ping, rate, server, tls`}},
		{"nested", "        limits: {burts: 5}\n", []string{`queues[0].accounts[1].limits.burts: unknown key "burts"; did you mean "burst"?`}},
		{"type bool", "        tls: sometimes\n", []string{`queues[0].accounts[1].tls: "sometimes" is not true or false`}},
		{"type int", "        limits: {burst: many}\n", []string{`queues[0].accounts[1].limits.burst: "many" is not a whole number`}},
		{"type list", "        channels: '#library'\n", []string{`queues[0].accounts[1].channels: must be a list, not a single value; write a list, like [#library]`}},
		{"duration", "        ping: 30\n", []string{`queues[0].accounts[1].ping: "30" is not a duration`}},
		{"literal secret", "        password: hunter2\n", []string{`queues[0].accounts[1].password: a secret cannot be written in the config file; write ${UNC_IRC_PASSWORD}`}},
		{"unset secret", "        password: ${OWLGATE_TEST_NEVER_SET}\n", []string{`queues[0].accounts[1].password: environment variable OWLGATE_TEST_NEVER_SET is not set`}},
		{"all at once", "        nik: a\n        tls: 2\n        sever: b\n", []string{`.nik: unknown key`, `.tls: "2" is not true or false`, `.sever: unknown key "sever"; did you mean "server"?`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := accountConfig(t, tt.keys)
			var got ircConfig
			err := a.Decode(&got)
			if err == nil {
				t.Fatal("no error")
			}
			if AsErrors(err) == nil {
				t.Errorf("error is %T", err)
			}
			wantContains(t, err.Error(), tt.want...)
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error repeats the secret")
			}
		})
	}
}

func TestAccountDecodeMisuse(t *testing.T) {
	a := accountConfig(t, "        nick: x\n")
	var v ircConfig
	if err := a.Decode(v); err == nil {
		t.Error("Decode of a non-pointer succeeded")
	}
	if err := a.Decode(nil); err == nil {
		t.Error("Decode(nil) succeeded")
	}
	var zero Account
	if err := zero.Decode(&v); err != nil {
		t.Errorf("Decode of an account built in Go: %v", err)
	}
}

func TestAccountKeyError(t *testing.T) {
	a := accountConfig(t, "        server: irc.example.net\n")
	e := a.KeyError("server", "has no port", "write irc.example.net:6697")
	if got := e.Error(); !strings.HasSuffix(got, "owlgate.yaml:21:17: queues[0].accounts[1].server: has no port; write irc.example.net:6697") {
		t.Errorf("KeyError = %s", got)
	}
	e = a.KeyError("nick", "is required", "add nick: UNCLibrary")
	if e.Line != 18 || e.Key != "queues[0].accounts[1].nick" {
		t.Errorf("KeyError of a missing key at %d:%d %s", e.Line, e.Column, e.Key)
	}
	err := a.WrapError(errors.New("no such network server"))
	if !strings.HasSuffix(err.Error(), "owlgate.yaml:18:9: queues[0].accounts[1]: no such network server") {
		t.Errorf("WrapError = %v", err)
	}
	var v ircConfig
	a2 := accountConfig(t, "        nik: x\n")
	derr := a2.Decode(&v)
	if werr := a2.WrapError(derr); werr == nil || werr.Error() != derr.Error() || a.WrapError(nil) != nil {
		t.Errorf("WrapError changed a config error or nil")
	}
}

func TestIdleTimeoutFor(t *testing.T) {
	q := &Queue{}
	a := &Account{}
	if got := q.IdleTimeoutFor(a, 0); got != DefaultIdleTimeout {
		t.Errorf("default = %v", got)
	}
	if got := q.IdleTimeoutFor(a, 24*time.Hour); got != 24*time.Hour {
		t.Errorf("network = %v", got)
	}
	q.IdleTimeout = Duration(time.Hour)
	if got := q.IdleTimeoutFor(a, 24*time.Hour); got != time.Hour {
		t.Errorf("queue = %v", got)
	}
	a.IdleTimeout = Duration(time.Minute)
	if got := q.IdleTimeoutFor(a, 24*time.Hour); got != time.Minute {
		t.Errorf("account = %v", got)
	}
}

// TestAccountDecodeConcurrent decodes one account from several goroutines,
// as the gateway may (run it with -race).
func TestAccountDecodeConcurrent(t *testing.T) {
	t.Setenv("UNC_IRC_PASSWORD", "nickserv-pw")
	a := accountConfig(t, "        nick: UNCLibrary\n        password: ${UNC_IRC_PASSWORD}\n        channels: [a, b]\n")
	done := make(chan error)
	for range 8 {
		go func() {
			var v ircConfig
			err := a.Decode(&v)
			if err == nil && (v.Nick != "UNCLibrary" || v.Password.Value() != "nickserv-pw") {
				err = errors.New("wrong value")
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
