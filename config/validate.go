package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"mellium.im/xmpp/jid"
)

// guestPrefix starts every patron's JID local part (guest-1042@domain). It
// is routing.GuestPrefix, written out here because config imports nothing of
// the routing engine.
const guestPrefix = "guest-"

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	modes      = []string{ModeServer, ModeComponent}
	redactions = []string{RedactEmail, RedactPhone}

	idRE      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	queueIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
)

// validator checks a decoded config, makes its paths absolute and resolves
// its secrets, reporting through the decoder.
type validator struct {
	d *decoder
	c *Config
}

// set reports whether the config wrote a value at path.
func (v *validator) set(path string) bool {
	n, ok := v.d.nodes[path]
	return ok && !isNull(n)
}

// parentPath strips the last key or index of path.
func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

// node returns the value node at path, or that of its nearest ancestor
// (for a missing key, the mapping it is missing from).
func (v *validator) node(path string) *yaml.Node {
	for p := path; ; p = parentPath(p) {
		if n, ok := v.d.nodes[p]; ok {
			return n
		}
		if p == "" {
			return nil
		}
	}
}

func (v *validator) line(path string) int {
	if n := v.node(path); n != nil {
		return n.Line
	}
	return 0
}

// reported reports whether path already has an error (from decoding: a
// value that did not fit), so that validation does not pile a second one on.
func (v *validator) reported(path string) bool {
	for _, e := range v.d.errs {
		if e.Key == path {
			return true
		}
	}
	return false
}

// fail reports a mistake in the value at path.
func (v *validator) fail(path, msg, fix string) {
	if v.reported(path) {
		return
	}
	v.d.errorAt(v.node(path), path, msg, fix)
}

// failKey reports a key that should not be there, at the key itself.
func (v *validator) failKey(path, msg, fix string) {
	if v.reported(path) {
		return
	}
	n := v.d.keys[path]
	if n == nil {
		n = v.node(path)
	}
	v.d.errorAt(n, path, msg, fix)
}

func (v *validator) required(path, fix string) {
	v.fail(path, "is required", fix)
}

// oneOf checks that the value at path is one of choices.
func (v *validator) oneOf(path, what, value string, choices []string) bool {
	if slices.Contains(choices, value) {
		return true
	}
	fix := "write one of " + strings.Join(choices, ", ")
	if s := suggest(value, choices); s != "" {
		fix = fmt.Sprintf("did you mean %q?", s)
	}
	v.fail(path, fmt.Sprintf("%q is not %s", value, what), fix)
	return false
}

// resolve resolves the secret at path.
func (v *validator) resolve(path string, s *Secret) {
	if err := s.resolve(v.d.dir); err != nil {
		if ve, ok := err.(*valueError); ok {
			v.fail(path, ve.msg, ve.fix)
		} else {
			v.fail(path, err.Error(), "")
		}
	}
}

// absPath makes a relative path start at the config file's folder.
func (v *validator) absPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(v.d.dir, p)
}

func (v *validator) validate() {
	c := v.c
	v.oneOf("log.level", "a log level", c.Log.Level, logLevels)
	v.oneOf("log.format", "a log format", c.Log.Format, logFormats)
	c.DataDir = v.absPath(c.DataDir)
	v.validateXMPP()
	v.checkAddr("http.listen", c.HTTP.Listen, false)
	if c.HTTP.AdminToken.IsSet() {
		v.resolve("http.admin_token", &c.HTTP.AdminToken)
	}
	libs := v.validateLibraries()
	v.validateLibraryTokens(libs)
	ops := v.validateOperators(libs)
	v.validateQueues(libs, ops)
}

// validateLibraryTokens checks http.library_tokens: each names a library
// that exists and a token, a secret reference, whose value is the admin
// token's no more than another entry's.
func (v *validator) validateLibraryTokens(libs map[string]string) {
	c := v.c
	seen := map[string]string{} // token value -> path of its first use
	if c.HTTP.AdminToken.IsSet() && c.HTTP.AdminToken.Value() != "" {
		seen[c.HTTP.AdminToken.Value()] = "http.admin_token"
	}
	for i := range c.HTTP.LibraryTokens {
		lt := &c.HTTP.LibraryTokens[i]
		p := fmt.Sprintf("http.library_tokens[%d]", i)
		switch _, ok := libs[lt.Library]; {
		case lt.Library == "":
			v.required(p+".library", "add library: the id of the library whose chats this token may read")
		case !ok:
			v.fail(p+".library", fmt.Sprintf("%q is not a library", lt.Library),
				refFix(lt.Library, libs, "add it under libraries:"))
		}
		tp := p + ".token"
		if !v.set(tp) {
			v.required(tp, secretFix(tp, "token", lt.Library))
			continue
		}
		v.resolve(tp, &lt.Token)
		val := lt.Token.Value()
		if val == "" {
			continue // not resolved: already reported
		}
		if first, dup := seen[val]; dup {
			v.fail(tp, fmt.Sprintf("is the same token as %s (line %d)", first, v.line(first)),
				"give every library its own token, and none the admin token")
			continue
		}
		seen[val] = tp
	}
}

