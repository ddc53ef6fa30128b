package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestPresenceFormats(t *testing.T) {
	e := newEnv(t, nil)
	for _, online := range []bool{false, true} {
		e.gw.set("reference", online)
		status := statusName(online)
		for _, tc := range []struct {
			target, contentType, body string
		}{
			{"/presence/reference", "application/json", `{"queue":"reference","status":"` + status + `"}` + "\n"},
			{"/presence/reference?format=json", "application/json", `{"queue":"reference","status":"` + status + `"}` + "\n"},
			{"/presence/reference.json", "application/json", `{"queue":"reference","status":"` + status + `"}` + "\n"},
			{"/presence/reference?format=text", "text/plain; charset=utf-8", status + "\n"},
			{"/presence/reference.txt", "text/plain; charset=utf-8", status + "\n"},
			{"/presence/reference.js", "text/javascript; charset=utf-8",
				`(function(){var p=window.owlgatePresence=window.owlgatePresence||{};p["reference"]={"queue":"reference","status":"` + status + `"};})();` + "\n"},
		} {
			res, body := e.do("GET", tc.target, "")
			want(t, res, body, http.StatusOK)
			if got := res.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("%s: Content-Type %q, want %q", tc.target, got, tc.contentType)
			}
			if body != tc.body {
				t.Errorf("%s: body %q, want %q", tc.target, body, tc.body)
			}
			for h, v := range map[string]string{"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=1", "X-Content-Type-Options": "nosniff"} {
				if got := res.Header.Get(h); got != v {
					t.Errorf("%s: %s %q, want %q", tc.target, h, got, v)
				}
			}
		}
		for _, target := range []string{"/presence/reference.svg", "/presence/reference?format=svg"} {
			res, body := e.do("GET", target, "")
			want(t, res, body, http.StatusOK)
			if res.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(body, "<svg") ||
				!strings.Contains(body, "chat: "+status) {
				t.Errorf("%s: %s %q", target, res.Header.Get("Content-Type"), body)
			}
		}
	}
	// The presence API reveals only online and offline: no operator,
	// no count, no chat.
	e.gw.set("reference", true)
	_, body := e.do("GET", "/presence/reference", "")
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil || len(m) != 2 {
		t.Errorf("answer %q has more than queue and status", body)
	}
}

func TestPresenceErrors(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		target string
		status int
		says   string
	}{
		{"/presence/nosuch", http.StatusNotFound, `no queue \"nosuch\"`},
		{"/presence/nosuch.svg", http.StatusNotFound, `no queue \"nosuch\"`},
		{"/presence/reference?format=xml", http.StatusBadRequest, "write json, text, js or svg"},
		{"/presence/reference.js?callback=alert(1)", http.StatusBadRequest, "callback must be"},
		{"/presence/reference.svg?label=" + strings.Repeat("x", 41), http.StatusBadRequest, "at most 40"},
		{"/presence", http.StatusBadRequest, "queues="},
		{"/presence?queues=reference,nosuch", http.StatusNotFound, `no queue \"nosuch\"`},
		{"/presence?queues=" + strings.Repeat("reference,", 17), http.StatusBadRequest, "at most 16"},
	} {
		res, body := e.do("GET", tc.target, "")
		if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%s: %d %s; want %d saying %q", tc.target, res.StatusCode, body, tc.status, tc.says)
		}
		if res.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: an error without CORS: a page could not read it", tc.target)
		}
	}
	if res, _ := e.do("POST", "/presence/reference", ""); res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", res.StatusCode)
	}
}

// TestPresenceRollover: the first online queue of the list answers, or
// offline.
func TestPresenceRollover(t *testing.T) {
	e := newEnv(t, nil)
	const target = "/presence?queues=duke-ref,%20reference,nightowl"
	res, body := e.do("GET", target, "")
	want(t, res, body, http.StatusOK)
	if body != `{"queue":"","status":"offline"}`+"\n" {
		t.Errorf("all offline: %q", body)
	}
	e.gw.set("nightowl", true)
	if _, body = e.do("GET", target, ""); body != `{"queue":"nightowl","status":"online"}`+"\n" {
		t.Errorf("nightowl online: %q", body)
	}
	e.gw.set("reference", true)
	if _, body = e.do("GET", target, ""); body != `{"queue":"reference","status":"online"}`+"\n" {
		t.Errorf("reference and nightowl online: %q", body)
	}
	if _, body = e.do("GET", target+"&format=text", ""); body != "online\n" {
		t.Errorf("text: %q", body)
	}
	_, body = e.do("GET", target+"&format=js&callback=showChat", "")
	wantJS := `(function(){var p=window.owlgatePresence=window.owlgatePresence||{};` +
		`p["duke-ref,reference,nightowl"]={"queue":"reference","status":"online"};` +
		`if(typeof window["showChat"]==="function")window["showChat"](p["duke-ref,reference,nightowl"]);})();` + "\n"
	if body != wantJS {
		t.Errorf("js:\n%s\nwant\n%s", body, wantJS)
	}
}

func TestPresenceBadgeLabelEscaped(t *testing.T) {
	e := newEnv(t, nil)
	res, body := e.do("GET", "/presence/reference.svg?label=%3Cscript%3EAsk%20us%3C%2Fscript%3E", "")
	want(t, res, body, http.StatusOK)
	if strings.Contains(body, "<script") || !strings.Contains(body, "&lt;script&gt;Ask us") {
		t.Errorf("label not escaped: %s", body)
	}
}

func TestPresencePreflight(t *testing.T) {
	e := newEnv(t, nil)
	for _, target := range []string{"/presence/reference", "/presence?queues=reference"} {
		res, _ := e.do("OPTIONS", target, "", "Origin", "https://library.example.edu", "Access-Control-Request-Method", "GET")
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
			!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "GET") {
			t.Errorf("preflight %s: %d %v", target, res.StatusCode, res.Header)
		}
	}
}
