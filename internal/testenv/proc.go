package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RequireServersEnv names the environment variable that turns a missing
// server binary from a skip into a failure.
const RequireServersEnv = "OWLGATE_REQUIRE_SERVERS"

// Binary returns the path of an installed program (in PATH or an sbin
// folder), or skips the test (fails it, with OWLGATE_REQUIRE_SERVERS=1),
// saying to install the Debian package pkg.
func Binary(t testing.TB, name, pkg string) string {
	t.Helper()
	return lookBinary(t, name, pkg)
}

func lookBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	unavailable(t, fmt.Sprintf("%s is not installed; install it with: apt-get install -y --no-install-recommends %s (scripts/test does this when run as root or in CI)", name, pkg))
	return ""
}

// unavailable skips the test, or fails it when servers are required.
func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv(RequireServersEnv) == "1" {
		t.Fatalf("testenv: %s (%s=1: required)", why, RequireServersEnv)
	}
	t.Skipf("testenv: %s; set %s=1 to make this a failure", why, RequireServersEnv)
}

// process is one server process started by a test.
type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited and was reaped
	err  error         // Wait's result, valid after done
}

// startProcess starts argv in dir with its output appended to logPath, in a
// process group of its own.
func startProcess(name, dir, logPath string, env []string, argv ...string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to pid (the server itself: the started process, or
// for ejabberd the Erlang VM it runs), waits up to grace for the started
// process to end, then kills pid and the process group with SIGKILL. It
// returns how long the server took to stop.
func (p *process) stop(pid int, grace time.Duration) (time.Duration, error) {
	start := time.Now()
	if p.exited() {
		return 0, nil
	}
	if pid <= 0 {
		pid = p.cmd.Process.Pid
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return time.Since(start), nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return time.Since(start), fmt.Errorf("%s did not stop within %v of SIGTERM: killed", p.name, grace)
	case <-time.After(10 * time.Second):
		return time.Since(start), fmt.Errorf("%s (pid %d) survived SIGKILL for 10s", p.name, pid)
	}
}

// waitReady waits until every address accepts connections, the process
// exits, or the timeout passes.
func (p *process) waitReady(timeout time.Duration, addrs ...string) error {
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for !accepting(a) {
			if p.exited() {
				return fmt.Errorf("%s exited before it accepted connections at %s: %v", p.name, a, p.err)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not accept connections at %s within %v", p.name, a, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// logDump registers a cleanup that prints the end of each log file when
// the test failed.
func logDump(t testing.TB, name string, files func() []string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, f := range files() {
			b, err := os.ReadFile(f)
			if err != nil {
				if !errors.Is(err, os.ErrNotExist) {
					t.Logf("testenv: %s log %s: %v", name, f, err)
				}
				continue
			}
			t.Logf("testenv: %s log %s (last lines):\n%s", name, f, tail(b, 80))
		}
	})
}

func tail(b []byte, lines int) string {
	b = bytes.TrimRight(b, "\n")
	n := 0
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			n++
			if n == lines {
				return "…\n" + string(b[i+1:])
			}
		}
	}
	return string(b)
}

// luaQuote quotes s as a Lua string literal, escaping every byte outside
// printable ASCII as \ddd.
func luaQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
