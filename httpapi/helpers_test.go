package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
	"github.com/owlgate/owlgate/store"
)

// The tokens of testConfig.
const (
	adminToken = "admin-token-0123456789"
	uncToken   = "unc-token-0123456789"
	dukeToken  = "duke-token-0123456789"
)

// testYAML has two libraries, each with a queue, and a shared nightowl
// queue; the admin token and a token per library.
const testYAML = `xmpp:
  domain: localhost
http:
  admin_token: ${TEST_ADMIN_TOKEN}
  library_tokens:
    - library: unc
      token: ${TEST_UNC_TOKEN}
    - library: duke
      token: ${TEST_DUKE_TOKEN}
libraries:
  - id: unc
  - id: duke
operators:
  - jid: alice@localhost
    name: Alice
    library: unc
    password: ${TEST_PW}
  - jid: dana@localhost
    name: Dana
    library: duke
    password: ${TEST_PW}
queues:
  - id: reference
    name: Reference
    library: unc
    operators: [alice@localhost]
    transcripts: true
    accounts: [{id: unc-irc, network: irc}, {id: unc-sms, network: sms}]
  - id: duke-ref
    library: duke
    operators: [dana@localhost]
    transcripts: true
    accounts: [{id: duke-irc, network: irc}]
  - id: nightowl
    library: unc
    operators: [alice@localhost, dana@localhost]
`

// testConfig loads yaml (testYAML when empty) with the test's tokens.
func testConfig(t testing.TB, yaml string) *config.Config {
	t.Helper()
	if yaml == "" {
		yaml = testYAML
	}
	t.Setenv("TEST_ADMIN_TOKEN", adminToken)
	t.Setenv("TEST_UNC_TOKEN", uncToken)
	t.Setenv("TEST_DUKE_TOKEN", dukeToken)
	t.Setenv("TEST_PW", "pw")
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "owlgate.yaml"), []byte(yaml))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

// fakeGateway is a Gateway whose state the test sets.
type fakeGateway struct {
	mu       sync.Mutex
	online   map[routing.QueueID]bool
	snap     gateway.Snapshot
	snapErr  error
	accounts []gateway.AccountStatus
}

func newFakeGateway(cfg *config.Config) *fakeGateway {
	g := &fakeGateway{online: map[routing.QueueID]bool{}}
	for _, q := range cfg.Queues {
		g.online[routing.QueueID(q.ID)] = false
		g.snap.Queues = append(g.snap.Queues, gateway.QueueSnapshot{ID: routing.QueueID(q.ID)})
	}
	return g
}

func (g *fakeGateway) set(q routing.QueueID, online bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.online[q] = online
}

func (g *fakeGateway) QueueOnline(q routing.QueueID) (bool, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	on, ok := g.online[q]
	return on, ok
}

func (g *fakeGateway) Snapshot(ctx context.Context) (gateway.Snapshot, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.snap, g.snapErr
}

func (g *fakeGateway) Accounts() []gateway.AccountStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.accounts
}

var _ Gateway = (*fakeGateway)(nil)

// fakeLink is a Link the test sets.
type fakeLink struct {
	mu    sync.Mutex
	up    bool
	since time.Time
}

func (l *fakeLink) LinkUp() (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.up, l.since
}

// env is a server on a fake gateway and a real store.
type env struct {
	t   testing.TB
	cfg *config.Config
	gw  *fakeGateway
	st  *store.SQLite
	h   *store.History
	lnk *fakeLink
	srv *Server
}

// newEnv builds a server for cfg (testConfig when nil), with hooks.
func newEnv(t testing.TB, cfg *config.Config, hooks ...Hook) *env {
	t.Helper()
	if cfg == nil {
		cfg = testConfig(t, "")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "owlgate.db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h, err := store.OpenHistory(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	e := &env{t: t, cfg: cfg, gw: newFakeGateway(cfg), st: st, h: h, lnk: &fakeLink{up: true, since: testNow.Add(-time.Hour)}}
	e.srv, err = New(Options{Config: cfg, Gateway: e.gw, History: h, Link: e.lnk, Hooks: hooks,
		Metrics: NewMetrics(cfg, "test"), Version: "test", Now: func() time.Time { return testNow }, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	e.srv.opts.Metrics.Watch(e.gw)
	return e
}

// testNow is the servers' clock.
var testNow = time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC)

// do sends a request to the server and returns the response, its body
// read.
func (e *env) do(method, target, token string, header ...string) (*http.Response, string) {
	e.t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(w, r)
	res := w.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// want fails the test unless the response has the status.
func want(t *testing.T, res *http.Response, body string, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body:\n%s", res.Request.Method, res.Request.URL, res.StatusCode, status, body)
	}
}

// chat is an ended chat record of library lib, queue q, started at start.
func chat(id routing.ChatID, lib routing.LibraryID, q routing.QueueID, start time.Time) routing.ChatRecord {
	return routing.ChatRecord{
		ID: id, Status: routing.ChatEnded, Origin: q, Queue: q, Library: lib,
		Patron:   protocols.Address{Network: "irc", Account: "unc-irc", User: protocols.UserID("patron-handle-" + string(q))},
		Guest:    routing.GuestIDFromNumber(1000 + int64(id)),
		Operator: "alice@localhost",
		Started:  start, FirstAnswer: start.Add(42 * time.Second), Ended: start.Add(10 * time.Minute),
		LastActivity: start.Add(10 * time.Minute), EndReason: routing.EndPatronLeft, Transcript: true, Lines: 3,
	}
}

// seed stores chats and lines in the store and waits until they are
// durable.
func (e *env) seed(recs []routing.ChatRecord, lines ...store.ChatLine) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.st.Submit(store.Batch{Chats: recs, Lines: lines}).Wait(ctx); err != nil {
		e.t.Fatal(err)
	}
}

var errTest = errors.New("test: not answering")
