package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/owlgate/owlgate/config"
	"github.com/owlgate/owlgate/internal/daemon"
	"github.com/owlgate/owlgate/internal/rawxmpp"
	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/protocoltest"
)

// The benchmarks' harness: a whole owlgate as `owlgate run` builds it
// (config.Parse, daemon.New, daemon.Run: SQLite store, gateway, embedded
// XMPP server), operators on raw XMPP client connections (STARTTLS or
// plaintext, PLAIN, bind, roster, presence), and patrons on the loopback
// network.
//
// The operators' client is written by hand rather than with mellium: it
// scans the byte stream for whole stanzas and cuts out the attributes and
// body it needs, so that the client side, which shares the machine's two
// cores with owlgate, costs as little as possible and the figures are
// owlgate's.
//
// The patrons are loopback patrons read with LoopbackPatron.Next, but not
// waited for inside Next: the loopback adapters are wrapped so that a send
// to a patron also signals that patron's own channel, and the patron then
// drains Next with an ended context (which returns at once when nothing is
// left), answering all it got in one go. (The loopback network once woke
// every goroutine waiting in any patron's Next at each message, which with
// a thousand patrons cost more than owlgate; it now wakes only that
// patron's.)

// benchPassword is every bench operator's password, given to the config
// as ${OWLGATE_BENCH_PW}.
const (
	benchPasswordEnv = "OWLGATE_BENCH_PW"
	benchPassword    = "bench-pw"
)

// benchOptions shapes a bench owlgate.
type benchOptions struct {
	Operators  int  // op0@localhost ... each staffs its own queue q<i>, which owns one loop account a<i>
	PerLibrary int  // operators per library (colleagues see each other's presence); 0: 10
	Plaintext  bool // xmpp.allow_plaintext, and clients skip STARTTLS
	// QueuePerLibrary gives each library one queue (q<l>, account a<l>)
	// staffed by all its operators, instead of one queue per operator.
	QueuePerLibrary bool
}

// benchConfigYAML is the config of a bench owlgate.
func benchConfigYAML(dataDir string, o benchOptions) string {
	per := o.PerLibrary
	if per <= 0 {
		per = 10
	}
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %q\n", dataDir)
	fmt.Fprintf(&b, "log: {level: warn}\n")
	fmt.Fprintf(&b, "xmpp:\n  mode: server\n  domain: localhost\n  listen: 127.0.0.1:0\n  allow_plaintext: %v\n", o.Plaintext)
	fmt.Fprintf(&b, "http:\n  listen: 127.0.0.1:0\n")
	b.WriteString("libraries:\n")
	for l := range (o.Operators + per - 1) / per {
		fmt.Fprintf(&b, "  - id: lib%d\n", l)
	}
	b.WriteString("operators:\n")
	for i := range o.Operators {
		fmt.Fprintf(&b, "  - jid: op%d@localhost\n    library: lib%d\n    password: ${%s}\n", i, i/per, benchPasswordEnv)
	}
	b.WriteString("queues:\n")
	if o.QueuePerLibrary {
		for l := range (o.Operators + per - 1) / per {
			var ops []string
			for i := l * per; i < min(o.Operators, (l+1)*per); i++ {
				ops = append(ops, fmt.Sprintf("op%d@localhost", i))
			}
			fmt.Fprintf(&b, "  - id: q%d\n    library: lib%d\n    operators: [%s]\n    accounts:\n      - id: a%d\n        network: loop\n", l, l, strings.Join(ops, ", "), l)
		}
		return b.String()
	}
	for i := range o.Operators {
		fmt.Fprintf(&b, "  - id: q%d\n    library: lib%d\n    operators: [op%d@localhost]\n    accounts:\n      - id: a%d\n        network: loop\n", i, i/per, i, i)
	}
	return b.String()
}

// benchPatronAddr is the address of patron i, who writes to account a<i>.
func benchPatronAddr(i int) protocols.Address {
	return protocols.Address{Network: "loop", Account: protocols.AccountID(fmt.Sprintf("a%d", i)), User: protocols.UserID(fmt.Sprintf("p%d", i))}
}

// benchNet is the loopback network with a wake-up channel per patron.
type benchNet struct {
	*protocoltest.Loopback
	wakes map[protocols.Address]chan struct{} // read-only once built
}

func newBenchNet(patrons int) *benchNet {
	n := &benchNet{Loopback: protocoltest.NewLoopback("loop"), wakes: make(map[protocols.Address]chan struct{}, patrons)}
	for i := range patrons {
		n.wakes[benchPatronAddr(i)] = make(chan struct{}, 1)
	}
	return n
}

func (n *benchNet) factory() protocols.Factory {
	inner := n.Factory()
	return func(spec protocols.AccountSpec) (protocols.Adapter, error) {
		a, err := inner(spec)
		if err != nil {
			return nil, err
		}
		return benchAdapter{Adapter: a, net: n}, nil
	}
}

// benchAdapter is a loopback adapter that also signals the patron it sent
// to.
type benchAdapter struct {
	protocols.Adapter
	net *benchNet
}

