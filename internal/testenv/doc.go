// Package testenv starts real servers for integration tests: Prosody and
// ejabberd (the XMPP servers operators use in component mode), ngircd (IRC)
// and Dendrite (the Matrix homeserver, see StartDendrite), each on
// loopback, on free ports, in a fresh folder from t.TempDir, stopped by PID
// when the test ends. It also has a small XMPP client (STARTTLS, SCRAM,
// resource binding; see Client) that logs in as one of those servers'
// users, and Binary, which finds other programs tests run (go-sendxmpp).
//
// When a server's binary is missing, the test is skipped, unless the
// environment has OWLGATE_REQUIRE_SERVERS=1 (scripts/test sets it when it
// installs the servers, so CI never skips silently): then it fails and says
// how to install it.
//
// Each start writes the server's own log into its folder; when the test
// fails, the end of every log is printed.
//
// Processes are started in their own process group with SIGKILL as the
// parent-death signal, so a test binary that dies leaves Prosody behind
// rarely; ejabberd runs as the ejabberd user (it refuses root), which clears
// that signal, so a killed test binary can leave an ejabberd on loopback
// ports until it is stopped by hand (its PID is in <dir>/ejabberd.pid).
package testenv
