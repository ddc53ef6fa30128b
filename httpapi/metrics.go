package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/gateway"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/routing"
)

// Metrics is owlgate's Prometheus metrics: counters the gateway feeds as
// its [gateway.Observer], and gauges read from the gateway at each scrape.
// Every series of the config's queues, networks and accounts exists from
// the start, at zero. No label holds a patron's id or message text.
type Metrics struct {
	reg *prometheus.Registry

	opened, answered, unanswered *prometheus.CounterVec // by queue
	wait                         *prometheus.HistogramVec
	in, out, failures            *prometheus.CounterVec // by network
	stateChanges                 *prometheus.CounterVec // by account, network, state
	reconnects                   *prometheus.CounterVec // by account, network
}

var _ gateway.Observer = (*Metrics)(nil)

// waitBuckets are the bounds of the wait histogram, in seconds: from a
// prompt answer to a patron left waiting for half an hour.
var waitBuckets = []float64{5, 10, 20, 30, 60, 90, 120, 180, 300, 600, 1800}

// NewMetrics makes the metrics of the config's queues, networks and
// accounts, with the Go runtime's and the process's.
func NewMetrics(cfg *config.Config, version string) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "owlgate", Name: name, Help: help}, labels)
	}
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		opened:     counter("chats_opened_total", "Chats opened, by the queue the patron wrote to.", "queue"),
		answered:   counter("chats_answered_total", "Chats an operator answered, by the queue the patron wrote to.", "queue"),
		unanswered: counter("chats_unanswered_total", "Chats that ended without an answer, by the queue the patron wrote to.", "queue"),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "owlgate", Name: "chat_wait_seconds", Buckets: waitBuckets,
			Help: "How long patrons waited for the first answer, by the queue they wrote to.",
		}, []string{"queue"}),
		in:           counter("messages_in_total", "Messages from patrons that reached the routing engine, by network.", "network"),
		out:          counter("messages_out_total", "Messages to patrons their network accepted, by network.", "network"),
		failures:     counter("delivery_failures_total", "Messages to patrons that failed for good, by network.", "network"),
		stateChanges: counter("account_state_changes_total", "Changes of an account's state, by the state entered.", "account", "network", "state"),
		reconnects:   counter("account_reconnects_total", "Restarts of an account after a failure, after its backoff.", "account", "network"),
	}
	m.reg.MustRegister(m.opened, m.answered, m.unanswered, m.wait, m.in, m.out, m.failures, m.stateChanges, m.reconnects,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "owlgate", Name: "build_info",
		Help: "1, labelled with owlgate's version.", ConstLabels: prometheus.Labels{"version": version}})
	build.Set(1)
	m.reg.MustRegister(build)

	for _, q := range cfg.Queues {
		m.opened.WithLabelValues(q.ID)
		m.answered.WithLabelValues(q.ID)
		m.unanswered.WithLabelValues(q.ID)
		m.wait.WithLabelValues(q.ID)
		for _, a := range q.Accounts {
			m.in.WithLabelValues(a.Network)
			m.out.WithLabelValues(a.Network)
			m.failures.WithLabelValues(a.Network)
			m.reconnects.WithLabelValues(a.ID, a.Network)
		}
	}
	return m
}

// Watch adds the gauges read from g at each scrape: queues online and
// their available operators, open, waiting and held chats, each account's
// state and send queue. Call it once.
func (m *Metrics) Watch(g Gateway) {
	m.reg.MustRegister(&gauges{g: g})
}

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry is the metrics' registry, for tests and for adding more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// The gateway.Observer methods.

func (m *Metrics) ChatOpened(q routing.QueueID) { m.opened.WithLabelValues(string(q)).Inc() }

func (m *Metrics) ChatAnswered(q routing.QueueID, wait time.Duration) {
	m.answered.WithLabelValues(string(q)).Inc()
	m.wait.WithLabelValues(string(q)).Observe(max(wait, 0).Seconds())
}

func (m *Metrics) ChatEnded(q routing.QueueID, answered bool) {
	if !answered {
		m.unanswered.WithLabelValues(string(q)).Inc()
	}
}

func (m *Metrics) MessageIn(n protocols.Network)  { m.in.WithLabelValues(string(n)).Inc() }
func (m *Metrics) MessageOut(n protocols.Network) { m.out.WithLabelValues(string(n)).Inc() }
func (m *Metrics) DeliveryFailed(n protocols.Network) {
	m.failures.WithLabelValues(string(n)).Inc()
}

func (m *Metrics) AccountState(a protocols.AccountID, n protocols.Network, s protocols.AccountState) {
	m.stateChanges.WithLabelValues(string(a), string(n), s.String()).Inc()
}

func (m *Metrics) Reconnect(a protocols.AccountID, n protocols.Network) {
	m.reconnects.WithLabelValues(string(a), string(n)).Inc()
}

// gauges collects what is read from the gateway at each scrape.
type gauges struct{ g Gateway }

var _ prometheus.Collector = (*gauges)(nil)

var (
	descQueueOnline = prometheus.NewDesc("owlgate_queue_online", "1 while some operator of the queue is available.", []string{"queue"}, nil)
	descOperators   = prometheus.NewDesc("owlgate_queue_operators_available", "Operators of the queue who are available.", []string{"queue"}, nil)
	descWaiting     = prometheus.NewDesc("owlgate_chats_waiting", "Open chats with the queue that wait for an operator.", []string{"queue"}, nil)
	descHeld        = prometheus.NewDesc("owlgate_chats_held", "Open chats with the queue that an operator holds.", []string{"queue"}, nil)
	descOpen        = prometheus.NewDesc("owlgate_chats_open", "Open chats.", nil, nil)
	descAccount     = prometheus.NewDesc("owlgate_account_state", "1 for the account's current state, 0 for the others.", []string{"account", "network", "state"}, nil)
	descSendQueue   = prometheus.NewDesc("owlgate_account_send_queue", "Messages waiting to be sent to patrons through the account.", []string{"account", "network"}, nil)
	descFailures    = prometheus.NewDesc("owlgate_account_failures_total", "Times the account's adapter stopped on an error since owlgate started.", []string{"account", "network"}, nil)
)

var accountStates = []protocols.AccountState{protocols.AccountStopped, protocols.AccountConnecting,
	protocols.AccountOnline, protocols.AccountBackoff, protocols.AccountBadCredentials}

func (c *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueOnline, descOperators, descWaiting, descHeld, descOpen, descAccount, descSendQueue, descFailures} {
		ch <- d
	}
}

// Collect reads the engine through its loop, for at most a second: a busy
// loop makes the scrape lack those gauges rather than hang.
func (c *gauges) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if snap, err := c.g.Snapshot(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(snap.OpenChats))
		for _, q := range snap.Queues {
			id := string(q.ID)
			ch <- prometheus.MustNewConstMetric(descQueueOnline, prometheus.GaugeValue, boolValue(q.Online), id)
			ch <- prometheus.MustNewConstMetric(descOperators, prometheus.GaugeValue, float64(len(q.Available)), id)
			ch <- prometheus.MustNewConstMetric(descWaiting, prometheus.GaugeValue, float64(q.Waiting), id)
			ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(q.Held), id)
		}
	}
	for _, a := range c.g.Accounts() {
		id, n := string(a.ID), string(a.Network)
		for _, st := range accountStates {
			ch <- prometheus.MustNewConstMetric(descAccount, prometheus.GaugeValue, boolValue(a.State == st), id, n, st.String())
		}
		ch <- prometheus.MustNewConstMetric(descSendQueue, prometheus.GaugeValue, float64(a.QueueDepth), id, n)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(a.Failures), id, n)
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
