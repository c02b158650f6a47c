package network

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func testClientConfig(addr string) ClientConfig {
	log, _ := testLog()
	return ClientConfig{
		Addr:                addr,
		ClientID:            "broker-1-test",
		DialTimeout:         5 * time.Second,
		RequestTimeout:      10 * time.Second,
		ReconnectBackoff:    10 * time.Millisecond,
		ReconnectBackoffMax: 40 * time.Millisecond,
		Logger:              log,
	}
}

func newTestClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clusterID sends a Metadata request for topic, which echoHandler answers
// with the topic as cluster id.
func clusterID(ctx context.Context, c *Client, topic string) (string, error) {
	resp, err := c.Request(ctx, metadataRequest(9, topic))
	if err != nil {
		return "", err
	}
	id := resp.(*kmsg.MetadataResponse).ClusterID
	if id == nil {
		return "", errors.New("no cluster id")
	}
	return *id, nil
}

// recordingHandler wraps echoHandler and records the headers it sees.
type recordingHandler struct {
	mu      sync.Mutex
	headers []RequestHeader
	conns   map[string]bool
}

func (h *recordingHandler) Handle(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
	h.mu.Lock()
	h.headers = append(h.headers, req.Header)
	if h.conns == nil {
		h.conns = map[string]bool{}
	}
	h.conns[req.Conn.ID] = true
	h.mu.Unlock()
	return echoHandler().Handle(ctx, req, respond)
}

func TestNewClientRefusesBadConfig(t *testing.T) {
	for _, change := range []func(*ClientConfig){
		func(c *ClientConfig) { c.Addr = "" },
		func(c *ClientConfig) { c.DialTimeout = 0 },
		func(c *ClientConfig) { c.RequestTimeout = -1 },
		func(c *ClientConfig) { c.ReconnectBackoffMax = c.ReconnectBackoff / 2 },
	} {
		cfg := testClientConfig("127.0.0.1:1")
		change(&cfg)
		if _, err := NewClient(cfg); err == nil {
			t.Errorf("NewClient accepted %+v", cfg)
		}
	}
}

