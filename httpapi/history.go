package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// filterParams are the query parameters of /api/chats.
var filterParams = []string{"since", "until", "queue", "library", "network", "operator", "answered", "limit", "format"}

// parseFilter reads the query of /api/chats into a filter for the
// token's scope: a library token sees its own library's chats only.
func parseFilter(q url.Values, sc scope, loc *time.Location) (store.Filter, error) {
	var f store.Filter
	for k := range q {
		if !slices.Contains(filterParams, k) {
			return f, fmt.Errorf("unknown parameter %q; the parameters are %s", k, strings.Join(filterParams, ", "))
		}
	}
	var err error
	if s := q.Get("since"); s != "" {
		if f.Since, err = ParseTime(s, loc, false); err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
	}
	if s := q.Get("until"); s != "" {
		if f.Until, err = ParseTime(s, loc, true); err != nil {
			return f, fmt.Errorf("until: %w", err)
		}
	}
	f.Queue = routing.QueueID(q.Get("queue"))
	f.Network = protocols.Network(q.Get("network"))
	f.Operator = routing.OperatorID(strings.ToLower(q.Get("operator")))
	f.Library = routing.LibraryID(q.Get("library"))
	if !sc.admin {
		if f.Library != "" && f.Library != sc.library {
			return f, errScope
		}
		f.Library = sc.library
	}
	if s := q.Get("answered"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return f, fmt.Errorf("answered: %q: write true or false", s)
		}
		f.Answered = &b
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return f, fmt.Errorf("limit: %q: write a number of chats, at least 1", s)
		}
		f.Limit = n
	}
	return f, nil
}

var errScope = errors.New("this token sees only its own library's chats")

// handleChats answers GET /api/chats: JSON, or CSV for Accept: text/csv
// or ?format=csv.
func (s *Server) handleChats(w http.ResponseWriter, r *http.Request, sc scope) {
	format := FormatJSON
	if f := r.URL.Query().Get("format"); f != "" {
		format = f
	} else if strings.Contains(r.Header.Get("Accept"), "text/csv") {
		format = FormatCSV
	}
	s.exportChats(w, r, sc, format)
}

// handleChatsCSV answers GET /api/chats.csv.
func (s *Server) handleChatsCSV(w http.ResponseWriter, r *http.Request, sc scope) {
	s.exportChats(w, r, sc, FormatCSV)
}

func (s *Server) exportChats(w http.ResponseWriter, r *http.Request, sc scope, format string) {
	if s.opts.History == nil {
		writeError(w, http.StatusServiceUnavailable, "the history is not available")
		return
	}
	f, err := parseFilter(r.URL.Query(), sc, s.opts.Location)
	switch {
	case errors.Is(err, errScope):
		writeError(w, http.StatusForbidden, err.Error())
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	switch format {
	case FormatCSV:
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="owlgate-chats.csv"`)
	case FormatJSON:
		w.Header().Set("Content-Type", "application/json")
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: write json or csv", format))
		return
	}
	tw := &trackWriter{ResponseWriter: w}
	if err := ExportChats(r.Context(), tw, s.opts.History, f, format, s.now()); err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		s.log.Error("http: history export failed", "err", err)
		if !tw.wrote {
			writeError(w, http.StatusInternalServerError, "the history could not be read")
			return
		}
		// Part of it is out: break the response so that the client does
		// not take it for the whole.
		panic(http.ErrAbortHandler)
	}
}

// trackWriter notes whether anything was written.
type trackWriter struct {
	http.ResponseWriter
	wrote bool
}

func (t *trackWriter) Write(p []byte) (int, error) {
	t.wrote = true
	return t.ResponseWriter.Write(p)
}

// chatFor reads the chat of the request's {id} for the scope. It answers
// the request itself (and returns false) when there is no such chat, or
// none the token may see: a chat of another library is as unknown as one
// that does not exist.
func (s *Server) chatFor(w http.ResponseWriter, r *http.Request, sc scope) (routing.ChatRecord, bool) {
	if s.opts.History == nil {
		writeError(w, http.StatusServiceUnavailable, "the history is not available")
		return routing.ChatRecord{}, false
	}
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 63)
	if err != nil || id == 0 {
		writeError(w, http.StatusNotFound, "no such chat; chat ids are positive numbers")
		return routing.ChatRecord{}, false
	}
	rec, err := s.opts.History.Chat(r.Context(), routing.ChatID(id))
	switch {
	case errors.Is(err, store.ErrNoChat), err == nil && !sc.sees(rec.Library):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no chat %d", id))
		return routing.ChatRecord{}, false
	case err != nil:
		s.log.Error("http: reading a chat failed", "chat", id, "err", err)
		writeError(w, http.StatusInternalServerError, "the history could not be read")
		return routing.ChatRecord{}, false
	}
	return rec, true
}

// handleChat answers GET /api/chats/{id}.
func (s *Server) handleChat(w http.ResponseWriter, r *http.Request, sc scope) {
	rec, ok := s.chatFor(w, r, sc)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, ChatOf(rec, s.now()))
}

// handleDeleteChat answers DELETE /api/chats/{id}: the whole record goes.
func (s *Server) handleDeleteChat(w http.ResponseWriter, r *http.Request, sc scope) {
	rec, ok := s.chatFor(w, r, sc)
	if !ok {
		return
	}
	s.deleted(w, rec.ID, "chat", s.opts.History.DeleteChat(r.Context(), rec.ID), sc)
}

// handleDeleteTranscript answers DELETE /api/chats/{id}/transcript: the
// lines go, the statistics stay.
func (s *Server) handleDeleteTranscript(w http.ResponseWriter, r *http.Request, sc scope) {
	rec, ok := s.chatFor(w, r, sc)
	if !ok {
		return
	}
	s.deleted(w, rec.ID, "transcript", s.opts.History.DeleteTranscript(r.Context(), rec.ID), sc)
}

// deleted answers a deletion with its outcome.
func (s *Server) deleted(w http.ResponseWriter, id routing.ChatID, what string, err error, sc scope) {
	switch {
	case err == nil:
		by := "admin"
		if !sc.admin {
			by = "library " + string(sc.library)
		}
		s.log.Info("http: "+what+" deleted", "chat", id, "by", by)
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, store.ErrNoChat):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no chat %d", id))
	case errors.Is(err, store.ErrChatOpen):
		writeError(w, http.StatusConflict, fmt.Sprintf("chat %d is still open; it can be deleted once it ended", id))
	default:
		s.log.Error("http: deleting a "+what+" failed", "chat", id, "err", err)
		writeError(w, http.StatusInternalServerError, "the "+what+" could not be deleted")
	}
}
