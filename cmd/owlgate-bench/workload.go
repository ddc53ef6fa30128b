package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/owlgate/owlgate/internal/rawxmpp"
)

// The workload, the same for every gateway: N patrons on IRC (raw clients,
// connected a few at a time), each chatting with one of M operators on
// XMPP (raw clients). Chat j belongs to operator j mod M.
//
// Every message's text starts with a letter naming the phase and the
// message's number, then a fixed filler (about 60 bytes in all):
//
//	H<j>  patron j's first message (owlgate offers it to every operator;
//	      operator j mod M answers it)
//	T<j>  the operator's answer, which takes the chat in owlgate
//	L<i>  latency, patron → operator
//	M<i>  latency, operator → patron
//	B<i>  burst, patron → operator
//	C<i>  burst, operator → patron
//
// Anything else (owlgate's notes and hints, biboumi's notices) is ignored.

// debug prints every stanza and IRC message the clients receive.
var debug = os.Getenv("OWLGATE_BENCH_DEBUG") != ""

const filler = " the quick brown fox jumps over the lazy dog 0123456789"

type chat struct {
	idx    int
	patron *iconn
	op     *operator
	target string        // the nick patron writes to
	peer   atomic.Value  // string: the JID the operator writes to
	opened chan struct{} // closed when the patron got T<idx>
	once   sync.Once
}

func (c *chat) peerJID() string { s, _ := c.peer.Load().(string); return s }

type operator struct {
	idx    int
	user   string // bare JID
	conn   *rawxmpp.Conn
	joined chan struct{} // biboumi: the room's self-presence arrived
	jonce  sync.Once
	subbed atomic.Int64 // owlgate component: subscription requests approved

	// Server mode: the embedded server closes a stream that sends more
	// than 50 stanzas a second (burst 200), so writes are paced.
	pace   bool
	pmu    sync.Mutex
	tokens float64
	last   time.Time
}

