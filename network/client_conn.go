package network

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientConn is one connection of a Client, with two goroutines: write
// sends queued requests in order (several per system call when callers
// queue them together), read matches each response to the oldest request
// in flight. Requests get their correlation ids in queue order, are written
// in that order, and Kafka answers in that order, so a response whose id
// is not the oldest one's means the stream is broken.
//
// Timeouts: every request has a deadline, RequestTimeout after it was
// queued, and since all share the timeout the oldest outstanding request
// has the earliest one. The socket's read deadline is kept at that
// request's deadline; when it fires with the request still outstanding,
// the connection fails with ErrRequestTimeout.
type clientConn struct {
	cl   *Client
	nc   net.Conn
	fr   frameReader
	wake chan struct{} // capacity one: requests are waiting to be written
	done chan struct{} // closed by fail

	mu       sync.Mutex // guards the fields below; a leaf: never held with Client.mu
	err      error      // why the connection failed; set once, by fail
	lastCorr int32
	toWrite  []*call // queued, not yet taken by write
	inFlight []*call // written (or being written), oldest first, each awaiting its response
}

// call is one request on its way.
type call struct {
	req        kmsg.Request
	noResponse bool // produce with acks=0
	corr       int32
	deadline   time.Time
	done       chan callResult // capacity one: whoever finishes the call never blocks
}

type callResult struct {
	body []byte // the response body, header removed
	err  error
}

// startConn wraps nc and starts its goroutines.
func (c *Client) startConn(nc net.Conn) *clientConn {
	maxSize := int32(math.MaxInt32)
	if c.cfg.MaxResponseBytes > 0 && c.cfg.MaxResponseBytes < math.MaxInt32 {
		maxSize = int32(c.cfg.MaxResponseBytes)
	}
	cc := &clientConn{
		cl:   c,
		nc:   nc,
		fr:   newFrameReader(nc, maxSize),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		cc.write()
	}()
	go func() {
		defer c.wg.Done()
		cc.read()
	}()
	return cc
}

// enqueue assigns call its correlation id and deadline and queues it for
// writing; it fails if the connection already has.
func (cc *clientConn) enqueue(call *call) error {
	cc.mu.Lock()
	if cc.err != nil {
		err := cc.err
		cc.mu.Unlock()
		return err
	}
	cc.lastCorr++
	if cc.lastCorr < 0 {
		cc.lastCorr = 0 // wrap as Kafka's clients do, staying non-negative
	}
	call.corr = cc.lastCorr
	call.deadline = time.Now().Add(cc.cl.cfg.RequestTimeout)
	if len(cc.toWrite) == 0 && len(cc.inFlight) == 0 {
		_ = cc.nc.SetReadDeadline(call.deadline) // a failure shows up in read
	}
	cc.toWrite = append(cc.toWrite, call)
	cc.mu.Unlock()
	select {
	case cc.wake <- struct{}{}:
	default: // already signalled
	}
	return nil
}

// write is the writing goroutine.
func (cc *clientConn) write() {
	var buf []byte
	for {
		select {
		case <-cc.wake:
		case <-cc.done:
			return
		}
		cc.mu.Lock()
		if cc.err != nil {
			cc.mu.Unlock()
			return
		}
		batch := cc.toWrite
		cc.toWrite = nil
		for _, call := range batch {
			if !call.noResponse {
				cc.inFlight = append(cc.inFlight, call)
			}
		}
		cc.mu.Unlock()
		if len(batch) == 0 {
			continue
		}

		buf = buf[:0]
		for _, call := range batch {
			buf = appendRequest(buf, call.req, call.corr, cc.cl.cfg.ClientID)
		}
		_ = cc.nc.SetWriteDeadline(batch[0].deadline) // a failure shows up in Write
		if _, err := cc.nc.Write(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: writing to %s for %v", ErrRequestTimeout, cc.cl.cfg.Addr, cc.cl.cfg.RequestTimeout)
			}
			cc.fail(err)
			// fail finished the calls it could see; those expecting no
			// response are in neither list any more.
			err = cc.failure()
			for _, call := range batch {
				if call.noResponse {
					call.done <- callResult{err: err}
				}
			}
			return
		}
		for _, call := range batch {
			if call.noResponse {
				call.done <- callResult{}
			}
		}
		if cap(buf) > maxPooledBuffer {
			buf = nil // don't keep a large request's buffer for the connection's life
		}
	}
}

