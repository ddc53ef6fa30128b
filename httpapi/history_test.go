package httpapi

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

var day0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// seedHistory stores: 1 unc/reference ended with transcript, 2
// duke/duke-ref ended with transcript, 3 unc/reference open, 4
// unc/nightowl ended unanswered without transcript, on days 0..3.
func (e *env) seedHistory() {
	recs := []routing.ChatRecord{
		chat(1, "unc", "reference", day0),
		chat(2, "duke", "duke-ref", day0.Add(24*time.Hour)),
		chat(3, "unc", "reference", day0.Add(48*time.Hour)),
		chat(4, "unc", "nightowl", day0.Add(72*time.Hour)),
	}
	recs[1].Operator = "dana@localhost"
	recs[1].Patron.Network, recs[1].Patron.Account = "sms", "duke-sms"
	recs[2].Status, recs[2].Ended, recs[2].EndReason = routing.ChatHeld, time.Time{}, ""
	recs[3].FirstAnswer, recs[3].Operator, recs[3].Transcript = time.Time{}, "", false
	recs[3].Transfers = 1
	var lines []store.ChatLine
	for _, id := range []routing.ChatID{1, 2, 3} {
		start := recs[id-1].Started
		lines = append(lines,
			store.ChatLine{Chat: id, Line: routing.Line{N: 0, At: start, From: routing.FromPatron, Text: "Do you have maps of 1850?\nOf Chapel Hill."}},
			store.ChatLine{Chat: id, Line: routing.Line{N: 1, At: start.Add(42 * time.Second), From: routing.FromOperator, Operator: recs[id-1].Operator, Text: "Yes, fourth floor."}},
			store.ChatLine{Chat: id, Line: routing.Line{N: 2, At: start.Add(time.Minute), From: routing.FromSystem, Text: "The patron left."}},
		)
	}
	e.seed(recs, lines...)
}

// TestAPIAuth: every /api route and /status need a valid token; a library
// token gets /api only.
func TestAPIAuth(t *testing.T) {
	e := newEnv(t, nil)
	e.seedHistory()
	routes := []struct{ method, target string }{
		{"GET", "/api/chats"}, {"GET", "/api/chats.csv"}, {"GET", "/api/chats/1"},
		{"GET", "/api/chats/1/transcript"}, {"DELETE", "/api/chats/1/transcript"}, {"DELETE", "/api/chats/1"},
		{"GET", "/api/nosuch"}, {"GET", "/status"},
	}
	for _, rt := range routes {
		res, body := e.do(rt.method, rt.target, "")
		if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s %s without a token: %d %q", rt.method, rt.target, res.StatusCode, body)
		}
		for _, wrong := range []string{"nope", adminToken + "x", adminToken[:len(adminToken)-1]} {
			res, body = e.do(rt.method, rt.target, wrong)
			if res.StatusCode != http.StatusUnauthorized || !strings.Contains(res.Header.Get("WWW-Authenticate"), "invalid_token") {
				t.Errorf("%s %s with a wrong token: %d %q", rt.method, rt.target, res.StatusCode, body)
			}
		}
		res, body = e.do(rt.method, rt.target, "", "Authorization", "Basic "+adminToken)
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with Basic: %d %q", rt.method, rt.target, res.StatusCode, body)
		}
	}
	// The right token gets through (deletions last).
	for _, rt := range routes {
		res, body := e.do(rt.method, rt.target, adminToken)
		if res.StatusCode == http.StatusUnauthorized || res.StatusCode == http.StatusForbidden {
			t.Errorf("%s %s with the admin token: %d %q", rt.method, rt.target, res.StatusCode, body)
		}
	}
	res, body := e.do("GET", "/status", uncToken)
	want(t, res, body, http.StatusForbidden)
	res, body = e.do("GET", "/api/chats", "", "Authorization", "bearer "+uncToken)
	want(t, res, body, http.StatusOK)
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("an API answer may be cached: %q", res.Header.Get("Cache-Control"))
	}
}

