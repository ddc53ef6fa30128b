package twiliotest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/owlgate/owlgate/protocols"
)

// Hooks stands in for owlgate's HTTP server (package httpapi) in tests: it
// serves the routes of adapters that are protocols.HTTPMounter under
// /hooks/{account}/, as the server mounts them. Its URL is known before
// any adapter is built, for their public_url.
type Hooks struct {
	URL string

	srv *httptest.Server

	mu     sync.Mutex
	routes map[protocols.AccountID][]protocols.HTTPRoute
	mux    *http.ServeMux
}

// NewHooks starts an empty server; it stops when the test ends.
func NewHooks(t testing.TB) *Hooks {
	h := &Hooks{routes: map[protocols.AccountID][]protocols.HTTPRoute{}, mux: http.NewServeMux()}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		mux := h.mux
		h.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	h.URL = h.srv.URL
	t.Cleanup(h.srv.Close)
	return h
}

// Mount serves account's routes, replacing those it had.
func (h *Hooks) Mount(account protocols.AccountID, routes []protocols.HTTPRoute) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.routes[account] = routes
	mux := http.NewServeMux()
	for acct, rs := range h.routes {
		for _, r := range rs {
			method, path, ok := strings.Cut(r.Pattern, " ")
			if !ok {
				method, path = "", r.Pattern
			}
			mux.Handle(strings.TrimSpace(method+" "+protocols.HookPath(acct, path)), r.Handler)
		}
	}
	h.mux = mux
}
