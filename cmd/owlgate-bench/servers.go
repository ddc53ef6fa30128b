package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"
	"time"

	_ "modernc.org/sqlite" // biboumi's options table, owlgate's records
)

// The servers, all on 127.0.0.1 in folders under the run's temporary
// folder, configured as /work/shared/testenv describes (and as
// internal/testenv does for the tests): ngircd with flood penalties off,
// Prosody with owlgate's and biboumi's components and no mod_limits,
// biboumi with its throttling off per operator, owlgate from this
// repository's source.

const (
	xmppDomain    = "localhost"
	owlgateDomain = "owlgate.localhost"
	biboumiDomain = "irc.localhost"
	aloneDomain   = "alone.localhost" // the bench's own component (alone.go)
	operatorPW    = "bench-pw"
	libraryNick   = "Library"
	benchChannel  = "#bench"
)

// ---- ngircd ----

type ngircd struct {
	*proc
	Addr string
	Port int
}

var ngircdConfig = template.Must(template.New("ngircd.conf").Parse(`# Made by owlgate-bench. Run: ngircd -n -f <this>
[Global]
	Name = irc.localhost
	Info = ngircd for owlgate-bench
	AdminInfo1 = bench
	AdminInfo2 = bench
	AdminEMail = bench@localhost
	Listen = 127.0.0.1
	Ports = {{.Port}}
	MotdPhrase = owlgate-bench
[Limits]
	MaxConnections = 0
	MaxConnectionsIP = 0
	MaxJoins = 0
	MaxNickLength = 30
	MaxPenaltyTime = 0
	PingTimeout = 300
	PongTimeout = 60
[Options]
	DNS = no
	Ident = no
	PAM = no
`))

func startNgircd(dir string) (*ngircd, error) {
	bin, err := lookBinary("ngircd", "ngircd")
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "ngircd")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	var cfg bytes.Buffer
	if err := ngircdConfig.Execute(&cfg, map[string]any{"Port": ports[0]}); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ngircd.conf")
	if err := os.WriteFile(path, cfg.Bytes(), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("ngircd", dir, filepath.Join(dir, "ngircd.log"), os.Environ(), bin, "-n", "-f", path)
	if err != nil {
		return nil, err
	}
	n := &ngircd{proc: p, Port: ports[0], Addr: "127.0.0.1:" + strconv.Itoa(ports[0])}
	if err := p.waitReady(15*time.Second, n.Addr); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return n, nil
}

// ---- Prosody ----

type prosody struct {
	*proc
	Dir           string
	C2SAddr       string
	ComponentAddr string
	ComponentPort int
	OwlgateSecret string
	BiboumiSecret string
	AloneSecret   string
}

var prosodyConfig = template.Must(template.New("prosody.cfg.lua").Parse(`-- Made by owlgate-bench. Run: prosody --config <this> -F
run_as_root = true
data_path = "{{.Dir}}/data"
pidfile = "{{.Dir}}/prosody.pid"
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { {{.C2SPort}} }
c2s_direct_tls_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
component_ports = { {{.ComponentPort}} }
component_interfaces = { "127.0.0.1" }
-- No mod_limits (it throttles clients to 10 kB/s) and no TLS: the
-- operators' raw clients log in with PLAIN on loopback.
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; }
modules_disabled = { "s2s"; "tls"; }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
allow_registration = false
authentication = "internal_hashed"
storage = "internal"
log = { info = "{{.Dir}}/prosody.log"; error = "{{.Dir}}/prosody.err"; }

Component "{{.OwlgateDomain}}"
    component_secret = "{{.OwlgateSecret}}"

Component "{{.BiboumiDomain}}"
    component_secret = "{{.BiboumiSecret}}"

-- The bench's own component, for Prosody alone (alone.go).
Component "{{.AloneDomain}}"
    component_secret = "{{.AloneSecret}}"

VirtualHost "{{.Domain}}"
`))