// TestAPIOffWithoutTokens: no token configured, and /api and /status are
// not there at all, rather than open.
func TestAPIOffWithoutTokens(t *testing.T) {
	cfg := testConfig(t, strings.Replace(testYAML, `http:
  admin_token: ${TEST_ADMIN_TOKEN}
  library_tokens:
    - library: unc
      token: ${TEST_UNC_TOKEN}
    - library: duke
      token: ${TEST_DUKE_TOKEN}
`, "", 1))
	e := newEnv(t, cfg)
	e.seedHistory()
	for _, target := range []string{"/api/chats", "/api/chats.csv", "/api/chats/1/transcript", "/status"} {
		for _, tok := range []string{"", adminToken} {
			if res, body := e.do("GET", target, tok); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s (token %q) with no token configured: %d %q", target, tok, res.StatusCode, body)
			}
		}
	}
	if res, body := e.do("GET", "/presence/reference", ""); res.StatusCode != http.StatusOK {
		t.Errorf("presence without tokens: %d %s", res.StatusCode, body)
	}
}

// chatsJSON reads an /api/chats answer.
func chatsJSON(t *testing.T, body string) []Chat {
	t.Helper()
	var out struct{ Chats []Chat }
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	return out.Chats
}

func ids(cs []Chat) []routing.ChatID {
	var out []routing.ChatID
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestChatsJSONFilters(t *testing.T) {
	e := newEnv(t, nil)
	e.seedHistory()
	res, body := e.do("GET", "/api/chats", adminToken)
	want(t, res, body, http.StatusOK)
	all := chatsJSON(t, body)
	if !slices.Equal(ids(all), []routing.ChatID{1, 2, 3, 4}) {
		t.Fatalf("all chats: %v", ids(all))
	}
	c := all[0]
	if c.Status != "ended" || !c.Start.Equal(day0) || c.End == nil || !c.End.Equal(day0.Add(10*time.Minute)) ||
		c.Queue != "reference" || c.Origin != "reference" || c.Library != "unc" || c.Network != "irc" ||
		c.Account != "unc-irc" || c.Guest != "guest-1001" || c.Operator != "alice@localhost" ||
		c.WaitSeconds != 42 || c.DurationSeconds == nil || *c.DurationSeconds != 600 || !c.Answered ||
		c.EndReason != "patron-left" || !c.Transcript {
		t.Errorf("chat 1 = %+v", c)
	}
	if open := all[2]; open.Status != "held" || open.End != nil || open.DurationSeconds != nil || open.EndReason != "" {
		t.Errorf("open chat 3 = %+v", open)
	}
	if u := all[3]; u.Answered || u.WaitSeconds != 600 || u.Transfers != 1 || u.Operator != "" {
		t.Errorf("unanswered chat 4 = %+v", u)
	}
	if strings.Contains(body, "patron-handle") {
		t.Errorf("the export names a patron's handle:\n%s", body)
	}

	for _, tc := range []struct {
		query, token string
		want         []routing.ChatID
	}{
		{"since=2026-12-02", adminToken, []routing.ChatID{2, 3, 4}},
		{"until=2026-12-02", adminToken, []routing.ChatID{1, 2}}, // a date alone takes in the whole day
		{"since=2026-12-02T09:00:00Z&until=2026-12-03T09:00:00Z", adminToken, []routing.ChatID{2}},
		{"queue=nightowl", adminToken, []routing.ChatID{4}},
		{"network=sms", adminToken, []routing.ChatID{2}},
		{"operator=Dana@Localhost", adminToken, []routing.ChatID{2}},
		{"answered=false", adminToken, []routing.ChatID{4}},
		{"answered=true&library=unc", adminToken, []routing.ChatID{1, 3}},
		{"limit=2", adminToken, []routing.ChatID{1, 2}},
		{"", uncToken, []routing.ChatID{1, 3, 4}},
		{"library=unc", uncToken, []routing.ChatID{1, 3, 4}},
		{"", dukeToken, []routing.ChatID{2}},
		{"queue=reference", dukeToken, nil},
	} {
		res, body := e.do("GET", "/api/chats?"+tc.query, tc.token)
		want(t, res, body, http.StatusOK)
		if got := ids(chatsJSON(t, body)); !slices.Equal(got, tc.want) {
			t.Errorf("%q (token %.4s): %v, want %v", tc.query, tc.token, got, tc.want)
		}
	}
	for _, tc := range []struct {
		query  string
		status int
		says   string
	}{
		{"sinse=2026-12-01", http.StatusBadRequest, `unknown parameter \"sinse\"`},
		{"since=yesterday", http.StatusBadRequest, "since:"},
		{"until=12/01/2026", http.StatusBadRequest, "write 2026-12-01"},
		{"answered=maybe", http.StatusBadRequest, "answered:"},
		{"limit=0", http.StatusBadRequest, "limit:"},
		{"format=xml", http.StatusBadRequest, "write json or csv"},
	} {
		if res, body := e.do("GET", "/api/chats?"+tc.query, adminToken); res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
			t.Errorf("%q: %d %s, want %d saying %q", tc.query, res.StatusCode, body, tc.status, tc.says)
		}
	}
	res, body = e.do("GET", "/api/chats?library=duke", uncToken)
	want(t, res, body, http.StatusForbidden)
}

