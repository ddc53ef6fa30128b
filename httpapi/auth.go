package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/routing"
)

// scope is what a request's token may see: every library (the admin
// token) or one.
type scope struct {
	admin   bool
	library routing.LibraryID // for a library token
}

// sees reports whether the scope covers a chat of library lib.
func (sc scope) sees(lib routing.LibraryID) bool { return sc.admin || sc.library == lib }

// tokens are the configured bearer tokens, kept as SHA-256 digests so that
// every comparison is of 32 bytes, in constant time, whatever the length
// of what a client sends.
type tokens struct {
	entries []tokenEntry
	admin   bool // an admin token is configured
}

type tokenEntry struct {
	digest [sha256.Size]byte
	scope  scope
}

func newTokens(h config.HTTP) *tokens {
	t := &tokens{}
	if v := h.AdminToken.Value(); v != "" {
		t.entries = append(t.entries, tokenEntry{digest: sha256.Sum256([]byte(v)), scope: scope{admin: true}})
		t.admin = true
	}
	for _, lt := range h.LibraryTokens {
		if v := lt.Token.Value(); v != "" {
			t.entries = append(t.entries, tokenEntry{digest: sha256.Sum256([]byte(v)), scope: scope{library: routing.LibraryID(lt.Library)}})
		}
	}
	return t
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// check returns the scope of the request's token. Every configured token
// is compared, matched or not, so the time taken says nothing about which
// one matched or how close a guess came.
func (t *tokens) check(r *http.Request) (sc scope, ok, given bool) {
	tok, given := bearer(r)
	if !given {
		return scope{}, false, false
	}
	d := sha256.Sum256([]byte(tok))
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			sc, ok = e.scope, true
		}
	}
	return sc, ok, true
}

// refuse answers a request without a valid token: 401, saying which.
func refuse(w http.ResponseWriter, given bool) {
	if given {
		w.Header().Set("WWW-Authenticate", `Bearer realm="owlgate", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "the token is not valid")
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="owlgate"`)
	writeError(w, http.StatusUnauthorized, "send Authorization: Bearer <token> (http.admin_token or one of http.library_tokens)")
}

// api guards a history route: 404 when no token is configured at all (the
// API is off rather than open), 401 without a valid token. h gets the
// token's scope.
func (s *Server) api(h func(http.ResponseWriter, *http.Request, scope)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(s.tokens.entries) == 0 {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		sc, ok, given := s.tokens.check(r)
		if !ok {
			s.log.Debug("http: api request refused", "path", r.URL.Path, "token_given", given, "remote", r.RemoteAddr)
			refuse(w, given)
			return
		}
		h(w, r, sc)
	})
}

// admin guards a route for the admin token only: 404 when none is
// configured, 401 without a valid token, 403 for a library token.
func (s *Server) admin(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.tokens.admin {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		sc, ok, given := s.tokens.check(r)
		switch {
		case !ok:
			refuse(w, given)
		case !sc.admin:
			writeError(w, http.StatusForbidden, "this needs the admin token; a library token sees only /api")
		default:
			h(w, r)
		}
	})
}
