package testenv

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// The values the server-side snippets in examples/ are written with; the
// tests put their own in their place.
const (
	snippetDomain = "owlgate.example.edu"
	snippetPort   = "5347"
	snippetSecret = "change-me-to-a-long-random-secret"
)

// exampleSnippet reads a file of the repository's examples/ folder and
// replaces the example's domain, port and secret with the test's, so that
// the real server runs the configuration an administrator copies.
func exampleSnippet(t testing.TB, name, domain string, port int, secret string) string {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(here), "..", "..", "examples", name)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testenv: the server snippet %s: %v", name, err)
	}
	s := string(data)
	for _, v := range []string{snippetDomain, snippetPort, snippetSecret} {
		if !strings.Contains(s, v) {
			t.Fatalf("testenv: %s no longer contains %q, which the tests replace", name, v)
		}
	}
	return strings.NewReplacer(snippetDomain, domain, snippetPort, strconv.Itoa(port), snippetSecret, secret).Replace(s)
}

// listenItems returns the items of a YAML snippet's top-level `listen:`
// list, as text to put inside another `listen:` list.
func listenItems(t testing.TB, snippet string) string {
	t.Helper()
	_, items, ok := strings.Cut(snippet, "\nlisten:\n")
	if !ok {
		t.Fatal("testenv: the ejabberd snippet has no top-level listen: list")
	}
	return items
}
