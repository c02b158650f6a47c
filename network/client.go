package network

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ClientConfig configures a Client: one broker's address and the timing of
// the connection to it.
type ClientConfig struct {
	// Addr is the broker's host:port (its inter-broker listener).
	Addr string
	// ClientID goes in every request header (Kafka's controller uses
	// "broker-<id>-controller...", fetchers "broker-<id>-fetcher-<n>").
	ClientID string
	// DialTimeout bounds a connection attempt
	// (socket.connection.setup.timeout.ms).
	DialTimeout time.Duration
	// RequestTimeout bounds the wait for each response (the controller's
	// controller.socket.timeout.ms, a fetcher's replica.socket.timeout.ms).
	// When it passes, the connection is closed and every request pending
	// on it fails, as Kafka's NetworkClient does: after a lost response the
	// connection's state is unknown.
	RequestTimeout time.Duration
	// ReconnectBackoff and ReconnectBackoffMax space connection attempts
	// after failures: ReconnectBackoff * 2^(failures-1), capped at
	// ReconnectBackoffMax, with ±20% jitter (reconnect.backoff.ms and
	// reconnect.backoff.max.ms, Kafka's defaults 50 ms and 1 s).
	ReconnectBackoff    time.Duration
	ReconnectBackoffMax time.Duration
	// SocketReceiveBufferBytes is SO_RCVBUF of the connection (a fetcher's
	// replica.socket.receive.buffer.bytes); zero or negative keeps the
	// operating system's default.
	SocketReceiveBufferBytes int
	// MaxResponseBytes refuses (and closes the connection on) a response
	// frame larger than this; zero means no limit beyond the frame format's.
	MaxResponseBytes int
	// Dial opens the connection; nil uses a net.Dialer. It is the seam for
	// SSL and SASL on the inter-broker listener, and for tests.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives Debug lines about connections; nil discards them.
	// Failures are returned to the caller, not logged.
	Logger *logrus.Entry
}

func (cfg *ClientConfig) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("network: client: "+format, args...)) }
	if cfg.Addr == "" {
		bad("no address")
	}
	if cfg.DialTimeout <= 0 {
		bad("DialTimeout %v is not positive", cfg.DialTimeout)
	}
	if cfg.RequestTimeout <= 0 {
		bad("RequestTimeout %v is not positive", cfg.RequestTimeout)
	}
	if cfg.ReconnectBackoff < 0 || cfg.ReconnectBackoffMax < cfg.ReconnectBackoff {
		bad("want 0 <= ReconnectBackoff (%v) <= ReconnectBackoffMax (%v)", cfg.ReconnectBackoff, cfg.ReconnectBackoffMax)
	}
	if cfg.MaxResponseBytes < 0 {
		bad("MaxResponseBytes %d is negative", cfg.MaxResponseBytes)
	}
	return errors.Join(errs...)
}

// Client sends requests to one broker over one connection, the way Kafka's
// NetworkClient does for the controller and replica fetchers: requests are
// pipelined (several in flight, answered in order and matched by
// correlation id), each has a timeout, and the connection is opened lazily
// and reopened after a failure with exponential backoff.
//
// Safe for concurrent use. Requests from concurrent callers are written in
// the order they are queued.
type Client struct {
	cfg ClientConfig
	log *logrus.Entry

	wg sync.WaitGroup // the goroutines of every connection

	mu     sync.Mutex // guards the fields below; a leaf: never held with clientConn.mu
	closed bool
	conn   *clientConn // the live connection, or nil
	// dialing is non-nil while a connection attempt runs; closed when it
	// ends. The others wait for it rather than dial too.
	dialing  chan struct{}
	dialErr  error     // the last attempt's error, for those who waited on it
	failures int       // consecutive failed attempts: the backoff exponent
	nextDial time.Time // no attempt before this
}

// NewClient validates cfg and returns a Client. It connects nothing: the
// first Request does.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = nopLogger()
	}
	if cfg.Dial == nil {
		d := &net.Dialer{}
		cfg.Dial = d.DialContext
	}
	return &Client{cfg: cfg, log: cfg.Logger.WithFields(logrus.Fields{"component": "broker_client", "remote_addr": cfg.Addr})}, nil
}