// read is the reading goroutine.
func (cc *clientConn) read() {
	for {
		frame, err := cc.fr.next()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && !errors.Is(err, ErrTruncatedFrame) && !cc.timedOut() {
				continue // the deadline moved on meanwhile; timedOut re-armed it
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: no response from %s within %v", ErrRequestTimeout, cc.cl.cfg.Addr, cc.cl.cfg.RequestTimeout)
			}
			cc.fail(err)
			return
		}
		call, body, err := cc.match(frame)
		if err != nil {
			cc.fail(err)
			return
		}
		call.done <- callResult{body: body}
	}
}

// timedOut reports whether the oldest outstanding request is past its
// deadline; if not, it re-arms the read deadline for it (or clears it when
// nothing is outstanding).
func (cc *clientConn) timedOut() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	oldest := cc.oldestLocked()
	if oldest != nil && !time.Now().Before(oldest.deadline) {
		return true
	}
	cc.armLocked(oldest)
	return false
}

// oldestLocked is the oldest outstanding call, or nil.
func (cc *clientConn) oldestLocked() *call {
	switch {
	case len(cc.inFlight) > 0:
		return cc.inFlight[0]
	case len(cc.toWrite) > 0:
		return cc.toWrite[0]
	}
	return nil
}

// armLocked sets the read deadline to oldest's, or clears it.
func (cc *clientConn) armLocked(oldest *call) {
	var d time.Time
	if oldest != nil {
		d = oldest.deadline
	}
	_ = cc.nc.SetReadDeadline(d) // a failure shows up in read
}

// match pairs a response frame with the oldest request in flight and
// strips the response header.
func (cc *clientConn) match(frame []byte) (*call, []byte, error) {
	if len(frame) < 4 {
		return nil, nil, fmt.Errorf("%w: response of %d bytes from %s", ErrMalformedHeader, len(frame), cc.cl.cfg.Addr)
	}
	corr := int32(binary.BigEndian.Uint32(frame))
	cc.mu.Lock()
	if len(cc.inFlight) == 0 {
		cc.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: response with correlation id %d from %s, no request in flight",
			ErrMalformedHeader, corr, cc.cl.cfg.Addr)
	}
	call := cc.inFlight[0]
	if call.corr != corr {
		cc.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: response with correlation id %d from %s, expected %d",
			ErrMalformedHeader, corr, cc.cl.cfg.Addr, call.corr)
	}
	cc.inFlight[0] = nil
	cc.inFlight = cc.inFlight[1:]
	cc.armLocked(cc.oldestLocked())
	cc.mu.Unlock()

	body := frame[4:]
	if hv, _ := ResponseHeaderVersion(call.req.Key(), call.req.GetVersion()); hv >= 1 {
		n, err := taggedFieldsLen(body)
		if err != nil {
			return nil, nil, fmt.Errorf("response header from %s: %w", cc.cl.cfg.Addr, err)
		}
		body = body[n:]
	}
	return call, body, nil
}

// dead reports whether the connection has failed.
func (cc *clientConn) dead() bool {
	select {
	case <-cc.done:
		return true
	default:
		return false
	}
}

// failure is the error the connection failed with, or nil.
func (cc *clientConn) failure() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err
}

// fail closes the connection for err and fails every request on it with
// ErrConnectionClosed wrapping err (or with err itself when it is the
// client's closing). The first call wins.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	if !errors.Is(err, ErrClientClosed) {
		err = fmt.Errorf("%w: %s: %w", ErrConnectionClosed, cc.cl.cfg.Addr, err)
	}
	cc.err = err
	calls := append(cc.inFlight, cc.toWrite...)
	cc.inFlight, cc.toWrite = nil, nil
	close(cc.done)
	cc.mu.Unlock()

	_ = cc.nc.Close() // the connection is being dropped; its close error says nothing more
	for _, call := range calls {
		call.done <- callResult{err: err}
	}
	cc.cl.connDied(cc)
	cc.cl.log.WithError(err).Debug("connection closed")
}
