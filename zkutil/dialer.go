package zkutil

import (
	"encoding/binary"
	"net"
	"sync"
	"time"
)

// go-zookeeper gives a server ten times the receive timeout (two thirds of
// the session timeout, so 120s with Kafka's default 18s) to answer the
// session handshake. A server that accepts a connection while it is still
// starting may never answer it; the client then sits out those two minutes
// while its session expires, instead of trying again (or another server).
// (ZooKeeper 3.8 does this: a connection accepted before its database is
// loaded is never answered nor closed.) Java's ZooKeeper client allows
// sessionTimeout / number of servers for the handshake; zkutil allows a
// third of that (see Connect), by giving go-zookeeper connections that cap
// every deadline set before the handshake's answer has been read.

// handshakeDialer returns a dialer whose connections bound the handshake to
// limit.
func handshakeDialer(limit time.Duration) func(network, address string, timeout time.Duration) (net.Conn, error) {
	return func(network, address string, timeout time.Duration) (net.Conn, error) {
		conn, err := net.DialTimeout(network, address, timeout)
		if err != nil {
			return nil, err
		}
		return &handshakeConn{Conn: conn, limit: limit, start: time.Now()}, nil
	}
}

// handshakeConn is a connection whose deadlines are capped at start+limit
// until the first frame read from it (the server's ConnectResponse) is
// complete.
type handshakeConn struct {
	net.Conn
	limit time.Duration
	start time.Time

	mu     sync.Mutex // guards the fields below
	read   int        // bytes read so far, while in the handshake
	header [4]byte    // the first frame's length prefix
	done   bool       // the first frame has been read
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if !c.done {
		for _, x := range b[:n] {
			if c.read < len(c.header) {
				c.header[c.read] = x
			}
			c.read++
		}
		c.done = c.read >= 4 && c.read >= 4+int(binary.BigEndian.Uint32(c.header[:]))
	}
	c.mu.Unlock()
	return n, err
}

// capped returns t, or the handshake's deadline when that is earlier (a
// zero t, no deadline, counts as latest).
func (c *handshakeConn) capped(t time.Time) time.Time {
	c.mu.Lock()
	done := c.done
	c.mu.Unlock()
	if done {
		return t
	}
	limit := c.start.Add(c.limit)
	if t.IsZero() || t.After(limit) {
		return limit
	}
	return t
}

func (c *handshakeConn) SetDeadline(t time.Time) error { return c.Conn.SetDeadline(c.capped(t)) }
func (c *handshakeConn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.capped(t))
}
func (c *handshakeConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.capped(t))
}
