package network

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// conn is one accepted connection. Its goroutine (serve) reads a request,
// queues it for the workers, waits for the outcome, writes the response,
// and only then reads the next request: one request per connection at a
// time, answered in order, as Kafka mutes a channel from the moment a
// request is received until its response has been sent.
//
// Everything but the guarded fields and the atomics belongs to that
// goroutine. Workers and purgatories touch a conn only through deliver;
// the server only through drain and kill.
type conn struct {
	s    *Server
	l    *listener
	raw  net.Conn // as accepted; immutable, used by drain and kill to interrupt serve
	rw   net.Conn // what the transport made of raw; serve's own
	info ConnInfo
	ip   netip.Addr // the quota key: RemoteAddr's address, unmapped
	log  *logrus.Entry
	fr   frameReader
	// lastClientID is the client id of the last request, shared by the
	// following ones that repeat it.
	lastClientID *string

	// responses carries the outcome of the one request in flight; capacity
	// one, so deliver never blocks.
	responses chan outcome
	// stop is closed by kill.
	stop chan struct{}

	// lastActive is Server.activity when a frame was last read or a write
	// began: the "least recently active" order of closeExcessConnections.
	lastActive atomic.Uint64

	mu       sync.Mutex // guards the fields below; a leaf lock
	reading  bool       // serve is blocked reading a request: drain interrupts it
	draining bool       // shutdown: finish the request in flight, read no more
	killed   bool       // kill ran: the connection is closed, serve is on its way out
	exited   bool       // serve has returned: deliver drops outcomes
}

// outcome is what became of a request: a response (nil for none), or an
// error that closes the connection.
type outcome struct {
	resp   kmsg.Response
	err    error
	logged bool // err was already logged (a handler panic)
}

func newConn(s *Server, l *listener, nc net.Conn, info ConnInfo, ip netip.Addr) *conn {
	c := &conn{
		s:         s,
		l:         l,
		raw:       nc,
		info:      info,
		ip:        ip,
		log:       l.log.WithFields(logrus.Fields{"remote_addr": info.RemoteAddr.String(), "connection_id": info.ID}),
		responses: make(chan outcome, 1),
		stop:      make(chan struct{}),
	}
	c.lastActive.Store(s.activity.Add(1))
	return c
}

// errDraining ends serve's read loop during shutdown.
var errDraining = errors.New("network: draining")

// serve is the connection's goroutine.
func (c *conn) serve() {
	defer c.s.unregister(c)
	defer c.finish()
	rw, err := c.l.transport.wrap(c.s.handleCtx, c.raw)
	if err != nil {
		if !c.isKilled() {
			c.log.WithError(err).Info("closing connection: transport setup failed")
		}
		return
	}
	c.rw = rw
	c.fr = newFrameReader(rw, int32(c.s.cfg.SocketRequestMaxBytes))
	c.log.Debug("accepted connection")
	for {
		req, err := c.readRequest()
		if err != nil {
			c.logReadEnd(err)
			return
		}
		if !c.dispatch(req) || !c.awaitResponse(req) {
			return
		}
	}
}

// finish marks the connection gone, drops an outcome that arrived too late
// and closes the socket.
func (c *conn) finish() {
	c.mu.Lock()
	c.exited = true
	c.mu.Unlock()
	select {
	case o := <-c.responses:
		closeResponse(o.resp)
	default:
	}
	if c.rw != nil && c.rw != c.raw {
		_ = c.rw.Close() // lets a wrapping transport (TLS) say goodbye
	}
	_ = c.raw.Close() // may already be closed by kill; either way it is closed
}

// headerError is a frame whose header did not parse; it keeps what was
// read of the header for the log line.
type headerError struct {
	h   RequestHeader
	err error
}

func (e *headerError) Error() string { return e.err.Error() }
func (e *headerError) Unwrap() error { return e.err }

