package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"testing"
)

// ServerInfo is where a started XMPP server listens and what it was
// configured with.
type ServerInfo struct {
	Name            string // "prosody" or "ejabberd"
	Dir             string // its folder: config, data, logs
	C2SAddr         string // client connections (STARTTLS offered), 127.0.0.1:port
	ComponentAddr   string // XEP-0114 component connections, 127.0.0.1:port
	Domain          string // the users' domain: "localhost"
	ComponentDomain string // the component's subdomain, like "owlgate.localhost"
	ComponentSecret string // the component's shared secret
}

// Server is what Prosody and Ejabberd have in common, for tests that run
// one scenario against both. Its methods are called from the test's
// goroutine: they fail the test on errors.
type Server interface {
	// Info says where the server listens.
	Info() *ServerInfo
	// AddUser registers name@Domain with the password (also while the
	// server runs) and returns that bare JID.
	AddUser(name, password string) string
	// Stop stops the server (SIGTERM, then SIGKILL after a bound) and
	// keeps its folder; stopping a stopped server does nothing.
	Stop()
	// Start starts a stopped server again on the same ports and folder,
	// with the same users.
	Start()
}

var (
	_ Server = (*Prosody)(nil)
	_ Server = (*Ejabberd)(nil)
)

// Info implements Server.
func (s *ServerInfo) Info() *ServerInfo { return s }

// The users' domain on every server started here.
const Domain = "localhost"

// DefaultComponentDomain is the component's subdomain when the options
// name none.
const DefaultComponentDomain = "owlgate.localhost"

func randomSecret(t testing.TB) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random secret: %v", err)
	}
	return hex.EncodeToString(b)
}