// TestClientRequests: requests of every header version round-trip, with
// increasing correlation ids and the client id, on one connection.
func TestClientRequests(t *testing.T) {
	checkGoroutines(t)
	h := &recordingHandler{}
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	c := newTestClient(t, testClientConfig(ts.addr()))
	ctx := context.Background()

	for _, topic := range []string{"a", "b"} {
		if id, err := clusterID(ctx, c, topic); err != nil || id != topic {
			t.Fatalf("Metadata for %s: %q, %v", topic, id, err)
		}
	}
	resp, err := c.Request(ctx, apiVersions(3)) // flexible, yet a v0 response header
	if err != nil || len(resp.(*kmsg.ApiVersionsResponse).ApiKeys) != 2 {
		t.Fatalf("ApiVersions v3: %v, %v", resp, err)
	}
	if _, err := c.Request(ctx, metadataRequest(1, "old")); err != nil {
		t.Fatalf("Metadata v1: %v", err)
	}
	shutdown := kmsg.NewPtrControlledShutdownRequest()
	shutdown.SetVersion(0) // header v0
	if _, err := c.Request(ctx, shutdown); err != nil {
		t.Fatalf("ControlledShutdown v0: %v", err)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	for i, hdr := range h.headers {
		if hdr.CorrelationID != int32(i+1) {
			t.Errorf("request %d has correlation id %d", i, hdr.CorrelationID)
		}
		if want := hdr.APIKey != 7; (hdr.ClientID != nil) != want || want && *hdr.ClientID != "broker-1-test" {
			t.Errorf("request %d: client id %v", i, hdr.ClientID)
		}
	}
	if len(h.conns) != 1 {
		t.Errorf("%d connections used, want 1", len(h.conns))
	}
}

// countingConn counts the bytes written through it.
type countingConn struct {
	net.Conn
	written *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// TestClientPipelining: concurrent requests are all written before the
// first is answered, on one connection, and each caller gets its own
// response.
func TestClientPipelining(t *testing.T) {
	checkGoroutines(t)
	gate := newGate()
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if handled.Add(1); req.Header.APIKey == 3 {
			select { // a busy worker
			case <-gate.wait():
			case <-ctx.Done():
			}
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, gate)
	var written atomic.Int64
	ccfg := testClientConfig(ts.addr())
	ccfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		return countingConn{nc, &written}, err
	}
	c := newTestClient(t, ccfg)
	// Connect first, so that the five requests race only for the queue.
	if _, err := c.Request(context.Background(), apiVersions(0)); err != nil {
		t.Fatal(err)
	}
	handled.Store(0)

	const n = 5
	// The first request's bytes count too: the writer may add them after
	// its response has already come back.
	want := int64(len(appendRequest(nil, apiVersions(0), 1, ccfg.ClientID)))
	for i := range n {
		want += int64(len(appendRequest(nil, metadataRequest(9, "topic-"+itoa(i)), 1, ccfg.ClientID)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			topic := "topic-" + itoa(i)
			id, err := clusterID(context.Background(), c, topic)
			if err == nil && id != topic {
				err = errors.New("asked for " + topic + ", got the response for " + id)
			}
			errs <- err
		}()
	}
	waitFor(t, 5*time.Second, "every request written while the first is unanswered", func() bool {
		if written.Load() > want || handled.Load() > 1 {
			t.Fatalf("written %d of %d bytes, %d handled", written.Load(), want, handled.Load())
		}
		return written.Load() == want && handled.Load() == 1
	})
	gate.open()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if ts.connIndex.Load() != 1 {
		t.Errorf("%d connections, want 1", ts.connIndex.Load())
	}
}

// TestClientTimeout: a request without a response within RequestTimeout
// closes the connection and fails everything pending on it; the next
// request reconnects.
func TestClientTimeout(t *testing.T) {
	checkGoroutines(t)
	p := newParker(t)
	stop := newGate()
	var slowHandled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		resp, err := echoResponse(req)
		if err != nil {
			return err
		}
		if md, ok := resp.(*kmsg.MetadataResponse); ok && *md.ClusterID == "slow" {
			slowHandled.Add(1)
			p.park(ctx, stop.wait(), func() { respond(nil) })
			return nil
		}
		respond(resp)
		return nil
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, stop)
	ccfg := testClientConfig(ts.addr())
	ccfg.RequestTimeout = 200 * time.Millisecond
	c := newTestClient(t, ccfg)

	slowErr := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := clusterID(context.Background(), c, "slow")
		slowErr <- err
	}()
	waitFor(t, 5*time.Second, "the slow request to be handled", func() bool { return slowHandled.Load() == 1 })
	_, behindErr := clusterID(context.Background(), c, "behind") // pipelined behind it
	err := <-slowErr
	if elapsed := time.Since(start); elapsed < ccfg.RequestTimeout {
		t.Fatalf("timed out after %v", elapsed)
	}
	for _, err := range []error{err, behindErr} {
		if !errors.Is(err, ErrRequestTimeout) || !errors.Is(err, ErrConnectionClosed) {
			t.Fatalf("got %v, want ErrRequestTimeout and ErrConnectionClosed", err)
		}
	}
	// The server does not notice yet: like Kafka's muted channel, the
	// connection is not read while its request is parked.
	if id, err := clusterID(context.Background(), c, "fast"); err != nil || id != "fast" {
		t.Fatalf("after the timeout: %q, %v", id, err)
	}
	if n := ts.connIndex.Load(); n != 2 {
		t.Fatalf("%d connections, want a second one after the timeout", n)
	}
}

