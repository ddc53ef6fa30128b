package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"
)

// EjabberdOptions configures StartEjabberd. The zero value is usable.
type EjabberdOptions struct {
	ComponentDomain string            // default DefaultComponentDomain
	ComponentSecret string            // default: random
	Users           map[string]string // name → password, on Domain
	Debug           bool              // log at debug level (logs/ejabberd.log)
}

// Ejabberd is a running (or stopped) ejabberd started by StartEjabberd.
type Ejabberd struct {
	ServerInfo
	APIAddr string // mod_http_api, 127.0.0.1:port (/api/register, ...)

	t        testing.TB
	bin      string
	setpriv  string
	uid, gid int
	proc     *process
}

var ejabberdConfig = template.Must(template.New("ejabberd.yml").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(`# Made by owlgate's internal/testenv.
loglevel: {{if .Debug}}debug{{else}}info{{end}}
log_rotate_count: 0
hosts:
  - localhost
certfiles:
  - {{q .PEM}}
listen:
  -
    port: {{.C2SPort}}
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 1024
    starttls: true
    starttls_required: false
    max_stanza_size: 262144
    shaper: c2s_shaper
    access: c2s
{{.Listener}}  -
    port: {{.APIPort}}
    ip: "127.0.0.1"
    module: ejabberd_http
    request_handlers:
      /api: mod_http_api
auth_method: internal
acl:
  local:
    user_regexp: ""
  loopback:
    ip:
      - 127.0.0.0/8
access_rules:
  local:
    allow: local
  c2s:
    allow: all
api_permissions:
  "loopback admin":
    who:
      ip: 127.0.0.1/8
    what:
      - "*"
shaper_rules:
  c2s_shaper: none
  max_user_sessions: 100
modules:
  mod_disco: {}
  mod_ping: {}
  mod_roster: {}
  mod_http_api: {}
  mod_admin_extra: {}
`))

var ejabberdctlConfig = template.Must(template.New("ejabberdctl.cfg").Parse(`# Made by owlgate's internal/testenv; sourced by ejabberdctl --config-dir.
ERLANG_NODE=owlgate{{.DistPort}}@localhost
ERL_DIST_PORT={{.DistPort}}
ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0 -kernel inet_dist_use_interface {127,0,0,1}"
EJABBERD_PID_PATH={{.Dir}}/ejabberd.pid
CONTRIB_MODULES_CONF_DIR={{.Dir}}/modules.d
SPOOL_DIR={{.Dir}}/spool
LOGS_DIR={{.Dir}}/logs
EJABBERD_BYPASS_WARNINGS=true
`))

// The Erlang resolver configuration: localhost from a file, no DNS.
const ejabberdInetrc = `{lookup,["file","native"]}.
{host,{127,0,0,1}, ["localhost","hostalias"]}.
{file, resolv, "/etc/resolv.conf"}.
`

