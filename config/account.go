package config

import (
	"fmt"
	"reflect"
	"slices"
)

// Decode decodes the account's network keys (every key but id, network and
// idle_timeout) into v, a pointer to the network's config struct, by the
// struct's yaml tags. It is as strict as Load: a key that is not a field of
// v, a key written twice, or a value that does not fit is an error naming
// the file, line, column and key path (queues[0].accounts[1].nick), with a
// "did you mean" when the key is close to a field's. Secret fields are
// resolved from their ${ENV} or file: references. It returns an Errors
// value listing every mistake, or nil.
//
// It is what the gateway passes to adapters as protocols.AccountSpec.Decode.
func (a *Account) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: Account.Decode needs a non-nil pointer, not %T", v)
	}
	d := &decoder{file: a.file, dir: a.dir, resolve: true}
	if a.node == nil {
		// An account built in Go, not loaded: it has no network keys.
		return nil
	}
	elem := rv.Elem()
	if elem.Kind() == reflect.Struct && !isLeaf(elem.Type()) {
		d.decodeStruct(a.node, elem, a.path, commonAccountKeys)
	} else {
		// A map or another type: give it the network keys only.
		n := *a.node
		n.Content = nil
		for i := 0; i+1 < len(a.node.Content); i += 2 {
			if !slices.Contains(commonAccountKeys, deref(a.node.Content[i]).Value) {
				n.Content = append(n.Content, a.node.Content[i], a.node.Content[i+1])
			}
		}
		d.decode(&n, elem, a.path, "")
	}
	return d.errs.err()
}

// Keys returns the account's network keys (all but id, network and
// idle_timeout), in the order the config writes them.
func (a *Account) Keys() []string {
	if a.node == nil {
		return nil
	}
	var keys []string
	for i := 0; i+1 < len(a.node.Content); i += 2 {
		k := deref(a.node.Content[i]).Value
		if !slices.Contains(commonAccountKeys, k) && k != "<<" {
			keys = append(keys, k)
		}
	}
	return keys
}

// Path returns the account's key path in the config, like
// queues[0].accounts[1].
func (a *Account) Path() string { return a.path }

// KeyError returns an error about one of the account's keys, placed at
// that key's value in the file, or at the account when the key is absent.
// The gateway and tests use it to place what an adapter found wrong after
// decoding:
//
//	a.KeyError("server", "is required", "write server: irc.example.net:6697")
func (a *Account) KeyError(key, msg, fix string) *Error {
	e := &Error{File: a.file, Key: joinKey(a.path, key), Msg: msg, Fix: fix}
	if a.node == nil {
		return e
	}
	e.Line, e.Column = a.node.Line, a.node.Column
	for i := 0; i+1 < len(a.node.Content); i += 2 {
		if deref(a.node.Content[i]).Value == key {
			v := deref(a.node.Content[i+1])
			e.Line, e.Column = v.Line, v.Column
		}
	}
	return e
}

// WrapError places an adapter's error about this account in the file: an
// error that already holds config Errors (from Decode) is returned as it
// is; any other becomes an *Error at the account, with err's text as its
// message. nil stays nil.
func (a *Account) WrapError(err error) error {
	if err == nil || AsErrors(err) != nil {
		return err
	}
	e := a.KeyError("", err.Error(), "")
	e.Key = a.path
	return e
}
