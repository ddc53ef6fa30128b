package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this binary as owlgate itself: with
// OWLGATE_TEST_MAIN=1 the test binary is the command.
func TestMain(m *testing.M) {
	if os.Getenv("OWLGATE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// exampleEnv sets every variable the examples reference.
func exampleEnv(t *testing.T) {
	for _, v := range []string{"ALICE_PASSWORD", "BOB_PASSWORD", "DANA_PASSWORD", "DUKE_MATRIX_TOKEN",
		"OWLGATE_ADMIN_TOKEN", "OWLGATE_COMPONENT_SECRET", "TWILIO_SID", "TWILIO_TOKEN", "UNC_IRC_PASSWORD",
		"UNC_HISTORY_TOKEN", "DUKE_HISTORY_TOKEN", "DUKE_MATRIX_PASSWORD"} {
		t.Setenv(v, "secret-value-of-"+v)
	}
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCheckPassesEveryExample(t *testing.T) {
	exampleEnv(t)
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runCmd("check", "--config", f)
			if !matrixBuilt && hasMatrix(t, f) {
				// This build leaves Matrix out (no -tags goolm): the
				// account must be refused, saying how to build it.
				if code != 1 || !strings.Contains(errs, "network matrix: this owlgate was built without Matrix") || !strings.Contains(errs, "-tags goolm") {
					t.Fatalf("owlgate check %s without Matrix: exit %d\n%s%s", f, code, out, errs)
				}
				return
			}
			if code != 0 {
				t.Fatalf("owlgate check %s: exit %d\n%s%s", f, code, out, errs)
			}
			for _, want := range []string{": OK", "libraries (", "operators (", "queues (", "accounts ("} {
				if !strings.Contains(out, want) {
					t.Errorf("summary lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out+errs, "secret-value-of-") {
				t.Errorf("a secret's value was printed:\n%s%s", out, errs)
			}
		})
	}
}

// hasMatrix reports whether a config file has a Matrix account.
func hasMatrix(t *testing.T, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), "network: matrix")
}

func TestCheckSummary(t *testing.T) {
	exampleEnv(t)
	if !matrixBuilt {
		t.Skip("the example has a Matrix account, which this build (without -tags goolm) refuses: TestCheckPassesEveryExample checks that")
	}
	code, out, errs := runCmd("check", "--config", "../../examples/collaboration.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{
		"http: 127.0.0.1:8080; /api for the admin token and library tokens of unc, duke",
		"libraries (2):",
		"unc  UNC Chapel Hill  (collaborations: nightowl)",
		"operators (3):",
		"dana@chat.example.edu  Dana (Duke), duke",
		"queues (3):",
		"unc-reference  UNC Reference, unc: 2 operators; falls back to nightowl (also after 1m30s unanswered); keeps transcripts for 90 days",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// TestCheckFailsBrokenConfigs runs check on every broken config: each exits 1
// and names the file, line and key its .want file names.
func TestCheckFailsBrokenConfigs(t *testing.T) {
	exampleEnv(t)
	files, err := filepath.Glob("../../testdata/config/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(f, ".yaml") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			code, out, errs := runCmd("check", "--config", f)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
			}
			for _, line := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.Contains(errs, line) {
					t.Errorf("errors lack %q:\n%s", line, errs)
				}
			}
		})
	}
}

func TestCheckRefusesNetworkNotInBuild(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "owlgate.yaml")
	writeConfig(t, cfg, `    accounts:
      - id: unc-carrier-pigeon
        network: pigeon
        loft: roof
`)
	code, _, errs := runCmd("check", "--config", cfg)
	if code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errs)
	}
	if !strings.Contains(errs, "owlgate.yaml:21:18: queues[0].accounts[0].network") || !strings.Contains(errs, `"pigeon" is not available`) {
		t.Errorf("error does not place the network: %s", errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"run"}, {"check"}, {"check", "--config"}, {"check", "--bogus"}, {"check", "--config", "x.yaml", "extra"}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("owlgate %v: exit %d, want 2", args, code)
		}
	}
	if code, _, errs := runCmd("check", "--config", "/nonexistent/owlgate.yaml"); code != 1 || !strings.Contains(errs, "/nonexistent/owlgate.yaml") {
		t.Errorf("missing file: exit %d, %s", code, errs)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd("version")
	if code != 0 || !strings.HasPrefix(out, "owlgate ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// writeConfig writes a small server-mode config with one queue; accounts is
// YAML for the queue's accounts key.
func writeConfig(t *testing.T, path, accounts string) {
	t.Helper()
	t.Setenv("ALICE_PASSWORD", "pw")
	cfg := `data_dir: ./data
xmpp:
  mode: server
  domain: localhost
  listen: 127.0.0.1:0
http:
  listen: 127.0.0.1:0
libraries:
  - id: unc
    name: UNC
operators:
  - jid: alice@localhost
    library: unc
    password: ${ALICE_PASSWORD}
queues:
  - id: reference
    library: unc
    operators: [alice@localhost]
` + accounts
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestRunStopsCleanlyOnSignal runs `owlgate run` as a process, waits for it
// to start, sends SIGTERM and SIGINT, and expects a clean exit each time, with
// the database in data_dir.
func TestRunStopsCleanlyOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			cfg := filepath.Join(dir, "owlgate.yaml")
			writeConfig(t, cfg, "")
			cmd := exec.Command(os.Args[0], "run", "--config", cfg)
			cmd.Env = append(os.Environ(), "OWLGATE_TEST_MAIN=1")
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := bufio.NewScanner(stderr)
			var log strings.Builder
			started := false
			for lines.Scan() {
				log.WriteString(lines.Text() + "\n")
				if strings.Contains(lines.Text(), "gateway starting") {
					started = true
					break
				}
			}
			if !started {
				cmd.Wait()
				t.Fatalf("owlgate did not start:\n%s", log.String())
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(stderr)
			log.Write(rest)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("owlgate exited with %v after %s:\n%s", err, sig, log.String())
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("owlgate did not stop after %s:\n%s", sig, log.String())
			}
			if !strings.Contains(log.String(), "owlgate stopped") {
				t.Errorf("no clean-stop line in the log:\n%s", log.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "data", "owlgate.db")); err != nil {
				t.Errorf("no database in data_dir: %v", err)
			}
		})
	}
}
