package httpapi

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/routing"
)

// The presence API: public, read-only, and it tells nothing but whether a
// queue is online. Answers come from the gateway's presence snapshot
// (updated at each change, never through the event loop) and are rendered
// once per queue and state; clients and proxies may cache them for a
// second.

// The presence formats.
const (
	formatJSON = "json"
	formatText = "text"
	formatJS   = "js"
	formatSVG  = "svg"
)

// suffixFormats lets a page name the format in the path:
// /presence/reference.svg, <script src="/presence/reference.js">.
var suffixFormats = []struct{ suffix, format string }{
	{".json", formatJSON}, {".txt", formatText}, {".js", formatJS}, {".svg", formatSVG},
}

// maxRollover is the most queues one rollover request may name.
const maxRollover = 16

// presenceAnswers are every queue's answers, rendered at start: [0]
// offline, [1] online.
type presenceAnswers struct {
	byQueue map[routing.QueueID]*[2]rendered
	none    rendered // a rollover with no queue online
}

type rendered struct {
	json []byte // {"queue":"reference","status":"online"}
	svg  []byte // the badge, labelled "chat"
}

var statusText = [2][]byte{[]byte("offline\n"), []byte("online\n")}

func newPresenceAnswers(queues []config.Queue) *presenceAnswers {
	p := &presenceAnswers{byQueue: make(map[routing.QueueID]*[2]rendered, len(queues))}
	for _, q := range queues {
		var r [2]rendered
		for i, online := range []bool{false, true} {
			r[i] = rendered{json: presenceJSON(q.ID, online), svg: badge(defaultBadgeLabel, online)}
		}
		p.byQueue[routing.QueueID(q.ID)] = &r
	}
	p.none = rendered{json: presenceJSON("", false), svg: badge(defaultBadgeLabel, false)}
	return p
}

// presenceJSON is the JSON answer; queue is empty for a rollover with no
// queue online.
func presenceJSON(queue string, online bool) []byte {
	b, _ := json.Marshal(struct {
		Queue  string `json:"queue"`
		Status string `json:"status"`
	}{queue, statusName(online)})
	return append(b, '\n')
}

func statusName(online bool) string {
	if online {
		return "online"
	}
	return "offline"
}

func idx(online bool) int {
	if online {
		return 1
	}
	return 0
}

// handlePresence answers GET /presence/{queue}.
func (s *Server) handlePresence(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("queue")
	format := ""
	if _, ok := s.presence.byQueue[routing.QueueID(name)]; !ok {
		for _, sf := range suffixFormats {
			if base, ok := strings.CutSuffix(name, sf.suffix); ok {
				name, format = base, sf.format
				break
			}
		}
	}
	q := routing.QueueID(name)
	answers, ok := s.presence.byQueue[q]
	online, known := s.opts.Gateway.QueueOnline(q)
	if !ok || !known {
		presenceHeaders(w)
		writeError(w, http.StatusNotFound, fmt.Sprintf("no queue %q; write the id of a queue from the config", name))
		return
	}
	s.answerPresence(w, r, format, string(q), &answers[idx(online)], online)
}

// handleRollover answers GET /presence?queues=a,b,c: the first online
// queue of the list, or offline.
func (s *Server) handleRollover(w http.ResponseWriter, r *http.Request) {
	list := r.URL.Query().Get("queues")
	presenceHeaders(w)
	if list == "" {
		writeError(w, http.StatusBadRequest, "name the queues to try, in order: /presence?queues=subject,reference,nightowl")
		return
	}
	names := strings.Split(list, ",")
	if len(names) > maxRollover {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("at most %d queues", maxRollover))
		return
	}
	answer := &s.presence.none
	online := false
	for i, n := range names {
		n = strings.TrimSpace(n)
		names[i] = n
		q := routing.QueueID(n)
		answers, ok := s.presence.byQueue[q]
		on, known := s.opts.Gateway.QueueOnline(q)
		if !ok || !known {
			writeError(w, http.StatusNotFound, fmt.Sprintf("no queue %q; write the ids of queues from the config", n))
			return
		}
		if on && !online {
			answer, online = &answers[1], true
		}
	}
	s.answerPresence(w, r, "", strings.Join(names, ","), answer, online)
}

