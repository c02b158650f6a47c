package network

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gregor-broker/gregor/conf"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no listeners", func(c *Config) { c.Listeners = nil }, "no listeners"},
		{"ssl", func(c *Config) {
			c.Listeners = append(c.Listeners, conf.Listener{Name: "SSL", SecurityProtocol: conf.SSL, Port: 9093})
		}, `listener SSL://:9093: security protocol "SSL" is not supported yet`},
		{"sasl", func(c *Config) { c.Listeners[0].SecurityProtocol = conf.SASLPlaintext }, "SASL_PLAINTEXT"},
		{"duplicate names", func(c *Config) { c.Listeners = append(c.Listeners, c.Listeners[0]) }, "used twice"},
		{"unknown inter-broker listener", func(c *Config) { c.InterBrokerListenerName = "REPLICATION" }, "REPLICATION"},
		{"zero request size", func(c *Config) { c.SocketRequestMaxBytes = 0 }, "SocketRequestMaxBytes"},
		{"no workers", func(c *Config) { c.NumIOThreads = 0 }, "NumIOThreads"},
		{"no queue", func(c *Config) { c.QueuedMaxRequests = 0 }, "QueuedMaxRequests"},
		{"negative override", func(c *Config) { c.MaxConnectionsPerIPOverrides = map[string]int{"h": -1} }, "MaxConnectionsPerIPOverrides"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, _ := testConfig()
			tt.change(&cfg)
			_, err := New(cfg, echoHandler())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
	cfg, _ := testConfig()
	if _, err := New(cfg, nil); err == nil {
		t.Fatal("New accepted a nil handler")
	}
}

func TestRunTwice(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	if err := ts.Run(context.Background()); !errors.Is(err, ErrServerRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

func TestRunFailsToBind(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	taken := ts.addr()
	cfg2, _ := testConfig()
	cfg2.Listeners = []conf.Listener{plaintext("A"), plaintext("B")}
	cfg2.Listeners[1].Port = portOf(t, taken)
	s, err := New(cfg2, echoHandler())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on B://") {
		t.Fatalf("Run: %v, want a bind error naming listener B", err)
	}
}

// TestHeaderVersionsOnTheWire drives the server with requests of each
// header version and checks what the handler sees and which response
// header comes back.
func TestHeaderVersionsOnTheWire(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var seen []RequestHeader
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		mu.Lock()
		seen = append(seen, req.Header)
		mu.Unlock()
		if req.Conn.ListenerName != "PLAINTEXT" || req.Conn.SecurityProtocol != conf.Plaintext || !req.Conn.RemoteAddr.IsValid() ||
			req.ReceivedAt.IsZero() || req.Size != len(req.Body)+len(req.Header.AppendTo(nil)) {
			t.Errorf("request fields: %+v", req)
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())

	shutdown := kmsg.NewPtrControlledShutdownRequest()
	shutdown.SetVersion(0)
	shutdown.BrokerID = 3
	reqs := []kmsg.Request{
		shutdown,                // header v0, response v0
		apiVersions(0),          // v1, v0
		apiVersions(3),          // v2, but the response is v0 (KIP-511)
		metadataRequest(8, "x"), // v1, v0
		metadataRequest(9, "y"), // v2, v1
	}
	for i, req := range reqs {
		corr := int32(100 + i)
		rc.send(corr, req)
		resp := rc.recv(corr, req) // checks the response header version
		if av, ok := resp.(*kmsg.ApiVersionsResponse); ok && len(av.ApiKeys) != 2 {
			t.Errorf("ApiVersions v%d: %d keys, want 2", req.GetVersion(), len(av.ApiKeys))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != len(reqs) {
		t.Fatalf("handler saw %d requests", len(seen))
	}
	if seen[0].ClientID != nil {
		t.Errorf("ControlledShutdown v0 has header v0, yet a client id %q", *seen[0].ClientID)
	}
	for i, h := range seen[1:] {
		if h.ClientID == nil || *h.ClientID != "test" {
			t.Errorf("request %d: client id %v", i+1, h.ClientID)
		}
	}
	if seen[2].TaggedFields == nil || seen[3].TaggedFields != nil {
		t.Errorf("tagged fields: v2 %v, v1 %v", seen[2].TaggedFields, seen[3].TaggedFields)
	}
}

// TestPipelinedRequestsAnsweredInOrder pipelines requests on one
// connection to a handler that answers asynchronously, each after its own
// gate opens, and opens the gates last to first. Responses still come in
// request order, and the handler never has two requests of the connection
// at once.
func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	checkGoroutines(t)
	const n = 5
	gates := make([]*gate, n)
	for i := range gates {
		gates[i] = newGate()
	}
	var inFlight, maxInFlight atomic.Int32
	p := newParker(t)
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if v := inFlight.Add(1); v > maxInFlight.Load() {
			maxInFlight.Store(v)
		}
		resp, err := echoResponse(req)
		if err != nil {
			return err
		}
		p.park(ctx, gates[req.Header.CorrelationID].wait(), func() { // respond later, from another goroutine
			inFlight.Add(-1)
			respond(resp)
		})
		return nil
	})
	cfg, _ := testConfig()
	ts := startServer(t, cfg, h)
	openOnCleanup(t, gates...)
	rc := dialRaw(t, ts.addr())
	var batch []byte
	for i := range n {
		batch = appendRequest(batch, metadataRequest(9, "topic-"+itoa(i)), int32(i), "test")
	}
	rc.write(batch) // all five in one write: pipelined
	for i := n - 1; i >= 0; i-- {
		gates[i].open()
	}
	for i := range n {
		resp := rc.recv(int32(i), metadataRequest(9, "")).(*kmsg.MetadataResponse)
		if resp.ClusterID == nil || *resp.ClusterID != "topic-"+itoa(i) {
			t.Fatalf("response %d answers %v", i, resp.ClusterID)
		}
	}
	if m := maxInFlight.Load(); m != 1 {
		t.Fatalf("the handler had %d requests of one connection at once", m)
	}
}

