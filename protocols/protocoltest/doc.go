// Package protocoltest is the conformance suite every network adapter's
// tests run, against a real server where one can be installed (ngircd,
// Dendrite) or a fake that speaks the network's real wire format.
//
// An adapter's test builds a [Harness] (how to make the adapter under test
// and a patron on the same network) and calls [Run]. The suite checks what
// the gateway relies on: the account reports its states and stops when told,
// a patron's message arrives with the right address, a reply reaches the
// patron intact (Unicode, long texts split within the network's limit),
// sends while stopped fail in a retryable way, concurrent sends are safe, and
// a patron leaving is reported on networks that have presence.
//
// The package also holds the helpers those tests and the gateway's share:
// [Sink], a recording [protocols.Sink] whose waits are events, not sleeps,
// and [Loopback], an in-memory network whose adapter passes the suite, used
// where the gateway's tests need a patron.
package protocoltest
