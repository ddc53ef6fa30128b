package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
)

// Hook is a route an account's adapter serves on owlgate's HTTP server
// (Twilio's web hooks, the web chat's socket), mounted under the account's
// prefix /hooks/{account}/.
type Hook struct {
	Account protocols.AccountID
	Route   protocols.HTTPRoute
}

// HooksOf asks every account whose adapter is a [protocols.HTTPMounter]
// for its routes. Call it once, before the accounts run.
func HooksOf(accounts []gateway.Account) []Hook {
	var hooks []Hook
	for _, a := range accounts {
		m, ok := a.Adapter.(protocols.HTTPMounter)
		if !ok {
			continue
		}
		for _, r := range m.HTTPRoutes() {
			hooks = append(hooks, Hook{Account: a.ID, Route: r})
		}
	}
	return hooks
}

// mountHooks registers each hook at its account's prefix: "POST /sms" of
// account unc-sms is served at "POST /hooks/unc-sms/sms". The handler sees
// the request as it came (its full path, which is what a network signs),
// and r.PathValue works for the wildcards of its own pattern. Hooks are
// not behind a token: each adapter checks its network's calls itself (a
// signature).
func mountHooks(mux *http.ServeMux, hooks []Hook) (err error) {
	for _, h := range hooks {
		pattern, perr := hookPattern(h)
		if perr != nil {
			return perr
		}
		if h.Route.Handler == nil {
			return fmt.Errorf("httpapi: account %s: route %q has no handler", h.Account, h.Route.Pattern)
		}
		if err := register(mux, pattern, h.Route.Handler); err != nil {
			return fmt.Errorf("httpapi: account %s: route %q: %w", h.Account, h.Route.Pattern, err)
		}
	}
	return nil
}

// hookPattern is the ServeMux pattern of a hook: its method, if any, and
// its path under the account's prefix. A pattern may not name a host.
func hookPattern(h Hook) (string, error) {
	method, path := "", h.Route.Pattern
	if m, p, ok := strings.Cut(path, " "); ok {
		method, path = m, strings.TrimLeft(p, " ")
	}
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n") {
		return "", fmt.Errorf("httpapi: account %s: route %q: want [METHOD ]/path, the path starting with / (no host, no spaces)", h.Account, h.Route.Pattern)
	}
	full := protocols.HookPath(h.Account, path)
	if method != "" {
		full = method + " " + full
	}
	return full, nil
}

// register is mux.Handle, returning the error it panics with (a pattern
// that does not parse, or clashes with another).
func register(mux *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	mux.Handle(pattern, h)
	return nil
}
