package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

func TestHealthAndReadiness(t *testing.T) {
	e := newEnv(t, nil)
	res, body := e.do("GET", "/healthz", "")
	want(t, res, body, http.StatusOK)

	readiness := func(wantStatus int) map[string]string {
		t.Helper()
		res, body := e.do("GET", "/readyz", "")
		want(t, res, body, wantStatus)
		var rd struct {
			Ready  bool
			Checks map[string]string
		}
		if err := json.Unmarshal([]byte(body), &rd); err != nil || rd.Ready != (wantStatus == http.StatusOK) {
			t.Fatalf("readyz: %v %s", err, body)
		}
		return rd.Checks
	}
	if c := readiness(http.StatusOK); c["store"] != "ok" || c["xmpp"] != "ok" || c["gateway"] != "ok" {
		t.Errorf("checks = %v", c)
	}
	e.lnk.mu.Lock()
	e.lnk.up = false
	e.lnk.mu.Unlock()
	if c := readiness(http.StatusServiceUnavailable); c["xmpp"] != "down" || c["store"] != "ok" {
		t.Errorf("link down: checks = %v", c)
	}
	e.lnk.mu.Lock()
	e.lnk.up = true
	e.lnk.mu.Unlock()
	e.gw.mu.Lock()
	e.gw.snapErr = errTest
	e.gw.mu.Unlock()
	if c := readiness(http.StatusServiceUnavailable); c["gateway"] != "not answering" {
		t.Errorf("gateway stuck: checks = %v", c)
	}
	e.gw.mu.Lock()
	e.gw.snapErr = nil
	e.gw.mu.Unlock()
	e.h.Close()
	if c := readiness(http.StatusServiceUnavailable); c["store"] != "cannot be read" {
		t.Errorf("store closed: checks = %v", c)
	}
}

func TestStatus(t *testing.T) {
	e := newEnv(t, nil)
	since := testNow.Add(-5 * time.Minute)
	e.gw.mu.Lock()
	e.gw.snap = gateway.Snapshot{OpenChats: 3, Queues: []gateway.QueueSnapshot{
		{ID: "reference", QueueStatus: routing.QueueStatus{Online: true, Available: []routing.OperatorID{"alice@localhost"}, Waiting: 1, Held: 1}},
		{ID: "duke-ref", QueueStatus: routing.QueueStatus{Waiting: 1}},
	}}
	e.gw.accounts = []gateway.AccountStatus{
		{ID: "unc-irc", Network: "irc", Queue: "reference", State: protocols.AccountOnline, Since: since, QueueDepth: 2},
		{ID: "unc-sms", Network: "sms", Queue: "reference", State: protocols.AccountBackoff, Since: since,
			Retry: since.Add(time.Minute), LastError: "connection refused", LastErrorAt: since, Failures: 4},
	}
	e.gw.mu.Unlock()
	res, body := e.do("GET", "/status", adminToken)
	want(t, res, body, http.StatusOK)
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if st.Version != "test" || st.Link == nil || !st.Link.Up || st.Link.Mode != "server" || st.Chats != (ChatCounts{Open: 3, Waiting: 2}) {
		t.Errorf("status = %+v", st)
	}
	if len(st.Queues) != 2 || st.Queues[0].Name != "Reference" || st.Queues[0].Library != "unc" || !st.Queues[0].Online ||
		len(st.Queues[0].OperatorsOnline) != 1 || st.Queues[0].OperatorsOnline[0] != "alice@localhost" || st.Queues[0].Held != 1 {
		t.Errorf("queues = %+v", st.Queues)
	}
	if len(st.Accounts) != 2 {
		t.Fatalf("accounts = %+v", st.Accounts)
	}
	a := st.Accounts[1]
	if a.State != "backoff" || !a.RetryAt.Equal(since.Add(time.Minute)) || a.LastError != "connection refused" ||
		a.Failures != 4 || st.Accounts[0].SendQueue != 2 || !st.Accounts[0].RetryAt.IsZero() {
		t.Errorf("accounts = %+v", st.Accounts)
	}
	if strings.Contains(body, adminToken) || strings.Contains(body, uncToken) {
		t.Error("/status shows a token")
	}
	e.gw.mu.Lock()
	e.gw.snapErr = errTest
	e.gw.mu.Unlock()
	res, body = e.do("GET", "/status", adminToken)
	want(t, res, body, http.StatusServiceUnavailable)
}

