package config

import (
	"os"
	"strings"
	"testing"
)

// base is a valid server-mode config that tests extend.
const base = `xmpp:
  domain: localhost
libraries:
  - id: unc
operators:
  - jid: alice@localhost
    library: unc
    password: ${ALICE_PASSWORD}
  - jid: bob@localhost
    library: unc
    password: ${BOB_PASSWORD}
`

// setenv sets the variables the test configs use.
func setenv(t *testing.T) {
	t.Helper()
	t.Setenv("ALICE_PASSWORD", "alice-secret-value")
	t.Setenv("BOB_PASSWORD", "bob-secret-value")
	t.Setenv("OWLGATE_COMPONENT_SECRET", "component-secret-value")
	unsetenv(t, "OWLGATE_TEST_NEVER_SET")
}

// unsetenv unsets name for the test, restoring it after.
func unsetenv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "")
	os.Unsetenv(name)
}

// mustParse parses text as owlgate.yaml in a temporary folder and fails the
// test on error.
func mustParse(t *testing.T, text string) *Config {
	t.Helper()
	c, err := Parse(t.TempDir()+"/owlgate.yaml", []byte(text))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, text)
	}
	return c
}

// parseErr parses text and returns the error text, failing when there is
// none.
func parseErr(t *testing.T, text string) string {
	t.Helper()
	c, err := Parse("owlgate.yaml", []byte(text))
	if err == nil {
		t.Fatalf("Parse succeeded, want an error:\n%s", text)
	}
	if c != nil {
		t.Errorf("Parse returned a config with its error")
	}
	if AsErrors(err) == nil {
		t.Errorf("error is %T, not config.Errors", err)
	}
	return err.Error()
}

func wantContains(t *testing.T, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("error does not contain %q:\n%s", w, got)
		}
	}
}