func (v *validator) validateXMPP() {
	x := &v.c.XMPP
	if !slices.Contains(modes, x.Mode) {
		fix := "write server (owlgate is the operators' XMPP server) or component (owlgate joins Prosody, ejabberd or Openfire as an XEP-0114 component)"
		if s := suggest(x.Mode, modes); s != "" {
			fix = fmt.Sprintf("did you mean %q? ", s) + fix
		}
		v.fail("xmpp.mode", fmt.Sprintf("%q is not a mode", x.Mode), fix)
	}
	if d, err := normalizeDomain(x.Domain); err != nil {
		v.fail("xmpp.domain", fmt.Sprintf("%q is not a valid domain: %v", x.Domain, err),
			"write a host name, like localhost or chat.example.edu")
	} else {
		x.Domain = d
	}
	if x.MaxStanza < MinMaxStanza {
		v.fail("xmpp.max_stanza", fmt.Sprintf("%d is too small", x.MaxStanza),
			fmt.Sprintf("write at least %d (RFC 6120 requires it), or leave it out for %d", MinMaxStanza, DefaultMaxStanza))
	}
	switch x.Mode {
	case ModeServer:
		v.checkAddr("xmpp.listen", x.Listen, false)
		v.validateTLS()
		if x.AllowPlaintext {
			if host, _, err := net.SplitHostPort(x.Listen); err == nil && !isLoopback(host) {
				v.fail("xmpp.allow_plaintext",
					fmt.Sprintf("is allowed only when xmpp.listen is a loopback address, not %q (passwords would cross the network in the clear)", x.Listen),
					"set xmpp.listen: 127.0.0.1:5222, or remove allow_plaintext so that clients use STARTTLS")
			}
		}
		for _, k := range []string{"connect", "secret"} {
			if v.set("xmpp." + k) {
				v.failKey("xmpp."+k, "is only used in component mode",
					"remove it, or set xmpp.mode: component to join an existing XMPP server")
			}
		}
	case ModeComponent:
		if !v.set("xmpp.connect") {
			v.required("xmpp.connect", "in component mode write the XMPP server's component address, like connect: 127.0.0.1:5347")
		} else {
			v.checkAddr("xmpp.connect", x.Connect, true)
		}
		if !v.set("xmpp.secret") {
			v.required("xmpp.secret", "in component mode "+secretFix("xmpp.secret", "secret", "")+
				", the component secret configured in the XMPP server")
		} else {
			v.resolve("xmpp.secret", &x.Secret)
		}
		for _, k := range []string{"tls", "allow_plaintext"} {
			if v.set("xmpp." + k) {
				v.failKey("xmpp."+k, "is only used in server mode (in component mode the XMPP server handles client connections)",
					"remove it, or set xmpp.mode: server")
			}
		}
	}
}

func (v *validator) validateTLS() {
	t := &v.c.XMPP.TLS
	switch {
	case t.Cert != "" && t.Key == "":
		v.required("xmpp.tls.key", "add key: the PEM file of the certificate's private key")
	case t.Cert == "" && t.Key != "":
		v.required("xmpp.tls.cert", "add cert: the PEM certificate file, or remove tls to use a self-signed pair")
	}
	for _, k := range []struct {
		key string
		p   *string
	}{{"xmpp.tls.cert", &t.Cert}, {"xmpp.tls.key", &t.Key}} {
		if *k.p == "" {
			continue
		}
		*k.p = v.absPath(*k.p)
		if _, err := os.Stat(*k.p); err != nil {
			reason := err.Error()
			if pe, ok := err.(*os.PathError); ok {
				reason = pe.Err.Error()
			}
			v.fail(k.key, fmt.Sprintf("cannot read %s: %s", *k.p, reason),
				"give a PEM file (a relative path starts at the config file's folder), or remove tls to use a self-signed pair")
		}
	}
}

