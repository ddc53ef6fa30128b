package gateway

import (
	"context"

	"github.com/owlgate/owlgate/routing"
)

// Link is the operator side: the embedded XMPP server or the XEP-0114
// component (package xmpp).
type Link interface {
	// Run serves operators until ctx ends, posting their presence,
	// messages and chat states to post.
	Run(ctx context.Context, post PostFunc) error

	// Send carries out an operator-facing action: SendOperator,
	// SendOperatorState, SendOperatorReceipt or QueuePresence; it also gets
	// the SaveChat of every chat that ended, to show the patron leaving.
	// It must not block the event loop: a link queues what it cannot send
	// at once.
	Send(a routing.Action)
}

// PostFunc hands an event to the gateway's event loop. It returns once the
// engine has handled the event, or with ctx's error.
type PostFunc func(ctx context.Context, ev routing.Event) error
