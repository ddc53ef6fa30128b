// Command owlgate-bench is owlgate's load tool (issue #4): it starts its own
// ngircd, Prosody, owlgate (built from this repository) and biboumi on
// 127.0.0.1, drives the same workload through owlgate and biboumi, and
// reports both side by side: end-to-end latency each way at a paced rate,
// burst throughput each way, and the gateway's RSS with N chats open.
//
//	go run ./cmd/owlgate-bench                         # owlgate and biboumi, component mode
//	go run ./cmd/owlgate-bench -gateways=owlgate -patrons=10000 -burst=0 -messages=0
//	go run ./cmd/owlgate-bench -smoke                  # 2 patrons, 10 messages, owlgate only
//
// The workload: N patrons, raw IRC clients on ngircd (flood penalties off),
// connected eight at a time (ngircd's listen backlog is 10); M operators,
// raw XMPP clients logged in to Prosody (or, with -mode=server, to
// owlgate's embedded server). Chat j is between patron j and operator
// j mod M. For owlgate, the operators staff one queue with one IRC nick;
// each accepts the queue's subscription request, and operator j mod M
// answers patron j's first message (offered to all of them), which takes
// the chat. For biboumi (a Prosody component on the same ngircd), each
// operator joins a channel to get an IRC nick, and patron j writes private
// messages to operator j mod M's nick. Then:
//
//   - latency: -messages messages each way, -rate a second each way,
//     from the sender's write to the receiver's read (p50, p90, p99, max);
//   - burst: -burst messages patron→operator, then operator→patron, each
//     sender writing its share at once; messages a second from the first
//     write to the last arrival. For owlgate, the messages found in its
//     SQLite store afterwards are counted (each is durable before owlgate
//     passes it on);
//   - RSS (VmRSS) of the gateway with the N chats open, and with -chats
//     chats (owlgate only: more patrons are connected and open chats).
//
// Every server is stopped by PID at the end, on an error and on SIGINT;
// every wait is bounded.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	Patrons      int
	Operators    int
	Messages     int
	Rate         float64
	Burst        int
	Chats        int
	Gateways     []string
	Mode         string
	Smoke        bool
	JSON         bool
	Keep         bool
	Quiet        bool
	OwlgateBin   string
	OwlgateLog   string
	Profile      string
	BurstTimeout time.Duration
	Dir          string
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "owlgate-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := benchmark(ctx, cfg, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "owlgate-bench:", err)
		if len(results) == 0 {
			os.Exit(1)
		}
	}
	if err != nil {
		os.Exit(1)
	}
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("owlgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	var gateways string
	fs.IntVar(&c.Patrons, "patrons", 100, "patrons on IRC, one chat each")
	fs.IntVar(&c.Operators, "operators", 10, "operators on XMPP; chat j belongs to operator j mod M")
	fs.IntVar(&c.Messages, "messages", 2000, "latency phase: messages each way (0 skips it)")
	fs.Float64Var(&c.Rate, "rate", 200, "latency phase: messages a second each way")
	fs.IntVar(&c.Burst, "burst", 3000, "burst phase: messages each way, sent as fast as possible (0 skips it)")
	fs.IntVar(&c.Chats, "chats", 0, "owlgate only: after the other phases, open chats up to this many (more patrons) and report the RSS; 0: just -patrons")
	fs.StringVar(&gateways, "gateways", "owlgate,biboumi,"+aloneGateway, "gateways to measure, in order: owlgate, biboumi, and "+aloneGateway+" (the bursts through Prosody with no gateway: the ceiling)")
	fs.StringVar(&c.Mode, "mode", "component", "owlgate's mode: component (a component of the same Prosody as biboumi) or server (its embedded XMPP server)")
	fs.BoolVar(&c.Smoke, "smoke", false, "a tiny run: 2 patrons, 1 operator, 10 messages, burst 10, owlgate only")
	fs.BoolVar(&c.JSON, "json", false, "print the results as JSON instead of a table")
	fs.BoolVar(&c.Keep, "keep", false, "keep the temporary folder (configs, logs, databases)")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress lines on stderr")
	fs.StringVar(&c.OwlgateBin, "owlgate-bin", "", "an owlgate binary to run (default: go build ./cmd/owlgate from this repository)")
	fs.StringVar(&c.OwlgateLog, "owlgate-log", "info", "owlgate's log.level")
	fs.StringVar(&c.Profile, "profile", "", "write CPU profiles of owlgate's latency and burst phases to this folder (builds owlgate with net/http/pprof added by go build -overlay; not with -owlgate-bin)")
	fs.DurationVar(&c.BurstTimeout, "burst-timeout", 2*time.Minute, "how long a burst may take to arrive")
	fs.StringVar(&c.Dir, "dir", "", "the folder for the servers (default: a new temporary folder)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.Smoke {
		c.Patrons, c.Operators, c.Messages, c.Rate, c.Burst, c.Chats = 2, 1, 10, 50, 10, 0
		gateways = "owlgate"
		c.BurstTimeout = 20 * time.Second
	}
	for _, g := range strings.Split(gateways, ",") {
		g = strings.TrimSpace(g)
		switch g {
		case "owlgate", "biboumi", aloneGateway:
			c.Gateways = append(c.Gateways, g)
		case "":
		default:
			return nil, fmt.Errorf("-gateways: unknown gateway %q (owlgate, biboumi, %s)", g, aloneGateway)
		}
	}
	switch {
	case len(c.Gateways) == 0:
		return nil, errors.New("-gateways: none")
	case c.Mode != "component" && c.Mode != "server":
		return nil, fmt.Errorf("-mode: %q is not component or server", c.Mode)
	case c.Patrons < 1 || c.Operators < 1:
		return nil, errors.New("-patrons and -operators must be at least 1")
	case c.Messages < 0 || c.Burst < 0 || c.Rate <= 0:
		return nil, errors.New("-messages and -burst must be at least 0, -rate more than 0")
	case c.Chats != 0 && c.Chats < c.Patrons:
		return nil, errors.New("-chats must be 0 or at least -patrons")
	case c.Profile != "" && c.OwlgateBin != "":
		return nil, errors.New("-profile builds owlgate itself: leave -owlgate-bin out")
	case c.Patrons > 15000 || c.Chats > 15000:
		return nil, errors.New("-patrons and -chats are at most 15000 (file descriptors)")
	}
	return c, nil
}

