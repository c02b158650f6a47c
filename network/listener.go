package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/sirupsen/logrus"
)

// transport is what a listener's security protocol does to a connection it
// accepts, before the first request is read: nothing for PLAINTEXT.
//
// This is the seam for the other protocols. SSL will wrap the connection
// in a *tls.Conn and run the handshake. SASL_PLAINTEXT and SASL_SSL will
// also authenticate: Kafka runs SASL inside the network layer
// (SaslServerAuthenticator answers ApiVersions, SaslHandshake and
// SaslAuthenticate before any request reaches KafkaApis), so their
// transport will read and write frames itself with ParseRequestHeader and
// return the connection with the authenticated principal, which will then
// join ConnInfo. zeroCopy says whether the returned connection is the raw
// TCP socket, so that a StreamedResponse can use sendfile.
type transport struct {
	wrap     func(ctx context.Context, nc net.Conn) (net.Conn, error)
	zeroCopy bool
}

// transportFor returns the transport of l's security protocol, or an error
// naming the listener when Gregor does not serve that protocol yet.
func transportFor(l conf.Listener) (transport, error) {
	switch l.SecurityProtocol {
	case conf.Plaintext:
		return transport{
			wrap:     func(_ context.Context, nc net.Conn) (net.Conn, error) { return nc, nil },
			zeroCopy: true,
		}, nil
	default:
		return transport{}, fmt.Errorf("network: listener %s: security protocol %q is not supported yet (only %s)",
			l, l.SecurityProtocol, conf.Plaintext)
	}
}

// listener is one bound endpoint and its acceptor.
type listener struct {
	cfg       conf.Listener
	transport transport
	// protected: the inter-broker listener of a broker with several
	// listeners, exempt from MaxConnections (KIP-402).
	protected bool
	ln        net.Listener
	log       *logrus.Entry
}

// listen binds l. An empty host binds every interface.
func listen(ctx context.Context, l conf.Listener) (net.Listener, error) {
	addr := net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("network: listen on %s: %w", l, err)
	}
	return ln, nil
}

// acceptBackoffMax bounds the pause after a failed Accept (out of file
// descriptors, typically): long enough not to spin and flood the log, short
// enough to resume quickly once descriptors are free again.
const acceptBackoffMax = time.Second

// accept runs l's accept loop until the listener is closed. Each accepted
// connection passes the quotas (blocking while the broker is at
// MaxConnections) and gets its own goroutine.
func (s *Server) accept(l *listener) {
	backoff := 5 * time.Millisecond
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return // Run is shutting down
			}
			// EMFILE, ENFILE, ECONNABORTED...: the listener itself is fine.
			l.log.WithError(err).WithField("retry_in", backoff).Warn("accept failed")
			select {
			case <-time.After(backoff):
			case <-s.stopAccepting:
				return
			}
			backoff = min(2*backoff, acceptBackoffMax)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.admit(l, nc) {
			return
		}
	}
}

// admit applies the connection quotas to nc and starts serving it. It
// returns false when the server stopped while it waited for a slot.
func (s *Server) admit(l *listener, nc net.Conn) bool {
	local, remote := addrPort(nc.LocalAddr()), addrPort(nc.RemoteAddr())
	ip := remote.Addr().Unmap()
	switch err := s.quotas.acquire(l.protected, ip, s.stopAccepting); {
	case errors.Is(err, errStopped):
		_ = nc.Close() // never served: nothing to report
		return false
	case err != nil:
		// Kafka logs the same event at Info (TooManyConnectionsException).
		// Logged before closing, so that a peer seeing the close finds
		// the line written.
		l.log.WithField("remote_addr", remote.String()).WithError(err).Info("rejected connection")
		_ = nc.Close()
		return true
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		if n := s.cfg.SocketSendBufferBytes; n > 0 {
			_ = tc.SetWriteBuffer(n) // best effort, as Kafka's setSendBufferSize
		}
		if n := s.cfg.SocketReceiveBufferBytes; n > 0 {
			_ = tc.SetReadBuffer(n)
		}
	}
	info := ConnInfo{
		ID:               local.String() + "-" + remote.String() + "-" + strconv.FormatUint(s.connIndex.Add(1), 10),
		LocalAddr:        local,
		RemoteAddr:       remote,
		ListenerName:     l.cfg.Name,
		SecurityProtocol: l.cfg.SecurityProtocol,
	}
	c := newConn(s, l, nc, info, ip)
	if !s.register(c) {
		_ = nc.Close()
		s.quotas.release(ip)
		return false
	}
	go c.serve()
	if l.protected {
		s.closeExcessConnections()
	}
	return true
}

// addrPort converts a TCP address; anything else (tests over pipes) gives
// the zero AddrPort.
func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.AddrPort()
	}
	return netip.AddrPort{}
}