// presenceHeaders are the headers of every presence answer: anyone's page
// may read it, for up to a second.
func presenceHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "public, max-age=1")
	h.Set("X-Content-Type-Options", "nosniff")
}

// answerPresence writes a presence answer in the format asked for by the
// path's suffix (pathFormat) or by ?format=. key names the answer in the
// script format: the queue, or the rollover's list.
func (s *Server) answerPresence(w http.ResponseWriter, r *http.Request, pathFormat, key string, a *rendered, online bool) {
	presenceHeaders(w)
	format, callback, label := pathFormat, "", ""
	if r.URL.RawQuery != "" {
		v := r.URL.Query()
		if f := v.Get("format"); f != "" {
			format = f
		}
		callback, label = v.Get("callback"), v.Get("label")
	}
	h := w.Header()
	switch format {
	case "", formatJSON:
		h.Set("Content-Type", "application/json")
		w.Write(a.json)
	case formatText:
		h.Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(statusText[idx(online)])
	case formatJS:
		if callback != "" && !callbackRE.MatchString(callback) {
			writeError(w, http.StatusBadRequest, "callback must be the name of a global function, like showChat")
			return
		}
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(presenceScript(key, a.json, callback))
	case formatSVG:
		body := a.svg
		if label != "" {
			if utf8.RuneCountInString(label) > maxBadgeLabel {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("label: at most %d characters", maxBadgeLabel))
				return
			}
			body = badge(label, online)
		}
		h.Set("Content-Type", "image/svg+xml")
		w.Write(body)
	default:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format %q: write json, text, js or svg", format))
	}
}

// handlePreflight answers a CORS preflight for the presence API.
func handlePreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// callbackRE is what a callback's name may be: a JavaScript identifier,
// so that nothing but a function name ever reaches the script.
var callbackRE = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]{0,63}$`)

// presenceScript is the script format: it keeps the answer in the global
// owlgatePresence under key, and calls the callback, if the page defines
// it, with the answer.
func presenceScript(key string, answer []byte, callback string) []byte {
	k, _ := json.Marshal(key) // a JS string literal; json escapes <, > and &
	var b strings.Builder
	b.WriteString("(function(){var p=window.owlgatePresence=window.owlgatePresence||{};p[")
	b.Write(k)
	b.WriteString("]=")
	b.Write(answer[:len(answer)-1]) // without its newline
	b.WriteString(";")
	if callback != "" {
		fmt.Fprintf(&b, `if(typeof window[%q]==="function")window[%[1]q](p[%s]);`, callback, k)
	}
	b.WriteString("})();\n")
	return []byte(b.String())
}

// The badge.
const (
	defaultBadgeLabel = "chat"
	maxBadgeLabel     = 40
)

// badge draws a two-part badge: the label, then online (green) or offline
// (grey). Widths are estimated from the number of characters.
func badge(label string, online bool) []byte {
	status, color := "offline", "#767676"
	if online {
		status, color = "online", "#2e7d32"
	}
	lw := 10 + 7*utf8.RuneCountInString(label)
	sw := 10 + 7*len(status)
	l := html.EscapeString(label)
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%[2]s: %[3]s</title>`+
		`<rect width="%[4]d" height="20" fill="#555"/><rect x="%[4]d" width="%[5]d" height="20" fill="%[6]s"/>`+
		`<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle">`+
		`<text x="%[7]d" y="14">%[2]s</text><text x="%[8]d" y="14">%[3]s</text></g></svg>`+"\n",
		lw+sw, l, status, lw, sw, color, lw/2, lw+sw/2)
}
