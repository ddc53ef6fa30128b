package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/owlgate/owlgate/httpapi"
	"github.com/owlgate/owlgate/xmpp"
)

// linkWatch is the operator link's transport, watched: it notes when the
// transport says it is connected (the embedded server listens, the
// component finished its handshake) and when it is not, for /readyz and
// /status.
type linkWatch struct {
	xmpp.Transport

	mu    sync.Mutex
	up    bool
	since time.Time
}

var (
	_ xmpp.Transport = (*linkWatch)(nil)
	_ httpapi.Link   = (*linkWatch)(nil)
	_ xmpp.Handler   = watchedHandler{}
)

// Run runs the transport with a handler that reports to the watch.
func (l *linkWatch) Run(ctx context.Context, h xmpp.Handler) error {
	defer l.set(false)
	return l.Transport.Run(ctx, watchedHandler{Handler: h, l: l})
}

// LinkUp implements httpapi.Link.
func (l *linkWatch) LinkUp() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up, l.since
}

func (l *linkWatch) set(up bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.up != up || l.since.IsZero() {
		l.up, l.since = up, time.Now()
	}
}

// watchedHandler passes everything on to the service, noting connections.
type watchedHandler struct {
	xmpp.Handler
	l *linkWatch
}

func (w watchedHandler) Connected(ctx context.Context) {
	w.l.set(true)
	w.Handler.Connected(ctx)
}

func (w watchedHandler) Disconnected(ctx context.Context) {
	w.l.set(false)
	w.Handler.Disconnected(ctx)
}
