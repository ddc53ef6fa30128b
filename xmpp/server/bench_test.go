package server

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/owlgate/owlgate/xmpp"
)

// Benchmarks. Logins use PLAIN over STARTTLS from raw clients; the SCRAM
// iteration count is lowered (Config.ScramIterations) so that deriving
// the credentials of a thousand operators does not dominate. Rate limits
// are off (Config.Rate < 0): one connection sends far more than an
// operator types.

// benchDir is a directory where nobody has colleagues.
type benchDir struct{}

func (benchDir) Operator(jid.JID) (string, bool)  { return "", true }
func (benchDir) Roster(jid.JID) []xmpp.RosterItem { return nil }

func benchUsers(n int) map[string]string {
	u := make(map[string]string, n)
	for i := range n {
		u[fmt.Sprintf("op%d@localhost", i)] = "pw"
	}
	return u
}

func benchServer(b *testing.B, h *recHandler, users int) *Server {
	return startServer(b, h, func(c *Config) {
		c.Users = benchUsers(users)
		c.Directory = benchDir{}
		c.ScramIterations = 16
		c.Rate = -1
	})
}

// benchLogin logs in op<i> and sends initial presence, and returns once
// the server has processed it (a ping round trip).
func benchLogin(tb testing.TB, addr string, i int) *rawClient {
	c, err := dialRaw(tb, addr, fmt.Sprintf("op%d@localhost", i), "pw", "bench", true)
	if err != nil {
		tb.Fatalf("login op%d: %v", i, err)
	}
	c.write(`<presence/><iq type='get' id='sync' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		st, err := c.stanza()
		if err != nil {
			tb.Fatalf("op%d: %v", i, err)
		}
		if st.ID == "sync" {
			return c
		}
	}
}

// countMessages reads conn until want messages arrived, counting closing
// tags in the byte stream, and adds to total.
func countMessages(r io.Reader, want int64, total *atomic.Int64, done func()) {
	defer done()
	buf := make([]byte, 64<<10)
	tag := []byte("</message>")
	var carry []byte
	var got int64
	for got < want {
		n, err := r.Read(buf)
		if n > 0 {
			chunk := append(carry, buf[:n]...)
			k := int64(bytes.Count(chunk, tag))
			got += k
			total.Add(k)
			if len(chunk) >= len(tag) {
				carry = append(carry[:0], chunk[len(chunk)-len(tag)+1:]...)
			} else {
				carry = append(carry[:0], chunk...)
			}
			// A tag cut at the end is counted once the rest arrives;
			// the carry cannot hold a whole tag.
		}
		if err != nil {
			return
		}
	}
}

// BenchmarkRouteOperatorToOperator: P senders each write to one of P
// receivers (bare JID, available), through the server; b.N messages in
// all. Reports messages per second routed.
func BenchmarkRouteOperatorToOperator(b *testing.B) {
	const pairs = 8
	h := newRecHandler()
	s := benchServer(b, h, 2*pairs)
	addr := s.Addr().String()
	senders := make([]*rawClient, pairs)
	receivers := make([]*rawClient, pairs)
	for i := range pairs {
		receivers[i] = benchLogin(b, addr, pairs+i)
		senders[i] = benchLogin(b, addr, i)
		defer receivers[i].close()
		defer senders[i].close()
	}
	per := b.N/pairs + 1
	total := int64(per * pairs)
	var got atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range pairs {
		wg.Add(2)
		receivers[i].conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		go countMessages(receivers[i].conn, int64(per), &got, wg.Done)
		go func(c *rawClient, to string) {
			defer wg.Done()
			msg := `<message to='` + to + `' type='chat'><body>Hello, do you have the book I asked about?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`
			const batch = 64
			chunk := []byte(strings.Repeat(msg, batch))
			w := bufio.NewWriterSize(c.conn, len(chunk))
			for n := 0; n < per; n += batch {
				k := min(batch, per-n)
				w.Write(chunk[:k*len(msg)])
				w.Flush()
			}
		}(senders[i], fmt.Sprintf("op%d@localhost", pairs+i))
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if got.Load() < total {
		b.Fatalf("received %d of %d messages", got.Load(), total)
	}
	b.ReportMetric(float64(total)/el.Seconds(), "msgs/s")
}

// BenchmarkRouteThroughService: operator → guest JID → handler, which
// answers with Send → operator, like a patron's echo. P clients; b.N
// round trips in all; reports messages per second through the server
// (each round trip is two messages).
func BenchmarkRouteThroughService(b *testing.B) {
	const clients = 8
	h := newRecHandler()
	h.echoOn = true
	s := benchServer(b, h, clients)
	addr := s.Addr().String()
	cs := make([]*rawClient, clients)
	for i := range clients {
		cs[i] = benchLogin(b, addr, i)
		defer cs[i].close()
	}
	per := b.N/clients + 1
	total := int64(per * clients)
	var got atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := range clients {
		wg.Add(2)
		cs[i].conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		go countMessages(cs[i].conn, int64(per), &got, wg.Done)
		go func(c *rawClient) {
			defer wg.Done()
			msg := `<message to='guest-1042@localhost' type='chat'><body>Hello, do you have the book I asked about?</body></message>`
			const batch = 64
			chunk := []byte(strings.Repeat(msg, batch))
			for n := 0; n < per; n += batch {
				k := min(batch, per-n)
				if _, err := c.conn.Write(chunk[:k*len(msg)]); err != nil {
					return
				}
				// Keep the echo queue bounded: wait for the answers
				// of all but two batches.
				for int64(n) > got.Load()/clients+2*batch {
					time.Sleep(50 * time.Microsecond)
				}
			}
		}(cs[i])
	}
	wg.Wait()
	el := time.Since(start)
	b.StopTimer()
	if got.Load() < total {
		b.Fatalf("received %d of %d echoes", got.Load(), total)
	}
	b.ReportMetric(2*float64(total)/el.Seconds(), "msgs/s")
}

// The memory benchmark runs the server in a child process (this test
// binary, with OWLGATE_BENCH_SERVER set), so that its RSS is the server's
// alone.
const benchServerEnv = "OWLGATE_BENCH_SERVER"

func TestMain(m *testing.M) {
	if n := os.Getenv(benchServerEnv); n != "" {
		users, _ := strconv.Atoi(n)
		runBenchServer(users)
		return
	}
	os.Exit(m.Run())
}

// runBenchServer serves until stdin closes, after printing its address.
func runBenchServer(users int) {
	s, err := New(Config{Domain: jid.MustParse("localhost"), Listen: "127.0.0.1:0", Users: benchUsers(users),
		Directory: benchDir{}, ScramIterations: 16, Log: testLog()})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := newRecHandler()
	go func() {
		// The handler's channel is not read: drop what it gets.
		for range h.ch {
		}
	}()
	go s.Run(ctx, h)
	<-s.Ready()
	fmt.Println(s.Addr().String())
	io.Copy(io.Discard, os.Stdin)
	cancel()
}

// rssOf returns a process's resident set size in bytes (Linux).
func rssOf(pid int) (int64, error) {
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
	return 0, fmt.Errorf("no VmRSS")
}

// BenchmarkSessionsMemory connects 1,000 authenticated, available
// operators (TLS, PLAIN, bound, initial presence) to a server in a child
// process and reports its RSS.
func BenchmarkSessionsMemory(b *testing.B) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		b.Skip("needs /proc")
	}
	const n = 1000
	// One measurement, whatever b.N: the figure is a size, not a time.
	for range 1 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), benchServerEnv+"="+strconv.Itoa(n))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.HasPrefix(line, "error") {
			b.Fatalf("child: %q %v", line, err)
		}
		addr := strings.TrimSpace(line)
		base, _ := rssOf(cmd.Process.Pid)
		cs := make([]*rawClient, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := range n {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				cs[i] = benchLogin(b, addr, i)
			}()
		}
		wg.Wait()
		time.Sleep(500 * time.Millisecond)
		rss, err := rssOf(cmd.Process.Pid)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(rss)/(1<<20), "RSS-MB")
		b.ReportMetric(float64(base)/(1<<20), "idle-RSS-MB")
		b.ReportMetric(float64(rss-base)/n/1024, "KB/session")
		for _, c := range cs {
			c.close()
		}
		stdin.Close()
		cmd.Wait()
	}
}
