package irc

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/owlgate/owlgate/config"
)

// Config is an IRC account's own keys in the owlgate config (every key of
// the account but id, network and idle_timeout). examples/README.md lists
// them; examples/quickstart.yaml and examples/collaboration.yaml show them.
type Config struct {
	// Server is the IRC server as host:port, like irc.libera.chat:6697.
	// Required.
	Server string `yaml:"server"`
	// TLS connects with TLS, verifying the server's certificate against the
	// system's CAs (or TLSCA) and the server's host name. Default true.
	TLS *bool `yaml:"tls"`
	// TLSInsecure skips the verification of the server's certificate. Off
	// by default; only for a test network with a self-signed certificate
	// (prefer tls_ca). Needs tls.
	TLSInsecure bool `yaml:"tls_insecure"`
	// TLSCA is the path of a PEM file of CA certificates to trust instead
	// of the system's, for a network with its own CA. Read at each
	// connection; an absolute path (a relative one starts at owlgate's
	// working directory). Needs tls.
	TLSCA string `yaml:"tls_ca"`

	// Nick is the library's nick, the one patrons write to. Required.
	Nick string `yaml:"nick"`
	// AltNick is taken when Nick is in use; owlgate then regains Nick when
	// it frees. Default Nick + "_".
	AltNick string `yaml:"alt_nick"`
	// User is the user name (ident) sent at registration. Default "owlgate".
	User string `yaml:"user"`
	// Realname is the real name (gecos) others see in WHOIS. Default
	// "owlgate library chat".
	Realname string `yaml:"realname"`
	// Password is the server password (PASS), for servers that need one.
	Password config.Secret `yaml:"password"`

	// SASL logs in to the account with SASL: "plain" (with SASLUser and
	// SASLPassword) or "external" (with the client certificate in
	// ClientCert and ClientKey). A failure is bad credentials.
	SASL string `yaml:"sasl"`
	// SASLUser is the account name for SASL PLAIN.
	SASLUser string `yaml:"sasl_user"`
	// SASLPassword is the account password for SASL PLAIN.
	SASLPassword config.Secret `yaml:"sasl_password"`
	// ClientCert is the PEM client certificate presented in the TLS
	// handshake, for SASL EXTERNAL (or CertFP): a secret reference, like
	// file:/etc/owlgate/irc.crt, checked by `owlgate check`.
	ClientCert config.Secret `yaml:"client_cert"`
	// ClientKey is the PEM private key of ClientCert, like
	// file:/etc/owlgate/irc.key.
	ClientKey config.Secret `yaml:"client_key"`
	// NickServPassword is sent as "IDENTIFY <nick> <password>" to NickServ
	// after registration, on networks without SASL. A NickServ notice that
	// the password is wrong is bad credentials.
	NickServPassword config.Secret `yaml:"nickserv_password"`

	// Channels are joined after registration. A line in one of them
	// addressed to the library's nick ("UNCLibrary: help" or
	// "UNCLibrary, help") opens a chat with its sender, continued in
	// private. Optional.
	Channels []string `yaml:"channels"`

	// Rate is how many lines a second the account sends at most, after a
	// burst of Burst lines. Default 2.
	Rate *float64 `yaml:"rate"`
	// Burst is how many lines may be sent at once before Rate applies.
	// Default 5.
	Burst *int `yaml:"burst"`
	// MaxLine caps the bytes of text in one IRC line; longer texts are
	// split. Default 0: as much as fits the 512-byte IRC line, with room
	// for the prefix the server adds.
	MaxLine int `yaml:"max_line"`
	// PresencePoll is how often owlgate asks the server (ISON) whether the
	// patrons it chats with, and the account's own nick while it uses
	// alt_nick, are still online: IRC tells a client of a quit or a nick
	// change only when it shares a channel with the user. Default 30s; 0s
	// turns polling off.
	PresencePoll *config.Duration `yaml:"presence_poll"`
}

// Defaults.
const (
	DefaultUser         = "owlgate"
	DefaultRealname     = "owlgate library chat"
	DefaultRate         = 2.0
	DefaultBurst        = 5
	DefaultPresencePoll = 30 * time.Second
)

// settings is a validated Config with its defaults applied.
type settings struct {
	server       string
	host         string
	tls          bool
	tlsInsecure  bool
	tlsCA        string
	nick         string
	altNick      string
	user         string
	realname     string
	password     string
	sasl         string // "", "PLAIN" or "EXTERNAL"
	saslUser     string
	saslPassword string
	clientCert   *tls.Certificate
	nickserv     string
	channels     []string
	rate         float64
	burst        int
	maxLine      int
	presencePoll time.Duration
}