func startProsody(dir string, users []string) (*prosody, error) {
	bin, err := lookBinary("prosody", "prosody")
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "prosody")
	accounts := filepath.Join(dir, "data", xmppDomain, "accounts")
	if err := os.MkdirAll(accounts, 0o750); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	p := &prosody{
		Dir: dir, C2SAddr: "127.0.0.1:" + strconv.Itoa(ports[0]),
		ComponentAddr: "127.0.0.1:" + strconv.Itoa(ports[1]), ComponentPort: ports[1],
		OwlgateSecret: "owlgate-bench-secret", BiboumiSecret: "biboumi-bench-secret", AloneSecret: "alone-bench-secret",
	}
	var cfg bytes.Buffer
	if err := prosodyConfig.Execute(&cfg, map[string]any{
		"Dir": dir, "C2SPort": ports[0], "ComponentPort": ports[1], "Domain": xmppDomain,
		"OwlgateDomain": owlgateDomain, "OwlgateSecret": p.OwlgateSecret,
		"BiboumiDomain": biboumiDomain, "BiboumiSecret": p.BiboumiSecret,
		"AloneDomain": aloneDomain, "AloneSecret": p.AloneSecret,
	}); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(path, cfg.Bytes(), 0o644); err != nil {
		return nil, err
	}
	// Accounts are files Prosody reads on demand (a plain password is
	// accepted and upgraded by internal_hashed).
	body := []byte("return {\n\t[\"password\"] = \"" + operatorPW + "\";\n};\n")
	for _, u := range users {
		if err := os.WriteFile(filepath.Join(accounts, u+".dat"), body, 0o640); err != nil {
			return nil, err
		}
	}
	pr, err := startProc("prosody", dir, filepath.Join(dir, "prosody.out"), os.Environ(), bin, "--config", path, "-F")
	if err != nil {
		return nil, err
	}
	p.proc = pr
	if err := pr.waitReady(15*time.Second, p.C2SAddr, p.ComponentAddr); err != nil {
		pr.stop(5 * time.Second)
		return nil, err
	}
	return p, nil
}

// ---- biboumi ----

type biboumi struct {
	*proc
	Dir string
	DB  string
}

func startBiboumi(dir string, pr *prosody) (*biboumi, error) {
	bin, err := lookBinary("biboumi", "biboumi")
	if err != nil {
		return nil, err
	}
	dir = filepath.Join(dir, "biboumi")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b := &biboumi{Dir: dir, DB: filepath.Join(dir, "biboumi.sqlite")}
	logPath := filepath.Join(dir, "biboumi.log")
	cfg := strings.Join([]string{
		"hostname=" + biboumiDomain,
		"password=" + pr.BiboumiSecret,
		"xmpp_server_ip=127.0.0.1",
		"port=" + strconv.Itoa(pr.ComponentPort),
		"db_name=" + b.DB,
		"fixed_irc_server=127.0.0.1",
		"identd_port=0",
		"outgoing_bind=127.0.0.1",
		"log_file=" + logPath,
		"log_level=1",
		"policy_directory=" + dir,
		"realname_customization=true",
		"realname_from_jid=false",
		"",
	}, "\n")
	path := filepath.Join(dir, "biboumi.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("biboumi", dir, filepath.Join(dir, "biboumi.out"), os.Environ(), bin, path)
	if err != nil {
		return nil, err
	}
	b.proc = p
	if err := p.waitLog(logPath, "Authenticated with the XMPP server", 20*time.Second); err != nil {
		p.stop(5 * time.Second)
		return nil, err
	}
	return b, nil
}

// unthrottle gives each operator JID biboumi's options for the ngircd
// server: its port (a room address cannot carry one), no throttling (by
// default one line a second after ten), no history.
func (b *biboumi) unthrottle(ctx context.Context, jids []string, ircPort int) error {
	db, err := sql.Open("sqlite", "file:"+b.DB+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	for _, j := range jids {
		_, err := db.ExecContext(ctx, `INSERT INTO ircserveroptions_ (owner_,server_,ports_,tlsports_,verifycert_,throttlelimit_,maxhistorylength_) VALUES (?,?,?,?,0,-1,0)`,
			j, "127.0.0.1", strconv.Itoa(ircPort), "")
		if err != nil {
			return fmt.Errorf("biboumi database: %w", err)
		}
	}
	return nil
}

// ---- owlgate ----

type owlgate struct {
	*proc
	Dir    string
	DB     string
	Log    string
	C2S    string // server mode: the embedded server's address
	Config string
}

// pprofOverlay is added to cmd/owlgate (with go build -overlay, so no file
// of the repository changes) when profiling: it serves net/http/pprof on
// the address in OWLGATE_BENCH_PPROF.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("OWLGATE_BENCH_PPROF"); addr != "" {
		go http.ListenAndServe(addr, nil)
	}
}
`

// buildOwlgate builds cmd/owlgate from the module this tool is in; with
// profiling, with pprofOverlay added.
func buildOwlgate(ctx context.Context, dir string, profiling bool) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bin", "owlgate")
	args := []string{"build", "-tags", "goolm", "-o", out} // goolm: pure-Go Matrix encryption
	if profiling {
		src := filepath.Join(dir, "bin", "zz_bench_pprof.go")
		ov := filepath.Join(dir, "bin", "overlay.json")
		if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
			return "", err
		}
		j := fmt.Sprintf(`{"Replace":{%q:%q}}`, filepath.Join(root, "cmd", "owlgate", "zz_bench_pprof.go"), src)
		if err := os.WriteFile(ov, []byte(j), 0o644); err != nil {
			return "", err
		}
		args = append(args, "-overlay", ov)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/owlgate")...)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/owlgate in %s: %w", root, err)
	}
	return out, nil
}

// moduleRoot is the folder of the go.mod of github.com/owlgate/owlgate,
// found upwards from the working directory.
func moduleRoot() (string, error) {
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/owlgate/owlgate\n") {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("not inside the owlgate repository (no go.mod of github.com/owlgate/owlgate upwards); run from the repository or give -owlgate-bin")
		}
		d = parent
	}
}

type owlgateOptions struct {
	Bin       string
	Mode      string // component or server
	Operators []string
	Prosody   *prosody // component mode
	IRCAddr   string
	LogLevel  string
	PprofAddr string // serve pprof here (a binary built with pprofOverlay)
}

func startOwlgate(dir string, o owlgateOptions) (*owlgate, error) {
	dir = filepath.Join(dir, "owlgate")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	og := &owlgate{Dir: dir, DB: filepath.Join(dir, "data", "owlgate.db"), Log: filepath.Join(dir, "owlgate.log"), Config: filepath.Join(dir, "owlgate.yaml")}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Made by owlgate-bench.\ndata_dir: %s\nlog:\n  level: %s\n  format: text\n", filepath.Join(dir, "data"), o.LogLevel)
	domain := owlgateDomain
	if o.Mode == "server" {
		domain = xmppDomain
		og.C2S = "127.0.0.1:" + strconv.Itoa(ports[0])
		fmt.Fprintf(&b, "xmpp:\n  mode: server\n  domain: %s\n  listen: %s\n  allow_plaintext: true\n", domain, og.C2S)
	} else {
		fmt.Fprintf(&b, "xmpp:\n  mode: component\n  domain: %s\n  connect: %s\n  secret: ${OWLGATE_BENCH_SECRET}\n", domain, o.Prosody.ComponentAddr)
	}
	fmt.Fprintf(&b, "http:\n  listen: 127.0.0.1:%d\nlibraries:\n  - id: bench\n    name: Bench Library\noperators:\n", ports[1])
	for i, op := range o.Operators {
		fmt.Fprintf(&b, "  - jid: %s\n    name: Op %d\n    library: bench\n", op, i)
		if o.Mode == "server" {
			b.WriteString("    password: ${OWLGATE_BENCH_PW}\n")
		}
	}
	// One queue staffed by every operator, one IRC nick: every new chat is
	// offered to all of them and the first reply takes it. The account's
	// token bucket is opened up (rate at its maximum, burst 10,000), as
	// biboumi's throttling is turned off. The ISON presence poll is off:
	// owlgate puts up to 400 bytes of nicks in one ISON, and ngircd answers
	// only the first 15 parameters, so every 30s owlgate took most of the
	// patrons of a large run for gone and ended their chats.
	fmt.Fprintf(&b, `queues:
  - id: reference
    name: Reference
    library: bench
    operators: [%s]
    idle_timeout: 2h
    accounts:
      - id: bench-irc
        network: irc
        server: %s
        tls: false
        nick: %s
        rate: 1000
        burst: 10000
        presence_poll: 0s
