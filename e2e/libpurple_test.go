package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/internal/testenv"
	"github.com/owlgate/owlgate/xmpp/server"
)

// TestLibpurpleLogin: Finch, the console client on Pidgin's libpurple, logs
// in to the embedded server as alice: STARTTLS with the self-signed
// certificate owlgate made (trusted as a librarian accepts it once: in
// libpurple's store of accepted certificates), SASL, resource binding,
// roster and presence; her presence brings the queue online.
func TestLibpurpleLogin(t *testing.T) {
	finch := testenv.Binary(t, "finch", "finch")
	script := testenv.Binary(t, "script", "bsdutils") // a terminal for Finch
	dataDir := t.TempDir()
	og := startOwlgate(t, embeddedYAML(t, dataDir)+libraryYAML("localhost", true), nil)
	addr := ircXMPPAddr(t, og)
	_, port, _ := strings.Cut(addr, ":")

	home := t.TempDir()
	peers := filepath.Join(home, "certificates", "x509", "tls_peers")
	if err := os.MkdirAll(peers, 0o700); err != nil {
		t.Fatal(err)
	}
	cert, err := os.ReadFile(filepath.Join(dataDir, server.SelfSignedCert))
	if err != nil {
		t.Fatal(err)
	}
	// libpurple checks the certificate against the host it connects to.
	if err := os.WriteFile(filepath.Join(peers, "127.0.0.1"), cert, 0o600); err != nil {
		t.Fatal(err)
	}
	accounts := fmt.Sprintf(`<?xml version='1.0' encoding='UTF-8' ?>
<account version='1.0'>
 <account>
  <protocol>prpl-jabber</protocol>
  <name>alice@localhost/finch</name>
  <password>alice-secret-pw</password>
  <settings>
   <setting name='connect_server' type='string'>127.0.0.1</setting>
   <setting name='port' type='int'>%s</setting>
   <setting name='connection_security' type='string'>require_tls</setting>
   <setting name='auth_plain_in_clear' type='bool'>0</setting>
  </settings>
  <settings ui='gnt-purple'>
   <setting name='auto-login' type='bool'>1</setting>
  </settings>
 </account>
</account>
`, port)
	if err := os.WriteFile(filepath.Join(home, "accounts.xml"), []byte(accounts), 0o600); err != nil {
		t.Fatal(err)
	}

	logPath := filepath.Join(home, "finch.log")
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, script, "-q", "-e", "-c", finch+" -c "+home+" -d 2>"+logPath, "/dev/null")
	cmd.Env = append(os.Environ(), "TERM=xterm", "HOME="+home)
	stdin, err := cmd.StdinPipe() // kept open: Finch waits for keys
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		stdin.Close()
		cmd.Wait()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				lines := strings.Split(string(b), "\n")
				t.Logf("finch's log (last lines):\n%s", strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})

	deadline := time.After(wait)
	for {
		changed := og.d.Gateway().PresenceChanged()
		if online, _ := og.d.Gateway().QueueOnline("reference"); online {
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("Finch's alice did not bring the reference queue online")
		}
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "reference@localhost") {
		t.Errorf("Finch was not sent the queue (reference@localhost) in its roster")
	}
}