// Request sends req at the version the caller set (req.SetVersion) and
// returns the decoded response. A Produce request with acks=0 gets no
// response: Request returns (nil, nil) once it is written.
//
// It connects first if needed, waiting out the reconnect backoff (bounded
// by ctx); a failed attempt's error is returned, never retried (a second
// attempt is made only if the connection broke before the request could
// be queued on it). Request never resends: a request that may have
// reached the broker fails with ErrConnectionClosed or ErrRequestTimeout,
// and the caller decides. When ctx ends first Request returns ctx.Err(); the
// request, if already queued, is still sent and its response dropped.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	if _, err := RequestHeaderVersion(req.Key(), req.GetVersion()); err != nil {
		return nil, err
	}
	call := &call{req: req, done: make(chan callResult, 1)}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		call.noResponse = true
	}
	// A connection that fails between connection and enqueue never saw
	// the request, so one more try is safe.
	for try := 0; ; try++ {
		cc, err := c.connection(ctx)
		if err != nil {
			return nil, err
		}
		if err = cc.enqueue(call); err == nil {
			break
		} else if try == 1 || errors.Is(err, ErrClientClosed) {
			return nil, err
		}
	}
	var res callResult
	select {
	case res = <-call.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if res.err != nil || call.noResponse {
		return nil, res.err
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(res.body); err != nil {
		return nil, fmt.Errorf("network: decode %s v%d response from %s: %w",
			kmsg.NameForKey(req.Key()), req.GetVersion(), c.cfg.Addr, err)
	}
	return resp, nil
}

// Close closes the connection, failing every pending request with
// ErrClientClosed, and waits for the connection's goroutines. Later
// requests fail with ErrClientClosed. Calling it twice is harmless.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cc := c.conn
	c.conn = nil
	c.mu.Unlock()
	if cc != nil {
		cc.fail(ErrClientClosed)
	}
	c.wg.Wait()
	return nil
}

// connection returns the live connection, opening one if there is none.
func (c *Client) connection(ctx context.Context) (*clientConn, error) {
	waited := false
	for {
		c.mu.Lock()
		switch {
		case c.closed:
			c.mu.Unlock()
			return nil, ErrClientClosed
		case c.conn != nil && !c.conn.dead():
			cc := c.conn
			c.mu.Unlock()
			return cc, nil
		case c.conn != nil:
			// It failed and has not told us yet.
			c.dropConnLocked(c.conn)
			c.mu.Unlock()
			continue
		case c.dialing != nil:
			dialing := c.dialing
			c.mu.Unlock()
			select {
			case <-dialing:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			waited = true
			continue
		case waited && c.dialErr != nil:
			// The attempt we waited for failed: that is our answer too,
			// rather than a second attempt inside the backoff.
			err := c.dialErr
			c.mu.Unlock()
			return nil, err
		}
		dialing := make(chan struct{})
		c.dialing = dialing
		wait := time.Until(c.nextDial)
		c.mu.Unlock()

		nc, err := c.dial(ctx, wait)

		c.mu.Lock()
		c.dialing = nil
		close(dialing)
		switch {
		case errors.Is(err, errDialAbandoned):
			// Our ctx ended before the attempt: leave no verdict, so
			// that a waiter makes its own attempt.
			c.dialErr = nil
			c.mu.Unlock()
			return nil, ctx.Err()
		case err != nil:
			c.failures++
			c.nextDial = time.Now().Add(c.backoffLocked())
			c.dialErr = err
			c.mu.Unlock()
			return nil, err
		case c.closed:
			c.mu.Unlock()
			_ = nc.Close() // never used
			return nil, ErrClientClosed
		}
		c.failures = 0 // Kafka resets the backoff once connected
		c.dialErr = nil
		// Started under c.mu, so that its goroutines are counted before
		// a Close can begin waiting for them.
		cc := c.startConn(nc)
		c.conn = cc
		c.mu.Unlock()
		c.log.Debug("connected")
		return cc, nil
	}
}

// errDialAbandoned: the caller's context ended while waiting out the
// backoff, before any attempt.
var errDialAbandoned = errors.New("network: dial abandoned")

// dial waits wait, then connects.
func (c *Client) dial(ctx context.Context, wait time.Duration) (net.Conn, error) {
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, errDialAbandoned
		}
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	nc, err := c.cfg.Dial(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("network: connect to %s: %w", c.cfg.Addr, err)
	}
	if tc, ok := nc.(*net.TCPConn); ok && c.cfg.SocketReceiveBufferBytes > 0 {
		_ = tc.SetReadBuffer(c.cfg.SocketReceiveBufferBytes) // best effort
	}
	return nc, nil
}

// backoffLocked is the wait before the next attempt after c.failures
// consecutive failures. The caller holds c.mu.
func (c *Client) backoffLocked() time.Duration {
	if c.failures == 0 || c.cfg.ReconnectBackoff <= 0 {
		return 0
	}
	d := c.cfg.ReconnectBackoff
	for i := 1; i < c.failures && d < c.cfg.ReconnectBackoffMax; i++ {
		d *= 2
	}
	d = min(d, c.cfg.ReconnectBackoffMax)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// connDied is called by a connection that failed, so that the next
// request opens a new one, after a backoff: Kafka's ClusterConnectionStates
// counts a disconnect like a failed attempt, and only a successful
// connection resets the count.
func (c *Client) connDied(cc *clientConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropConnLocked(cc)
}

// dropConnLocked forgets cc if it is still the live connection. The caller
// holds c.mu.
func (c *Client) dropConnLocked(cc *clientConn) {
	if c.conn == cc {
		c.conn = nil
		c.failures++
		c.nextDial = time.Now().Add(c.backoffLocked())
	}
}