// scrape reads /metrics into metric families.
func scrape(t *testing.T, e *env) map[string]*familyValues {
	t.Helper()
	res, body := e.do("GET", "/metrics", "")
	want(t, res, body, http.StatusOK)
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	out := map[string]*familyValues{}
	for name, f := range fams {
		fv := &familyValues{values: map[string]float64{}, sums: map[string]float64{}}
		for _, m := range f.Metric {
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			key := strings.Join(labels, ",")
			switch {
			case m.Counter != nil:
				fv.values[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				fv.values[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				fv.values[key] = float64(m.Histogram.GetSampleCount())
				fv.sums[key] = m.Histogram.GetSampleSum()
			}
		}
		out[name] = fv
	}
	return out
}

type familyValues struct {
	values map[string]float64 // by labels; a histogram's count
	sums   map[string]float64 // a histogram's sum
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, nil)
	m := e.srv.opts.Metrics
	before := scrape(t, e)
	// Every queue's and network's series is there from the start.
	if v, ok := before["owlgate_chats_opened_total"].values["queue=nightowl"]; !ok || v != 0 {
		t.Errorf("opened{nightowl} at start: %v %v", v, ok)
	}
	if _, ok := before["owlgate_messages_in_total"].values["network=sms"]; !ok {
		t.Error("no messages_in{sms} at start")
	}

	m.ChatOpened("reference")
	m.ChatOpened("reference")
	m.ChatAnswered("reference", 12*time.Second)
	m.ChatEnded("reference", true)
	m.ChatEnded("reference", false)
	m.MessageIn("irc")
	m.MessageIn("irc")
	m.MessageOut("irc")
	m.DeliveryFailed("sms")
	m.AccountState("unc-irc", "irc", protocols.AccountOnline)
	m.Reconnect("unc-irc", "irc")
	e.gw.mu.Lock()
	e.gw.snap.OpenChats = 1
	e.gw.snap.Queues[0].Online, e.gw.snap.Queues[0].Waiting = true, 1
	e.gw.snap.Queues[0].Available = []routing.OperatorID{"alice@localhost"}
	e.gw.accounts = []gateway.AccountStatus{{ID: "unc-irc", Network: "irc", State: protocols.AccountBackoff, QueueDepth: 3, Failures: 2}}
	e.gw.mu.Unlock()

	got := scrape(t, e)
	for _, c := range []struct {
		family, labels string
		want           float64
	}{
		{"owlgate_chats_opened_total", "queue=reference", 2},
		{"owlgate_chats_answered_total", "queue=reference", 1},
		{"owlgate_chats_unanswered_total", "queue=reference", 1},
		{"owlgate_chat_wait_seconds", "queue=reference", 1},
		{"owlgate_messages_in_total", "network=irc", 2},
		{"owlgate_messages_out_total", "network=irc", 1},
		{"owlgate_delivery_failures_total", "network=sms", 1},
		{"owlgate_account_state_changes_total", "account=unc-irc,network=irc,state=online", 1},
		{"owlgate_account_reconnects_total", "account=unc-irc,network=irc", 1},
		{"owlgate_chats_open", "", 1},
		{"owlgate_queue_online", "queue=reference", 1},
		{"owlgate_queue_online", "queue=nightowl", 0},
		{"owlgate_queue_operators_available", "queue=reference", 1},
		{"owlgate_chats_waiting", "queue=reference", 1},
		{"owlgate_account_state", "account=unc-irc,network=irc,state=backoff", 1},
		{"owlgate_account_state", "account=unc-irc,network=irc,state=online", 0},
		{"owlgate_account_send_queue", "account=unc-irc,network=irc", 3},
		{"owlgate_account_failures_total", "account=unc-irc,network=irc", 2},
		{"owlgate_build_info", "version=test", 1},
	} {
		f := got[c.family]
		if f == nil {
			t.Errorf("no %s", c.family)
			continue
		}
		if v, ok := f.values[c.labels]; !ok || v != c.want {
			t.Errorf("%s{%s} = %v (%v), want %v; all: %v", c.family, c.labels, v, ok, c.want, f.values)
		}
	}
	if s := got["owlgate_chat_wait_seconds"].sums["queue=reference"]; s != 12 {
		t.Errorf("wait sum = %v, want 12", s)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	// A loop that does not answer leaves out its gauges, not the scrape.
	e.gw.mu.Lock()
	e.gw.snapErr = errTest
	e.gw.mu.Unlock()
	if got = scrape(t, e); got["owlgate_chats_open"] != nil || got["owlgate_account_state"] == nil {
		t.Errorf("with the loop stuck: open %v, account state %v", got["owlgate_chats_open"], got["owlgate_account_state"])
	}
}

// mounter is an adapter that mounts routes.
type mounter struct {
	protocols.Adapter
	routes []protocols.HTTPRoute
}

func (m mounter) HTTPRoutes() []protocols.HTTPRoute { return m.routes }

var _ protocols.HTTPMounter = mounter{}

func TestHooksMounted(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write([]byte(r.Method + " " + r.URL.Path + " id=" + r.PathValue("id") + " body=" + string(b)))
	})
	accounts := []gateway.Account{
		{ID: "unc-sms", Adapter: mounter{routes: []protocols.HTTPRoute{
			{Pattern: "POST /sms", Handler: echo},
			{Pattern: "POST /status/{id}", Handler: echo},
		}}},
		{ID: "unc-web", Adapter: mounter{routes: []protocols.HTTPRoute{{Pattern: "/socket", Handler: echo}}}},
		{ID: "unc-irc", Adapter: nil}, // not a mounter
	}
	hooks := HooksOf(accounts)
	if len(hooks) != 3 {
		t.Fatalf("hooks = %+v", hooks)
	}
	e := newEnv(t, nil, hooks...)
	for _, tc := range []struct {
		method, target string
		status         int
		body           string
	}{
		{"POST", "/hooks/unc-sms/sms", 200, "POST /hooks/unc-sms/sms id= body="},
		{"POST", "/hooks/unc-sms/status/SM123", 200, "POST /hooks/unc-sms/status/SM123 id=SM123 body="},
		{"GET", "/hooks/unc-sms/sms", 405, ""},
		{"GET", "/hooks/unc-web/socket", 200, "GET /hooks/unc-web/socket id= body="},
		{"POST", "/hooks/unc-web/sms", 404, ""},
		{"POST", "/hooks/other/sms", 404, ""},
	} {
		res, body := e.do(tc.method, tc.target, "")
		if res.StatusCode != tc.status || (tc.body != "" && body != tc.body) {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.target, res.StatusCode, body, tc.status, tc.body)
		}
	}
	// Hooks need no token: the adapter checks its network's calls.
	if res, _ := e.do("POST", "/hooks/unc-sms/sms", "wrong"); res.StatusCode != 200 {
		t.Errorf("a hook checked the API token: %d", res.StatusCode)
	}
}

