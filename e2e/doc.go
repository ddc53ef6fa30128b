// Package e2e holds owlgate's end-to-end tests and benchmarks: a whole
// owlgate (internal/daemon, as `owlgate run` builds it) with librarians on
// real XMPP connections (the embedded server, or real Prosody and ejabberd
// servers with owlgate as their component) and patrons on an in-memory
// network. The package has no code of its own.
package e2e