// env is what the gateways share: the folder, ngircd, Prosody, the owlgate
// binary.
type env struct {
	start   time.Time
	dir     string
	irc     *ngircd
	prosody *prosody
	owlBin  string
}

type cpuSnap struct{ gateway, prosody, ngircd, bench time.Duration }

func (e *env) cpuSnapshot(gwPID int) cpuSnap {
	s := cpuSnap{gateway: cpuTime(gwPID), ngircd: cpuTime(e.irc.pid()), bench: cpuTime(os.Getpid())}
	if e.prosody != nil {
		s.prosody = cpuTime(e.prosody.pid())
	}
	return s
}

func (a cpuSnap) sub(b cpuSnap) cpuStats {
	return cpuStats{Gateway: (a.gateway - b.gateway).Seconds(), Prosody: (a.prosody - b.prosody).Seconds(),
		Ngircd: (a.ngircd - b.ngircd).Seconds(), Bench: (a.bench - b.bench).Seconds()}
}

// benchmark runs the whole measurement and prints the results to out.
func benchmark(ctx context.Context, cfg *config, out io.Writer) ([]*result, error) {
	e := &env{start: time.Now()}
	var err error
	if cfg.Dir != "" {
		e.dir = cfg.Dir
		err = os.MkdirAll(e.dir, 0o755)
	} else {
		e.dir, err = os.MkdirTemp("", "owlgate-bench-")
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		stopAll()
		if !cfg.Keep && cfg.Dir == "" {
			os.RemoveAll(e.dir)
		} else if !cfg.Quiet {
			fmt.Fprintf(os.Stderr, "owlgate-bench: servers' folders kept in %s\n", e.dir)
		}
	}()
	logf := func(format string, args ...any) {
		if !cfg.Quiet {
			fmt.Fprintf(os.Stderr, "[setup   %6.1fs] %s\n", time.Since(e.start).Seconds(), fmt.Sprintf(format, args...))
		}
	}
	// Check every binary first, so that a missing one is said at once.
	needProsody := cfg.Mode == "component" || contains(cfg.Gateways, "biboumi") || contains(cfg.Gateways, aloneGateway)
	var missing []string
	check := func(name, pkg string) {
		if _, err := lookBinary(name, pkg); err != nil {
			missing = append(missing, err.Error())
		}
	}
	check("ngircd", "ngircd")
	if needProsody {
		check("prosody", "prosody")
	}
	if contains(cfg.Gateways, "biboumi") {
		check("biboumi", "biboumi")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("servers missing:\n  %s\n%w", strings.Join(missing, "\n  "), errMissing)
	}
	if contains(cfg.Gateways, "owlgate") {
		if cfg.OwlgateBin != "" {
			e.owlBin = cfg.OwlgateBin
		} else {
			logf("building owlgate")
			if e.owlBin, err = buildOwlgate(ctx, e.dir, cfg.Profile != ""); err != nil {
				return nil, err
			}
		}
	}
	if e.irc, err = startNgircd(e.dir); err != nil {
		return nil, err
	}
	logf("ngircd (pid %d) on %s", e.irc.pid(), e.irc.Addr)
	if needProsody {
		var users []string
		for i := range cfg.Operators {
			users = append(users, fmt.Sprintf("ogop%d", i), fmt.Sprintf("bbop%d", i))
		}
		if e.prosody, err = startProsody(e.dir, users); err != nil {
			return nil, err
		}
		logf("prosody (pid %d): c2s %s, components %s", e.prosody.pid(), e.prosody.C2SAddr, e.prosody.ComponentAddr)
	}
	var results []*result
	var errs []error
	for _, g := range cfg.Gateways {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var res *result
		var err error
		if g == aloneGateway {
			res, err = runAlone(ctx, cfg, e)
		} else {
			res, err = runGateway(ctx, cfg, e, g)
		}
		if res != nil {
			results = append(results, res)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", g, err))
		}
	}
	if cfg.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(report{Machine: machine(), Command: "go run ./cmd/owlgate-bench " + strings.Join(os.Args[1:], " "), Results: results})
	} else {
		printTable(out, cfg, results)
	}
	return results, errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// runGateway starts one gateway, runs the workload through it and stops it.
