package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/owlgate/owlgate/routing"
)

// Line is one line of a transcript, as the API gives it.
type Line struct {
	N           int          `json:"n"`
	At          time.Time    `json:"at"`
	From        string       `json:"from"`               // patron, operator or system
	Name        string       `json:"name"`               // the guest id, the operator's name, or "owlgate"
	Operator    string       `json:"operator,omitempty"` // the operator's JID
	Text        string       `json:"text"`
	Attachments []Attachment `json:"attachments,omitempty"`
}

// Attachment is a file sent in a chat, as a link.
type Attachment struct {
	URL      string `json:"url"`
	Name     string `json:"name,omitempty"`
	MIMEType string `json:"mime_type,omitempty"`
	Size     int64  `json:"size,omitempty"`
}

// Transcript is a chat's transcript in JSON.
type Transcript struct {
	Chat  Chat   `json:"chat"`
	Lines []Line `json:"lines"`
}

// lineOf names a line's writer: the chat's guest id, the operator's name
// from the config, or owlgate.
func (s *Server) lineOf(rec *routing.ChatRecord, l routing.Line) Line {
	out := Line{N: l.N, At: l.At.UTC(), Text: l.Text}
	switch l.From {
	case routing.FromPatron:
		out.From, out.Name = "patron", string(rec.Guest)
	case routing.FromOperator:
		out.From, out.Operator = "operator", string(l.Operator)
		out.Name = s.opNames[l.Operator]
		if out.Name == "" {
			out.Name = string(l.Operator)
		}
	default:
		out.From, out.Name = "system", "owlgate"
	}
	for _, a := range l.Attachments {
		out.Attachments = append(out.Attachments, Attachment{URL: a.URL, Name: a.Name, MIMEType: a.MIMEType, Size: a.Size})
	}
	return out
}

// handleTranscript answers GET /api/chats/{id}/transcript: plain text, or
// JSON for ?format=json or Accept: application/json.
func (s *Server) handleTranscript(w http.ResponseWriter, r *http.Request, sc scope) {
	rec, ok := s.chatFor(w, r, sc)
	if !ok {
		return
	}
	format := r.URL.Query().Get("format")
	if format == "" && strings.Contains(r.Header.Get("Accept"), "application/json") {
		format = FormatJSON
	}
	if format != "" && format != FormatJSON && format != "text" {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: write text or json", format))
		return
	}
	if !rec.Transcript {
		writeError(w, http.StatusNotFound, fmt.Sprintf("chat %d has no transcript: its queue keeps none, or it was deleted", rec.ID))
		return
	}
	lines, err := s.opts.History.Transcript(r.Context(), rec.ID)
	if err != nil {
		s.log.Error("http: reading a transcript failed", "chat", rec.ID, "err", err)
		writeError(w, http.StatusInternalServerError, "the transcript could not be read")
		return
	}
	t := Transcript{Chat: ChatOf(rec, s.now()), Lines: make([]Line, 0, len(lines))}
	for _, l := range lines {
		t.Lines = append(t.Lines, s.lineOf(&rec, l))
	}
	if format == FormatJSON {
		writeJSON(w, http.StatusOK, t)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte(transcriptText(&t, s.queueName(rec.Origin))))
}

func (s *Server) queueName(q routing.QueueID) string {
	if c, ok := s.queues[q]; ok && c.Name != "" {
		return c.Name
	}
	return string(q)
}

// transcriptText writes a transcript for people: a heading, then one line
// per line, "[2026-12-04 15:04:05Z] Alice: text", continuation lines and
// attachments indented.
func transcriptText(t *Transcript, queueName string) string {
	var b strings.Builder
	c := &t.Chat
	fmt.Fprintf(&b, "Chat %d · %s (%s) · %s · %s\n", c.ID, queueName, c.Library, c.Network, c.Guest)
	fmt.Fprintf(&b, "Started %s", c.Start.Format(time.RFC3339))
	if c.End != nil {
		fmt.Fprintf(&b, ", ended %s (%s)", c.End.Format(time.RFC3339), c.EndReason)
	}
	b.WriteString("\n\n")
	for _, l := range t.Lines {
		fmt.Fprintf(&b, "[%s] %s: ", l.At.Format("2006-01-02 15:04:05Z07:00"), l.Name)
		b.WriteString(strings.ReplaceAll(l.Text, "\n", "\n    "))
		b.WriteByte('\n')
		for _, a := range l.Attachments {
			fmt.Fprintf(&b, "    attachment: %s", a.URL)
			if a.Name != "" {
				fmt.Fprintf(&b, " (%s)", a.Name)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
