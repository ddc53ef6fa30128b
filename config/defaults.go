package config

import (
	"fmt"
	"time"
)

// The defaults, in one place. A key that the config leaves out (or leaves
// empty, or sets to 0 where 0 means nothing) takes its default here;
// examples/README.md lists the same values for people.
const (
	// DefaultDataDir is data_dir: the database, the self-signed
	// certificate and the accounts' state. A relative path starts at the
	// config file's folder.
	DefaultDataDir = "./owlgate-data"

	// DefaultLogLevel is log.level.
	DefaultLogLevel = "info"

	// DefaultLogFormat is log.format.
	DefaultLogFormat = "text"

	// DefaultXMPPMode is xmpp.mode: owlgate is the operators' XMPP server,
	// so that no other service is needed to start.
	DefaultXMPPMode = ModeServer

	// DefaultXMPPDomain is xmpp.domain.
	DefaultXMPPDomain = "localhost"

	// DefaultXMPPListen is xmpp.listen, the embedded server's
	// client-to-server address. Loopback only, until the config says
	// otherwise. (xmpp.connect, component mode, has no default.)
	DefaultXMPPListen = "127.0.0.1:5222"

	// DefaultMaxStanza is xmpp.max_stanza, the largest stanza accepted, in
	// bytes.
	DefaultMaxStanza = 262144

	// MinMaxStanza is the smallest xmpp.max_stanza allowed: RFC 6120
	// (section 13.12) requires accepting stanzas of at least 10000 bytes.
	MinMaxStanza = 10000

	// DefaultHTTPListen is http.listen.
	DefaultHTTPListen = "127.0.0.1:8080"

	// DefaultFallbackAfter is queues[].fallback_after: 0, no timed
	// fallback; a chat goes to a fallback queue only while its own queue is
	// offline.
	DefaultFallbackAfter = 0 * time.Second

	// DefaultOfflineGrace is queues[].offline_grace: a queue's accounts
	// stay logged in this long after the queue goes offline, so that a
	// shift change does not log them out and in again. An explicit 0s
	// logs them out at once.
	DefaultOfflineGrace = 2 * time.Minute

	// DefaultIdleTimeout is the idle timeout of a chat when neither the
	// account nor its queue sets idle_timeout and the network has no
	// default of its own (see Queue.IdleTimeoutFor).
	DefaultIdleTimeout = 30 * time.Minute

	// DefaultTranscriptDays is queues[].transcript_days: 0, transcripts
	// are kept until deleted.
	DefaultTranscriptDays = 0

	// DefaultOfflineMessage is queues[].offline_message, what a patron is
	// told when no queue of the chain is online.
	DefaultOfflineMessage = "Sorry, no librarian is available to chat right now. Please try again later."
)

// applyDefaults fills in every key the config left out. set reports whether
// the config wrote a key path, for the keys where an explicit 0 is kept.
func (c *Config) applyDefaults(set func(path string) bool) {
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	if c.XMPP.Mode == "" {
		c.XMPP.Mode = DefaultXMPPMode
	}
	if c.XMPP.Domain == "" {
		c.XMPP.Domain = DefaultXMPPDomain
	}
	if c.XMPP.Mode == ModeServer && c.XMPP.Listen == "" {
		c.XMPP.Listen = DefaultXMPPListen
	}
	if c.XMPP.MaxStanza == 0 && !set("xmpp.max_stanza") {
		c.XMPP.MaxStanza = DefaultMaxStanza
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultHTTPListen
	}
	for i := range c.Queues {
		q := &c.Queues[i]
		if q.Name == "" {
			q.Name = q.ID
		}
		if q.FallbackAfter == 0 {
			q.FallbackAfter = Duration(DefaultFallbackAfter)
		}
		if q.OfflineGrace == 0 && !set(fmt.Sprintf("queues[%d].offline_grace", i)) {
			q.OfflineGrace = Duration(DefaultOfflineGrace)
		}
		if q.OfflineMessage == "" {
			q.OfflineMessage = DefaultOfflineMessage
		}
	}
	for i := range c.Operators {
		if c.Operators[i].Name == "" {
			c.Operators[i].Name = c.Operators[i].JID
		}
	}
	for i := range c.Libraries {
		if c.Libraries[i].Name == "" {
			c.Libraries[i].Name = c.Libraries[i].ID
		}
	}
}