// TestNoResponse: respond(nil), as for produce with acks=0, sends nothing
// and the connection goes on to the next request.
func TestNoResponse(t *testing.T) {
	checkGoroutines(t)
	cfg, _ := testConfig()
	ts := startServer(t, cfg, echoHandler())
	rc := dialRaw(t, ts.addr())
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(8)
	produce.Acks = 0
	rc.send(1, produce)
	rc.send(2, apiVersions(3))
	rc.recv(2, apiVersions(3)) // corr 2 first: nothing was sent for 1
}

func TestHandlerErrorClosesTheConnection(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if req.Header.APIKey == 3 {
			return errors.New("unsupported version")
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())
	rc.send(1, metadataRequest(9, "x"))
	rc.expectClosed()
	lines := linesFor(hook, rc.localAddr())
	if len(lines) != 1 || lines[0].Message != "closing connection: request refused" || lines[0].Data["api_key"] != int16(3) {
		t.Fatalf("log lines: %v", lines)
	}
	next := dialRaw(t, ts.addr())
	next.send(1, apiVersions(3))
	next.recv(1, apiVersions(3))
}

func TestHandlerPanicClosesTheConnection(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		if req.Header.APIKey == 3 {
			panic("boom")
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())
	rc.send(1, metadataRequest(9, "x"))
	rc.expectClosed()
	lines := linesFor(hook, rc.localAddr())
	if len(lines) != 1 || lines[0].Message != "handler panicked: boom" {
		t.Fatalf("log lines: %v", lines)
	}
	next := dialRaw(t, ts.addr())
	next.send(1, apiVersions(3))
	next.recv(1, apiVersions(3))
}

func TestResponseOfAnotherKeyClosesTheConnection(t *testing.T) {
	checkGoroutines(t)
	cfg, hook := testConfig()
	h := HandlerFunc(func(_ context.Context, req *Request, respond func(kmsg.Response)) error {
		respond(kmsg.NewPtrApiVersionsResponse())
		return nil
	})
	ts := startServer(t, cfg, h)
	rc := dialRaw(t, ts.addr())
	rc.send(1, metadataRequest(9, "x"))
	rc.expectClosed()
	if lines := linesFor(hook, rc.localAddr()); len(lines) != 1 || !strings.Contains(lines[0].Message, "another api key") {
		t.Fatalf("log lines: %v", lines)
	}
}

// TestBackpressure fills the workers and the queue and checks that
// connections stop reading instead of piling up requests or goroutines.
func TestBackpressure(t *testing.T) {
	checkGoroutines(t)
	release := newGate()
	var handled atomic.Int32
	h := HandlerFunc(func(ctx context.Context, req *Request, respond func(kmsg.Response)) error {
		handled.Add(1)
		select { // the worker is busy until the test says so
		case <-release.wait():
		case <-ctx.Done():
		}
		return echoHandler().Handle(ctx, req, respond)
	})
	cfg, _ := testConfig()
	cfg.NumIOThreads = 1
	cfg.QueuedMaxRequests = 2
	ts := startServer(t, cfg, h)
	openOnCleanup(t, release)

	const conns, perConn = 20, 10
	base := runtime.NumGoroutine()
	rcs := make([]*rawConn, conns)
	for i := range rcs {
		rcs[i] = dialRaw(t, ts.addr())
		var batch []byte
		for j := range perConn {
			batch = appendRequest(batch, apiVersions(3), int32(j), "test")
		}
		rcs[i].write(batch)
	}
	// One request is with the worker, two wait in the queue, and every
	// other connection is blocked on the queue with one request read.
	waitFor(t, 10*time.Second, "the queue to fill", func() bool { return len(ts.queue) == cap(ts.queue) && handled.Load() == 1 })
	waitFor(t, 10*time.Second, "every connection accepted", func() bool { return ts.connCount() == conns })
	// One goroutine per connection, whatever the number of requests sent.
	if got := runtime.NumGoroutine() - base; got > conns+2 {
		t.Fatalf("%d goroutines for %d connections with %d requests each", got, conns, perConn)
	}
	release.open()
	for _, rc := range rcs {
		for j := range perConn {
			rc.recv(int32(j), apiVersions(3))
		}
	}
	if got := handled.Load(); got != conns*perConn {
		t.Fatalf("handled %d requests, want %d", got, conns*perConn)
	}
}

// portOf is the port of a host:port.
func portOf(t testing.TB, hostPort string) int {
	t.Helper()
	i := strings.LastIndexByte(hostPort, ':')
	p := 0
	for _, c := range hostPort[i+1:] {
		p = p*10 + int(c-'0')
	}
	return p
}
