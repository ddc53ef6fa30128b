//go:build goolm

package main

import (
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/matrix"
)

// matrixBuilt tells whether this build serves Matrix accounts.
const matrixBuilt = true

// matrixFactory is the Matrix network's factory: this build has
// end-to-end encryption on goolm, mautrix's pure-Go olm (-tags goolm).
func matrixFactory() protocols.Factory { return matrix.New }