func runGateway(ctx context.Context, cfg *config, e *env, gw string) (*result, error) {
	r := &run{cfg: cfg, env: e, gw: gw, base: time.Now(), phases: map[byte]*phase{}}
	mode := cfg.Mode
	if gw == "biboumi" {
		mode = "component"
	}
	r.res = &result{Gateway: gw, Mode: mode, Patrons: cfg.Patrons, Operators: cfg.Operators}
	defer r.close()
	setupStart := time.Now()
	total := max(cfg.Patrons, cfg.Chats)
	if gw == "biboumi" {
		total = cfg.Patrons
	}
	prefix := "ogop"
	if gw == "biboumi" {
		prefix = "bbop"
	}
	for i := range cfg.Operators {
		r.ops = append(r.ops, &operator{idx: i, user: fmt.Sprintf("%s%d@%s", prefix, i, xmppDomain), joined: make(chan struct{}), pace: gw == "owlgate" && mode == "server"})
	}
	for j := range total {
		c := &chat{idx: j, op: r.ops[j%cfg.Operators], opened: make(chan struct{})}
		if gw == "owlgate" {
			c.target = libraryNick
		} else {
			c.target = fmt.Sprintf("bbop%d", j%cfg.Operators)
		}
		r.chats = append(r.chats, c)
	}
	var err error
	if r.ctl, err = dialIRC(ctx, e.irc.Addr, "benchctl"+gw[:3]); err != nil {
		return nil, err
	}
	go r.ctl.serve(func(_ *iconn, l ircLine) { r.onPatron(nil, l) })

	// The gateway, then its operators.
	c2s := ""
	var idlePID int
	switch gw {
	case "owlgate":
		var ops []string
		for _, o := range r.ops {
			ops = append(ops, o.user)
		}
		oo := owlgateOptions{Bin: e.owlBin, Mode: mode, Operators: ops, Prosody: e.prosody, IRCAddr: e.irc.Addr, LogLevel: cfg.OwlgateLog}
		if cfg.Profile != "" {
			ports, err := freePorts(1)
			if err != nil {
				return nil, err
			}
			oo.PprofAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
			r.pprof = oo.PprofAddr
		}
		r.owl, err = startOwlgate(e.dir, oo)
		if err != nil {
			return nil, err
		}
		defer r.owl.stop(30 * time.Second)
		r.logf("owlgate (pid %d) up, %s mode; config %s", r.owl.pid(), mode, r.owl.Config)
		if mode == "server" {
			c2s = r.owl.C2S
		} else {
			c2s = e.prosody.C2SAddr
		}
		idlePID = r.owl.pid()
	case "biboumi":
		r.bib, err = startBiboumi(e.dir, e.prosody)
		if err != nil {
			return nil, err
		}
		defer r.bib.stop(10 * time.Second)
		r.logf("biboumi (pid %d) up", r.bib.pid())
		var jids []string
		for _, o := range r.ops {
			jids = append(jids, o.user)
		}
		if err := r.bib.unthrottle(ctx, jids, e.irc.Port); err != nil {
			return nil, err
		}
		c2s = e.prosody.C2SAddr
		idlePID = r.bib.pid()
	}
	time.Sleep(200 * time.Millisecond)
	r.res.RSSIdleMB = r.measureRSS("idle")
	_ = idlePID

	if err := r.loginOperators(ctx, c2s); err != nil {
		return r.res, err
	}
	r.logf("%d operators logged in", len(r.ops))
	for _, o := range r.ops {
		o.conn.Write([]byte(`<presence/>`))
	}
	switch gw {
	case "owlgate":
		// Component mode: each operator approves the queue's subscription
		// request (onOperator does), and the queue goes online; its IRC
		// account then logs in.
		if err := r.waitNicks(ctx, []string{libraryNick}, 60*time.Second); err != nil {
			return r.res, fmt.Errorf("owlgate's IRC account: %w (log %s)", err, r.owl.Log)
		}
		// The operators' presence reaches the queue after their approval;
		// wait for every operator to have approved (component mode).
		if mode == "component" {
			deadline := time.Now().Add(30 * time.Second)
			for _, o := range r.ops {
				for o.subbed.Load() == 0 && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if o.subbed.Load() == 0 {
					return r.res, fmt.Errorf("operator %s got no subscription request from the queue", o.user)
				}
			}
			time.Sleep(500 * time.Millisecond) // their presence reaches owlgate
		}
	case "biboumi":
		for _, o := range r.ops {
			nick := fmt.Sprintf("bbop%d", o.idx)
			o.conn.Write([]byte(`<presence to='` + benchChannel + `@` + biboumiDomain + `/` + nick + `'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`))
		}
		for _, o := range r.ops {
			select {
			case <-o.joined:
			case <-time.After(60 * time.Second):
				return r.res, fmt.Errorf("operator %s did not join %s through biboumi within 60s (log %s)", o.user, benchChannel, filepath.Join(r.bib.Dir, "biboumi.log"))
			case <-ctx.Done():
				return r.res, ctx.Err()
			}
		}
		r.logf("%d operators joined %s@%s", len(r.ops), benchChannel, biboumiDomain)
	}

	// The patrons and their chats.
	if err := r.connectPatrons(ctx, 0, cfg.Patrons); err != nil {
		return r.res, err
	}
	r.logf("%d patrons connected", cfg.Patrons)
	openStart := time.Now()
	if err := r.openChats(ctx, 0, cfg.Patrons, 32); err != nil {
		return r.res, err
	}
	r.res.OpenSeconds = time.Since(openStart).Seconds()
	r.res.SetupSeconds = time.Since(setupStart).Seconds()
	r.logf("%d chats open in %.1fs", cfg.Patrons, r.res.OpenSeconds)
	time.Sleep(500 * time.Millisecond)
	r.res.RSSChatsMB = r.measureRSS(fmt.Sprintf("%d chats", cfg.Patrons))
	r.res.OpenChats = r.countOpen(ctx)

	if cfg.Messages > 0 {
		r.logf("latency: %d messages each way at %.0f/s each way", cfg.Messages, cfg.Rate)
		if err := r.latency(ctx); err != nil {
			return r.res, err
		}
		r.logf("latency p→o p50 %.2fms p99 %.2fms (%d/%d); o→p p50 %.2fms p99 %.2fms (%d/%d)",
			r.res.P2O.P50, r.res.P2O.P99, r.res.P2O.Received, r.res.P2O.Sent, r.res.O2P.P50, r.res.O2P.P99, r.res.O2P.Received, r.res.O2P.Sent)
	}
	if cfg.Burst > 0 {
		time.Sleep(time.Second)
		for _, kind := range []byte{'B', 'C'} {
			bs, err := r.burst(ctx, kind)
			if err != nil {
				return r.res, err
			}
			if kind == 'B' {
				r.res.BurstP2O = bs
			} else {
				r.res.BurstO2P = bs
			}
			r.logf("burst %s: %d/%d in %.3fs: %.0f msgs/s (durable %d) %s", map[byte]string{'B': "p→o", 'C': "o→p"}[kind],
				bs.Received, bs.Messages, bs.Seconds, bs.PerSecond, bs.Durable, bs.Note)
			time.Sleep(time.Second)
		}
	}
	r.res.RSSAfterMB = r.measureRSS("after the phases")
	if gw == "owlgate" && cfg.Chats > cfg.Patrons {
		r.logf("connecting %d more patrons", cfg.Chats-cfg.Patrons)
		if err := r.connectPatrons(ctx, cfg.Patrons, cfg.Chats); err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("connecting patrons past %d: %v", cfg.Patrons, err))
			return r.res, err
		}
		openStart := time.Now()
		if err := r.openChats(ctx, cfg.Patrons, cfg.Chats, 64); err != nil {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("opening chats past %d: %v", cfg.Patrons, err))
			return r.res, err
		}
		r.logf("%d more chats open in %.1fs", cfg.Chats-cfg.Patrons, time.Since(openStart).Seconds())
		time.Sleep(2 * time.Second)
		r.res.ManyChats = cfg.Chats
		r.res.RSSManyMB = r.measureRSS(fmt.Sprintf("%d chats", cfg.Chats))
		r.res.ManyOpen = r.countOpen(ctx)
	}
	return r.res, nil
}

func machine() string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				_, cpu, _ = strings.Cut(l, ":")
				cpu = strings.TrimSpace(cpu)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s, GOMAXPROCS %d", runtime.NumCPU(), cpu, runtime.Version(), runtime.GOMAXPROCS(0))
}
