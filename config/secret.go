package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Secret is a credential: a password, a token, a component secret. The
// config never holds one literally; it holds a reference, resolved when the
// config is loaded:
//
//	password: ${ALICE_PASSWORD}           # the environment variable, which must be set and not empty
//	password: file:/etc/owlgate/alice.pw  # the file's content, without its trailing newline
//	password: file:secrets/alice.pw       # relative to the config file's folder
//
// A literal value is an error, so a config file can be shared, committed
// and pasted into a bug report.
//
// A Secret never prints its value: fmt (every verb), log/slog, JSON and YAML
// show "[secret]" and the reference instead. Only Value returns it.
type Secret struct {
	ref string       // "${NAME}" or "file:path", as written
	v   *secretValue // the resolved value; a pointer, so that printing a struct holding a Secret by reflection shows an address
}

type secretValue struct{ s string }

// NewSecret returns a Secret holding value, for programs and tests that
// build a configuration in Go rather than load it. It prints as "[secret]".
func NewSecret(value string) Secret {
	return Secret{v: &secretValue{value}}
}

// Value returns the secret itself. Pass it to the network that needs it and
// nowhere else: never log it or put it in an error.
func (s Secret) Value() string {
	if s.v == nil {
		return ""
	}
	return s.v.s
}

// IsSet reports whether the config gave this secret (and so, after loading,
// whether it has a value).
func (s Secret) IsSet() bool { return s.ref != "" || s.v != nil }

// Ref returns the reference as the config wrote it: "${ALICE_PASSWORD}" or
// "file:/etc/owlgate/alice.pw". It is not secret.
func (s Secret) Ref() string { return s.ref }

// String returns a redaction: "[secret] ${ALICE_PASSWORD}", "[secret]" for
// a secret set in code, or "" when the secret is not set.
func (s Secret) String() string {
	switch {
	case s.ref != "":
		return "[secret] " + s.ref
	case s.v != nil:
		return "[secret]"
	}
	return ""
}

// GoString returns the redaction, quoted, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format prints the redaction for every verb, so that no verb of fmt can
// reach the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		io.WriteString(f, s.GoString())
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		io.WriteString(f, s.String())
	}
}

// LogValue makes log/slog print the redaction.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON encodes the redaction, never the value.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalYAML encodes the reference ("${ALICE_PASSWORD}"), so that a
// marshalled config loads again; a secret set in code encodes as "[secret]".
// Never the value.
func (s Secret) MarshalYAML() (any, error) {
	if s.ref != "" {
		return s.ref, nil
	}
	return s.String(), nil
}

// UnmarshalYAML reads the reference. It does not resolve it: the loader
// does, knowing the config file's folder, and so does Account.Decode.
func (s *Secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return &literalSecretError{}
	}
	ref := strings.TrimSpace(n.Value)
	if _, _, err := parseSecretRef(ref); err != nil {
		return err
	}
	*s = Secret{ref: ref}
	return nil
}

var envRefRE = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// parseSecretRef splits a reference into its kind ("env" or "file") and its
// argument. Its errors never repeat the text, which may be a secret.
func parseSecretRef(ref string) (kind, arg string, err error) {
	if m := envRefRE.FindStringSubmatch(ref); m != nil {
		return "env", m[1], nil
	}
	if p, ok := strings.CutPrefix(ref, "file:"); ok {
		p = strings.TrimSpace(p)
		if p == "" {
			return "", "", &valueError{msg: "file: names no file", fix: "write file:/etc/owlgate/secret, the path of a file holding the secret"}
		}
		return "file", p, nil
	}
	if ref == "" {
		return "", "", &valueError{msg: "is empty", fix: "write ${NAME} and set that environment variable, or file:/path/to/file"}
	}
	return "", "", &literalSecretError{}
}

// literalSecretError is a secret written literally in the config. The loader
// fills in a fix naming a variable that suits the key.
type literalSecretError struct{}

func (*literalSecretError) Error() string {
	return "a secret cannot be written in the config file; write ${NAME} and set that environment variable, or file:/path/to/file"
}

const literalSecretMsg = "a secret cannot be written in the config file"

// resolve reads the secret's value from its reference. dir is the folder
// relative file: paths start from.
func (s *Secret) resolve(dir string) error {
	if s.ref == "" {
		return nil
	}
	kind, arg, err := parseSecretRef(s.ref)
	if err != nil {
		return err
	}
	switch kind {
	case "env":
		v, ok := os.LookupEnv(arg)
		if !ok {
			return &valueError{
				msg: fmt.Sprintf("environment variable %s is not set", arg),
				fix: fmt.Sprintf("set %s (with systemd, in the unit's EnvironmentFile), or write file:/path/to/file", arg),
			}
		}
		if v == "" {
			return &valueError{
				msg: fmt.Sprintf("environment variable %s is empty", arg),
				fix: fmt.Sprintf("set %s to the secret", arg),
			}
		}
		s.v = &secretValue{v}
	case "file":
		p := arg
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			reason := err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				reason = pe.Err.Error()
			}
			return &valueError{
				msg: fmt.Sprintf("cannot read secret file %s: %s", p, reason),
				fix: "create it, readable by the user owlgate runs as (a relative path starts at the config file's folder)",
			}
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return &valueError{msg: fmt.Sprintf("secret file %s is empty", p), fix: "write the secret into it"}
		}
		s.v = &secretValue{v}
	}
	return nil
}

// secretHint suggests a variable name and a file for a secret at key (the
// last element of its path), for the fix of an error. owner is the jid or id
// of the item holding the key, if any.
func secretHint(path, key, owner string) (envName, file string) {
	switch path {
	case "xmpp.secret":
		return "OWLGATE_COMPONENT_SECRET", "/etc/owlgate/component-secret"
	case "http.admin_token":
		return "OWLGATE_ADMIN_TOKEN", "/etc/owlgate/admin-token"
	}
	if local, _, ok := strings.Cut(owner, "@"); ok {
		owner = local
	}
	name := key
	if owner != "" {
		name = owner + "_" + key
	}
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	envName = b.String()
	if envName == "" || envName[0] >= '0' && envName[0] <= '9' {
		envName = "OWLGATE_" + envName
	}
	fileName := strings.ToLower(strings.ReplaceAll(envName, "_", "-"))
	if key == "password" && owner != "" {
		fileName = strings.ToLower(owner) + ".pw"
	}
	return envName, "/etc/owlgate/" + fileName
}

func secretFix(path, key, owner string) string {
	env, file := secretHint(path, key, owner)
	return fmt.Sprintf("write ${%s} and set that variable, or file:%s", env, file)
}
