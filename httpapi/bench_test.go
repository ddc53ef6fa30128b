package httpapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// nullWriter is a ResponseWriter that keeps nothing.
type nullWriter struct{ h http.Header }

func (w *nullWriter) Header() http.Header         { return w.h }
func (w *nullWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *nullWriter) WriteHeader(int)             {}

// BenchmarkPresenceHandler is the presence handler alone: routing, the
// snapshot and the answer, no network.
func BenchmarkPresenceHandler(b *testing.B) {
	e := newEnv(b, nil)
	e.gw.set("reference", true)
	h := e.srv.Handler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r, _ := http.NewRequest("GET", "/presence/reference", nil)
		w := &nullWriter{h: http.Header{}}
		for pb.Next() {
			clear(w.h)
			h.ServeHTTP(w, r)
		}
	})
}

// BenchmarkPresenceHTTP is GET /presence/{queue} over loopback TCP, the
// server as owlgate runs it (Server.Serve), against clients on keep-alive
// connections sending one request at a time each, as browsers and wrk do.
// The clients are minimal HTTP/1.1 clients sharing the machine's cores
// with the server, so the figure is conservative. It reports requests a
// second.
func BenchmarkPresenceHTTP(b *testing.B) {
	for _, conns := range []int{16, 64} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			e := newEnv(b, nil)
			e.gw.set("reference", true)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- e.srv.Serve(ctx, ln) }()
			defer func() {
				cancel()
				<-done
			}()
			clients := make([]*rawClient, conns)
			for i := range clients {
				if clients[i], err = dialRaw(ln.Addr().String()); err != nil {
					b.Fatal(err)
				}
				defer clients[i].conn.Close()
			}
			var next atomic.Int64
			b.SetParallelism((conns + 1) / 2) // GOMAXPROCS × this goroutines, one connection each
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				c := clients[int(next.Add(1)-1)%conns]
				for pb.Next() {
					if err := c.get("/presence/reference"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
		})
	}
}

// rawClient is a minimal HTTP/1.1 client on one keep-alive connection: it
// writes a GET and reads the status line, the headers and a body of
// Content-Length bytes.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  map[string][]byte
}

func dialRaw(addr string) (*rawClient, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &rawClient{conn: c, r: bufio.NewReader(c), req: map[string][]byte{}}, nil
}

func (c *rawClient) get(path string) error {
	req, ok := c.req[path]
	if !ok {
		req = []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
		c.req[path] = req
	}
	if _, err := c.conn.Write(req); err != nil {
		return err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(status), "HTTP/1.1 200") {
		return fmt.Errorf("status %q", status)
	}
	n := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.EqualFold(k, "Content-Length") {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	if n < 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = io.CopyN(io.Discard, c.r, int64(n))
	return err
}