// StartEjabberd starts an ejabberd for the test, ready when its client,
// component and HTTP API ports accept connections, and stops it when the
// test ends. ejabberdctl refuses to run as root: as root, testenv runs it as
// the ejabberd user (setpriv); as any other user, it runs a copy of
// ejabberdctl without that check in the test's folder.
func StartEjabberd(t testing.TB, opts EjabberdOptions) *Ejabberd {
	t.Helper()
	bin := lookBinary(t, "ejabberdctl", "ejabberd")
	e := &Ejabberd{t: t, bin: bin, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		// ejabberdctl refuses root: switch to the package's ejabberd user.
		e.setpriv = lookBinary(t, "setpriv", "util-linux")
		u, err := user.Lookup("ejabberd")
		if err != nil {
			unavailable(t, "the ejabberd user does not exist (it comes with the ejabberd package): "+err.Error())
		}
		e.uid, _ = strconv.Atoi(u.Uid)
		e.gid, _ = strconv.Atoi(u.Gid)
	}
	dir := t.TempDir()
	if e.uid >= 0 {
		// The ejabberd user must reach its folder: t.TempDir's parent is
		// private to root.
		if err := os.Chmod(filepath.Dir(dir), 0o711); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	ports := FreePorts(t, 4)
	e.ServerInfo = ServerInfo{
		Name:            "ejabberd",
		Dir:             dir,
		C2SAddr:         "127.0.0.1:" + strconv.Itoa(ports[0]),
		ComponentAddr:   "127.0.0.1:" + strconv.Itoa(ports[1]),
		Domain:          Domain,
		ComponentDomain: opts.ComponentDomain,
		ComponentSecret: opts.ComponentSecret,
	}
	e.APIAddr = "127.0.0.1:" + strconv.Itoa(ports[2])
	if e.ComponentDomain == "" {
		e.ComponentDomain = DefaultComponentDomain
	}
	if e.ComponentSecret == "" {
		e.ComponentSecret = randomSecret(t)
	}
	cert, err := LocalhostCert()
	if err != nil {
		t.Fatalf("testenv: certificate: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: preparing ejabberd in %s: %v", dir, err)
		}
	}
	for _, sub := range []string{"home", "spool", "logs", "modules.d"} {
		must(os.MkdirAll(filepath.Join(dir, sub), 0o755))
	}
	pem := filepath.Join(dir, "localhost.pem")
	must(os.WriteFile(pem, append(append([]byte{}, cert.CertPEM...), cert.KeyPEM...), 0o600))
	must(os.WriteFile(filepath.Join(dir, "inetrc"), []byte(ejabberdInetrc), 0o644))
	var cfg bytes.Buffer
	must(ejabberdConfig.Execute(&cfg, map[string]any{
		"PEM": pem, "C2SPort": ports[0], "ComponentPort": ports[1], "APIPort": ports[2], "Debug": opts.Debug,
		"ComponentDomain": e.ComponentDomain, "ComponentSecret": e.ComponentSecret,
		// The listener of examples/ejabberd-owlgate.yml, with this test's
		// port, domain and secret.
		"Listener": listenItems(t, exampleSnippet(t, "ejabberd-owlgate.yml", e.ComponentDomain, ports[1], e.ComponentSecret)),
	}))
	must(os.WriteFile(filepath.Join(dir, "ejabberd.yml"), cfg.Bytes(), 0o644))
	cfg.Reset()
	must(ejabberdctlConfig.Execute(&cfg, map[string]any{"Dir": dir, "DistPort": ports[3]}))
	must(os.WriteFile(filepath.Join(dir, "ejabberdctl.cfg"), cfg.Bytes(), 0o644))
	if e.uid < 0 {
		// Neither root nor the ejabberd user: ejabberdctl would refuse
		// (it only runs as root, which it switches to INSTALLUSER, or as
		// INSTALLUSER). A copy without INSTALLUSER runs as whoever we are.
		script, err := os.ReadFile(bin)
		must(err)
		patched := regexp.MustCompile(`(?m)^INSTALLUSER=.*$`).ReplaceAll(script, []byte("INSTALLUSER="))
		e.bin = filepath.Join(dir, "ejabberdctl")
		must(os.WriteFile(e.bin, patched, 0o755))
	}
	if e.uid >= 0 {
		must(filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, e.uid, e.gid)
		}))
	}
	logDump(t, "ejabberd", func() []string {
		return []string{filepath.Join(dir, "ejabberd.out"), filepath.Join(dir, "logs", "error.log"),
			filepath.Join(dir, "logs", "crash.log"), filepath.Join(dir, "logs", "ejabberd.log")}
	})
	t.Cleanup(e.Stop)
	e.Start()
	for name, pw := range opts.Users {
		e.AddUser(name, pw)
	}
	return e
}

// Start implements Server.
func (e *Ejabberd) Start() {
	e.t.Helper()
	if e.proc != nil && !e.proc.exited() {
		return
	}
	start := time.Now()
	os.Remove(e.pidFile())
	argv := []string{e.bin, "--config-dir", e.Dir, "foreground"}
	env := append(os.Environ(), "HOME="+filepath.Join(e.Dir, "home"))
	if e.uid >= 0 {
		argv = append([]string{e.setpriv, "--reuid=ejabberd", "--regid=ejabberd", "--init-groups",
			"env", "HOME=" + filepath.Join(e.Dir, "home")}, argv...)
	}
	proc, err := startProcess("ejabberd", e.Dir, filepath.Join(e.Dir, "ejabberd.out"), env, argv...)
	if err != nil {
		e.t.Fatalf("testenv: %v", err)
	}
	if e.uid >= 0 {
		os.Lchown(filepath.Join(e.Dir, "ejabberd.out"), e.uid, e.gid)
	}
	e.proc = proc
	if err := proc.waitReady(60*time.Second, e.C2SAddr, e.ComponentAddr, e.APIAddr); err != nil {
		e.Stop()
		e.t.Fatalf("testenv: %v (logs in %s)", err, e.Dir)
	}
	e.t.Logf("testenv: ejabberd (pid %d) ready in %v: c2s %s, component %s (%s), api %s",
		e.beamPID(), time.Since(start).Round(time.Millisecond), e.C2SAddr, e.ComponentAddr, e.ComponentDomain, e.APIAddr)
}

func (e *Ejabberd) pidFile() string { return filepath.Join(e.Dir, "ejabberd.pid") }

// beamPID is the Erlang VM's PID from ejabberd.pid, or 0.
func (e *Ejabberd) beamPID() int {
	b, err := os.ReadFile(e.pidFile())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// Stop implements Server: SIGTERM to the Erlang VM (the PID in
// ejabberd.pid; the process testenv started is the ejabberdctl shell
// script waiting for it).
func (e *Ejabberd) Stop() {
	if e.proc == nil || e.proc.exited() {
		return
	}
	took, err := e.proc.stop(e.beamPID(), 15*time.Second)
	if err != nil {
		e.t.Errorf("testenv: %v", err)
		return
	}
	e.t.Logf("testenv: ejabberd stopped in %v", took.Round(time.Millisecond))
}

// AddUser implements Server, through the HTTP API's register command.
func (e *Ejabberd) AddUser(name, password string) string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"user": name, "host": e.Domain, "password": password})
	resp, err := http.Post("http://"+e.APIAddr+"/api/register", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatalf("testenv: ejabberd registering %s: %v", name, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("testenv: ejabberd registering %s: %s: %s", name, resp.Status, answer)
	}
	return fmt.Sprintf("%s@%s", name, e.Domain)
}
