package network

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Server is the socket server: it listens, reads requests, hands them to
// the Handler on a bounded pool of workers and writes the responses back,
// in order, per connection. See doc.go for the design.
//
// New allocates it, Run serves until its context is cancelled. Addrs and
// Ready are safe for concurrent use.
type Server struct {
	cfg       Config
	handler   Handler
	log       *logrus.Entry
	now       func() time.Time
	listeners []*listener
	quotas    *connectionQuotas
	// queue holds requests read and waiting for a worker: Kafka's
	// RequestChannel, of capacity queued.max.requests.
	queue     chan queued
	connIndex atomic.Uint64 // the last connection index handed out
	// activity counts reads and writes across all connections; a
	// connection's lastActive is the count at its latest one. An order,
	// not a time: two events never tie, however coarse the clock.
	activity atomic.Uint64

	running atomic.Bool
	// draining is set when shutdown begins: no connection starts reading
	// another request. (Each connection's drain also interrupts a read in
	// progress.)
	draining      atomic.Bool
	ready         chan struct{} // closed once every listener is bound
	stopAccepting chan struct{} // closed when shutdown begins
	// handleCtx is the Handler's context; set by Run before any worker
	// starts, cancelled when the server stops for good.
	handleCtx context.Context
	connWG    sync.WaitGroup // one per registered connection

	mu       sync.Mutex // guards the fields below
	addrs    []net.Addr
	conns    map[*conn]struct{}
	stopping bool // shutdown has begun: no connection may register
}

// queued is a request waiting for a worker.
type queued struct {
	c   *conn
	req *Request
}

// New validates cfg and allocates a Server that dispatches to h. It binds
// nothing and starts nothing: Run does.
func New(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("network: nil handler")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.Listeners = slices.Clone(cfg.Listeners)
	if cfg.Logger == nil {
		cfg.Logger = nopLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:           cfg,
		handler:       h,
		log:           cfg.Logger.WithField("component", "socket_server"),
		now:           cfg.Now,
		quotas:        newConnectionQuotas(cfg.MaxConnections, cfg.MaxConnectionsPerIP),
		queue:         make(chan queued, cfg.QueuedMaxRequests),
		ready:         make(chan struct{}),
		stopAccepting: make(chan struct{}),
		conns:         make(map[*conn]struct{}),
	}
	for _, l := range cfg.Listeners {
		t, err := transportFor(l)
		if err != nil {
			return nil, err // validate checked; kept for safety
		}
		s.listeners = append(s.listeners, &listener{
			cfg:       l,
			transport: t,
			protected: len(cfg.Listeners) > 1 && l.Name == cfg.InterBrokerListenerName,
			log:       s.log.WithField("listener", l.Name),
		})
	}
	return s, nil
}

// Ready is closed once Run has bound every listener; Addrs is then
// complete. If binding fails, Ready is never closed and Run returns the
// error, so wait for either.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs returns the bound address of each listener, in the order of
// Config.Listeners (with the real port where the config said 0), or nil
// before Ready.
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.addrs)
}

// Run binds every listener and serves until ctx is cancelled, then shuts
// down gracefully (doc.go, "Shutdown"). It returns nil after a shutdown,
// or the error that kept it from starting (a listener that cannot bind, an
// override host that does not resolve); either way only after every
// goroutine it started has exited. Run may be called once.
func (s *Server) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrServerRunning
	}
	overrides, err := resolveOverrides(ctx, s.cfg.MaxConnectionsPerIPOverrides)
	if err != nil {
		return err
	}
	s.quotas.overrides = overrides
	if err := s.bind(ctx); err != nil {
		return err
	}

	handleCtx, stopHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHandlers()
	s.handleCtx = handleCtx

	var workers, acceptors sync.WaitGroup
	stopWorkers := make(chan struct{})
	for range s.cfg.NumIOThreads {
		workers.Add(1)
		go func() {
			defer workers.Done()
			s.work(stopWorkers)
		}()
	}
	for _, l := range s.listeners {
		acceptors.Add(1)
		go func() {
			defer acceptors.Done()
			s.accept(l)
		}()
	}

	<-ctx.Done()
	s.log.Info("shutting down socket server")

	// 1. Stop accepting. Closing the listeners ends Accept; stopAccepting
	// ends an acceptor waiting for a connection slot.
	close(s.stopAccepting)
	for _, l := range s.listeners {
		_ = l.ln.Close() // nothing left to do with an error here
	}
	acceptors.Wait()

	// 2. Drain: idle connections close now, busy ones after writing the
	// response of their request in flight.
	s.draining.Store(true)
	s.mu.Lock()
	s.stopping = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.drain()
	}
	drained := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(drained)
	}()
	timer := time.NewTimer(s.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-drained:
	case <-timer.C:
		// 3. Out of time: close whatever is left, requests in flight or not.
		s.mu.Lock()
		left := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			left = append(left, c)
		}
		s.mu.Unlock()
		s.log.WithField("connections", len(left)).Warn("shutdown timeout: closing connections with requests in flight")
		for _, c := range left {
			c.kill(nil) // the Warn above covers them all
		}
		<-drained
	}

	// 4. Stop the handlers, then the workers. Requests still queued belong
	// to connections that are gone.
	stopHandlers()
	close(stopWorkers)
	workers.Wait()
	for len(s.queue) > 0 {
		<-s.queue
	}
	s.log.Info("socket server stopped")
	return nil
}

