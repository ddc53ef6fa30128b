//go:build goolm

package matrix

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/owlgate/owlgate/config"
)

func TestConfigValidate(t *testing.T) {
	pw := config.NewSecret("secret-pw")
	ok := Config{Homeserver: "https://matrix.example.edu/", UserID: "@ask:example.edu", Password: pw}
	s, err := ok.validate()
	if err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if s.homeserver != "https://matrix.example.edu" || s.deviceName != DefaultDeviceName || s.password != "secret-pw" {
		t.Errorf("settings %+v", s)
	}
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"no homeserver", Config{UserID: "@a:b", Password: pw}, "homeserver: is required"},
		{"bad homeserver", Config{Homeserver: "matrix.example.edu", UserID: "@a:b", Password: pw}, "homeserver:"},
		{"no user", Config{Homeserver: "https://h", Password: pw}, "user_id: is required"},
		{"bad user", Config{Homeserver: "https://h", UserID: "ask", Password: pw}, "user_id:"},
		{"no credentials", Config{Homeserver: "https://h", UserID: "@a:b"}, "one of access_token and password"},
		{"both credentials", Config{Homeserver: "https://h", UserID: "@a:b", Password: pw, AccessToken: pw}, "not both"},
		{"bad room", Config{Homeserver: "https://h", UserID: "@a:b", Password: pw, Rooms: []string{"#lib:b"}}, "rooms[0]"},
		{"bad homeserver name", Config{Homeserver: "https://h", UserID: "@a:b", Password: pw, InvitesFrom: []string{"@x"}}, "invites_from[0]"},
		{"bad public_url", Config{Homeserver: "https://h", UserID: "@a:b", Password: pw, PublicURL: "chat.example.edu"}, "public_url:"},
	} {
		_, err := tc.c.validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want an error with %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%s: the error holds the secret: %v", tc.name, err)
		}
	}
}

func TestSplitText(t *testing.T) {
	text := strings.Repeat("é🦉 word ", 5000)
	parts := splitText(text, MaxTextLength)
	if strings.Join(parts, "") != text {
		t.Fatal("the parts do not add up to the text")
	}
	for i, p := range parts {
		if len(p) > MaxTextLength || !strings.HasSuffix(p, " ") && i < len(parts)-1 {
			t.Errorf("part %d: %d bytes, ends %q", i, len(p), p[len(p)-3:])
		}
	}
}

// TestKeysDocumented checks that every key of Config is in the Matrix
// section of examples/README.md and in an example config.
func TestKeysDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../examples/README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### `network: matrix`")
	if !ok {
		t.Fatal("examples/README.md has no Matrix section")
	}
	example, err := os.ReadFile("../../examples/collaboration.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for f := range reflect.TypeFor[Config]().Fields() {
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !strings.Contains(section, "| `"+key+"` |") {
			t.Errorf("key %s is not in the Matrix section of examples/README.md", key)
		}
		if !regexp.MustCompile(`(?m)^[ \t#-]*` + key + `:`).Match(example) {
			t.Errorf("key %s is not in examples/collaboration.yaml", key)
		}
	}
}
