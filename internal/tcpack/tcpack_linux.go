package tcpack

import (
	"net"
	"syscall"
)

// Wrap returns c acknowledging every read at once when c is a TCP
// connection; any other connection is returned as it is.
func Wrap(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	q := &conn{TCPConn: tc, rc: rc}
	q.quickAck()
	return q
}

// conn is a TCP connection that sets TCP_QUICKACK after each read.
type conn struct {
	*net.TCPConn
	rc syscall.RawConn
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.TCPConn.Read(b)
	if n > 0 {
		c.quickAck()
	}
	return n, err
}

func (c *conn) quickAck() {
	c.rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
	})
}
