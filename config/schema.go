package config

import "go.yaml.in/yaml/v3"

// Config is a loaded, validated configuration. Load and Parse return it
// with every default applied (see defaults.go), relative paths made absolute
// against the config file's folder, and every secret resolved.
type Config struct {
	// DataDir holds the database, the self-signed certificate and the
	// accounts' own state. A relative path starts at the config file's
	// folder; after loading it is absolute.
	DataDir   string     `yaml:"data_dir" json:"data_dir"`
	Log       Log        `yaml:"log" json:"log"`
	XMPP      XMPP       `yaml:"xmpp" json:"xmpp"`
	HTTP      HTTP       `yaml:"http" json:"http"`
	Libraries []Library  `yaml:"libraries" json:"libraries"`
	Operators []Operator `yaml:"operators" json:"operators"`
	Queues    []Queue    `yaml:"queues" json:"queues"`

	file string // the config file as named to Load or Parse
}

// Log is how owlgate logs.
type Log struct {
	Level  string `yaml:"level" json:"level"`   // debug, info, warn or error
	Format string `yaml:"format" json:"format"` // text or json
}

// The values of XMPP.Mode.
const (
	ModeServer    = "server"    // owlgate is the operators' XMPP server
	ModeComponent = "component" // owlgate is an XEP-0114 component of another server
)

// XMPP is the operator link.
type XMPP struct {
	Mode   string `yaml:"mode" json:"mode"`     // ModeServer or ModeComponent
	Domain string `yaml:"domain" json:"domain"` // the server's domain, or the component's subdomain

	// Server mode.
	Listen         string `yaml:"listen" json:"listen"`                   // host:port for client connections
	TLS            TLS    `yaml:"tls" json:"tls"`                         // certificate; self-signed in DataDir when absent
	AllowPlaintext bool   `yaml:"allow_plaintext" json:"allow_plaintext"` // clients may skip STARTTLS (loopback only)

	MaxStanza int `yaml:"max_stanza" json:"max_stanza"` // largest stanza accepted, in bytes

	// Component mode.
	Connect string `yaml:"connect" json:"connect"` // host:port of the server's component port
	Secret  Secret `yaml:"secret" json:"secret"`   // the component's shared secret
}

// TLS names a certificate and its key, PEM files. Relative paths start at
// the config file's folder; after loading they are absolute. Both are empty
// when the config gives none: the server then makes a self-signed pair in
// DataDir.
type TLS struct {
	Cert string `yaml:"cert" json:"cert"`
	Key  string `yaml:"key" json:"key"`
}

// HTTP is the HTTP surface: presence, status, metrics, history export,
// web hooks.
type HTTP struct {
	Listen     string `yaml:"listen" json:"listen"`           // host:port
	AdminToken Secret `yaml:"admin_token" json:"admin_token"` // bearer token for the admin endpoints; unset: no token

	// LibraryTokens are bearer tokens that see the history of one library
	// only. Each value is unique, and none is the admin token.
	LibraryTokens []LibraryToken `yaml:"library_tokens" json:"library_tokens"`
}

// LibraryToken is a bearer token for the history API scoped to one
// library: it sees that library's chats (by the library of the queue the
// patron wrote to) and nothing else.
type LibraryToken struct {
	Library string `yaml:"library" json:"library"`
	Token   Secret `yaml:"token" json:"token"`
}

// Library is one library.
type Library struct {
	ID             string   `yaml:"id" json:"id"`
	Name           string   `yaml:"name" json:"name"` // for people; the id when empty
	Collaborations []string `yaml:"collaborations" json:"collaborations"`
}

// Operator is one librarian.
type Operator struct {
	JID      string `yaml:"jid" json:"jid"` // bare JID, normalized (lower case) after loading
	Name     string `yaml:"name" json:"name"`
	Library  string `yaml:"library" json:"library"`
	Password Secret `yaml:"password" json:"password"` // server mode only (required there)
}

// Queue is a queue of operators and the public accounts it owns.
type Queue struct {
	ID             string   `yaml:"id" json:"id"`     // also the local part of the queue's JID
	Name           string   `yaml:"name" json:"name"` // for people; the id when empty
	Library        string   `yaml:"library" json:"library"`
	Operators      []string `yaml:"operators" json:"operators"` // operators' JIDs, normalized after loading
	Transcripts    bool     `yaml:"transcripts" json:"transcripts"`
	TranscriptDays int      `yaml:"transcript_days" json:"transcript_days"` // keep transcripts this many days; 0 keeps them
	Redact         []string `yaml:"redact" json:"redact"`                   // RedactEmail, RedactPhone
	Fallback       []string `yaml:"fallback" json:"fallback"`               // queue ids, in order
	FallbackAfter  Duration `yaml:"fallback_after" json:"fallback_after"`   // 0: no timed fallback
	OfflineMessage string   `yaml:"offline_message" json:"offline_message"`
	OfflineGrace   Duration `yaml:"offline_grace" json:"offline_grace"` // accounts stay logged in this long after the queue goes offline
	ShowPhone      bool     `yaml:"show_phone" json:"show_phone"`       // /who shows SMS patrons' phone numbers to operators; off, the guest id only

	// IdleTimeout is the queue's idle timeout for its accounts' chats; zero
	// when the config does not say. Use IdleTimeoutFor to get an account's
	// effective timeout.
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"`

	Accounts []Account `yaml:"accounts" json:"accounts"`
}

// The values of Queue.Redact.
const (
	RedactEmail = "email" // e-mail addresses
	RedactPhone = "phone" // phone numbers
)

// Account is one public account of the library on one network. Besides the
// common keys below it has the network's own keys, which the config keeps
// as written and the network's adapter decodes with Decode.
type Account struct {
	ID          string   `yaml:"id" json:"id"`
	Network     string   `yaml:"network" json:"network"`
	IdleTimeout Duration `yaml:"idle_timeout" json:"idle_timeout"` // zero when the config does not say

	node *yaml.Node // the account's mapping, with the network's keys
	file string     // the config file, for errors
	dir  string     // the config file's folder, for file: secrets
	path string     // the account's key path, like queues[0].accounts[1]
}

// commonAccountKeys are the keys of an account that are not the network's.
var commonAccountKeys = []string{"id", "network", "idle_timeout"}