// TestChatsCSV parses the CSV export back.
func TestChatsCSV(t *testing.T) {
	e := newEnv(t, nil)
	e.seedHistory()
	for _, req := range []struct {
		target string
		header []string
	}{
		{"/api/chats.csv", nil},
		{"/api/chats?format=csv", nil},
		{"/api/chats", []string{"Accept", "text/csv"}},
	} {
		res, body := e.do("GET", req.target, uncToken, req.header...)
		want(t, res, body, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("%s: Content-Type %q", req.target, ct)
		}
		rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: CSV does not parse: %v\n%s", req.target, err, body)
		}
		if !slices.Equal(rows[0], CSVHeader) {
			t.Errorf("header %v", rows[0])
		}
		if len(rows) != 4 {
			t.Fatalf("%s: %d rows, want the header and unc's 3 chats:\n%s", req.target, len(rows), body)
		}
		col := func(row []string, name string) string { return row[slices.Index(CSVHeader, name)] }
		r := rows[1]
		for name, v := range map[string]string{
			"id": "1", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T09:10:00Z", "queue": "reference",
			"library": "unc", "network": "irc", "guest": "guest-1001", "operator": "alice@localhost",
			"wait_seconds": "42", "duration_seconds": "600", "answered": "true", "transfers": "0",
			"end_reason": "patron-left", "status": "ended", "transcript": "true",
		} {
			if got := col(r, name); got != v {
				t.Errorf("row 1 %s = %q, want %q", name, got, v)
			}
		}
		if open := rows[2]; col(open, "end") != "" || col(open, "duration_seconds") != "" || col(open, "status") != "held" {
			t.Errorf("open chat row %v", open)
		}
		if u := rows[3]; col(u, "answered") != "false" || col(u, "transfers") != "1" || col(u, "queue") != "nightowl" {
			t.Errorf("unanswered chat row %v", u)
		}
	}
}

