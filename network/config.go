package network

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/sirupsen/logrus"
)

// Config is what the socket server runs with: the listeners and the
// request-path keys of conf.Config, in network's own types. The server
// package builds it from conf.Config; tests build it from DefaultConfig
// with small values.
//
// Every field holds the value in effect: there is no "zero means default",
// except for Logger and Now.
type Config struct {
	// Listeners are the endpoints to bind (listeners). Port 0 binds an
	// ephemeral port; Server.Addrs tells which. Only PLAINTEXT is served
	// today: New refuses other security protocols.
	Listeners []conf.Listener
	// InterBrokerListenerName names the listener other brokers use
	// (inter.broker.listener.name, resolved). When the broker has more than
	// one listener, that one is protected from MaxConnections (KIP-402):
	// its connections are accepted past the limit, and connections of other
	// listeners are closed to make room. Empty: no listener is protected.
	InterBrokerListenerName string

	// SocketRequestMaxBytes is socket.request.max.bytes: the largest request
	// frame, its 4-byte length excluded.
	SocketRequestMaxBytes int
	// SocketSendBufferBytes and SocketReceiveBufferBytes are
	// socket.send.buffer.bytes and socket.receive.buffer.bytes: SO_SNDBUF
	// and SO_RCVBUF of accepted connections. Zero or negative (Kafka's -1)
	// keeps the operating system's default.
	SocketSendBufferBytes    int
	SocketReceiveBufferBytes int

	// MaxConnections is max.connections: connections across all listeners.
	// At the limit an acceptor holds the connection it has just accepted,
	// unserved, and takes no other (they wait in the kernel's accept
	// queue) until a connection closes, as Kafka's acceptor blocks in
	// ConnectionQuotas.inc.
	MaxConnections int
	// MaxConnectionsPerIP is max.connections.per.ip; a connection past it is
	// closed as soon as it is accepted, with one Info line.
	MaxConnectionsPerIP int
	// MaxConnectionsPerIPOverrides is max.connections.per.ip.overrides: per
	// host name or IP address exceptions. Host names are resolved once,
	// when Run starts.
	MaxConnectionsPerIPOverrides map[string]int
	// ConnectionsMaxIdle is connections.max.idle.ms: a connection with no
	// request in flight that sends nothing for this long is closed. Zero or
	// negative: never.
	ConnectionsMaxIdle time.Duration

	// NumIOThreads is num.io.threads: the worker goroutines that call the
	// Handler.
	NumIOThreads int
	// QueuedMaxRequests is queued.max.requests: requests read and waiting
	// for a worker. When the queue is full, connections stop reading.
	QueuedMaxRequests int

	// ShutdownTimeout bounds the graceful part of shutdown: after Run's
	// context is cancelled, requests in flight have this long to be
	// answered and their responses written before every connection is
	// closed and the Handler's context is cancelled. Gregor's own; Kafka
	// closes connections at once.
	ShutdownTimeout time.Duration

	// Logger receives the server's log lines; nil discards them.
	Logger *logrus.Entry
	// Now is the clock for Request.ReceivedAt; nil means time.Now. Socket
	// deadlines always use the wall clock.
	Now func() time.Time
}

// DefaultConfig returns Kafka 2.8's defaults for the keys Config carries,
// with no listeners, and a 30 second ShutdownTimeout.
func DefaultConfig() Config {
	return Config{
		SocketRequestMaxBytes:    100 << 20,
		SocketSendBufferBytes:    100 << 10,
		SocketReceiveBufferBytes: 100 << 10,
		MaxConnections:           math.MaxInt32,
		MaxConnectionsPerIP:      math.MaxInt32,
		ConnectionsMaxIdle:       10 * time.Minute,
		NumIOThreads:             8,
		QueuedMaxRequests:        500,
		ShutdownTimeout:          30 * time.Second,
	}
}

// validate reports every problem of c at once.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("network: "+format, args...)) }
	if len(c.Listeners) == 0 {
		bad("no listeners")
	}
	names := make(map[string]bool, len(c.Listeners))
	for _, l := range c.Listeners {
		if names[l.Name] {
			bad("listener name %s is used twice", l.Name)
		}
		names[l.Name] = true
		if l.Port < 0 || l.Port > 65535 {
			bad("listener %s: port %d is not in 0-65535", l, l.Port)
		}
		if _, err := transportFor(l); err != nil {
			errs = append(errs, err)
		}
	}
	if c.InterBrokerListenerName != "" && !names[c.InterBrokerListenerName] {
		bad("inter-broker listener %s is not one of the listeners", c.InterBrokerListenerName)
	}
	if c.SocketRequestMaxBytes < 1 || c.SocketRequestMaxBytes > math.MaxInt32 {
		bad("SocketRequestMaxBytes %d is not in 1-%d", c.SocketRequestMaxBytes, math.MaxInt32)
	}
	if c.MaxConnections < 0 {
		bad("MaxConnections %d is negative", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		bad("MaxConnectionsPerIP %d is negative", c.MaxConnectionsPerIP)
	}
	for host, n := range c.MaxConnectionsPerIPOverrides {
		if host == "" || n < 0 {
			bad("MaxConnectionsPerIPOverrides %q: %d: want a host and a non-negative count", host, n)
		}
	}
	if c.NumIOThreads < 1 {
		bad("NumIOThreads %d is less than 1", c.NumIOThreads)
	}
	if c.QueuedMaxRequests < 1 {
		bad("QueuedMaxRequests %d is less than 1", c.QueuedMaxRequests)
	}
	if c.ShutdownTimeout < 0 {
		bad("ShutdownTimeout %v is negative", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

// nopLogger is used when a caller gives no logger.
func nopLogger() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}
