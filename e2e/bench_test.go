package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/owlgate/owlgate/internal/rawxmpp"
)

// End-to-end speed and memory of the operator link (issue #3): a whole
// owlgate, operators on TLS connections to its embedded server, patrons
// on the loopback network. Figures and commands are in BENCHMARKS.md.
//
// Every message crosses the store: a patron's line is durable (SQLite, WAL,
// synchronous=FULL, group commit) before Say returns, and an operator's
// message is recorded in the outbox and durable before the adapter sends it
// to the patron, then marked done.
//
// The embedded server lets each connection send at most 50 stanzas a
// second (burst 200) and closes a stream that sends more; the daemon does
// not make this configurable. No person types that fast, so the load
// comes from many operators, each sending at most benchOpRate messages a
// second, as a library's staff would, only faster.

const (
	benchOpRate  = 45.0             // messages a second per operator, under the server's 50
	benchOpBurst = 4                // messages an operator may send at once
	benchWindow  = 16               // messages an operator may have unanswered
	benchWait    = 15 * time.Second // a liveness bound in TestBenchSetup
)

// TestBenchSetup checks the benchmarks' harness: two operators each take
// a chat with their own patron, and one message goes each way.
func TestBenchSetup(t *testing.T) {
	d := benchStart(t, benchOptions{Operators: 2})
	chats := benchOpenAll(t, d, 2, 2, false)
	ctx, cancel := context.WithTimeout(context.Background(), benchWait)
	defer cancel()
	for _, c := range chats {
		if err := c.Op.Write(rawxmpp.Message(nil, c.Guest, "m1")); err != nil {
			t.Fatal(err)
		}
		text, err := benchNextText(ctx, c.Patron, c.Wake)
		if err != nil || text != "m1" {
			t.Fatalf("patron %d: got %q, %v; want m1", c.I, text, err)
		}
		if err := c.Patron.Say(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
		c.Op.SetDeadline(time.Now().Add(benchWait))
		for {
			st, err := c.Op.Next()
			if err != nil {
				t.Fatalf("op%d: %v", c.I, err)
			}
			if st.Name != "message" {
				continue
			}
			if rawxmpp.Bare(st.From) != c.Guest || st.Body != "r1" {
				t.Fatalf("op%d: unexpected message %s", c.I, st.Raw)
			}
			break
		}
	}
}

// benchProfileEnv names a file to write a CPU profile of the measured
// seconds of BenchmarkOperatorPatronRoundTrip to (-cpuprofile would also
// profile the logins); the sub-benchmark's name is added to it.
const benchProfileEnv = "OWLGATE_BENCH_CPUPROFILE"

func benchProfile(b *testing.B) (stop func()) {
	path := os.Getenv(benchProfileEnv)
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path + "." + strings.ReplaceAll(b.Name(), "/", "."))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// benchCPU is the CPU time this process has used (user + system).
func benchCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOperatorPatronRoundTrip: 1,000 operators each hold a chat with
// their own patron. Each operator sends messages to its guest JID, keeping
// up to benchWindow unanswered, at most benchOpRate a second; the patron
// answers each (Next, then Say); the operator reads the answer. After a
// second's warm-up, the messages received on both sides during five
// seconds are counted: msgs/s is messages routed, both directions
// together; ns/op is per round trip. It runs once whatever b.N.
func BenchmarkOperatorPatronRoundTrip(b *testing.B) {
	for _, plain := range []bool{false, true} {
		name := "starttls"
		if plain {
			name = "plaintext"
		}
		b.Run(name, func(b *testing.B) { benchRoundTrip(b, 1000, plain, time.Second, 5*time.Second) })
	}
}

func benchRoundTrip(b *testing.B, ops int, plain bool, warm, measure time.Duration) {
	d := benchStart(b, benchOptions{Operators: ops, Plaintext: plain})
	chats := benchOpenAll(b, d, ops, 32, plain)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		answers, received, sentAll atomic.Int64 // at the operators, at the patrons, sent by operators
		others                     atomic.Int64 // messages the operators did not expect
		otherOnce                  sync.Once
		otherRaw                   string
		stop                       = make(chan struct{})
		writers, rest              sync.WaitGroup
	)
	acked := make([]atomic.Int64, ops) // answers each operator read
	ackc := make([]chan struct{}, ops) // signalled at each answer
	for i := range ackc {
		ackc[i] = make(chan struct{}, 1)
	}
	b.ResetTimer()
	for _, c := range chats {
		rest.Go(func() { // the operator reads answers
			for {
				st, err := c.Op.Next()
				if err != nil {
					return
				}
				if st.Name != "message" {
					continue
				}
				if rawxmpp.Bare(st.From) == c.Guest && strings.HasPrefix(st.Body, "r") {
					acked[c.I].Add(1)
					select {
					case ackc[c.I] <- struct{}{}:
					default:
					}
					answers.Add(1)
					continue
				}
				others.Add(1)
				otherOnce.Do(func() { otherRaw = st.Raw })
			}
		})
		rest.Go(func() { // the patron answers
			var texts []string
			for {
				select {
				case <-c.Wake:
				case <-ctx.Done():
					return
				}
				texts = benchDrain(c.Patron, texts[:0])
				for _, t := range texts {
					received.Add(1)
					if err := c.Patron.Say(ctx, "r"+t); err != nil {
						return
					}
				}
			}
		})
		writers.Go(func() { // the operator writes
			timer := time.NewTimer(time.Hour)
			defer timer.Stop()
			tokens, last := float64(benchOpBurst), time.Now()
			var sent int64
			var buf []byte
			defer func() { sentAll.Add(sent) }()
			for {
				now := time.Now()
				tokens = min(benchOpBurst, tokens+now.Sub(last).Seconds()*benchOpRate)
				last = now
				room := benchWindow - int(sent-acked[c.I].Load())
				if n := min(int(tokens), room); n > 0 {
					buf = buf[:0]
					for k := range n {
						buf = rawxmpp.Message(buf, c.Guest, "m"+strconv.FormatInt(sent+int64(k), 10))
					}
					if err := c.Op.Write(buf); err != nil {
						b.Errorf("op%d: %v", c.I, err)
						return
					}
					sent += int64(n)
					tokens -= float64(n)
					continue
				}
				if room <= 0 { // wait for an answer
					select {
					case <-ackc[c.I]:
					case <-stop:
						return
					}
					continue
				}
				timer.Reset(time.Duration((1 - tokens) / benchOpRate * float64(time.Second)))
				select { // wait for a token
				case <-timer.C:
				case <-stop:
					return
				}
			}
		})
	}
	time.Sleep(warm)
	stopProfile := benchProfile(b)
	c0, cpu0, t0 := answers.Load()+received.Load(), benchCPU(), time.Now()
	time.Sleep(measure)
	c1, cpu1, t1 := answers.Load()+received.Load(), benchCPU(), time.Now()
	stopProfile()
	close(stop)
	writers.Wait()
	b.StopTimer()
	// Every message sent gets its answer.
	deadline := time.Now().Add(time.Minute)
	for answers.Load() < sentAll.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if a, s := answers.Load(), sentAll.Load(); a != s {
		b.Errorf("%d messages sent, %d answered", s, a)
	}
	if n := others.Load(); n > 0 {
		b.Errorf("%d unexpected messages, the first: %s", n, otherRaw)
	}
	cancel()
	for _, c := range chats {
		c.Op.Close()
	}
	rest.Wait()
	el := t1.Sub(t0).Seconds()
	rate := float64(c1-c0) / el
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(2e9/rate, "ns/op")
	b.ReportMetric(float64(cpu1-cpu0)/float64(t1.Sub(t0)), "cpus")
	b.ReportMetric(float64(ops), "operators")
}