// readRequest reads the next request, with the idle deadline armed.
func (c *conn) readRequest() (*Request, error) {
	if !c.startReading() {
		return nil, errDraining
	}
	defer c.stopReading()
	size, err := c.fr.readSize()
	if err != nil {
		return nil, err
	}
	c.extendIdleDeadline() // bytes arrived: the connection is not idle
	// Produce frames come from the frame pool: they are the large ones, and
	// the produce handler releases its frame after the appends
	// (Request.Release). Other requests get a buffer of their own.
	var body []byte
	if key, ok := c.fr.peekAPIKey(size); ok && key == int16(kmsg.Produce) {
		body, err = c.fr.readPooledBody(size)
	} else {
		body, err = c.fr.readBody(size)
	}
	if err != nil {
		return nil, err
	}
	c.lastActive.Store(c.s.activity.Add(1))
	now := c.s.now()
	h, n, err := parseRequestHeader(body, c.lastClientID)
	if err != nil {
		h.TaggedFields = nil // it aliases the frame; only the fields logged are kept
		releaseFrame(body)
		return nil, &headerError{h: h, err: err}
	}
	if h.ClientID != nil {
		c.lastClientID = h.ClientID
	}
	return &Request{Header: h, Body: body[n:], Size: len(body), Conn: c.info, ReceivedAt: now, frame: body}, nil
}

// startReading arms the idle deadline and marks the connection as reading,
// unless shutdown has begun.
func (c *conn) startReading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining || c.killed || c.s.draining.Load() {
		return false
	}
	c.reading = true
	_ = c.raw.SetReadDeadline(c.idleDeadline()) // fails only on a closed socket, which the read reports
	return true
}

func (c *conn) stopReading() {
	c.mu.Lock()
	c.reading = false
	c.mu.Unlock()
}

func (c *conn) extendIdleDeadline() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.draining {
		_ = c.raw.SetReadDeadline(c.idleDeadline())
	}
}

// idleDeadline is when the connection counts as idle if nothing arrives:
// connections.max.idle.ms from now, or none.
func (c *conn) idleDeadline() time.Time {
	if c.s.cfg.ConnectionsMaxIdle <= 0 {
		return time.Time{}
	}
	return time.Now().Add(c.s.cfg.ConnectionsMaxIdle)
}

// drain starts shutdown for this connection: a read in progress (an idle
// connection, or a request not yet complete) is interrupted; a request in
// flight is answered and then the connection closes.
func (c *conn) drain() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.draining = true
	if c.reading {
		_ = c.raw.SetReadDeadline(time.Unix(1, 0)) // in the past: the read returns at once
	}
}

// kill closes the connection at once, whatever it is doing, and reports
// whether this call did it. If it did, it calls logWhy (unless nil) first,
// so that the line is written before the peer can see the close.
func (c *conn) kill(logWhy func()) bool {
	c.mu.Lock()
	if c.killed || c.exited {
		c.mu.Unlock()
		return false
	}
	c.killed = true
	close(c.stop)
	c.mu.Unlock()
	if logWhy != nil {
		logWhy()
	}
	_ = c.raw.Close() // serve sees the error and exits
	return true
}

func (c *conn) isKilled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

func (c *conn) isDraining() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.draining || c.s.draining.Load()
}

// logReadEnd logs why reading stopped: one line, at a level that says
// whose problem it is (STYLE.md section 9). A peer that breaks the
// protocol gets Warn (Kafka logs these at Warn or Error; none asks an
// operator to act); a peer that hangs up mid-request, Info; ordinary
// closes, Debug.
func (c *conn) logReadEnd(err error) {
	var he *headerError
	switch {
	case c.isKilled():
		// Whoever killed it logged why.
	case errors.Is(err, errDraining) || c.isDraining() && errors.Is(err, os.ErrDeadlineExceeded):
		c.log.Debug("closing connection: server shutting down")
	case errors.As(err, &he):
		msg := "closing connection: malformed request header"
		if errors.Is(err, ErrUnknownAPIKey) {
			msg = "closing connection: unknown api key"
		}
		c.log.WithFields(headerFields(he.h)).WithError(he.err).Warn(msg)
	case errors.Is(err, ErrNegativeFrameSize), errors.Is(err, ErrFrameTooLarge):
		c.log.WithError(err).Warn("closing connection: invalid frame size")
	case errors.Is(err, ErrTruncatedFrame):
		c.log.WithError(err).Info("connection ended in the middle of a request")
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.log.WithField("connections_max_idle", c.s.cfg.ConnectionsMaxIdle).Debug("closing idle connection")
	case errors.Is(err, io.EOF):
		c.log.Debug("connection closed by peer")
	default:
		c.log.WithError(err).Debug("connection read failed")
	}
}

// dispatch queues req for the workers. It blocks while the queue is full:
// the connection stops reading, which is the backpressure Kafka's network
// threads apply at queued.max.requests.
func (c *conn) dispatch(req *Request) bool {
	select {
	case c.s.queue <- queued{c: c, req: req}:
		return true
	case <-c.stop:
		return false
	}
}

