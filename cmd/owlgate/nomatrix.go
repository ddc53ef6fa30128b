//go:build !goolm

package main

import (
	"errors"

	"github.com/owlgate/owlgate/protocols"
)

// matrixBuilt tells whether this build serves Matrix accounts.
const matrixBuilt = false

// errNoMatrix is what a Matrix account gets from a build without it.
var errNoMatrix = errors.New("network matrix: this owlgate was built without Matrix, whose end-to-end encryption needs mautrix's pure-Go olm: build it with -tags goolm (go build -tags goolm ./cmd/owlgate; ./scripts/quickstart does)")

// matrixFactory refuses Matrix accounts: mautrix's crypto links libolm
// through cgo unless it is built with -tags goolm, so without the tag
// owlgate leaves Matrix out rather than fail to build.
func matrixFactory() protocols.Factory {
	return func(protocols.AccountSpec) (protocols.Adapter, error) { return nil, errNoMatrix }
}
