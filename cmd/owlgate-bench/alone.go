package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/internal/rawxmpp"
)

// Prosody alone: the same bursts as the gateways', between the bench's own
// XEP-0114 component and the same operators on the same Prosody, with no
// IRC network and no gateway: the component sends what a gateway would
// send to the operators, all in one write, and counts what the operators
// send to it. What Prosody does per message is then all there is, so these
// are the most any component gateway can reach through this Prosody on
// this machine; the table shows them beside the gateways' figures.

// aloneGateway is the name -gateways knows this measurement by.
const aloneGateway = "prosody-alone"

func runAlone(ctx context.Context, cfg *config, e *env) (*result, error) {
	res := &result{Gateway: aloneGateway, Mode: "component", Patrons: cfg.Patrons, Operators: cfg.Operators}
	logf := func(format string, args ...any) {
		if !cfg.Quiet {
			fmt.Fprintf(os.Stderr, "[alone   %6.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	comp, err := rawxmpp.DialComponent(e.prosody.ComponentAddr, aloneDomain, e.prosody.AloneSecret)
	if err != nil {
		return res, err
	}
	defer comp.Close()
	ops := make([]*rawxmpp.Conn, cfg.Operators)
	for i := range ops {
		c, err := rawxmpp.Dial(e.prosody.C2SAddr, fmt.Sprintf("ogop%d@%s", i, xmppDomain), operatorPW, rawxmpp.Options{Session: true})
		if err != nil {
			return res, err
		}
		defer c.Close()
		ops[i] = c
	}
	logf("%d operators logged in", len(ops))

	// What each side receives is counted by kind: B from the component at
	// the operators, C from the operators at the component.
	var counts [2]atomic.Int64
	var lastAt [2]atomic.Int64
	base := time.Now()
	count := func(st rawxmpp.Stanza) {
		if st.Name != "message" || len(st.Body) < 2 {
			return
		}
		k := -1
		switch st.Body[0] {
		case 'B':
			k = 0
		case 'C':
			k = 1
		}
		if k >= 0 {
			counts[k].Add(1)
			lastAt[k].Store(int64(time.Since(base)))
		}
	}
	var readers sync.WaitGroup
	for _, c := range append([]*rawxmpp.Conn{comp}, ops...) {
		readers.Go(func() {
			for {
				st, err := c.Next()
				if err != nil {
					return
				}
				count(st)
			}
		})
	}
	defer readers.Wait()
	defer func() {
		for _, c := range append([]*rawxmpp.Conn{comp}, ops...) {
			c.Close()
		}
	}()

	n := cfg.Burst
	guest := func(i int) string { return "guest-" + strconv.Itoa(1001+i%cfg.Patrons) + "@" + aloneDomain }
	for k, kind := range []byte{'B', 'C'} {
		time.Sleep(time.Second)
		// The messages, each sender's share in one buffer, as the
		// gateways' bursts have them.
		bufs := map[*rawxmpp.Conn][]byte{}
		var senders []*rawxmpp.Conn
		for i := range n {
			var from *rawxmpp.Conn
			var b []byte
			op := fmt.Sprintf("ogop%d@%s", i%cfg.Operators, xmppDomain)
			if kind == 'B' {
				from = comp
				b = fmt.Appendf(bufs[from], "<message from='%s' to='%s' type='chat' id='a%d'><body>%s</body></message>", guest(i), op, i, msgText(kind, i))
			} else {
				from = ops[i%cfg.Operators]
				b = rawxmpp.Message(bufs[from], guest(i), msgText(kind, i))
			}
			if _, ok := bufs[from]; !ok {
				senders = append(senders, from)
			}
			bufs[from] = b
		}
		cpu0 := e.cpuSnapshot(0)
		start := int64(time.Since(base))
		var wg sync.WaitGroup
		errs := make([]error, len(senders))
		for i, s := range senders {
			wg.Go(func() { errs[i] = s.Write(bufs[s]) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
		deadline := time.Now().Add(cfg.BurstTimeout)
		for counts[k].Load() < int64(n) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		bs := burstStats{Messages: n, Received: int(counts[k].Load()), Senders: len(senders), Durable: -1}
		if end := lastAt[k].Load(); end > start {
			bs.Seconds = float64(end-start) / 1e9
			bs.PerSecond = float64(bs.Received) / bs.Seconds
		}
		bs.CPU = e.cpuSnapshot(0).sub(cpu0)
		if kind == 'B' {
			res.BurstP2O = bs
		} else {
			res.BurstO2P = bs
		}
		logf("burst %c: %d/%d in %.3fs: %.0f msgs/s, Prosody %.2f CPU s", kind, bs.Received, n, bs.Seconds, bs.PerSecond, bs.CPU.Prosody)
		counts[k].Store(0)
	}
	return res, ctx.Err()
}

// aloneNote is printed under the table when Prosody alone was measured.
func aloneNote(rs []*result) string {
	for _, r := range rs {
		if r.Gateway == aloneGateway {
			return strings.TrimSpace(`
prosody-alone: the bench's own component sends (or receives) the same bursts through the same
Prosody with no IRC network and no gateway: the most any component gateway can reach here.`)
		}
	}
	return ""
}