// checkAddr checks a host:port address; dial addresses need a host and a
// port other than 0.
func (v *validator) checkAddr(path, addr string, dial bool) {
	example := "127.0.0.1:8080"
	switch path {
	case "xmpp.listen":
		example = "127.0.0.1:5222"
	case "xmpp.connect":
		example = "127.0.0.1:5347"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fix := fmt.Sprintf("write host:port, like %s", example)
		if !dial {
			fix += fmt.Sprintf(", or :%s for every interface", example[strings.LastIndexByte(example, ':')+1:])
		}
		v.fail(path, fmt.Sprintf("%q is not host:port", addr), fix)
		return
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (dial && n == 0) {
		v.fail(path, fmt.Sprintf("%q has no valid port", addr), fmt.Sprintf("write a port number from 1 to 65535, like %s", example))
		return
	}
	if dial && host == "" {
		v.fail(path, fmt.Sprintf("%q names no host", addr), fmt.Sprintf("write host:port, like %s", example))
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// normalizeDomain checks an XMPP domain and returns it in normal form.
func normalizeDomain(d string) (string, error) {
	if strings.ContainsAny(d, "@/ \t") {
		return "", fmt.Errorf("a domain has no '@', '/' or spaces")
	}
	j, err := jid.Parse(d)
	if err != nil {
		return "", err
	}
	return j.Domainpart(), nil
}

// normalizeBareJID parses a bare JID with a local part and returns it in
// normal form (the local part and domain in lower case).
func normalizeBareJID(s string) (string, error) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", err
	}
	if j.Resourcepart() != "" {
		return "", errFullJID{bare: j.Bare().String(), resource: j.Resourcepart()}
	}
	if j.Localpart() == "" {
		return "", errNoLocal{}
	}
	return j.String(), nil
}

type errFullJID struct{ bare, resource string }

func (e errFullJID) Error() string { return "a full JID" }

type errNoLocal struct{}

func (errNoLocal) Error() string { return "no local part" }

// checkID checks the id at path: required, its syntax, and unique in seen
// (id -> path of its first use). It reports whether the id can be used.
func (v *validator) checkID(path, id, what, example string, seen map[string]string) bool {
	if id == "" {
		v.required(path, fmt.Sprintf("add id: a short name for the %s, like %s", what, example))
		return false
	}
	if !idRE.MatchString(id) {
		v.fail(path, fmt.Sprintf("%q is not a valid %s id", id, what),
			fmt.Sprintf("use up to 64 letters, digits, '-', '_' and '.', starting with a letter or digit, like %s", cleanID(id, example)))
		return false
	}
	return v.unique(path, id, what, seen)
}

func (v *validator) unique(path, id, what string, seen map[string]string) bool {
	if first, dup := seen[id]; dup {
		v.fail(path, fmt.Sprintf("%s %q is already defined at %s (line %d)", what, id, first, v.line(first)),
			fmt.Sprintf("give each %s its own id", what))
		return false
	}
	seen[id] = path
	return true
}

// cleanID suggests an id like s: lower case, other characters as '-'.
func cleanID(s, fallback string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-._")
	if out == "" || strings.HasPrefix(out, guestPrefix) {
		return fallback
	}
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

func (v *validator) validateLibraries() map[string]string {
	seen := map[string]string{}
	for i := range v.c.Libraries {
		l := &v.c.Libraries[i]
		p := fmt.Sprintf("libraries[%d]", i)
		v.checkID(p+".id", l.ID, "library", "unc", seen)
		collabs := map[string]string{}
		for k, co := range l.Collaborations {
			cp := fmt.Sprintf("%s.collaborations[%d]", p, k)
			if !idRE.MatchString(co) {
				v.fail(cp, fmt.Sprintf("%q is not a valid collaboration name", co),
					fmt.Sprintf("use letters, digits, '-', '_' and '.', like %s", cleanID(co, "nightowl")))
				continue
			}
			if first, dup := collabs[co]; dup {
				v.fail(cp, fmt.Sprintf("collaboration %q is named twice (first at %s)", co, first), "keep one")
				continue
			}
			collabs[co] = cp
		}
	}
	return seen
}

// refFix suggests the known name closest to name, or says how to add it.
func refFix(name string, known map[string]string, add string) string {
	names := make([]string, 0, len(known))
	for k := range known {
		names = append(names, k)
	}
	slices.Sort(names)
	if s := suggest(name, names); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	if len(names) > 0 && len(names) <= 10 {
		return fmt.Sprintf("write one of %s, or %s", strings.Join(names, ", "), add)
	}
	return add
}

func (v *validator) validateOperators(libs map[string]string) map[string]string {
	c := v.c
	server := c.XMPP.Mode == ModeServer
	seen := map[string]string{}
	for i := range c.Operators {
		o := &c.Operators[i]
		p := fmt.Sprintf("operators[%d]", i)
		switch {
		case o.JID == "":
			v.required(p+".jid", fmt.Sprintf("add jid: the operator's bare JID, like alice@%s", c.XMPP.Domain))
		default:
			norm, ok := v.checkJID(p+".jid", o.JID)
			if !ok {
				break
			}
			o.JID = norm
			if !v.unique(p+".jid", norm, "operator", seen) {
				break
			}
			local, domain, _ := strings.Cut(norm, "@")
			if strings.HasPrefix(local, guestPrefix) && domain == c.XMPP.Domain {
				v.fail(p+".jid", fmt.Sprintf("%q looks like a patron's JID: guest ids start with %q", norm, guestPrefix),
					"give the operator a JID that does not start with "+guestPrefix)
			}
		}
		if o.Library == "" {
			v.required(p+".library", "add library: the id of the operator's library")
		} else if _, ok := libs[o.Library]; !ok {
			v.fail(p+".library", fmt.Sprintf("%q is not a library", o.Library),
				refFix(o.Library, libs, "add it under libraries:"))
		}
		pw := p + ".password"
		switch {
		case server && !v.set(pw):
			v.required(pw, "operators log in to owlgate's own XMPP server in server mode: "+secretFix(pw, "password", o.JID))
		case server:
			v.resolve(pw, &o.Password)
		case v.set(pw):
			v.failKey(pw, "is only used in server mode (in component mode operators log in to their own XMPP server)",
				"remove it")
		}
	}
	return seen
}

// checkJID checks that s at path is a bare JID with a local part and returns
// it in normal form.
func (v *validator) checkJID(path, s string) (string, bool) {
	norm, err := normalizeBareJID(s)
	switch e := err.(type) {
	case nil:
		return norm, true
	case errFullJID:
		v.fail(path, fmt.Sprintf("%q is a full JID (it names the resource %q)", s, e.resource),
			fmt.Sprintf("write the bare JID %s; operators may log in from any client", e.bare))
	case errNoLocal:
		v.fail(path, fmt.Sprintf("%q has no local part", s),
			fmt.Sprintf("write user@domain, like alice@%s", v.c.XMPP.Domain))
	default:
		v.fail(path, fmt.Sprintf("%q is not a valid JID: %v", s, err),
			fmt.Sprintf("write a bare JID, user@domain, like alice@%s", v.c.XMPP.Domain))
	}
	return "", false
}

func (v *validator) validateQueues(libs, ops map[string]string) {
	c := v.c
	seen := map[string]string{}
	accounts := map[string]string{}
	for i := range c.Queues {
		q := &c.Queues[i]
		p := fmt.Sprintf("queues[%d]", i)
		v.checkQueueID(p+".id", q.ID, seen)
		if q.Library == "" {
			v.required(p+".library", "add library: the id of the library that owns the queue")
		} else if _, ok := libs[q.Library]; !ok {
			v.fail(p+".library", fmt.Sprintf("%q is not a library", q.Library),
				refFix(q.Library, libs, "add it under libraries:"))
		}
		inQueue := map[string]string{}
		for k, op := range q.Operators {
			opPath := fmt.Sprintf("%s.operators[%d]", p, k)
			norm, ok := v.checkJID(opPath, op)
			if !ok {
				continue
			}
			q.Operators[k] = norm
			if _, ok := ops[norm]; !ok {
				v.fail(opPath, fmt.Sprintf("%q is not an operator", op),
					refFix(norm, ops, "add it under operators: with its jid, library and password"))
				continue
			}
			if first, dup := inQueue[norm]; dup {
				v.fail(opPath, fmt.Sprintf("operator %q is listed twice (first at %s)", norm, first), "keep one")
				continue
			}
			inQueue[norm] = opPath
		}
		if q.TranscriptDays < 0 {
			v.fail(p+".transcript_days", fmt.Sprintf("%d is negative", q.TranscriptDays),
				"write the number of days to keep transcripts, or 0 to keep them")
		}
		for k, r := range q.Redact {
			v.oneOf(fmt.Sprintf("%s.redact[%d]", p, k), "something owlgate can redact", r, redactions)
		}
		for j := range q.Accounts {
			a := &q.Accounts[j]
			ap := fmt.Sprintf("%s.accounts[%d]", p, j)
			v.checkID(ap+".id", a.ID, "account", "unc-irc", accounts)
			if strings.TrimSpace(a.Network) == "" {
				v.required(ap+".network", "add network: the account's network, like irc, matrix, discord, whatsapp, sms or webchat")
			}
		}
	}
	v.validateFallbacks(seen)
}

// checkQueueID checks a queue id: required, a JID local part, not a
// patron's or an operator's JID, unique.
func (v *validator) checkQueueID(path, id string, seen map[string]string) {
	c := v.c
	if id == "" {
		v.required(path, "add id: a short name for the queue, like reference; it is also the queue's JID, reference@"+c.XMPP.Domain)
		return
	}
	if strings.HasPrefix(id, guestPrefix) {
		v.fail(path, fmt.Sprintf("%q starts with %q, like the JIDs of patrons (guest-1042@%s)", id, guestPrefix, c.XMPP.Domain),
			fmt.Sprintf("choose an id that does not start with %q, like %s", guestPrefix, cleanID(strings.TrimPrefix(id, guestPrefix), "reference")))
		return
	}
	if !queueIDRE.MatchString(id) {
		v.fail(path, fmt.Sprintf("%q is not a valid queue id (it is the local part of the queue's JID)", id),
			fmt.Sprintf("use up to 64 lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, like %s", cleanID(id, "reference")))
		return
	}
	if !v.unique(path, id, "queue", seen) {
		return
	}
	for k, o := range c.Operators {
		local, domain, _ := strings.Cut(o.JID, "@")
		if local == id && domain == c.XMPP.Domain {
			v.fail(path, fmt.Sprintf("queue %q would have the JID %s@%s, which is operator %s (operators[%d])", id, id, domain, o.JID, k),
				"rename the queue, like "+id+"-queue")
		}
	}
}

func (v *validator) validateFallbacks(queues map[string]string) {
	c := v.c
	edges := map[string][]string{}
	for i := range c.Queues {
		q := &c.Queues[i]
		p := fmt.Sprintf("queues[%d]", i)
		named := map[string]string{}
		for k, f := range q.Fallback {
			fp := fmt.Sprintf("%s.fallback[%d]", p, k)
			switch _, known := queues[f]; {
			case f == q.ID && q.ID != "":
				v.fail(fp, fmt.Sprintf("queue %q falls back to itself", f),
					"remove it; name other queues, which take this queue's chats when it is offline or slow")
			case !known:
				v.fail(fp, fmt.Sprintf("%q is not a queue", f),
					refFix(f, queues, "add a queue with that id under queues:"))
			default:
				if first, dup := named[f]; dup {
					v.fail(fp, fmt.Sprintf("queue %q is named twice (first at %s)", f, first), "keep one")
					continue
				}
				named[f] = fp
				if queues[q.ID] == p+".id" {
					edges[q.ID] = append(edges[q.ID], f)
				}
			}
		}
		if q.FallbackAfter > 0 && len(q.Fallback) == 0 {
			v.fail(p+".fallback_after", "has no fallback queue to send chats to",
				"add fallback: [the queues that take over], or remove fallback_after")
		}
	}
	// Find the cycles, depth first from each queue in the file's order.
	const (
		white = iota
		grey
		black
	)
	state := map[string]int{}
	var stack []string
	reported := map[string]bool{}
	var visit func(id string)
	visit = func(id string) {
		state[id] = grey
		stack = append(stack, id)
		for _, f := range edges[id] {
			switch state[f] {
			case white:
				visit(f)
			case grey:
				start := slices.Index(stack, f)
				cycle := append(slices.Clone(stack[start:]), f)
				key := canonicalCycle(cycle[:len(cycle)-1])
				if reported[key] {
					continue
				}
				reported[key] = true
				qi := queues[cycle[0]]
				k := slices.Index(c.QueueByID(cycle[0]).Fallback, cycle[1])
				v.fail(fmt.Sprintf("%s.fallback[%d]", parentPath(qi), k),
					"fallback cycle: "+strings.Join(cycle, " → "),
					"a chain of fallbacks must end: remove one of these fallbacks")
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = black
	}
	for _, q := range c.Queues {
		if state[q.ID] == white && len(edges[q.ID]) > 0 {
			visit(q.ID)
		}
	}
}

// canonicalCycle names a cycle the same whichever queue it starts at.
func canonicalCycle(ids []string) string {
	m := 0
	for i := range ids {
		if ids[i] < ids[m] {
			m = i
		}
	}
	return strings.Join(append(slices.Clone(ids[m:]), ids[:m]...), ",")
}