// TestClientReconnectsAfterServerRestart: the broker restarts on the same
// port; requests fail while it is down and succeed once it is back.
func TestClientReconnectsAfterServerRestart(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	first := startServer(t, cfg, echoHandler())
	addr := first.addr()
	c := newTestClient(t, testClientConfig(addr))
	if id, err := clusterID(context.Background(), c, "before"); err != nil || id != "before" {
		t.Fatalf("before the restart: %q, %v", id, err)
	}
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	if _, err := clusterID(context.Background(), c, "down"); err == nil {
		t.Fatal("a request succeeded with the broker down")
	}

	cfg2, _ := testConfig()
	cfg2.Listeners[0].Port = portOf(t, addr)
	startServer(t, cfg2, echoHandler())
	waitFor(t, 10*time.Second, "a request to succeed after the restart", func() bool {
		id, err := clusterID(context.Background(), c, "after")
		return err == nil && id == "after"
	})
}

// TestClientBackoff: connection attempts after failures are spaced by the
// exponential backoff (allowing for its -20% jitter), callers during an
// attempt share it, and a successful connection resets the backoff.
func TestClientBackoff(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var attempts []time.Time
	var fail atomic.Bool
	fail.Store(true)
	block := make(chan struct{})
	var blocking atomic.Bool
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	ccfg := testClientConfig(ts.addr())
	ccfg.ReconnectBackoff = 20 * time.Millisecond
	ccfg.ReconnectBackoffMax = 80 * time.Millisecond
	ccfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		attempts = append(attempts, time.Now())
		mu.Unlock()
		if blocking.Load() {
			<-block
		}
		if fail.Load() {
			return nil, errors.New("refused")
		}
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c := newTestClient(t, ccfg)
	ctx := context.Background()
	for range 5 {
		if _, err := c.Request(ctx, apiVersions(3)); err == nil || !strings.Contains(err.Error(), "refused") {
			t.Fatalf("Request: %v, want the dial error", err)
		}
	}
	mu.Lock()
	for i, want := range []time.Duration{20, 40, 80, 80} {
		gap := attempts[i+1].Sub(attempts[i])
		if min := want * time.Millisecond * 8 / 10; gap < min {
			t.Errorf("attempt %d came %v after the previous one, want at least %v", i+1, gap, min)
		}
	}
	mu.Unlock()

	// Four callers while one attempt runs: one attempt, four errors.
	blocking.Store(true)
	mu.Lock()
	attempts = nil
	mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Request(ctx, apiVersions(3))
			errs <- err
		}()
	}
	waitFor(t, 5*time.Second, "an attempt to start", func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) == 1 })
	close(block)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Error("a request succeeded")
		}
	}
	mu.Lock()
	if len(attempts) != 1 {
		t.Errorf("%d attempts for four concurrent callers, want 1", len(attempts))
	}
	mu.Unlock()

	// Success resets the backoff: after a disconnect the next attempt waits
	// only the initial backoff.
	blocking.Store(false)
	fail.Store(false)
	waitFor(t, 5*time.Second, "a successful connection", func() bool {
		_, err := c.Request(ctx, apiVersions(3))
		return err == nil
	})
	c.mu.Lock()
	failures := c.failures
	c.mu.Unlock()
	if failures != 0 {
		t.Fatalf("failures = %d after connecting", failures)
	}
}

