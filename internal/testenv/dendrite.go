package testenv

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// DendriteVersion is the Dendrite release the tests run, as scripts/test
// installs it.
const DendriteVersion = "v0.13.8"

// Dendrite is a running (or stopped) Matrix homeserver started by
// StartDendrite, for the server name "localhost", federation off, open
// registration off (accounts are made with AddUser through the shared
// secret).
type Dendrite struct {
	Dir        string // its folder: config, key, databases, log
	URL        string // the client-server API, http://127.0.0.1:port
	ServerName string // "localhost": user ids are @name:localhost

	t    testing.TB
	bins map[string]string
	cfg  string
	addr string
	proc *process
	mu   sync.Mutex
}

// dendriteBinary finds one of Dendrite's programs in PATH or in Go's bin
// folder (where `go install` puts it), or skips the test (fails it, with
// OWLGATE_REQUIRE_SERVERS=1).
func dendriteBinary(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	unavailable(t, fmt.Sprintf("Dendrite's %s is not installed; install it with: CGO_ENABLED=1 go install github.com/matrix-org/dendrite/cmd/{dendrite,create-account,generate-keys,generate-config}@%s (scripts/test does this when run as root or in CI)", name, DendriteVersion))
	return ""
}

// StartDendrite starts a Dendrite for the test on a free loopback port, in
// a fresh folder, ready when its client API answers, and stops it when the
// test ends. It skips the test when Dendrite is not installed (see the
// package doc).
func StartDendrite(t testing.TB) *Dendrite {
	t.Helper()
	bins := map[string]string{}
	for _, name := range []string{"dendrite", "create-account", "generate-keys", "generate-config"} {
		bins[name] = dendriteBinary(t, name)
	}
	dir := t.TempDir()
	port := FreePorts(t, 1)[0]
	d := &Dendrite{
		Dir:        dir,
		URL:        "http://127.0.0.1:" + strconv.Itoa(port),
		ServerName: "localhost",
		t:          t,
		bins:       bins,
		cfg:        filepath.Join(dir, "dendrite.yaml"),
		addr:       "127.0.0.1:" + strconv.Itoa(port),
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("testenv: preparing Dendrite in %s: %v", dir, err)
		}
	}
	key := filepath.Join(dir, "matrix_key.pem")
	if out, err := exec.Command(bins["generate-keys"], "--private-key", key).CombinedOutput(); err != nil {
		t.Fatalf("testenv: generate-keys: %v: %s", err, out)
	}
	out, err := exec.Command(bins["generate-config"], "-ci", "-dir", dir, "-server", d.ServerName).Output()
	if err != nil {
		t.Fatalf("testenv: generate-config: %v", err)
	}
	// The CI config (-ci) has rate limiting off and the shared secret
	// "complement"; federation goes off, open registration too (Dendrite
	// refuses it without a captcha), and the key path is made absolute.
	cfg := string(out)
	for old, repl := range map[string]string{
		"private_key: matrix_key.pem":  "private_key: " + key,
		"disable_federation: false":    "disable_federation: true",
		"registration_disabled: false": "registration_disabled: true",
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("testenv: Dendrite's generated config has no %q; the template changed", old)
		}
		cfg = strings.Replace(cfg, old, repl, 1)
	}
	must(os.WriteFile(d.cfg, []byte(cfg), 0o600))
	logDump(t, "dendrite", func() []string { return []string{filepath.Join(dir, "dendrite.log")} })
	t.Cleanup(d.Stop)
	d.Start()
	return d
}

// Start starts a stopped Dendrite again on the same port and folder.
func (d *Dendrite) Start() {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.proc != nil && !d.proc.exited() {
		return
	}
	start := time.Now()
	proc, err := startProcess("dendrite", d.Dir, filepath.Join(d.Dir, "dendrite.log"), os.Environ(),
		d.bins["dendrite"], "-config", d.cfg, "-http-bind-address", d.addr)
	if err != nil {
		d.t.Fatalf("testenv: %v", err)
	}
	d.proc = proc
	if err := proc.waitReady(60*time.Second, d.addr); err != nil {
		d.stopLocked()
		d.t.Fatalf("testenv: %v (logs in %s)", err, d.Dir)
	}
	// Listening comes before the client API is wired: wait for an answer.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/_matrix/client/versions", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if proc.exited() || ctx.Err() != nil {
			d.stopLocked()
			d.t.Fatalf("testenv: Dendrite's client API did not answer (logs in %s)", d.Dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Logf("testenv: Dendrite (pid %d) ready in %v at %s",
		proc.cmd.Process.Pid, time.Since(start).Round(time.Millisecond), d.URL)
}

// Stop stops Dendrite (SIGTERM, then SIGKILL after a bound) and keeps its
// folder.
func (d *Dendrite) Stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopLocked()
}

func (d *Dendrite) stopLocked() {
	if d.proc == nil || d.proc.exited() {
		return
	}
	took, err := d.proc.stop(0, 15*time.Second)
	if err != nil {
		d.t.Errorf("testenv: %v", err)
		return
	}
	d.t.Logf("testenv: Dendrite stopped in %v", took.Round(time.Millisecond))
}

var accessTokenRe = regexp.MustCompile(`AccessToken: ([^)\s]+)`)

// AddUser creates the account @name:localhost with a password (at least
// eight characters) and returns its user id and an access token of a new
// device.
func (d *Dendrite) AddUser(name, password string) (userID, accessToken string) {
	d.t.Helper()
	out, err := exec.Command(d.bins["create-account"], "-config", d.cfg, "-url", d.URL,
		"-username", name, "-password", password).CombinedOutput()
	if err != nil {
		d.t.Fatalf("testenv: create-account %s: %v: %s", name, err, out)
	}
	m := accessTokenRe.FindSubmatch(out)
	if m == nil {
		d.t.Fatalf("testenv: create-account %s printed no access token: %s", name, out)
	}
	return "@" + name + ":" + d.ServerName, string(m[1])
}