func TestTranscript(t *testing.T) {
	e := newEnv(t, nil)
	e.seedHistory()
	res, body := e.do("GET", "/api/chats/1/transcript", uncToken)
	want(t, res, body, http.StatusOK)
	for _, line := range []string{
		"Chat 1 · Reference (unc) · irc · guest-1001",
		"Started 2026-12-01T09:00:00Z, ended 2026-12-01T09:10:00Z (patron-left)",
		"[2026-12-01 09:00:00Z] guest-1001: Do you have maps of 1850?\n    Of Chapel Hill.",
		"[2026-12-01 09:00:42Z] Alice: Yes, fourth floor.",
		"[2026-12-01 09:01:00Z] owlgate: The patron left.",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("transcript lacks %q:\n%s", line, body)
		}
	}
	for _, req := range [][]string{{"/api/chats/1/transcript?format=json"}, {"/api/chats/1/transcript", "Accept", "application/json"}} {
		res, body = e.do("GET", req[0], adminToken, req[1:]...)
		want(t, res, body, http.StatusOK)
		var tr Transcript
		if err := json.Unmarshal([]byte(body), &tr); err != nil {
			t.Fatalf("%v\n%s", err, body)
		}
		if tr.Chat.ID != 1 || len(tr.Lines) != 3 || tr.Lines[0].From != "patron" || tr.Lines[0].Name != "guest-1001" ||
			tr.Lines[1].From != "operator" || tr.Lines[1].Name != "Alice" || tr.Lines[1].Operator != "alice@localhost" ||
			tr.Lines[2].From != "system" || !tr.Lines[1].At.Equal(day0.Add(42*time.Second)) {
			t.Errorf("JSON transcript = %+v", tr)
		}
	}

	// A library's token is refused another library's chat, as if it did
	// not exist; the admin's is not.
	for _, target := range []string{"/api/chats/2", "/api/chats/2/transcript"} {
		res, body = e.do("GET", target, uncToken)
		want(t, res, body, http.StatusNotFound)
		if res, body = e.do("DELETE", target, uncToken); res.StatusCode != http.StatusNotFound {
			t.Errorf("unc deleting duke's %s: %d %s", target, res.StatusCode, body)
		}
		res, body = e.do("GET", target, dukeToken)
		want(t, res, body, http.StatusOK)
	}
	res, body = e.do("GET", "/api/chats/4/transcript", adminToken)
	want(t, res, body, http.StatusNotFound)
	for _, target := range []string{"/api/chats/99", "/api/chats/0/transcript", "/api/chats/x"} {
		res, body = e.do("GET", target, adminToken)
		want(t, res, body, http.StatusNotFound)
	}
}

func TestDeleteTranscriptAndChat(t *testing.T) {
	e := newEnv(t, nil)
	e.seedHistory()
	// An open chat is refused; it is still being written.
	for _, target := range []string{"/api/chats/3/transcript", "/api/chats/3"} {
		res, body := e.do("DELETE", target, adminToken)
		want(t, res, body, http.StatusConflict)
	}

	// The transcript goes, the statistics stay.
	res, body := e.do("DELETE", "/api/chats/1/transcript", uncToken)
	want(t, res, body, http.StatusNoContent)
	res, body = e.do("GET", "/api/chats/1/transcript", uncToken)
	want(t, res, body, http.StatusNotFound)
	res, body = e.do("GET", "/api/chats/1", uncToken)
	want(t, res, body, http.StatusOK)
	var c Chat
	if err := json.Unmarshal([]byte(body), &c); err != nil || c.Transcript || !c.Answered || c.WaitSeconds != 42 {
		t.Errorf("after deleting the transcript: %+v, %v", c, err)
	}
	if ls, err := e.st.Lines(t.Context(), 1); err != nil || len(ls) != 0 {
		t.Errorf("lines left: %v, %v", ls, err)
	}

	// The whole chat goes.
	res, body = e.do("DELETE", "/api/chats/2", dukeToken)
	want(t, res, body, http.StatusNoContent)
	for _, target := range []string{"/api/chats/2", "/api/chats/2/transcript"} {
		res, body = e.do("GET", target, adminToken)
		want(t, res, body, http.StatusNotFound)
	}
	res, body = e.do("DELETE", "/api/chats/2", adminToken)
	want(t, res, body, http.StatusNotFound)
	_, body = e.do("GET", "/api/chats", adminToken)
	if got := ids(chatsJSON(t, body)); !slices.Equal(got, []routing.ChatID{1, 3, 4}) {
		t.Errorf("after deleting chat 2: %v", got)
	}
}