// take waits for room to send n stanzas (only when pacing).
func (o *operator) take(ctx context.Context, n int) error {
	if !o.pace {
		return nil
	}
	const rate, burst = 45.0, 150.0
	o.pmu.Lock()
	defer o.pmu.Unlock()
	for {
		now := time.Now()
		if o.last.IsZero() {
			o.tokens, o.last = burst, now
		}
		o.tokens = min(burst, o.tokens+now.Sub(o.last).Seconds()*rate)
		o.last = now
		if o.tokens >= float64(n) {
			o.tokens -= float64(n)
			return nil
		}
		wait := time.Duration((float64(n) - o.tokens) / rate * float64(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// phase counts the messages of one kind as they arrive.
type phase struct {
	kind     byte
	total    int
	sentAt   []atomic.Int64 // ns since base; 0: not sent
	latency  []atomic.Int64 // ns; 0: not received
	received atomic.Int64
	dups     atomic.Int64
	done     chan struct{}
	once     sync.Once
	lastAt   atomic.Int64
}

func newPhase(kind byte, total int) *phase {
	return &phase{kind: kind, total: total, sentAt: make([]atomic.Int64, total), latency: make([]atomic.Int64, total), done: make(chan struct{})}
}

func (p *phase) arrived(seq int, now int64) {
	if seq < 0 || seq >= p.total {
		return
	}
	d := now - p.sentAt[seq].Load()
	if d <= 0 {
		d = 1
	}
	if !p.latency[seq].CompareAndSwap(0, d) {
		p.dups.Add(1)
		return
	}
	p.lastAt.Store(now)
	if p.received.Add(1) == int64(p.total) {
		p.once.Do(func() { close(p.done) })
	}
}

// stats is the latency distribution of a phase, in milliseconds.
func (p *phase) stats() latencyStats {
	var ds []int64
	for i := range p.latency {
		if d := p.latency[i].Load(); d > 0 {
			ds = append(ds, d)
		}
	}
	s := latencyStats{Sent: p.total, Received: len(ds)}
	if len(ds) == 0 {
		return s
	}
	slices.Sort(ds)
	q := func(f float64) float64 { return float64(ds[min(len(ds)-1, int(f*float64(len(ds))))]) / 1e6 }
	s.P50, s.P90, s.P99, s.Max = q(0.50), q(0.90), q(0.99), float64(ds[len(ds)-1])/1e6
	return s
}

// parseMsg reads "<letter><number>..." from a text.
func parseMsg(text string) (byte, int, bool) {
	if len(text) < 2 || text[0] < 'A' || text[0] > 'Z' || text[1] < '0' || text[1] > '9' {
		return 0, 0, false
	}
	end := 1
	for end < len(text) && text[end] >= '0' && text[end] <= '9' {
		end++
	}
	n, err := strconv.Atoi(text[1:end])
	return text[0], n, err == nil
}

func msgText(kind byte, n int) string {
	return string(kind) + strconv.Itoa(n) + filler
}

// run is one gateway's measurement.
type run struct {
	cfg     *config
	env     *env
	gw      string // owlgate or biboumi
	base    time.Time
	ops     []*operator
	chats   []*chat
	ctl     *iconn // the bench's own IRC connection (ISON)
	isonMu  sync.Mutex
	isonGot string

	owl   *owlgate
	bib   *biboumi
	pprof string // owlgate's pprof address, when profiling

	phMu   sync.Mutex
	phases map[byte]*phase

	res *result
}

func (r *run) now() int64 { return int64(time.Since(r.base)) }

func (r *run) phase(kind byte) *phase {
	r.phMu.Lock()
	defer r.phMu.Unlock()
	return r.phases[kind]
}

func (r *run) setPhase(p *phase) {
	r.phMu.Lock()
	r.phases[p.kind] = p
	r.phMu.Unlock()
}

func (r *run) logf(format string, args ...any) {
	if !r.cfg.Quiet {
		fmt.Fprintf(os.Stderr, "[%s %6.1fs] %s\n", r.gw, time.Since(r.env.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (r *run) pid() int {
	if r.owl != nil {
		return r.owl.pid()
	}
	return r.bib.pid()
}

// onOperator handles every stanza an operator receives.
func (r *run) onOperator(o *operator, st rawxmpp.Stanza) {
	if debug {
		fmt.Fprintf(os.Stderr, "op%d <- %s\n", o.idx, st.Raw)
	}
	switch st.Name {
	case "iq":
		if (st.Type == "get" || st.Type == "set") && st.ID != "" {
			o.conn.Write([]byte(`<iq type='result' id='` + xmlAttr(st.ID) + `' to='` + xmlAttr(st.From) + `'/>`))
		}
	case "presence":
		switch {
		case st.Type == "subscribe":
			o.conn.Write([]byte(`<presence type='subscribed' to='` + xmlAttr(rawxmpp.Bare(st.From)) + `'/>`))
			o.subbed.Add(1)
		case r.gw == "biboumi" && strings.HasPrefix(st.From, benchChannel+"@") && strings.Contains(st.Raw, "code='110'"):
			o.jonce.Do(func() { close(o.joined) })
		}
	case "message":
		kind, n, ok := parseMsg(st.Body)
		if !ok {
			return
		}
		now := r.now()
		switch kind {
		case 'H':
			if n < 0 || n >= len(r.chats) || r.chats[n].op != o {
				return // offered to every operator; not this one's
			}
			c := r.chats[n]
			if c.peerJID() != "" {
				return
			}
			peer := rawxmpp.Bare(st.From)
			c.peer.Store(peer)
			go func() {
				if o.take(context.Background(), 1) == nil {
					o.conn.Write(rawxmpp.Message(nil, peer, msgText('T', n)))
				}
			}()
		case 'L', 'B':
			if p := r.phase(kind); p != nil {
				p.arrived(n, now)
			}
		}
	}
}

// onPatron handles every PRIVMSG, NOTICE and ISON reply a patron (or the
// control connection) receives.
func (r *run) onPatron(c *chat, l ircLine) {
	if debug {
		fmt.Fprintf(os.Stderr, "patron %v <- %s %s %q\n", c != nil && c.patron != nil, l.Nick, l.Command, l.Params)
	}
	if l.Command == "303" {
		r.isonMu.Lock()
		r.isonGot = l.text()
		r.isonMu.Unlock()
		return
	}
	kind, n, ok := parseMsg(l.text())
	if !ok || c == nil {
		return
	}
	now := r.now()
	switch kind {
	case 'T':
		if n == c.idx {
			c.once.Do(func() { close(c.opened) })
		}
	case 'M', 'C':
		if p := r.phase(kind); p != nil {
			p.arrived(n, now)
		}
	}
}

func xmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&apos;", "<", "&lt;").Replace(s)
}

// connectPatrons connects patrons [from, to), conc at a time (ngircd's
// listen backlog is 10).
func (r *run) connectPatrons(ctx context.Context, from, to int) error {
	const conc = 8
	errs := make([]error, to-from)
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var failed atomic.Bool
	for j := from; j < to && !failed.Load(); j++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c := r.chats[j]
			nick := r.patronNick(j)
			ic, err := dialIRC(ctx, r.env.irc.Addr, nick)
			if err != nil {
				errs[j-from] = err
				failed.Store(true)
				return
			}
			c.patron = ic
			go ic.serve(func(_ *iconn, l ircLine) { r.onPatron(c, l) })
		})
		if (j-from+1)%1000 == 0 {
			r.logf("%d patrons connected", j-from+1)
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *run) patronNick(j int) string {
	if r.gw == "biboumi" {
		return "bpat" + strconv.Itoa(j)
	}
	return "opat" + strconv.Itoa(j)
}

// loginOperators logs the operators in, 16 at a time, and starts their
// readers.
func (r *run) loginOperators(ctx context.Context, addr string) error {
	errs := make([]error, len(r.ops))
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i, o := range r.ops {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := rawxmpp.Dial(addr, o.user, operatorPW, rawxmpp.Options{})
			if err != nil {
				errs[i] = err
				return
			}
			o.conn = c
			go func() {
				for {
					st, err := c.Next()
					if err != nil {
						return
					}
					r.onOperator(o, st)
				}
			}()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitNicks polls ISON until every nick is on the network.
func (r *run) waitNicks(ctx context.Context, nicks []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		r.ctl.Send("ISON " + strings.Join(nicks, " "))
		time.Sleep(100 * time.Millisecond)
		r.isonMu.Lock()
		got := strings.Fields(r.isonGot)
		r.isonMu.Unlock()
		if len(got) == len(nicks) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%v not on IRC within %v (ISON answered %v)", nicks, timeout, got)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// openChats has patrons [from, to) write H<j> and waits until each got
// its operator's T<j>, with window chats in flight.
func (r *run) openChats(ctx context.Context, from, to, window int) error {
	sem := make(chan struct{}, window)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for j := from; j < to; j++ {
		if firstErr.Load() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			c := r.chats[j]
			if err := c.patron.Write(appendPrivmsg(nil, c.target, msgText('H', j))); err != nil {
				firstErr.CompareAndSwap(nil, fmt.Errorf("patron %d: %w", j, err))
				return
			}
			select {
			case <-c.opened:
			case <-time.After(60 * time.Second):
				firstErr.CompareAndSwap(nil, fmt.Errorf("chat %d: no answer from op %d within 60s (peer %q)", j, c.op.idx, c.peerJID()))
			case <-ctx.Done():
			}
		})
		if (j-from+1)%1000 == 0 {
			r.logf("%d chats opened", j-from+1)
		}
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return err
	}
	return ctx.Err()
}

// latency sends cfg.Messages messages each way, paced at cfg.Rate a second
// each way, patrons and operators taking turns through the chats.
func (r *run) latency(ctx context.Context) error {
	n, rate := r.cfg.Messages, r.cfg.Rate
	p2o, o2p := newPhase('L', n), newPhase('M', n)
	r.setPhase(p2o)
	r.setPhase(o2p)
	chats := r.chats[:r.cfg.Patrons]
	defer r.profile("latency", int(float64(n)/rate)+1)()
	interval := time.Duration(float64(time.Second) / rate)
	start := time.Now()
	var buf []byte
	half := len(chats) / 2
	for i := range n {
		if w := time.Until(start.Add(time.Duration(i) * interval)); w > 0 {
			select {
			case <-time.After(w):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pc := chats[i%len(chats)]
		buf = appendPrivmsg(buf[:0], pc.target, msgText('L', i))
		p2o.sentAt[i].Store(r.now())
		if err := pc.patron.Write(buf); err != nil {
			return fmt.Errorf("patron %d: %w", pc.idx, err)
		}
		oc := chats[(i+half)%len(chats)]
		if err := oc.op.take(ctx, 1); err != nil {
			return err
		}
		buf = rawxmpp.Message(buf[:0], oc.peerJID(), msgText('M', i))
		o2p.sentAt[i].Store(r.now())
		if err := oc.op.conn.Write(buf); err != nil {
			return fmt.Errorf("operator %d: %w", oc.op.idx, err)
		}
	}
	sent := time.Since(start)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, p := range []*phase{p2o, o2p} {
		select {
		case <-p.done:
		case <-wctx.Done():
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r.res.P2O, r.res.O2P = p2o.stats(), o2p.stats()
	r.res.LatencyRate = float64(n) / sent.Seconds()
	return nil
}

// burst sends cfg.Burst messages one way as fast as the senders can write
// them: each patron (or operator) writes its share in one go, all at once.
// It measures from the start to the arrival of the last message.
func (r *run) burst(ctx context.Context, kind byte) (burstStats, error) {
	n := r.cfg.Burst
	p := newPhase(kind, n)
	r.setPhase(p)
	chats := r.chats[:r.cfg.Patrons]
	// Each sender's share, in one buffer.
	type share struct {
		write func([]byte) error
		buf   []byte
		offs  []int // where each message starts in buf
		seqs  []int
		op    *operator
	}
	shares := map[any]*share{}
	var order []*share
	for i := range n {
		c := chats[i%len(chats)]
		var key any = c.patron
		if kind == 'C' {
			key = c.op
		}
		s := shares[key]
		if s == nil {
			s = &share{}
			if kind == 'C' {
				s.write, s.op = c.op.conn.Write, c.op
			} else {
				s.write = c.patron.Write
			}
			shares[key] = s
			order = append(order, s)
		}
		s.offs = append(s.offs, len(s.buf))
		if kind == 'C' {
			s.buf = rawxmpp.Message(s.buf, c.peerJID(), msgText(kind, i))
		} else {
			s.buf = appendPrivmsg(s.buf, c.target, msgText(kind, i))
		}
		s.seqs = append(s.seqs, i)
	}
	defer r.profile("burst-"+string(kind), 4)()
	cpu0 := r.env.cpuSnapshot(r.pid())
	start := r.now()
	for _, s := range order {
		for _, seq := range s.seqs {
			p.sentAt[seq].Store(start)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(order))
	for i, s := range order {
		wg.Go(func() {
			if s.op != nil && s.op.pace {
				// Paced: ten stanzas at a time.
				for k := 0; k < len(s.seqs); k += 10 {
					m := min(10, len(s.seqs)-k)
					if err := s.op.take(ctx, m); err != nil {
						errs[i] = err
						return
					}
					end := len(s.buf)
					if k+m < len(s.offs) {
						end = s.offs[k+m]
					}
					if err := s.write(s.buf[s.offs[k]:end]); err != nil {
						errs[i] = err
						return
					}
				}
				return
			}
			errs[i] = s.write(s.buf)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return burstStats{}, err
	}
	writeDone := r.now()
	var timedOut bool
	select {
	case <-p.done:
	case <-time.After(r.cfg.BurstTimeout):
		timedOut = true
	case <-ctx.Done():
		return burstStats{}, ctx.Err()
	}
	end := p.lastAt.Load()
	cpu1 := r.env.cpuSnapshot(r.pid())
	bs := burstStats{Messages: n, Received: int(p.received.Load()), Senders: len(order)}
	if end > start {
		bs.Seconds = float64(end-start) / 1e9
		bs.PerSecond = float64(bs.Received) / bs.Seconds
	}
	bs.WriteSeconds = float64(writeDone-start) / 1e9
	bs.CPU = cpu1.sub(cpu0)
	st := p.stats()
	bs.P50, bs.P99 = st.P50, st.P99
	if timedOut {
		bs.Note = fmt.Sprintf("%d of %d arrived within %v", bs.Received, n, r.cfg.BurstTimeout)
	}
	if d := p.dups.Load(); d > 0 {
		bs.Note = strings.TrimSpace(bs.Note + fmt.Sprintf(" %d duplicates", d))
	}
	if r.owl != nil {
		// Every message is in owlgate's store (durable before it was
		// passed on); count them.
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := r.owl.countLines(ctx, string(kind))
			if err != nil {
				bs.Note = strings.TrimSpace(bs.Note + " store: " + err.Error())
				break
			}
			bs.Durable = got
			if got >= n || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	} else {
		bs.Durable = -1
	}
	return bs, nil
}

func (r *run) measureRSS(label string) float64 {
	b, err := rss(r.pid())
	if err != nil {
		r.logf("rss: %v", err)
		return 0
	}
	mb := float64(b) / (1 << 20)
	r.logf("%s: RSS %.1f MB", label, mb)
	return mb
}

func (r *run) close() {
	for _, c := range r.chats {
		if c.patron != nil {
			c.patron.Close()
		}
	}
	for _, o := range r.ops {
		if o.conn != nil {
			o.conn.Close()
		}
	}
	if r.ctl != nil {
		r.ctl.Close()
	}
}

// profile starts a CPU profile of owlgate for secs seconds, written to
// cfg.Profile/owlgate-<name>.pprof; wait for the returned function.
func (r *run) profile(name string, secs int) (wait func()) {
	if r.pprof == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", r.pprof, secs))
		if err != nil {
			r.logf("profile %s: %v", name, err)
			return
		}
		defer resp.Body.Close()
		if err := os.MkdirAll(r.cfg.Profile, 0o755); err != nil {
			r.logf("profile %s: %v", name, err)
			return
		}
		path := filepath.Join(r.cfg.Profile, "owlgate-"+name+".pprof")
		f, err := os.Create(path)
		if err != nil {
			r.logf("profile %s: %v", name, err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			r.logf("profile %s: %v", name, err)
			return
		}
		r.logf("CPU profile: %s", path)
	}()
	time.Sleep(50 * time.Millisecond) // the profile has started
	return func() { <-done }
}

// countOpen is the number of chats owlgate holds open (its store), or -1.
func (r *run) countOpen(ctx context.Context) int {
	if r.owl == nil {
		return -1
	}
	n, err := r.owl.openChats(ctx)
	if err != nil {
		r.logf("open chats: %v", err)
		return -1
	}
	r.logf("owlgate's store holds %d chats open", n)
	return n
}