func TestHooksRefused(t *testing.T) {
	h := http.NotFoundHandler()
	cfg := testConfig(t, "")
	for name, hooks := range map[string][]Hook{
		"host":      {{Account: "a", Route: protocols.HTTPRoute{Pattern: "POST example.com/sms", Handler: h}}},
		"relative":  {{Account: "a", Route: protocols.HTTPRoute{Pattern: "sms", Handler: h}}},
		"nil":       {{Account: "a", Route: protocols.HTTPRoute{Pattern: "/sms"}}},
		"clash":     {{Account: "a", Route: protocols.HTTPRoute{Pattern: "/sms", Handler: h}}, {Account: "a", Route: protocols.HTTPRoute{Pattern: "/sms", Handler: h}}},
		"bad glob":  {{Account: "a", Route: protocols.HTTPRoute{Pattern: "/sms/{x", Handler: h}}},
		"bad space": {{Account: "a", Route: protocols.HTTPRoute{Pattern: "POST  /sms extra", Handler: h}}},
	} {
		_, err := New(Options{Config: cfg, Gateway: newFakeGateway(cfg), Hooks: hooks})
		if err == nil || !strings.Contains(err.Error(), "account a") {
			t.Errorf("%s: New = %v, want an error naming the account", name, err)
		}
	}
	if _, err := New(Options{Config: cfg}); err == nil || errors.Is(err, nil) {
		t.Error("New without a gateway: no error")
	}
}
