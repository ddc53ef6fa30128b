package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"text/template"
	"time"
)

// ProsodyOptions configures StartProsody. The zero value is usable.
type ProsodyOptions struct {
	ComponentDomain string            // default DefaultComponentDomain
	ComponentSecret string            // default: random
	Users           map[string]string // name → password, on Domain
	Debug           bool              // log at debug level (prosody.log)
}

// Prosody is a running (or stopped) Prosody started by StartProsody.
type Prosody struct {
	ServerInfo
	t    testing.TB
	bin  string
	cfg  string
	proc *process
}

var prosodyConfig = template.Must(template.New("prosody.cfg.lua").Funcs(template.FuncMap{"lua": luaQuote}).Parse(`-- Made by owlgate's internal/testenv. Run: prosody --config <this> -F
run_as_root = true
data_path = {{lua .Dir}} .. "/data"
pidfile = {{lua .Dir}} .. "/prosody.pid"
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { {{.C2SPort}} }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; }
modules_disabled = { "s2s"; }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
ssl = { certificate = {{lua .Dir}} .. "/certs/localhost.crt"; key = {{lua .Dir}} .. "/certs/localhost.key"; }
log = { {{if .Debug}}debug{{else}}info{{end}} = {{lua .Dir}} .. "/prosody.log"; error = {{lua .Dir}} .. "/prosody.err"; }

-- examples/prosody-owlgate.cfg.lua, with this test's port, domain and secret:
{{.Snippet}}

VirtualHost "localhost"
`))

// StartProsody starts a Prosody for the test, ready when its client and
// component ports accept connections, and stops it when the test ends.
// It skips the test when Prosody is not installed (see the package doc).
func StartProsody(t testing.TB, opts ProsodyOptions) *Prosody {
	t.Helper()
	bin := lookBinary(t, "prosody", "prosody")
	dir := t.TempDir()
	ports := FreePorts(t, 2)
	p := &Prosody{
		ServerInfo: ServerInfo{
			Name:            "prosody",
			Dir:             dir,
			C2SAddr:         "127.0.0.1:" + strconv.Itoa(ports[0]),
			ComponentAddr:   "127.0.0.1:" + strconv.Itoa(ports[1]),
			Domain:          Domain,
			ComponentDomain: opts.ComponentDomain,
			ComponentSecret: opts.ComponentSecret,
		},
		t:   t,
		bin: bin,
		cfg: filepath.Join(dir, "prosody.cfg.lua"),
	}
	if p.ComponentDomain == "" {
		p.ComponentDomain = DefaultComponentDomain
	}
	if p.ComponentSecret == "" {
		p.ComponentSecret = randomSecret(t)
	}
	cert, err := LocalhostCert()
	if err != nil {
		t.Fatalf("testenv: certificate: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: preparing prosody in %s: %v", dir, err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "certs"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "data"), 0o750))
	must(os.WriteFile(filepath.Join(dir, "certs", "localhost.crt"), cert.CertPEM, 0o644))
	must(os.WriteFile(filepath.Join(dir, "certs", "localhost.key"), cert.KeyPEM, 0o600))
	var cfg bytes.Buffer
	must(prosodyConfig.Execute(&cfg, map[string]any{
		"Dir": dir, "C2SPort": ports[0], "ComponentPort": ports[1], "Debug": opts.Debug,
		"ComponentDomain": p.ComponentDomain, "ComponentSecret": p.ComponentSecret,
		"Snippet": exampleSnippet(t, "prosody-owlgate.cfg.lua", p.ComponentDomain, ports[1], p.ComponentSecret),
	}))
	must(os.WriteFile(p.cfg, cfg.Bytes(), 0o644))
	for name, pw := range opts.Users {
		p.AddUser(name, pw)
	}
	logDump(t, "prosody", func() []string {
		return []string{filepath.Join(dir, "prosody.out"), filepath.Join(dir, "prosody.err"), filepath.Join(dir, "prosody.log")}
	})
	t.Cleanup(p.Stop)
	p.Start()
	return p
}

// Start implements Server.
func (p *Prosody) Start() {
	p.t.Helper()
	if p.proc != nil && !p.proc.exited() {
		return
	}
	start := time.Now()
	proc, err := startProcess("prosody", p.Dir, filepath.Join(p.Dir, "prosody.out"), os.Environ(),
		p.bin, "--config", p.cfg, "-F")
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	p.proc = proc
	if err := proc.waitReady(15*time.Second, p.C2SAddr, p.ComponentAddr); err != nil {
		p.Stop()
		p.t.Fatalf("testenv: %v (logs in %s)", err, p.Dir)
	}
	p.t.Logf("testenv: prosody (pid %d) ready in %v: c2s %s, component %s (%s)",
		proc.cmd.Process.Pid, time.Since(start).Round(time.Millisecond), p.C2SAddr, p.ComponentAddr, p.ComponentDomain)
}

// Stop implements Server.
func (p *Prosody) Stop() {
	if p.proc == nil || p.proc.exited() {
		return
	}
	took, err := p.proc.stop(0, 10*time.Second)
	if err != nil {
		p.t.Errorf("testenv: %v", err)
		return
	}
	p.t.Logf("testenv: prosody stopped in %v", took.Round(time.Millisecond))
}

// AddUser implements Server: it writes the account file, which Prosody
// reads on demand (no restart needed).
func (p *Prosody) AddUser(name, password string) string {
	p.t.Helper()
	dir := filepath.Join(p.Dir, "data", prosodyEncode(p.Domain), "accounts")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		p.t.Fatalf("testenv: prosody user %s: %v", name, err)
	}
	body := fmt.Sprintf("return {\n\t[\"password\"] = %s;\n};\n", luaQuote(password))
	if err := os.WriteFile(filepath.Join(dir, prosodyEncode(name)+".dat"), []byte(body), 0o640); err != nil {
		p.t.Fatalf("testenv: prosody user %s: %v", name, err)
	}
	return name + "@" + p.Domain
}

// prosodyEncode is Prosody's datamanager encoding of a path element: every
// byte that is not a letter or digit becomes %xx.
func prosodyEncode(s string) string {
	var b bytes.Buffer
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}
