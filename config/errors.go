package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Error is one mistake in a configuration file. Its text names the file, the
// line and column, the dotted key path and what to write instead:
//
//	owlgate.yaml:12:5: queues[0].fallback_after: "90" is not a duration; write a number with a unit, like 90s or 2m
type Error struct {
	File   string // the config file as it was named to Load or Parse
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Key    string // the dotted key path, like queues[0].accounts[1].nick; empty for syntax errors
	Msg    string // what is wrong
	Fix    string // what to write instead; may be empty
}

// Error returns file:line:column: key: message; fix.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Errors is every mistake found in a configuration, in the order of the
// file. Load, Parse and Account.Decode return all of them at once, as an
// Errors value, so that one run of `owlgate check` shows everything to fix.
type Errors []*Error

// Error returns one line per mistake.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// sort orders the errors by their place in the file; errors without a place
// come first, and errors at the same place keep their order.
func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		return cmp.Compare(a.Column, b.Column)
	})
}

// err returns es as an error: nil when it is empty, so that a caller's
// err != nil works.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	es.sort()
	return es
}

// AsErrors returns the individual mistakes in err: the elements of an
// Errors, a single *Error, or nil when err holds neither.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// valueError is what the UnmarshalYAML methods of this package return: a
// message and a fix, which the loader places at the value's line and key.
type valueError struct {
	msg, fix string
}

func (e *valueError) Error() string {
	if e.fix == "" {
		return e.msg
	}
	return e.msg + "; " + e.fix
}
