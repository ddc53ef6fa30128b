package config

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads, checks and returns the configuration in the file at path. Its
// error is an Errors value listing every mistake, each with the file, line,
// column, key and what to write instead.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		reason := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = pe.Err.Error()
		}
		fix := ""
		if errors.Is(err, fs.ErrNotExist) {
			fix = "give the path of an owlgate.yaml with --config; examples/quickstart.yaml is a start"
		}
		return nil, Errors{{File: path, Msg: "cannot read the config file: " + reason, Fix: fix}}
	}
	return Parse(path, data)
}

// Parse checks and returns the configuration in data, read from file. file
// names the config in messages, and its folder is where relative paths
// (data_dir, xmpp.tls, file: secrets) start. Its error is an Errors value
// listing every mistake.
func Parse(file string, data []byte) (*Config, error) {
	root, errs := parseYAML(file, data)
	if len(errs) > 0 {
		return nil, errs.err()
	}
	d := &decoder{
		file:  file,
		dir:   baseDir(file),
		nodes: map[string]*yaml.Node{},
		keys:  map[string]*yaml.Node{},
	}
	c := &Config{file: file}
	if root != nil {
		if root.Kind != yaml.MappingNode {
			d.errorAt(root, "", "the config must be a mapping of keys, not a "+kindName(root),
				"start with keys like data_dir:, xmpp:, libraries:, operators:, queues: (see examples/quickstart.yaml)")
			return nil, d.errs.err()
		}
		d.decode(root, reflect.ValueOf(c).Elem(), "", "")
	}
	v := &validator{d: d, c: c}
	c.applyDefaults(v.set)
	v.validate()
	if err := d.errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// File returns the config file's name, as given to Load or Parse.
func (c *Config) File() string { return c.file }

// baseDir returns the absolute folder of file.
func baseDir(file string) string {
	dir := filepath.Dir(file)
	if abs, err := filepath.Abs(dir); err == nil {
		return abs
	}
	return dir
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML parses data into the root node of its only document; nil when
// the file is empty.
func parseYAML(file string, data []byte) (*yaml.Node, Errors) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Errors{syntaxError(file, data, err)}
	}
	var second yaml.Node
	switch err := dec.Decode(&second); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, Errors{syntaxError(file, data, err)}
	default:
		return nil, Errors{{File: file, Line: second.Line, Column: second.Column,
			Msg: "the file holds more than one YAML document",
			Fix: "remove the --- line and what follows, or merge the documents into one"}}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		root := deref(doc.Content[0])
		if isNull(root) {
			return nil, nil
		}
		return root, nil
	}
	return nil, nil
}

// syntaxError turns a YAML parse error into an Error with the line, and the
// column of a tab when a tab is the likely cause.
func syntaxError(file string, data []byte, err error) *Error {
	e := &Error{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: "),
		Fix: "check the indentation (spaces only) and quote values holding \": \", \" #\" or starting with one of * & ! | > % @ `"}
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return e
	}
	e.Line, _ = strconv.Atoi(m[1])
	e.Msg = "YAML syntax: " + m[2]
	if strings.HasPrefix(m[2], "did not find expected") {
		// yaml counts the lines of parser errors (unlike scanner errors)
		// from 0.
		e.Line++
	}
	lines := strings.Split(string(data), "\n")
	// The error may name the line after the tab; look at both.
	for _, ln := range []int{e.Line, e.Line - 1, e.Line + 1} {
		if ln < 1 || ln > len(lines) {
			continue
		}
		text := lines[ln-1]
		indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]
		if i := strings.IndexByte(indent, '\t'); i >= 0 {
			e.Line, e.Column = ln, i+1
			e.Msg = "YAML syntax: a tab in the indentation"
			e.Fix = "indent with spaces; YAML does not allow tabs there"
			return e
		}
	}
	return e
}

// IdleTimeoutFor returns how long a chat on account a (one of q's accounts)
// may stay silent before it ends: the account's idle_timeout, else the
// queue's, else network (the adapter's own default, such as a long one for
// SMS, which has no presence) when it is not zero, else DefaultIdleTimeout.
func (q *Queue) IdleTimeoutFor(a *Account, network time.Duration) time.Duration {
	switch {
	case a != nil && a.IdleTimeout > 0:
		return time.Duration(a.IdleTimeout)
	case q.IdleTimeout > 0:
		return time.Duration(q.IdleTimeout)
	case network > 0:
		return network
	}
	return DefaultIdleTimeout
}

// QueueByID returns the queue with id, or nil.
func (c *Config) QueueByID(id string) *Queue {
	for i := range c.Queues {
		if c.Queues[i].ID == id {
			return &c.Queues[i]
		}
	}
	return nil
}

// LibraryByID returns the library with id, or nil.
func (c *Config) LibraryByID(id string) *Library {
	for i := range c.Libraries {
		if c.Libraries[i].ID == id {
			return &c.Libraries[i]
		}
	}
	return nil
}

// OperatorByJID returns the operator with the bare JID jid (compared in
// normalized form, so case does not matter), or nil.
func (c *Config) OperatorByJID(jid string) *Operator {
	if n, err := normalizeBareJID(jid); err == nil {
		jid = n
	}
	for i := range c.Operators {
		if c.Operators[i].JID == jid {
			return &c.Operators[i]
		}
	}
	return nil
}

// AccountByID returns the account with id and the queue that owns it, or
// nils.
func (c *Config) AccountByID(id string) (*Queue, *Account) {
	for i := range c.Queues {
		q := &c.Queues[i]
		for j := range q.Accounts {
			if q.Accounts[j].ID == id {
				return q, &q.Accounts[j]
			}
		}
	}
	return nil, nil
}
