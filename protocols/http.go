package protocols

import "net/http"

// HTTPMounter is an optional ability of an [Adapter] whose network reaches
// owlgate over HTTP (Twilio's webhooks, the web chat's socket): the gateway
// finds it by type assertion and mounts its routes on owlgate's HTTP server
// (`http.listen`), below a prefix of the account's own,
// `/hooks/{account}/`, so two accounts never collide.
type HTTPMounter interface {
	// HTTPRoutes returns the routes to mount. It is called once, before
	// Run, and must not block.
	HTTPRoutes() []HTTPRoute
}

// HTTPRoute is one route an adapter serves.
type HTTPRoute struct {
	// Pattern is a net/http ServeMux pattern relative to the account's
	// prefix, with an optional method: "POST /sms" is served at
	// "POST /hooks/{account}/sms".
	Pattern string
	Handler http.Handler
}

// HookPath returns the path an account's route is served at:
// HookPath("unc-sms", "/sms") is "/hooks/unc-sms/sms". Adapters use it to
// tell their network where to call back (a status callback URL).
func HookPath(account AccountID, path string) string {
	if len(path) == 0 || path[0] != '/' {
		path = "/" + path
	}
	return "/hooks/" + string(account) + path
}