// BenchmarkLatencyAt1000: 50 operators hold a chat each; every millisecond
// one of them (in turn) sends its patron a message, which the patron
// answers at once: 1,000 messages a second from operators to patrons and
// 1,000 back, for five seconds. Reports the latency of each direction:
// operator→patron from the operator's write to the patron's Next, and
// patron→operator from the patron's Say to the operator reading the
// message. It runs once whatever b.N.
func BenchmarkLatencyAt1000(b *testing.B) {
	const (
		ops      = 50
		rate     = 1000
		duration = 5 * time.Second
		total    = int(rate * duration / time.Second)
	)
	d := benchStart(b, benchOptions{Operators: ops})
	chats := benchOpenAll(b, d, ops, 16, false)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sendAt := make([]atomic.Int64, total) // unix nanoseconds
	sayAt := make([]atomic.Int64, total)
	toPatron := make([][]time.Duration, ops)
	toOperator := make([][]time.Duration, ops)
	var readers, patrons sync.WaitGroup
	var answered atomic.Int64
	allAnswered := make(chan struct{})
	for _, c := range chats {
		readers.Go(func() {
			for {
				st, err := c.Op.Next()
				if err != nil {
					return
				}
				if st.Name != "message" || rawxmpp.Bare(st.From) != c.Guest || !strings.HasPrefix(st.Body, "r") {
					continue
				}
				now := time.Now().UnixNano()
				seq, err := strconv.Atoi(st.Body[1:])
				if err != nil || seq >= total {
					b.Errorf("op%d: answer %q", c.I, st.Body)
					continue
				}
				toOperator[c.I] = append(toOperator[c.I], time.Duration(now-sayAt[seq].Load()))
				if answered.Add(1) == int64(total) {
					close(allAnswered)
				}
			}
		})
		patrons.Go(func() {
			var texts []string
			for {
				select {
				case <-c.Wake:
				case <-ctx.Done():
					return
				}
				texts = benchDrain(c.Patron, texts[:0])
				now := time.Now().UnixNano()
				for _, t := range texts {
					seq, err := strconv.Atoi(t[1:])
					if err != nil || seq >= total {
						b.Errorf("patron %d: message %q", c.I, t)
						continue
					}
					toPatron[c.I] = append(toPatron[c.I], time.Duration(now-sendAt[seq].Load()))
					sayAt[seq].Store(time.Now().UnixNano())
					if err := c.Patron.Say(ctx, "r"+t[1:]); err != nil {
						return
					}
				}
			}
		})
	}
	b.ResetTimer()
	interval := time.Second / rate
	start := time.Now()
	var buf []byte
	for seq := range total {
		if w := time.Until(start.Add(time.Duration(seq) * interval)); w > 0 {
			time.Sleep(w)
		}
		c := chats[seq%ops]
		buf = rawxmpp.Message(buf[:0], c.Guest, "m"+strconv.Itoa(seq))
		sendAt[seq].Store(time.Now().UnixNano())
		if err := c.Op.Write(buf); err != nil {
			b.Fatalf("op%d: %v", c.I, err)
		}
	}
	sent := time.Since(start)
	select {
	case <-allAnswered:
	case <-time.After(30 * time.Second):
		b.Errorf("%d of %d messages answered", answered.Load(), total)
	}
	b.StopTimer()
	cancel()
	patrons.Wait()
	for _, c := range chats {
		c.Op.Close()
	}
	readers.Wait()
	report := func(name string, per [][]time.Duration) {
		all := slices.Concat(per...)
		if len(all) == 0 {
			return
		}
		slices.Sort(all)
		q := func(p float64) float64 {
			return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1e6
		}
		b.ReportMetric(q(0.50), name+"-p50-ms")
		b.ReportMetric(q(0.99), name+"-p99-ms")
		b.ReportMetric(float64(all[len(all)-1])/1e6, name+"-max-ms")
	}
	report("op→patron", toPatron)
	report("patron→op", toOperator)
	b.ReportMetric(float64(total)/sent.Seconds(), "sent/s")
	b.ReportMetric(0, "ns/op")
}

