package tcpack

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// TestQuickAckAfterEachRead: a wrapped TCP connection has TCP_QUICKACK set
// after every read that returned data (the kernel clears it as it goes),
// and reads what was written.
func TestQuickAckAfterEachRead(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for range 3 {
			c.Write([]byte("line\r\n"))
			var b [1]byte
			c.Read(b[:]) // one write a turn
		}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := Wrap(raw)
	defer c.Close()
	quickAck := func() int {
		var v int
		rc, _ := raw.(*net.TCPConn).SyscallConn()
		rc.Control(func(fd uintptr) {
			v, err = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK)
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	buf := make([]byte, 6)
	for i := range 3 {
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "line\r\n" {
			t.Fatalf("read %d: %q, %v", i, buf, err)
		}
		if v := quickAck(); v != 1 {
			t.Errorf("after read %d: TCP_QUICKACK = %d, want 1", i, v)
		}
		c.Write([]byte{'.'})
	}
}

// TestWrapLeavesOtherConns: a connection that is not TCP comes back as is.
func TestWrapLeavesOtherConns(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Error("Wrap changed a pipe")
	}
}