// bind listens on every listener and publishes the addresses; on failure
// it closes what it had bound.
func (s *Server) bind(ctx context.Context) error {
	addrs := make([]net.Addr, 0, len(s.listeners))
	for i, l := range s.listeners {
		ln, err := listen(ctx, l.cfg)
		if err != nil {
			for _, bound := range s.listeners[:i] {
				_ = bound.ln.Close() // already failing; the bind error is the one to report
			}
			return err
		}
		l.ln = ln
		addrs = append(addrs, ln.Addr())
		l.log.WithField("addr", ln.Addr().String()).Info("listening")
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()
	close(s.ready)
	return nil
}

// register adds c to the connections Run waits for; false once shutdown
// has begun.
func (s *Server) register(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return true
}

// unregister is the last thing a connection's goroutine does.
func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.quotas.release(c.ip)
	s.connWG.Done()
}

// closeExcessConnections closes, when a protected (inter-broker)
// connection took the broker past MaxConnections, as many connections of
// other listeners as it is over, the least recently active first. Kafka
// closes one such connection per processor poll (Processor's
// closeExcessConnections with Selector.lowestPriorityChannel); the effect
// is the same.
func (s *Server) closeExcessConnections() {
	n := s.quotas.excess()
	if n == 0 {
		return
	}
	s.mu.Lock()
	candidates := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		if !c.l.protected {
			candidates = append(candidates, c)
		}
	}
	s.mu.Unlock()
	slices.SortFunc(candidates, func(a, b *conn) int {
		x, y := a.lastActive.Load(), b.lastActive.Load()
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for _, c := range candidates {
		if n == 0 {
			break
		}
		if c.kill(func() {
			c.log.WithField("max_connections", s.cfg.MaxConnections).
				Info("closing connection to make room for an inter-broker connection")
		}) {
			n--
		}
	}
}

// work is one of the NumIOThreads workers (Kafka's request handler
// threads): it takes requests off the queue and calls the Handler.
func (s *Server) work(stop <-chan struct{}) {
	for {
		select {
		case q := <-s.queue:
			s.handle(q.c, q.req)
		case <-stop:
			return
		}
	}
}

// Request outcomes, for respond's exactly-once check.
const (
	pending int32 = iota
	responded
	refused
)

// handle calls the Handler for one request and routes its outcome to the
// connection: a response (possibly later, from another goroutine), or an
// error that closes the connection.
func (s *Server) handle(c *conn, req *Request) {
	if s.handleCtx.Err() != nil {
		return // stopped for good; the connection is gone
	}
	var state atomic.Int32
	respond := func(resp kmsg.Response) {
		if !state.CompareAndSwap(pending, responded) {
			panic(fmt.Sprintf("network: respond called twice, or after Handle returned an error (api_key %d, correlation_id %d)",
				req.Header.APIKey, req.Header.CorrelationID))
		}
		c.deliver(outcome{resp: resp})
	}
	err, panicked := s.callHandler(req, respond)
	switch {
	case panicked:
		// The handler is broken; the connection can't be trusted to get
		// its response. Logged by callHandler.
		if state.CompareAndSwap(pending, refused) {
			c.deliver(outcome{err: err, logged: true})
		} else {
			c.kill(nil) // callHandler logged the panic
		}
	case err != nil:
		if !state.CompareAndSwap(pending, refused) {
			panic(fmt.Sprintf("network: Handle returned an error after calling respond (api_key %d, correlation_id %d): %v",
				req.Header.APIKey, req.Header.CorrelationID, err))
		}
		c.deliver(outcome{err: err})
	}
}

// callHandler calls the Handler, turning a panic into an error logged at
// Error level: one bad request must not take the broker down (Kafka's
// KafkaApis catches everything too).
func (s *Server) callHandler(req *Request, respond func(kmsg.Response)) (err error, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			err, panicked = fmt.Errorf("network: handler panicked: %v", r), true
			s.log.WithFields(requestFields(req)).WithField("remote_addr", req.Conn.RemoteAddr.String()).
				WithField("stack", string(debug.Stack())).Errorf("handler panicked: %v", r)
		}
	}()
	return s.handler.Handle(s.handleCtx, req, respond), false
}

// requestFields are the log fields of a request header.
func requestFields(req *Request) logrus.Fields {
	return headerFields(req.Header)
}

func headerFields(h RequestHeader) logrus.Fields {
	f := logrus.Fields{
		"api_key":        h.APIKey,
		"api_version":    h.APIVersion,
		"correlation_id": h.CorrelationID,
	}
	if h.ClientID != nil {
		f["client_id"] = *h.ClientID
	}
	return f
}

// maxFrameLen is the largest frame length the 4-byte prefix can carry.
const maxFrameLen = math.MaxInt32