// The memory benchmark runs owlgate in a child process (this test binary,
// with benchChildEnv set to the number of operators), so that the RSS
// measured is owlgate's alone. The child prints its XMPP address, answers
// "stats" lines with its Go memory statistics, and stops when its stdin
// closes.
const (
	benchChildEnv       = "OWLGATE_BENCH_DAEMON"
	benchChildDirEnv    = "OWLGATE_BENCH_DATA_DIR"
	benchHeapProfileEnv = "OWLGATE_BENCH_HEAPPROFILE" // a file for the child's heap profile, with 1,000 operators
)

func init() {
	if n := os.Getenv(benchChildEnv); n != "" {
		os.Exit(benchChild(n))
	}
}

// benchChild runs owlgate with the options in arg: the number of
// operators, then ",library" for QueuePerLibrary.
func benchChild(arg string) int {
	n, shape, _ := strings.Cut(arg, ",")
	ops, err := strconv.Atoi(n)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	d, err := startBenchDaemon(os.Getenv(benchChildDirEnv), benchOptions{Operators: ops, QueuePerLibrary: shape == "library"}, benchLog())
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println(d.Addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		cmd, arg, _ := strings.Cut(in.Text(), " ")
		switch cmd {
		case "stats":
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			fmt.Printf("heap-inuse=%.1fMB heap-idle-unreleased=%.1fMB stacks=%.1fMB other-sys=%.1fMB sys=%.1fMB goroutines=%d\n",
				benchMB(m.HeapInuse), benchMB(m.HeapIdle-m.HeapReleased), benchMB(m.StackSys),
				benchMB(m.Sys-m.HeapSys-m.StackSys), benchMB(m.Sys), runtime.NumGoroutine())
		case "free": // return what the garbage collector can to the system
			debug.FreeOSMemory()
			fmt.Println("ok")
		case "heapprofile":
			f, err := os.Create(arg)
			if err == nil {
				err = pprof.WriteHeapProfile(f)
				f.Close()
			}
			fmt.Println("ok", err)
		}
	}
	if err := d.stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func benchMB(n uint64) float64 { return float64(n) / (1 << 20) }

// benchRSS returns a process's resident set size in bytes (Linux).
func benchRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// BenchmarkOperatorsMemory connects 1,000 operators (STARTTLS, PLAIN,
// bound, roster fetched, available) to an owlgate in a child process, 32
// logins at a time, and reports its RSS. The operators are in libraries
// of 10 colleagues. In queue-per-operator each staffs a queue of their own
// with one loop account (1,000 queues and accounts, each account logged
// in once its queue is online); in queue-per-library the 10 staff their
// library's one queue (100 queues and accounts). It runs once whatever
// b.N.
func BenchmarkOperatorsMemory(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	b.Run("queue-per-operator", func(b *testing.B) { benchMemory(b, "") })
	b.Run("queue-per-library", func(b *testing.B) { benchMemory(b, ",library") })
}

func benchMemory(b *testing.B, shape string) {
	const n = 1000
	cmd := exec.Command(os.Args[0], "-test.run=^$", "-test.bench=^$")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+strconv.Itoa(n)+shape, benchChildDirEnv+"="+b.TempDir(),
		benchPasswordEnv+"="+benchPassword)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("owlgate child: %v", err)
		}
	}()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || strings.HasPrefix(line, "error") {
		b.Fatalf("owlgate child: %q %v", line, err)
	}
	addr := strings.TrimSpace(line)
	ask := func(cmd string) string {
		fmt.Fprintln(stdin, cmd)
		s, _ := out.ReadString('\n')
		return strings.TrimSpace(s)
	}
	stats := func() string { return ask("stats") }
	time.Sleep(200 * time.Millisecond)
	idle, err := benchRSS(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	idleStats := stats()

	b.ResetTimer()
	start := time.Now()
	conns := make([]*rawxmpp.Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conns[i], errs[i] = rawxmpp.Dial(addr, fmt.Sprintf("op%d@localhost", i), benchPassword, rawxmpp.Options{StartTLS: true, Session: true})
		})
	}
	wg.Wait()
	ramp := time.Since(start)
	b.StopTimer()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	// Let the queues' accounts log in and the presence settle.
	time.Sleep(time.Second)
	rss, err := benchRSS(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("owlgate idle: %s", idleStats)
	b.Logf("with %d operators: %s", n, stats())
	if path := os.Getenv(benchHeapProfileEnv); path != "" {
		path += "." + strings.ReplaceAll(b.Name(), "/", ".")
		b.Logf("heap profile %s: %s", path, ask("heapprofile "+path))
	}
	// What the process shrinks to once the runtime has returned the
	// garbage of the logins to the system (its scavenger does it over
	// minutes; FreeOSMemory at once).
	ask("free")
	time.Sleep(200 * time.Millisecond)
	settled, err := benchRSS(cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
	b.ReportMetric(float64(settled)/(1<<20), "RSS-freed-MB")
	b.ReportMetric(float64(idle)/(1<<20), "idle-RSS-MB")
	b.ReportMetric(float64(rss-idle)/n/1024, "KB/operator")
	b.ReportMetric(ramp.Seconds(), "login-s")
	b.ReportMetric(0, "ns/op")
}