// TestClientClose fails pending requests and refuses later ones.
func TestClientClose(t *testing.T) {
	checkGoroutines(t)
	p := newParker(t)
	stop := newGate()
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		handled.Add(1)
		p.park(ctx, stop.wait(), func() { respond(nil) })
		return nil
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, stop)
	c, err := NewClient(testClientConfig(ts.addr()))
	if err != nil {
		t.Fatal(err)
	}
	pending := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), apiVersions(3))
		pending <- err
	}()
	waitFor(t, 5*time.Second, "the request to arrive", func() bool { return handled.Load() == 1 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-pending; !errors.Is(err, ErrClientClosed) {
		t.Fatalf("pending request: %v", err)
	}
	if _, err := c.Request(context.Background(), apiVersions(3)); !errors.Is(err, ErrClientClosed) {
		t.Fatalf("request after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestClientContextCancel: a caller that gives up gets ctx.Err(); the
// connection goes on, and the abandoned response goes to nobody else.
func TestClientContextCancel(t *testing.T) {
	checkGoroutines(t)
	gate := newGate()
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if req.Header.APIKey == 3 {
			select {
			case <-gate.wait():
			case <-ctx.Done():
			}
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, gate)
	c := newTestClient(t, testClientConfig(ts.addr()))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := clusterID(ctx, c, "abandoned")
		done <- err
	}()
	waitFor(t, 5*time.Second, "the request to be sent", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.conn == nil {
			return false
		}
		c.conn.mu.Lock()
		defer c.conn.mu.Unlock()
		return len(c.conn.inFlight) == 1
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Request: %v", err)
	}
	gate.open()
	if id, err := clusterID(context.Background(), c, "next"); err != nil || id != "next" {
		t.Fatalf("next request: %q, %v", id, err)
	}
}

// TestClientAcksZero: a produce with acks=0 returns once written, and the
// connection stays in step.
func TestClientAcksZero(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	c := newTestClient(t, testClientConfig(ts.addr()))
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(8)
	produce.Acks = 0
	if resp, err := c.Request(context.Background(), produce); resp != nil || err != nil {
		t.Fatalf("acks=0: %v, %v", resp, err)
	}
	if id, err := clusterID(context.Background(), c, "next"); err != nil || id != "next" {
		t.Fatalf("next request: %q, %v", id, err)
	}
}

// TestClientRefusesMismatchedCorrelationID: a broker that answers with the
// wrong correlation id breaks the stream; the client closes the
// connection.
func TestClientRefusesMismatchedCorrelationID(t *testing.T) {
	checkGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		fr := frameReader{r: nc, max: 1 << 20}
		f, err := fr.next()
		if err != nil {
			return
		}
		h, _, _ := ParseRequestHeader(f)
		resp := kmsg.NewPtrApiVersionsResponse()
		out, _ := appendResponse(nil, 0, h.CorrelationID+1, resp)
		_, _ = nc.Write(out)
		_, _ = fr.next() // until the client closes
	}()
	t.Cleanup(func() { _ = ln.Close(); <-served })
	c := newTestClient(t, testClientConfig(ln.Addr().String()))
	_, err = c.Request(context.Background(), apiVersions(3))
	if !errors.Is(err, ErrConnectionClosed) || !strings.Contains(err.Error(), "correlation id") {
		t.Fatalf("Request: %v", err)
	}
}

// TestClientUnknownKey refuses to send a request whose header version
// cannot be known.
func TestClientUnknownKey(t *testing.T) {
	c := newTestClient(t, testClientConfig("127.0.0.1:1"))
	if _, err := c.Request(context.Background(), unknownRequest{kmsg.NewPtrApiVersionsRequest()}); !errors.Is(err, ErrUnknownAPIKey) {
		t.Fatalf("Request: %v", err)
	}
}

type unknownRequest struct{ *kmsg.ApiVersionsRequest }

func (unknownRequest) Key() int16 { return 30000 }

// TestClientCloseDuringDial: a connection that completes after Close is
// closed at once and its request fails with ErrClientClosed.
func TestClientCloseDuringDial(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	dialing, release := make(chan struct{}), newGate()
	openOnCleanup(t, release)
	ccfg := testClientConfig(ts.addr())
	ccfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		close(dialing)
		<-release.wait()
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), apiVersions(3))
		done <- err
	}()
	<-dialing
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	release.open()
	if err := <-done; !errors.Is(err, ErrClientClosed) {
		t.Fatalf("Request: %v", err)
	}
	waitFor(t, 5*time.Second, "the server to see the connection closed", func() bool { return ts.connCount() == 0 })
}
