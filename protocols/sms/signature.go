package sms

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
)

// Signature computes the X-Twilio-Signature of a request Twilio makes to
// rawURL (the full URL, with its query string, as Twilio called it) with the
// POST parameters params: the base64 of the HMAC-SHA1, keyed with the auth
// token, of the URL followed by each parameter's name and value, sorted by
// name (and a repeated name's values sorted), with no separators.
func Signature(authToken, rawURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	for _, k := range slices.Sorted(maps.Keys(params)) {
		vs := slices.Clone(params[k])
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// validSignature reports whether sig is Twilio's signature of a request to
// rawURL with params. Like Twilio's own libraries, it accepts the signature
// of the URL with and without its scheme's default port (Twilio's signing
// is not consistent about it). The comparison takes constant time.
func validSignature(authToken, sig, rawURL string, params url.Values) bool {
	if sig == "" {
		return false
	}
	ok := false
	for _, u := range portVariants(rawURL) {
		if hmac.Equal([]byte(Signature(authToken, u, params)), []byte(sig)) {
			ok = true
		}
	}
	return ok
}

// portVariants returns rawURL as it is and with the port changed: without
// it when it has one, with the scheme's default (443 or 80) when it has
// none.
func portVariants(rawURL string) []string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return []string{rawURL}
	}
	v := *u
	if u.Port() != "" {
		v.Host = u.Hostname()
		if strings.Contains(v.Host, ":") {
			v.Host = "[" + v.Host + "]" // IPv6
		}
	} else {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		v.Host = net.JoinHostPort(u.Hostname(), port)
	}
	return []string{rawURL, v.String()}
}