`, strings.Join(o.Operators, ", "), o.IRCAddr, libraryNick)
	if err := os.WriteFile(og.Config, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	env := append(os.Environ(), "OWLGATE_BENCH_PW="+operatorPW)
	if o.Prosody != nil {
		env = append(env, "OWLGATE_BENCH_SECRET="+o.Prosody.OwlgateSecret)
	}
	if o.PprofAddr != "" {
		env = append(env, "OWLGATE_BENCH_PPROF="+o.PprofAddr)
	}
	p, err := startProc("owlgate", dir, og.Log, env, o.Bin, "run", "--config", og.Config)
	if err != nil {
		return nil, err
	}
	og.proc = p
	if o.Mode == "server" {
		err = p.waitReady(60*time.Second, og.C2S)
	} else {
		err = p.waitLog(og.Log, "component connected", 60*time.Second)
	}
	if err != nil {
		p.stop(10 * time.Second)
		return nil, err
	}
	return og, nil
}

// countLines counts the lines owlgate stored whose text starts with prefix
// and a digit: the messages of one phase, durable on disk.
func (og *owlgate) countLines(ctx context.Context, prefix string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+og.DB+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM lines WHERE text GLOB ?`, prefix+"[0-9]*").Scan(&n)
	return n, err
}

// openChats counts the chats owlgate's store holds open (not ended).
func (og *owlgate) openChats(ctx context.Context) (int, error) {
	db, err := sql.Open("sqlite", "file:"+og.DB+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int
	err = db.QueryRowContext(ctx, `SELECT count(*) FROM chats WHERE status <> 3`).Scan(&n)
	return n, err
}
