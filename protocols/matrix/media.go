//go:build goolm

package matrix

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/owlgate/owlgate/protocols"
)

// maxMediaBytes bounds a file owlgate serves to an operator.
const maxMediaBytes = 100 << 20

// mediaLink returns a link operators can open to the file of a message:
// with public_url, owlgate's own route (mediaHandler), which fetches the
// file from the homeserver's authenticated media with the account's token
// and decrypts it; without, the homeserver's unauthenticated download URL
// for files of unencrypted rooms, and "" for encrypted ones.
func (a *Adapter) mediaLink(c *event.MessageEventContent) string {
	f := mediaFile{URL: c.URL, File: c.File, Name: c.GetFileName()}
	if c.File != nil {
		f.URL = c.File.URL
	}
	if c.Info != nil {
		f.MIME = c.Info.MimeType
	}
	uri, err := f.URL.Parse()
	if err != nil || uri.IsEmpty() {
		return ""
	}
	if a.s.publicURL == "" {
		if f.File != nil {
			return ""
		}
		return a.s.homeserver + "/_matrix/media/v3/download/" + uri.Homeserver + "/" + uri.FileID
	}
	b := make([]byte, 24)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	if err := a.media.add(token, f); err != nil {
		a.log.Warn("matrix: recording a file's link", "err", err)
		return ""
	}
	return a.s.publicURL + protocols.HookPath(a.id, "/media/"+token)
}

// HTTPRoutes serves the links of patrons' files; see [protocols.HTTPMounter].
func (a *Adapter) HTTPRoutes() []protocols.HTTPRoute {
	return []protocols.HTTPRoute{{Pattern: "GET /media/{token}", Handler: http.HandlerFunc(a.mediaHandler)}}
}

// mediaHandler serves one file a patron sent: fetched with the account's
// access token (the homeserver's authenticated media), decrypted when it
// came from an encrypted room. The unguessable token in the link is the
// only credential, as with the homeserver's own links.
func (a *Adapter) mediaHandler(w http.ResponseWriter, r *http.Request) {
	f, ok, err := a.media.get(r.PathValue("token"))
	if err != nil {
		a.log.Warn("matrix: reading the file links", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	s := a.cur.Load()
	if s == nil {
		http.Error(w, "the library's Matrix account is not connected; try again later", http.StatusServiceUnavailable)
		return
	}
	uri, err := f.URL.Parse()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	data, err := s.download(r, uri)
	if err != nil {
		a.log.Warn("matrix: fetching a patron's file", "err", err)
		http.Error(w, "the homeserver did not give the file", http.StatusBadGateway)
		return
	}
	if f.File != nil {
		if err := f.File.DecryptInPlace(data); err != nil {
			a.log.Warn("matrix: decrypting a patron's file", "err", err)
			http.Error(w, "the file could not be decrypted", http.StatusBadGateway)
			return
		}
	}
	ctype := f.MIME
	if _, _, err := mime.ParseMediaType(ctype); err != nil || ctype == "" {
		ctype = "application/octet-stream"
	}
	// Images a browser shows inline; everything else (HTML, SVG, scripts)
	// is a download, so that a file cannot run in owlgate's origin.
	disp := "attachment"
	switch strings.ToLower(ctype) {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		disp = "inline"
	}
	if f.Name != "" {
		disp = mime.FormatMediaType(disp, map[string]string{"filename": f.Name})
	}
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", disp)
	h.Set("Content-Length", strconv.Itoa(len(data)))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	w.Write(data)
}

// download fetches a file from the homeserver, at most maxMediaBytes.
func (s *session) download(r *http.Request, uri id.ContentURI) ([]byte, error) {
	resp, err := s.cli.Download(r.Context(), uri)
	if err != nil {
		return nil, fmt.Errorf("matrix: downloading: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxMediaBytes+1))
	if err != nil {
		return nil, fmt.Errorf("matrix: downloading: %w", err)
	}
	if len(data) > maxMediaBytes {
		return nil, fmt.Errorf("matrix: the file is over %d bytes", maxMediaBytes)
	}
	return data, nil
}
