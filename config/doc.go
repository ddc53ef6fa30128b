// Package config loads and checks owlgate's YAML configuration.
//
// [Load] reads a file and [Parse] reads bytes; both return a [*Config] with
// every default applied, or an [Errors] value listing every mistake at once,
// each an [*Error] with the file, line, column, dotted key path and what to
// write instead:
//
//	owlgate.yaml:12:5: queues[0].fallback_after: "90" is not a duration; write a number with a unit, like 90s or 2m
//	owlgate.yaml:20:7: queues[0].accounts[0].nik: unknown key "nik"; did you mean "nick"?
//
// # Strictness
//
// Every key must be one the schema knows (see [Config] and its types, by
// their yaml tags); a key written twice is an error, and so is a value that
// does not fit (a list where one value goes, a word where a number goes).
// The references between things are checked: operators and queues name
// libraries that exist, queues name operators and fallback queues that
// exist, fallbacks do not form a cycle, ids are unique (account ids across
// all queues), queue ids are valid JID local parts that collide neither with
// patrons' JIDs (guest-…) nor with operators' JIDs.
//
// An account's network keys (all but id, network and idle_timeout) are kept
// as written; the network's adapter decodes them with [Account.Decode], which
// is as strict as Load. So Load checks only that an account has an id and a
// network; `owlgate check` then runs every adapter's factory to check the
// rest.
//
// # Secrets
//
// Credentials never appear in the file: a [Secret] is written as a
// reference, `${ENV_VAR}` (the variable must be set and not empty) or
// `file:/path` (the file's content without its trailing newline). A literal
// value is an error. A Secret prints, logs and marshals as a redaction,
// never as its value.
//
// # Paths
//
// Relative paths in the config (data_dir, xmpp.tls.cert and key, file:
// secrets) start at the config file's folder, not at the working directory,
// so that `owlgate run --config /etc/owlgate/owlgate.yaml` means the same
// wherever it is started from (under systemd, the working directory is /).
// After loading, Config.DataDir and the TLS paths are absolute.
//
// # Defaults
//
// Every default is a constant in defaults.go (DefaultDataDir,
// DefaultXMPPListen, DefaultOfflineGrace, ...); examples/README.md lists
// every key with its default for people. Idle timeouts are resolved per
// account by [Queue.IdleTimeoutFor]: the account's idle_timeout, else the
// queue's, else the network's own default, else [DefaultIdleTimeout].
package config