func (a benchAdapter) Send(ctx context.Context, out protocols.Outbound) error {
	err := a.Adapter.Send(ctx, out)
	if err == nil {
		if ch := a.net.wakes[out.Patron()]; ch != nil {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	return err
}

// benchDaemon is a running owlgate.
type benchDaemon struct {
	Addr string // the embedded server's address
	Net  *benchNet
	stop func() error
}

// startBenchDaemon builds and runs owlgate in this process; Stop ends it.
func startBenchDaemon(dataDir string, o benchOptions, log *slog.Logger) (*benchDaemon, error) {
	if os.Getenv(benchPasswordEnv) == "" {
		return nil, fmt.Errorf("%s is not set", benchPasswordEnv)
	}
	cfg, err := config.Parse(filepath.Join(dataDir, "owlgate.yaml"), []byte(benchConfigYAML(dataDir, o)))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	n := newBenchNet(o.Operators)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := daemon.New(ctx, daemon.Options{
		Config:   cfg,
		Networks: map[string]protocols.Factory{"loop": n.factory()},
		Log:      log,
		Version:  "bench",
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("daemon: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	actx, acancel := context.WithTimeout(ctx, 60*time.Second)
	addr, err := d.XMPPAddr(actx)
	acancel()
	if err != nil {
		cancel()
		<-done
		return nil, fmt.Errorf("xmpp server not listening: %w", err)
	}
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("owlgate did not stop within 30s")
		}
	}
	return &benchDaemon{Addr: addr.String(), Net: n, stop: stop}, nil
}

// benchLog is where the bench owlgate logs: warnings and errors to stderr
// when OWLGATE_TEST_LOG is set, nothing otherwise.
func benchLog() *slog.Logger {
	if os.Getenv("OWLGATE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

// benchStart runs a bench owlgate until tb ends.
func benchStart(tb testing.TB, o benchOptions) *benchDaemon {
	tb.Helper()
	if os.Getenv(benchPasswordEnv) == "" {
		tb.Setenv(benchPasswordEnv, benchPassword)
	}
	d, err := startBenchDaemon(tb.TempDir(), o, benchLog())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.stop(); err != nil {
			tb.Errorf("owlgate: %v", err)
		}
	})
	return d
}

// ---- Operators holding chats ----

// benchChat is an operator holding a chat with their own patron.
type benchChat struct {
	I      int
	Op     *rawxmpp.Conn
	Guest  string // the patron's JID as the operator sees it, guest-N@localhost
	Patron *protocoltest.LoopbackPatron
	Wake   <-chan struct{} // signalled when the patron receives something
}

// benchOpen logs operator i in, has patron i write, and takes the chat
// with a reply that the patron receives: what every benchmark starts
// from. It reads the operator's connection until the reply reached the
// patron; the caller reads it from then on.
func benchOpen(ctx context.Context, d *benchDaemon, i int, plain bool) (*benchChat, error) {
	op, err := rawxmpp.Dial(d.Addr, fmt.Sprintf("op%d@localhost", i), benchPassword, rawxmpp.Options{StartTLS: !plain, Session: true})
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			op.Close()
		}
	}()
	addr := benchPatronAddr(i)
	if err := d.Net.WaitOnline(ctx, addr.Account); err != nil {
		return nil, err
	}
	p := d.Net.Patron(addr.Account, addr.User)
	if err := p.Say(ctx, "hello"); err != nil {
		return nil, fmt.Errorf("patron %d: %w", i, err)
	}
	// The offer: the patron's line, a note, a hint, from the guest's JID.
	guest := ""
	for n := 0; n < 3; {
		st, err := op.Next()
		if err != nil {
			return nil, fmt.Errorf("op%d waiting for the offer: %w", i, err)
		}
		if st.Name != "message" || !strings.HasPrefix(rawxmpp.Bare(st.From), "guest-") {
			continue
		}
		if guest == "" {
			guest = rawxmpp.Bare(st.From)
			if st.Body != "hello" {
				return nil, fmt.Errorf("op%d: offer begins with %q", i, st.Body)
			}
		}
		n++
	}
	if err := op.Write(rawxmpp.Message(nil, guest, "take")); err != nil {
		return nil, err
	}
	wake := d.Net.wakes[addr]
	for {
		text, err := benchNextText(ctx, p, wake)
		if err != nil {
			return nil, fmt.Errorf("patron %d waiting for the reply: %w", i, err)
		}
		if text == "take" {
			break
		}
		return nil, fmt.Errorf("patron %d got %q, not the operator's reply", i, text)
	}
	op.SetDeadline(time.Time{})
	ok = true
	return &benchChat{I: i, Op: op, Guest: guest, Patron: p, Wake: wake}, nil
}

// benchEnded is an ended context: Next with it returns at once when the
// patron has nothing more.
var benchEnded = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// benchDrain returns the texts the patron received and has not read.
func benchDrain(p *protocoltest.LoopbackPatron, dst []string) []string {
	for {
		text, err := p.Next(benchEnded)
		if err != nil {
			return dst
		}
		dst = append(dst, text)
	}
}

// benchNextText waits for the patron's next text.
func benchNextText(ctx context.Context, p *protocoltest.LoopbackPatron, wake <-chan struct{}) (string, error) {
	for {
		if text, err := p.Next(benchEnded); err == nil {
			return text, nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// benchOpenAll opens n chats, conc at a time.
func benchOpenAll(tb testing.TB, d *benchDaemon, n, conc int, plain bool) []*benchChat {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	chats := make([]*benchChat, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, conc)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			chats[i], errs[i] = benchOpen(ctx, d, i, plain)
		})
	}
	wg.Wait()
	tb.Cleanup(func() {
		for _, c := range chats {
			if c != nil {
				c.Op.Close()
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		tb.Fatal(err)
	}
	return chats
}
