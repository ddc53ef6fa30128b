package testenv

import (
	"net"
	"testing"
	"time"
)

// FreePorts returns n distinct TCP ports on 127.0.0.1 that were free a
// moment ago: each was bound to :0 and closed again. Another process may
// take one in between; the servers' start fails clearly when that happens.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: finding a free port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// accepting reports whether something accepts TCP connections at addr.
func accepting(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