// deliver hands the outcome of the request in flight to serve. Any
// goroutine may call it, once per request (respond's check guarantees it).
// When the connection is already gone the outcome is dropped.
func (c *conn) deliver(o outcome) {
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		closeResponse(o.resp) // outside the lock: it calls the response's code
		return
	}
	select {
	case c.responses <- o:
	default:
		c.mu.Unlock()
		panic("network: a second outcome for a connection's one request in flight")
	}
	c.mu.Unlock()
}

// awaitResponse waits for the outcome of req and writes its response. It
// returns false when the connection must close.
func (c *conn) awaitResponse(req *Request) bool {
	var o outcome
	select {
	case o = <-c.responses:
	case <-c.stop:
		return false
	}
	switch {
	case o.err != nil:
		if !o.logged {
			c.log.WithFields(requestFields(req)).WithError(o.err).Warn("closing connection: request refused")
		}
		return false
	case o.resp == nil:
		return true // nothing to send (produce with acks=0)
	}
	return c.writeResponse(req, o.resp)
}

// bufferPool holds response buffers. Buffers that grew past
// maxPooledBuffer are left to the garbage collector, so that one large
// response does not pin its memory in the pool.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

const maxPooledBuffer = 1 << 20

// writeResponse encodes resp with the response header req's key and
// version call for, and writes it.
func (c *conn) writeResponse(req *Request, resp kmsg.Response) bool {
	defer closeResponse(resp)
	fields := func() logrus.Fields { return requestFields(req) }
	if resp.Key() != req.Header.APIKey {
		c.log.WithFields(fields()).WithField("response_api_key", resp.Key()).
			Error("closing connection: handler answered with a response of another api key")
		return false
	}
	hv, err := ResponseHeaderVersion(req.Header.APIKey, req.Header.APIVersion)
	if err != nil { // can't happen: the request's header parsed
		c.log.WithFields(fields()).WithError(err).Error("closing connection")
		return false
	}
	if idle := c.s.cfg.ConnectionsMaxIdle; idle > 0 {
		// A peer that stops reading its responses is as idle as one that
		// stops sending: Kafka's idle expiry closes both.
		_ = c.rw.SetWriteDeadline(time.Now().Add(idle))
	}
	// Activity is stamped as the write starts, not when it ends: by the
	// time the peer holds its answer the stamp is made, so the least
	// recently active order (closeExcessConnections) is what the peers saw.
	c.lastActive.Store(c.s.activity.Add(1))
	if sr, ok := resp.(StreamedResponse); ok {
		return c.writeStreamed(req, hv, sr)
	}

	bp := bufferPool.Get().(*[]byte)
	buf, ok := appendResponse((*bp)[:0], hv, req.Header.CorrelationID, resp)
	size := len(buf) - 4
	if ok {
		_, err = c.rw.Write(buf)
	}
	if cap(buf) <= maxPooledBuffer {
		*bp = buf[:0]
		bufferPool.Put(bp)
	}
	switch {
	case !ok:
		c.log.WithFields(fields()).WithField("size", size).Error("closing connection: response larger than a frame can carry")
		return false
	case err != nil:
		c.logWriteError(req, err)
		return false
	}
	return true
}

// writeStreamed writes a StreamedResponse: length and header from a small
// buffer, then the body by the response itself, straight to the socket.
func (c *conn) writeStreamed(req *Request, hv int8, sr StreamedResponse) bool {
	bodySize := sr.BodySize()
	size := int64(responseHeaderLen(hv)) + bodySize
	if bodySize < 0 || size > maxFrameLen {
		c.log.WithFields(requestFields(req)).WithField("size", size).Error("closing connection: streamed response of an impossible size")
		return false
	}
	var head [9]byte
	b := binary.BigEndian.AppendUint32(head[:0], uint32(size))
	b = appendResponseHeader(b, hv, req.Header.CorrelationID)
	if _, err := c.rw.Write(b); err != nil {
		c.logWriteError(req, err)
		return false
	}
	n, err := sr.WriteBody(c.rw)
	switch {
	case err != nil:
		c.logWriteError(req, err)
		return false
	case n != bodySize:
		c.log.WithFields(requestFields(req)).WithFields(logrus.Fields{"written": n, "declared": bodySize}).
			Error("closing connection: streamed response wrote another size than it declared")
		return false
	}
	return true
}

func (c *conn) logWriteError(req *Request, err error) {
	if c.isKilled() {
		return
	}
	c.log.WithFields(requestFields(req)).WithError(err).Debug("closing connection: writing the response failed")
}