// validate checks c and returns its settings. Its errors name the key at
// fault and never hold a secret's value.
func (c *Config) validate() (*settings, error) {
	var errs []string
	bad := func(key, format string, args ...any) {
		errs = append(errs, key+": "+fmt.Sprintf(format, args...))
	}
	s := &settings{
		server:   strings.TrimSpace(c.Server),
		tls:      c.TLS == nil || *c.TLS,
		tlsCA:    c.TLSCA,
		nick:     c.Nick,
		altNick:  c.AltNick,
		user:     c.User,
		realname: c.Realname,
		password: c.Password.Value(),
		saslUser: c.SASLUser,
		nickserv: c.NickServPassword.Value(),
		rate:     DefaultRate,
		burst:    DefaultBurst,
		maxLine:  c.MaxLine,
	}
	s.tlsInsecure = c.TLSInsecure
	if s.server == "" {
		bad("server", "is required (write server: irc.example.net:6697)")
	} else if host, port, err := net.SplitHostPort(s.server); err != nil || host == "" {
		bad("server", "%q is not host:port (write server: irc.example.net:6697)", s.server)
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		bad("server", "%q has no valid port (6697 is usual for TLS, 6667 without)", s.server)
	} else {
		s.host = host
	}
	if !s.tls && c.TLSInsecure {
		bad("tls_insecure", "needs tls: true")
	}
	if !s.tls && c.TLSCA != "" {
		bad("tls_ca", "needs tls: true")
	}
	switch {
	case s.nick == "":
		bad("nick", "is required (write nick: UNCLibrary)")
	case !validNick(s.nick):
		bad("nick", "%q is not a valid IRC nick (letters, digits and -[]\\`^{|}_, not starting with a digit or -)", s.nick)
	}
	if s.altNick == "" {
		s.altNick = s.nick + "_"
	} else if !validNick(s.altNick) {
		bad("alt_nick", "%q is not a valid IRC nick", s.altNick)
	} else if strings.EqualFold(s.altNick, s.nick) {
		bad("alt_nick", "must differ from nick")
	}
	if s.user == "" {
		s.user = DefaultUser
	} else if strings.ContainsAny(s.user, " @\r\n\x00") {
		bad("user", "%q may not hold spaces or @", s.user)
	}
	if s.realname == "" {
		s.realname = DefaultRealname
	} else if strings.ContainsAny(s.realname, "\r\n\x00") {
		bad("realname", "may not hold line breaks")
	}
	if strings.ContainsAny(s.password, " \r\n\x00") {
		bad("password", "the server password may not hold spaces or line breaks")
	}

	certSet, keySet := c.ClientCert.IsSet(), c.ClientKey.IsSet()
	switch {
	case certSet && !keySet:
		bad("client_key", "is required with client_cert (write client_key: file:/etc/owlgate/irc.key)")
	case keySet && !certSet:
		bad("client_cert", "is required with client_key (write client_cert: file:/etc/owlgate/irc.crt)")
	case certSet && keySet:
		if !s.tls {
			bad("client_cert", "needs tls: true")
		}
		if c.ClientCert.Value() != "" && c.ClientKey.Value() != "" {
			pair, err := tls.X509KeyPair([]byte(c.ClientCert.Value()), []byte(c.ClientKey.Value()))
			if err != nil {
				bad("client_cert", "client_cert and client_key are not a PEM certificate and its key (%s)", pemError(err))
			} else {
				s.clientCert = &pair
			}
		}
	}
	switch strings.ToLower(c.SASL) {
	case "":
		if c.SASLUser != "" {
			bad("sasl_user", "is only used with sasl: plain")
		}
		if c.SASLPassword.IsSet() {
			bad("sasl_password", "is only used with sasl: plain")
		}
	case "plain":
		s.sasl = "PLAIN"
		s.saslPassword = c.SASLPassword.Value()
		if c.SASLUser == "" {
			bad("sasl_user", "is required with sasl: plain (the account name)")
		}
		if !c.SASLPassword.IsSet() {
			bad("sasl_password", "is required with sasl: plain (write sasl_password: ${UNC_IRC_PASSWORD})")
		}
	case "external":
		s.sasl = "EXTERNAL"
		if !certSet || !keySet {
			bad("sasl", "external needs client_cert and client_key (the certificate registered with the network's services)")
		}
		if !s.tls {
			bad("sasl", "external needs tls: true")
		}
		if c.SASLUser != "" || c.SASLPassword.IsSet() {
			bad("sasl", "external takes no sasl_user or sasl_password")
		}
	default:
		bad("sasl", "%q is not plain or external", c.SASL)
	}
	if c.NickServPassword.IsSet() && s.sasl != "" {
		bad("nickserv_password", "is a fallback for networks without SASL; with sasl, leave it out")
	}
	for i, ch := range c.Channels {
		if len(ch) < 2 || !strings.ContainsRune("#&+!", rune(ch[0])) || strings.ContainsAny(ch, " ,\x07\r\n\x00") {
			bad(fmt.Sprintf("channels[%d]", i), "%q is not a channel name (like \"#library\"; quote it, since # starts a YAML comment)", ch)
			continue
		}
		s.channels = append(s.channels, ch)
	}
	if c.Rate != nil {
		if *c.Rate <= 0 || *c.Rate > 1000 {
			bad("rate", "must be more than 0 and at most 1000 lines a second")
		}
		s.rate = *c.Rate
	}
	if c.Burst != nil {
		if *c.Burst < 1 || *c.Burst > 10000 {
			bad("burst", "must be at least 1")
		}
		s.burst = *c.Burst
	}
	if c.MaxLine != 0 && (c.MaxLine < 32 || c.MaxLine > 510) {
		bad("max_line", "must be between 32 and 510 bytes, or 0 for as much as fits")
	}
	s.presencePoll = DefaultPresencePoll
	if c.PresencePoll != nil {
		s.presencePoll = time.Duration(*c.PresencePoll)
		if s.presencePoll > 0 && s.presencePoll < time.Second {
			bad("presence_poll", "must be at least 1s, or 0s to turn polling off")
		}
	}
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	return s, nil
}

// pemError shortens crypto/tls's key pair errors, which never hold the key.
func pemError(err error) string {
	return strings.TrimPrefix(err.Error(), "tls: ")
}

// validNick reports whether s is a nick by RFC 2812's grammar (without its
// length limit, which servers set themselves).
func validNick(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', strings.IndexByte("[]\\`_^{|}", c) >= 0:
		case (c >= '0' && c <= '9' || c == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
